// Waiting holds over HTTP (docs/api.md, "Waiting holds"): POST /v1/holds with wait_ms
// is a long poll answered when the waiter is decided; GET /v1/holds?state=waiting
// lists waiters; POST /v1/waits/{id}/cancel cancels one; a client that disconnects
// mid-wait has nothing held for it, even when the money frees at the same moment; and
// after kill -9 with waiters waiting, the restarted daemon's ledger holds nothing of
// theirs. Every wait is for a condition, never a fixed sleep.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { sha, tempDir, startDaemon, sql, eventually, connect } = require('./daemon_helpers');

async function daemonWith(name, store = 'store: {kind: memory}') {
  const dir = tempDir(name);
  const config = path.join(dir, 'c.yaml');
  const db = path.join(dir, 'ledger.db');
  const text = (port) => `port: ${port}
${store.replace('DB', db)}
budgets:
  - {path: w, limit: "0.000100"}
  - {path: w/a}
  - {path: w/b}
`;
  fs.writeFileSync(config, text(0));
  const daemon = await startDaemon(config, { admin: 'k' });
  fs.writeFileSync(config, text(daemon.port));
  return { dir, config, db, daemon };
}

const holdBody = (budget, amount, extra = {}) => JSON.stringify({ budget, amount_micros: amount, class: 'critical', ttl_ms: 600000, ...extra });

async function waiting(call, budget = 'w') {
  const r = await call('GET', `/v1/holds?state=waiting&budget=${budget}`, undefined, 'k');
  assert.equal(r.status, 200, r.text);
  return r.json.waiting;
}

async function held(call, budget) {
  const r = await call('GET', `/v1/budgets/${budget}`, undefined, 'k');
  assert.equal(r.status, 200, r.text);
  return r.json.held_micros;
}

test('a long poll is granted when a hold is released, listed while it waits, counted in /metrics', async () => {
  const { daemon } = await daemonWith('waits-grant');
  try {
    const first = await daemon.call('POST', '/v1/holds', JSON.parse(holdBody('w/a', 80)), 'k');
    assert.equal(first.status, 200, first.text);
    const poll = daemon.call('POST', '/v1/holds', JSON.parse(holdBody('w/b', 50, { wait_ms: 30000 })), 'k');
    const listed = await eventually(async () => (await waiting(daemon.call)).length === 1 && await waiting(daemon.call));
    assert.ok(listed, 'the waiter is listed');
    assert.equal(listed[0].budget, 'w/b');
    assert.equal(listed[0].amount_micros, 50);
    assert.equal(listed[0].waiting_for, 'w');
    const metrics = await daemon.call('GET', '/metrics', undefined, 'k');
    assert.match(metrics.text, /^tollgate_waiters 1$/m);
    const released = await daemon.call('POST', `/v1/holds/${first.json.hold_id}/release`, {}, 'k');
    assert.equal(released.status, 200, released.text);
    const answer = await poll;
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.json.granted, true);
    assert.ok(answer.json.waited_ms >= 0);
    assert.equal(await held(daemon.call, 'w'), 50);
    assert.deepEqual(await waiting(daemon.call), []);
    const after = await daemon.call('GET', '/metrics', undefined, 'k');
    assert.match(after.text, /^tollgate_waiters 0$/m);
    assert.match(after.text, /^tollgate_waits_total\{outcome="granted"\} 1$/m);
  } finally {
    await daemon.stop();
  }
});

test('refused at its deadline with advice; refused at once when it never fits; bad wait_ms is 400', async () => {
  const { daemon } = await daemonWith('waits-deadline');
  try {
    assert.equal((await daemon.call('POST', '/v1/holds', JSON.parse(holdBody('w/a', 90)), 'k')).status, 200);
    const late = await daemon.call('POST', '/v1/holds', JSON.parse(holdBody('w/b', 50, { wait_ms: 200 })), 'k');
    assert.equal(late.status, 402, late.text);
    assert.equal(late.json.refusal.reason, 'ceiling');
    assert.ok(late.json.waited_ms >= 200, late.text);
    assert.ok(late.json.refusal.retry_after_ms > 0, late.text);
    const never = await daemon.call('POST', '/v1/holds', JSON.parse(holdBody('w/b', 101, { wait_ms: 60000 })), 'k');
    assert.equal(never.status, 402, never.text);
    assert.equal(never.json.waited_ms, undefined, 'not queued');
    // What it can do next (the object every refusal carries): shrink to what fits now (no
    // wait can help 101 under a limit of 100) ...
    const next = never.json.refusal.next;
    assert.equal(next.shrink_to_micros, 10, never.text);
    assert.equal(next.wait_ms, null, never.text);
    assert.equal(next.wait_until_ms, null, never.text);
    assert.equal(next.approval, null);
    // ... or wait until the open hold expires.
    assert.equal(late.json.refusal.next.wait_ms, late.json.refusal.retry_after_ms, late.text);
    assert.ok(late.json.refusal.next.wait_until_ms > Date.now(), late.text);
    const bad = await daemon.call('POST', '/v1/holds', JSON.parse(holdBody('w/b', 1, { wait_ms: 600001 })), 'k');
    assert.equal(bad.status, 400, bad.text);
    const negative = await daemon.call('POST', '/v1/holds', JSON.parse(holdBody('w/b', 1, { wait_ms: -1 })), 'k');
    assert.equal(negative.status, 400, negative.text);
  } finally {
    await daemon.stop();
  }
});

