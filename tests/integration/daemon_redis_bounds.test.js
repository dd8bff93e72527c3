// The ledger's size bounds on Redis (limits.holds_max, limits.idempotency_max;
// docs/multi-node.md, "Size bounds"), with two daemons on one redis-server the test starts:
//   - 48 clients at once, through both daemons, with an agent key, ask for far more holds
//     than holds_max: exactly holds_max are granted, every other answer is the SQLite
//     daemon's answer past its bound (503, code `full`, the same sentence, the Redis one
//     naming the tree); a granted reserve retried with its key on the other daemon is
//     replayed, not refused and not counted twice;
//   - releases, commits and expiry each free places, and exactly that many fit again;
//   - a daemon killed with SIGKILL in the middle of a burst, its clients retrying their keys
//     on the other daemon: the open holds are exactly the distinct holds granted, and
//     exactly holds_max, seen by a daemon started afterwards;
//   - idempotency_max: exactly that many new keys are remembered, repeats of them are
//     replayed, a charge without a key still passes, and the refusal is the SQLite one.
// No fixed sleeps: expiry is waited for by polling the budget.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { tempDir, startDaemon, eventually, sha } = require('./daemon_helpers');
const { startRedis, writeConfig } = require('./redis_helpers');

const HOLDS_MAX = 12;
const KEYS_MAX = 10;
const CLIENTS = 48;
const AGENT = 'agent-secret-b16';
const AMOUNT = 1000;

function configFor(dir, name, store, limits) {
  return writeConfig(dir, name, `port: 0
store: ${store}
limits: ${limits}
budgets:
  - {path: acme, limit: "1000.00"}
  - {path: acme/a, limit: "1000.00"}
keys:
  - {name: a-bot, role: agent, scope: acme/a, sha256: ${sha(AGENT)}}
`);
}

// `count` reserves, CLIENTS at a time, each with its own key, spread over `daemons`;
// resolves the answers (with the key each was asked with).
async function burst(daemons, count, tag, ttl) {
  const answers = [];
  let next = 0;
  await Promise.all(Array.from({ length: CLIENTS }, async (_, c) => {
    while (next < count) {
      const i = next++;
      const key = `${tag}-${i}`;
      const body = { budget: 'acme/a', amount_micros: AMOUNT, idempotency_key: key };
      if (ttl) body.ttl_ms = ttl;
      const daemon = daemons[(c + i) % daemons.length];
      const r = await daemon.call('POST', '/v1/holds', body, AGENT);
      answers.push({ ...r, key, body, daemon });
    }
  }));
  return answers;
}

function granted(answers) {
  return answers.filter((a) => a.status === 200 && a.json.granted);
}

// Every answer is a grant or the bound's refusal, never anything else.
function onlyFull(answers, sqliteFull) {
  for (const a of answers) {
    if (a.status === 200 && a.json.granted) continue;
    assert.equal(a.status, sqliteFull.status, a.text);
    assert.equal(a.json.error.code, sqliteFull.json.error.code, a.text);
    assert.ok(a.json.error.message.startsWith(sqliteFull.json.error.message),
      `redis '${a.json.error.message}', sqlite '${sqliteFull.json.error.message}'`);
    assert.match(a.json.error.message, /budget tree 'acme'/);
  }
}

async function openHolds(daemon) {
  const b = await daemon.call('GET', '/v1/budgets/acme', undefined, 'k');
  assert.equal(b.status, 200, b.text);
  assert.equal(b.json.held_micros % AMOUNT, 0);
  return b.json.held_micros / AMOUNT;
}

// What the SQLite daemon answers past its bound: the answer Redis must give.
async function sqliteAnswer(dir, limits, fill) {
  const daemon = await startDaemon(configFor(dir, 'sqlite.yaml',
    `{kind: sqlite, path: ${path.join(dir, 'ledger.db')}}`, limits), { admin: 'k' });
  try {
    return await fill(daemon);
  } finally {
    await daemon.stop();
  }
}

// A redis-server of the test's own and two daemons on it with these limits; all stopped
// after the test.
async function twoDaemons(t, dir, limits) {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const config = configFor(dir, 'redis.yaml',
    `{kind: redis, url: "${redis.url}", timeout_ms: 2000, durability: relaxed}`, limits);
  const one = await startDaemon(config, { admin: 'k' });
  const two = await startDaemon(config, { admin: 'k' });
  t.after(() => Promise.all([one.stop(), two.stop()]));
  return { config, one, two };
}