test('a waiter cancelled over the API answers its long poll 409 and holds nothing', async () => {
  const { daemon } = await daemonWith('waits-cancel');
  try {
    const first = await daemon.call('POST', '/v1/holds', JSON.parse(holdBody('w/a', 100)), 'k');
    const poll = daemon.call('POST', '/v1/holds', JSON.parse(holdBody('w/b', 10, { wait_ms: 30000 })), 'k');
    const listed = await eventually(async () => (await waiting(daemon.call)).length === 1 && await waiting(daemon.call));
    const cancelled = await daemon.call('POST', `/v1/waits/${listed[0].wait_id}/cancel`, {}, 'k');
    assert.equal(cancelled.status, 200, cancelled.text);
    const answer = await poll;
    assert.equal(answer.status, 409, answer.text);
    assert.equal(answer.json.error.code, 'cancelled');
    const again = await daemon.call('POST', `/v1/waits/${listed[0].wait_id}/cancel`, {}, 'k');
    assert.equal(again.status, 404, again.text);
    await daemon.call('POST', `/v1/holds/${first.json.hold_id}/release`, {}, 'k');
    assert.equal(await held(daemon.call, 'w'), 0);
  } finally {
    await daemon.stop();
  }
});

test('a client that disconnects mid-wait has nothing held for it, even as the money frees', async () => {
  const { daemon } = await daemonWith('waits-gone');
  try {
    for (let round = 0; round < 20; round++) {
      const blocker = await daemon.call('POST', '/v1/holds', JSON.parse(holdBody('w/a', 100)), 'k');
      assert.equal(blocker.status, 200, blocker.text);
      const client = await connect(daemon.port, 'k');
      client.ask('POST', '/v1/holds', { body: holdBody('w/b', 40, { wait_ms: 30000 }) });
      assert.ok(await eventually(async () => (await waiting(daemon.call)).length === 1), 'queued');
      // Half the rounds leave first and free the money after; half free it as they leave.
      if (round % 2 === 0) {
        client.socket.destroy();
        await client.closed;
        assert.ok(await eventually(async () => (await waiting(daemon.call)).length === 0), 'cancelled');
        await daemon.call('POST', `/v1/holds/${blocker.json.hold_id}/release`, {}, 'k');
      } else {
        client.socket.destroy();
        await daemon.call('POST', `/v1/holds/${blocker.json.hold_id}/release`, {}, 'k');
      }
      // Whatever happened first, nothing stays held for the client that left.
      assert.ok(await eventually(async () => (await held(daemon.call, 'w')) === 0), `round ${round}: nothing held`);
      assert.deepEqual(await waiting(daemon.call), []);
    }
    const metrics = await daemon.call('GET', '/metrics', undefined, 'k');
    assert.match(metrics.text, /^tollgate_waits_total\{outcome="abandoned"\} 20$/m);
  } finally {
    await daemon.stop();
  }
});

test('kill -9 with waiters waiting: their connections drop, the restarted ledger holds nothing of theirs', async () => {
  const { config, db, daemon } = await daemonWith('waits-kill', 'store: {kind: sqlite, path: DB, durability: strict}');
  const blocker = await daemon.call('POST', '/v1/holds', JSON.parse(holdBody('w/a', 100)), 'k');
  assert.equal(blocker.status, 200, blocker.text);
  const polls = [];
  for (let i = 0; i < 8; i++) {
    polls.push(daemon.call('POST', '/v1/holds', JSON.parse(holdBody(i % 2 ? 'w/a' : 'w/b', 10, { wait_ms: 60000 })), 'k')
      .then((r) => ({ answered: r }), (e) => ({ dropped: e })));
  }
  assert.ok(await eventually(async () => (await waiting(daemon.call)).length === 8), 'all eight wait');
  daemon.child.kill('SIGKILL');
  await daemon.exited;
  const outcomes = await Promise.all(polls);
  for (const o of outcomes) assert.ok(o.dropped, `no answer for a waiter: ${JSON.stringify(o.answered && o.answered.json)}`);
  const rows = sql(db, 'SELECT id, budget, amount_micros FROM holds');
  assert.deepEqual(rows.map((r) => r.id), [blocker.json.hold_id], 'only the acknowledged hold is on disk');
  const again = await startDaemon(config, { admin: 'k' });
  try {
    assert.deepEqual(await waiting(again.call), []);
    assert.equal(await held(again.call, 'w'), 100);
    // The money freeing after the restart grants nobody: the waiters are gone.
    await again.call('POST', `/v1/holds/${blocker.json.hold_id}/release`, {}, 'k');
    assert.equal(await held(again.call, 'w'), 0);
  } finally {
    await again.stop();
  }
});