test('holds_max on redis: two daemons, many clients, exactly holds_max open; freed places fit again', async (t) => {
  const dir = tempDir('redis-bounds');
  const limits = `{holds_max: ${HOLDS_MAX}}`;
  const sqliteFull = await sqliteAnswer(dir, limits, async (d) => {
    const answers = await burst([d], HOLDS_MAX + 8, 'sqlite');
    assert.equal(granted(answers).length, HOLDS_MAX);
    return answers.find((a) => a.status !== 200);
  });
  assert.equal(sqliteFull.status, 503);
  assert.equal(sqliteFull.json.error.code, 'full');

  const { one, two } = await twoDaemons(t, dir, limits);

  // Far more asked than fit: exactly HOLDS_MAX granted, the rest refused as SQLite does.
  const first = await burst([one, two], 10 * HOLDS_MAX, 'a');
  const held = granted(first);
  assert.equal(held.length, HOLDS_MAX, 'exactly holds_max granted');
  onlyFull(first, sqliteFull);
  assert.equal(await openHolds(two), HOLDS_MAX);

  // A granted reserve retried with its key, on the other daemon, while full: replayed.
  for (const a of held) {
    const r = await (a.daemon === one ? two : one).call('POST', '/v1/holds', a.body, AGENT);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.replayed, true);
    assert.equal(r.json.hold_id, a.json.hold_id);
  }
  assert.equal(await openHolds(one), HOLDS_MAX, 'retries are not counted twice');

  // Three released, three committed: exactly six fit again.
  for (const a of held.slice(0, 3)) {
    const r = await two.call('POST', `/v1/holds/${a.json.hold_id}/release`, {}, AGENT);
    assert.equal(r.status, 200, r.text);
  }
  for (const a of held.slice(3, 6)) {
    const r = await one.call('POST', `/v1/holds/${a.json.hold_id}/commit`, { actual_micros: 500 }, AGENT);
    assert.equal(r.status, 200, r.text);
  }
  const refill = await burst([one, two], 5 * HOLDS_MAX, 'b', 2000);
  assert.equal(granted(refill).length, 6, 'the places freed by releases and commits');
  onlyFull(refill, sqliteFull);

  // Those six expire (ttl 2 s): polled for, then exactly six fit again.
  const expired = await eventually(async () => (await openHolds(one)) === HOLDS_MAX - 6, 20000);
  assert.ok(expired, 'the short holds expired');
  const after = await burst([one, two], 5 * HOLDS_MAX, 'c');
  assert.equal(granted(after).length, 6, 'the places freed by expiry');
  onlyFull(after, sqliteFull);
  assert.equal(await openHolds(two), HOLDS_MAX);
});

test('holds_max on redis survives a daemon killed mid-burst; retried keys count once', async (t) => {
  const dir = tempDir('redis-bounds-kill');
  const { config, one, two } = await twoDaemons(t, dir, `{holds_max: ${HOLDS_MAX}}`);

  // Clients of daemon one lose it mid-burst and send the same request, same key, to daemon
  // two: a reserve granted before the kill is replayed there. After a few answers daemon one
  // is stopped (SIGSTOP), and killed (SIGKILL) once two more requests were sent to it, so
  // some requests are always lost to the kill, however fast the others were answered.
  const holds = new Set();
  let answered = 0;
  let stopped = false;
  let stranded = 0;
  let killed = false;
  let lost = 0;
  let lostReplayed = 0;
  const ask = async (i) => {
    const body = { budget: 'acme/a', amount_micros: AMOUNT, idempotency_key: `k-${i}` };
    let r = { status: 0 };
    const toOne = i % 2 === 0 && !killed;
    if (toOne) {
      const pending = one.call('POST', '/v1/holds', body, AGENT);
      if (stopped && ++stranded === 2) {
        killed = true;
        setImmediate(() => one.child.kill('SIGKILL'));
      }
      try {
        r = await pending;
      } catch { /* killed under the request */ }
    }
    if (toOne && r.status === 0) {
      lost++; // killed under it: sent again with its key
      r = await two.call('POST', '/v1/holds', body, AGENT);
      lostReplayed += r.status === 200 && r.json.replayed === true;
    } else if (!toOne) {
      r = await two.call('POST', '/v1/holds', body, AGENT);
    }
    if (++answered === 8 && !stopped) {
      stopped = true;
      one.child.kill('SIGSTOP'); // what is sent to it from now on stays unanswered
    }
    if (r.status === 200 && r.json.granted) holds.add(r.json.hold_id);
    else assert.equal(r.status, 503, r.text);
    return r;
  };
  let next = 0;
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    while (next < 10 * HOLDS_MAX) await ask(next++);
  }));
  assert.ok(killed, 'daemon one was killed mid-burst');
  await one.exited;
  // Every key once more on daemon two: granted ones replayed with their hold, others refused.
  for (let i = 0; i < 10 * HOLDS_MAX; i++) {
    const r = await two.call('POST', '/v1/holds', { budget: 'acme/a', amount_micros: AMOUNT, idempotency_key: `k-${i}` }, AGENT);
    if (r.status === 200) {
      assert.equal(r.json.replayed, true, r.text);
      assert.ok(holds.has(r.json.hold_id), `hold ${r.json.hold_id} was granted unseen`);
    } else {
      assert.equal(r.status, 503, r.text);
      assert.equal(r.json.error.code, 'full');
    }
  }
  assert.equal(holds.size, HOLDS_MAX, 'exactly holds_max distinct holds granted');
  assert.ok(lost > 0, 'requests to the killed daemon were lost and sent again');
  console.log(`# daemon one stopped after 8 answers, killed after 2 more were sent: ${lost} requests lost ` +
    `and sent again to two (${lostReplayed} of them had run and were replayed); ${holds.size} distinct holds`);
  const three = await startDaemon(config, { admin: 'k' });
  t.after(() => three.stop());
  assert.equal(await openHolds(three), HOLDS_MAX, 'the count survived the kill');
  const more = await three.call('POST', '/v1/holds', { budget: 'acme/a', amount_micros: AMOUNT }, AGENT);
  assert.equal(more.status, 503, more.text);
  assert.equal(more.json.error.code, 'full');
});

test('idempotency_max on redis: exactly that many keys remembered, repeats replayed', async (t) => {
  const dir = tempDir('redis-bounds-keys');
  const limits = `{idempotency_max: ${KEYS_MAX}}`;
  const charge = (d, key) => d.call('POST', '/v1/charges',
    key ? { budget: 'acme/a', cost_micros: 100, idempotency_key: key } : { budget: 'acme/a', cost_micros: 100 }, AGENT);
  const sqliteFull = await sqliteAnswer(dir, limits, async (d) => {
    for (let i = 0; i < KEYS_MAX; i++) assert.equal((await charge(d, `s${i}`)).status, 200);
    return charge(d, 'one-more');
  });
  assert.equal(sqliteFull.status, 503, sqliteFull.text);
  assert.equal(sqliteFull.json.error.code, 'full');

  const { one, two } = await twoDaemons(t, dir, limits);
  let next = 0;
  const answers = [];
  await Promise.all(Array.from({ length: CLIENTS }, async (_, c) => {
    while (next < 10 * KEYS_MAX) {
      const key = `r${next++}`;
      answers.push({ key, ...(await charge(c % 2 ? one : two, key)) });
    }
  }));
  const kept = answers.filter((a) => a.status === 200);
  assert.equal(kept.length, KEYS_MAX, 'exactly idempotency_max keys remembered');
  for (const a of answers) {
    if (a.status === 200) continue;
    assert.equal(a.status, sqliteFull.status, a.text);
    assert.equal(a.json.error.code, 'full');
    assert.ok(a.json.error.message.startsWith(sqliteFull.json.error.message), a.json.error.message);
  }
  for (const a of kept) {
    const r = await charge(two, a.key);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.replayed, true);
    assert.equal(r.json.charge_id, a.json.charge_id);
  }
  assert.equal((await charge(one, null)).status, 200, 'a charge without a key still passes');
  assert.equal((await charge(one, 'still-full')).status, 503);
  const spent = (await one.call('GET', '/v1/budgets/acme/a', undefined, 'k')).json.spent_micros;
  assert.equal(spent, (KEYS_MAX + 1) * 100, 'each remembered charge counted once');
});