test('SIGTERM answers every long poll 503 shutting_down, nothing held', async () => {
  const { db, daemon } = await daemonWith('waits-term', 'store: {kind: sqlite, path: DB, durability: strict}');
  await daemon.call('POST', '/v1/holds', JSON.parse(holdBody('w/a', 100)), 'k');
  const poll = daemon.call('POST', '/v1/holds', JSON.parse(holdBody('w/b', 10, { wait_ms: 60000 })), 'k');
  assert.ok(await eventually(async () => (await waiting(daemon.call)).length === 1));
  await daemon.stop('SIGTERM');
  const answer = await poll;
  assert.equal(answer.status, 503, answer.text);
  assert.equal(answer.json.error.code, 'shutting_down');
  assert.equal(sql(db, 'SELECT count(*) AS n FROM holds')[0].n, 1);
});

test('a key scoped to w/a can neither see, count nor cancel the waiter of w/ab (a sibling sharing its prefix) or reach the parent', async () => {
  const dir = tempDir('waits-scope');
  const config = path.join(dir, 'c.yaml');
  fs.writeFileSync(config, `port: 0
store: {kind: memory}
keys:
  - {name: agent-a, role: agent, scope: "w/a", sha256: ${sha('secret-a')}}
  - {name: agent-ab, role: agent, scope: "w/ab", sha256: ${sha('secret-ab')}}
budgets:
  - {path: w, limit: "0.000100"}
  - {path: w/a}
  - {path: w/ab}
`);
  const daemon = await startDaemon(config, { admin: 'k' });
  try {
    assert.equal((await daemon.call('POST', '/v1/holds', JSON.parse(holdBody('w/a', 80)), 'k')).status, 200);
    // An agent key may not set a class: the policy gives it one.
    const poll = daemon.call('POST', '/v1/holds', { budget: 'w/ab', amount_micros: 50, ttl_ms: 600000, wait_ms: 60000 }, 'secret-ab');
    const own = await eventually(async () => {
      const r = await daemon.call('GET', '/v1/holds?state=waiting', undefined, 'secret-ab');
      return r.status === 200 && r.json.waiting.length === 1 && r.json;
    }, 15000);
    if (!own) {
      const early = await Promise.race([poll, new Promise((r) => setTimeout(() => r(null), 100))]);
      assert.fail(`the waiter is not listed to its own key; the poll: ${early && early.status} ${early && early.text}`);
    }
    assert.equal(own.count, 1);
    const id = own.waiting[0].wait_id;

    const mine = await daemon.call('GET', '/v1/holds?state=waiting', undefined, 'secret-a');
    assert.equal(mine.status, 200, mine.text);
    assert.deepEqual(mine.json.waiting, [], 'nothing of w/ab in w/a');
    assert.equal(mine.json.count, 0, 'not even its number');
    for (const budget of ['w/ab', 'w', 'w%2Fab', 'w/a/../ab']) {
      const r = await daemon.call('GET', `/v1/holds?state=waiting&budget=${budget}`, undefined, 'secret-a');
      // Refused, or (a dotted path is a name, not a walk: no budget is called that) empty.
      const empty = r.status === 200 && r.json.waiting.length === 0 && r.json.count === 0;
      assert.ok(r.status === 403 || r.status === 400 || empty, `${budget}: ${r.status} ${r.text}`);
      assert.ok(!r.text.includes(String(id)), `${budget}: the wait id leaked`);
    }
    const cancel = await daemon.call('POST', `/v1/waits/${id}/cancel`, {}, 'secret-a');
    assert.equal(cancel.status, 403, cancel.text);
    const unknown = await daemon.call('POST', '/v1/waits/9999999999/cancel', {}, 'secret-a');
    assert.equal(unknown.status, 404, unknown.text);

    // Still waiting, untouched: its own key cancels it, and nothing is held for it.
    assert.equal((await waiting(daemon.call)).length, 1);
    const own2 = await daemon.call('POST', `/v1/waits/${id}/cancel`, {}, 'secret-ab');
    assert.equal(own2.status, 200, own2.text);
    const answer = await poll;
    assert.equal(answer.status, 409, answer.text);
    assert.equal(await held(daemon.call, 'w'), 80);
  } finally {
    await daemon.stop();
  }
});

test('shrink to fit over HTTP: granted the room left in one decision, with amount_micros and shrunk_from_micros; a minimum above the amount is 400', async () => {
  const { daemon } = await daemonWith('waits-shrink');
  try {
    assert.equal((await daemon.call('POST', '/v1/holds', JSON.parse(holdBody('w/a', 70)), 'k')).status, 200);
    const bad = await daemon.call('POST', '/v1/holds', JSON.parse(holdBody('w/b', 20, { min_amount_micros: 21 })), 'k');
    assert.equal(bad.status, 400, bad.text);
    const negative = await daemon.call('POST', '/v1/holds', JSON.parse(holdBody('w/b', 20, { min_amount_micros: -1 })), 'k');
    assert.equal(negative.status, 400, negative.text);
    // 30 left: asked 50 with at least 10, granted 30 at once instead of a 402 that says
    // "shrink to 30" (which another request could take before the retry).
    const shrunk = await daemon.call('POST', '/v1/holds', JSON.parse(holdBody('w/b', 50, { min_amount_micros: 10, idempotency_key: 's1' })), 'k');
    assert.equal(shrunk.status, 200, shrunk.text);
    assert.equal(shrunk.json.granted, true);
    assert.equal(shrunk.json.amount_micros, 30);
    assert.equal(shrunk.json.shrunk_from_micros, 50);
    assert.equal(await held(daemon.call, 'w'), 100);
    // The same request again: the same hold, not a second one.
    const again = await daemon.call('POST', '/v1/holds', JSON.parse(holdBody('w/b', 50, { min_amount_micros: 10, idempotency_key: 's1' })), 'k');
    assert.equal(again.status, 200, again.text);
    assert.equal(again.json.hold_id, shrunk.json.hold_id);
    assert.equal(again.json.replayed, true);
    assert.equal(await held(daemon.call, 'w'), 100);
    // Nothing left: below any minimum, the usual 402 with nothing to shrink to.
    const none = await daemon.call('POST', '/v1/holds', JSON.parse(holdBody('w/b', 5, { min_amount_micros: 1 })), 'k');
    assert.equal(none.status, 402, none.text);
    assert.equal(none.json.refusal.max_amount_micros, 0);
  } finally {
    await daemon.stop();
  }
});

test('wait_likely: after holds that committed in full, a wait that only an open hold could end is refused at once; without it the same ask waits and is granted on release; a non-boolean is 400', async () => {
  const { daemon } = await daemonWith('waits-likely');
  try {
    const bad = await daemon.call('POST', '/v1/holds', JSON.parse(holdBody('w/b', 5, { wait_ms: 1000, wait_likely: 'yes' })), 'k');
    assert.equal(bad.status, 400, bad.text);
    // Teach the daemon that holds here are committed in full.
    for (let i = 0; i < 4; i++) {
      const h = await daemon.call('POST', '/v1/holds', JSON.parse(holdBody('w/a', 5)), 'k');
      assert.equal(h.status, 200, h.text);
      const c = await daemon.call('POST', `/v1/holds/${h.json.hold_id}/commit`, { actual_micros: 5 }, 'k');
      assert.equal(c.status, 200, c.text);
    }
    const open = await daemon.call('POST', '/v1/holds', JSON.parse(holdBody('w/a', 70)), 'k');
    assert.equal(open.status, 200, open.text); // 20 spent + 70 held: 10 left
    const likely = await daemon.call('POST', '/v1/holds', JSON.parse(holdBody('w/b', 30, { wait_ms: 30000, wait_likely: true })), 'k');
    assert.equal(likely.status, 402, likely.text);
    assert.equal(likely.json.refusal.retry_after_ms, null, 'no advice to wait for a hold that will likely commit');
    assert.deepEqual(await waiting(daemon.call), []);
    // The same ask without wait_likely waits: the open hold could still be released.
    const poll = daemon.call('POST', '/v1/holds', JSON.parse(holdBody('w/b', 30, { wait_ms: 30000 })), 'k');
    await eventually(async () => (await waiting(daemon.call)).length === 1);
    const released = await daemon.call('POST', `/v1/holds/${open.json.hold_id}/release`, {}, 'k');
    assert.equal(released.status, 200, released.text);
    const answer = await poll;
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.json.granted, true);
    assert.equal(await held(daemon.call, 'w'), 30);
  } finally {
    await daemon.stop();
  }
});
