// Approvals over HTTP (docs/api.md, "Approvals"): a hold refused for its class asks a
// person with `approval: {wait_ms, reason}` and waits as a long poll; an admin approves or
// denies it over the API or the CLI; an agent key never may (its own request, another
// scope's, or its own scope's). Adversarial: approve twice, approve after expiry, approve
// when the money went (never past the hard limit), deny then approve, an id from another
// tenant, a thousand pending requests hitting the bound, a client that leaves (nothing
// held), kill -9 with approvals pending (the restarted daemon expires them, the record
// stays). Every wait is for a condition, never a fixed sleep.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { sha, tempDir, startDaemon, sql, eventually, cli, connect } = require('./daemon_helpers');

const ADMIN = 'admin-k';
const AGENT_A = 'agent-a-secret';
const AGENT_B = 'agent-b-secret';

async function daemonWith(name, store = 'store: {kind: memory}', port = 0) {
  const dir = tempDir(name);
  const config = path.join(dir, 'c.yaml');
  const db = path.join(dir, 'ledger.db');
  const text = (p) => `port: ${p}
${store.replace('DB', db)}
keys:
  - {name: agent-a, role: agent, scope: t/a, sha256: ${sha(AGENT_A)}}
  - {name: agent-b, role: agent, scope: t/b, sha256: ${sha(AGENT_B)}}
budgets:
  - {path: t, limit: "0.001000"}
  - {path: t/a, limit: "0.001000", revoke_at: "0.000500"}
  - {path: t/b, limit: "0.001000", revoke_at: "0.000500"}
`;
  fs.writeFileSync(config, text(port));
  const daemon = await startDaemon(config, { admin: ADMIN });
  fs.writeFileSync(config, text(daemon.port));
  return { dir, config, db, daemon, text };
}

// A normal-class hold of `amount` micros on `budget` asking for approval.
const ask = (budget, amount, waitMs = 30000, reason = 'customer waiting') => ({
  budget, amount_micros: amount, tool: 'search', approval: { wait_ms: waitMs, reason },
});

async function pending(call, key = ADMIN) {
  const r = await call('GET', '/v1/approvals?state=pending', undefined, key);
  assert.equal(r.status, 200, r.text);
  return r.json.approvals;
}

async function held(call, budget) {
  const r = await call('GET', `/v1/budgets/${budget}`, undefined, ADMIN);
  assert.equal(r.status, 200, r.text);
  return r.json.held_micros;
}

test('refused for its class: asks, waits, is approved once at critical, for the amount approved', async () => {
  const { daemon } = await daemonWith('approvals-grant');
  try {
    // Under the class ceiling: granted at once, nobody asked.
    const small = await daemon.call('POST', '/v1/holds', ask('t/a', 100), AGENT_A);
    assert.equal(small.status, 200, small.text);
    assert.equal((await pending(daemon.call)).length, 0);
    // A plain refusal says a person may help.
    const plain = await daemon.call('POST', '/v1/holds', { budget: 't/a', amount_micros: 600 }, AGENT_A);
    assert.equal(plain.status, 402, plain.text);
    assert.equal(plain.json.refusal.reason, 'revoked');
    assert.equal(plain.json.refusal.next.approval.possible, true);
    // Past the hard limit no person may help: refused at once, nothing pending.
    const over = await daemon.call('POST', '/v1/holds', ask('t/a', 950), AGENT_A);
    assert.equal(over.status, 402, over.text);
    assert.equal(over.json.refusal.reason, 'ceiling');
    assert.equal(over.json.refusal.next.approval, null);

    const poll = daemon.call('POST', '/v1/holds', ask('t/a', 600), AGENT_A);
    const listed = await eventually(async () => (await pending(daemon.call)).length === 1 && await pending(daemon.call));
    assert.ok(listed, 'the approval is listed as pending');
    const a = listed[0];
    assert.equal(a.budget, 't/a');
    assert.equal(a.amount_micros, 600);
    assert.equal(a.class, 'normal');
    assert.equal(a.requested_by, 'agent-a');
    assert.equal(a.reason, 'customer waiting');
    // The agent sees its own approval, another tenant does not, not even by id.
    assert.equal((await pending(daemon.call, AGENT_A)).length, 1);
    assert.equal((await pending(daemon.call, AGENT_B)).length, 0);
    assert.equal((await daemon.call('GET', `/v1/approvals/${a.id}`, undefined, AGENT_B)).status, 404);
    // Agent keys never approve: its own request, or another tenant's.
    for (const key of [AGENT_A, AGENT_B]) {
      for (const verb of ['approve', 'deny']) {
        const r = await daemon.call('POST', `/v1/approvals/${a.id}/${verb}`, {}, key);
        assert.equal(r.status, 403, r.text);
      }
    }
    assert.equal((await pending(daemon.call)).length, 1, 'still pending after the refused approvals');
    // Approve for less than asked.
    const approved = await daemon.call('POST', `/v1/approvals/${a.id}/approve`, { amount_micros: 500, note: 'ok' }, ADMIN);
    assert.equal(approved.status, 200, approved.text);
    assert.equal(approved.json.approval.state, 'approved');
    assert.equal(approved.json.approval.approved_class, 'critical');
    assert.equal(approved.json.approval.decided_by, 'TOLLGATE_ADMIN_KEY'); // the admin key's name
    const answer = await poll;
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.json.granted, true);
    assert.equal(answer.json.class, 'critical');
    assert.equal(answer.json.approval.id, a.id);
    assert.equal(await held(daemon.call, 't/a'), 600); // 100 + 500
    // Approve twice, deny after approve: 409 with the approval, nothing more held.
    const twice = await daemon.call('POST', `/v1/approvals/${a.id}/approve`, {}, ADMIN);
    assert.equal(twice.status, 409, twice.text);
    assert.equal(twice.json.error.code, 'already_decided');
    assert.equal(twice.json.error.approval.state, 'approved');
    assert.equal((await daemon.call('POST', `/v1/approvals/${a.id}/deny`, {}, ADMIN)).status, 409);
    assert.equal(await held(daemon.call, 't/a'), 600);
    // Bad input is a clear 4xx.
    assert.equal((await daemon.call('POST', '/v1/approvals/999999/approve', {}, ADMIN)).status, 404);
    assert.equal((await daemon.call('POST', '/v1/approvals/0/approve', {}, ADMIN)).status, 404);
    assert.equal((await daemon.call('POST', `/v1/approvals/${a.id}/maybe`, {}, ADMIN)).status, 404);
    assert.equal((await daemon.call('GET', '/v1/approvals?state=lost', undefined, ADMIN)).status, 400);
    assert.equal((await daemon.call('POST', '/v1/holds', { budget: 't/a', amount_micros: 600, approval: 5 }, AGENT_A)).status, 400);
    assert.equal((await daemon.call('POST', '/v1/holds', { budget: 't/a', amount_micros: 600, approval: { wait_ms: 0 } }, AGENT_A)).status, 400);
    assert.equal((await daemon.call('POST', '/v1/holds', { budget: 't/a', amount_micros: 600, approval: { wait_ms: 10, extra: 1 } }, AGENT_A)).status, 400);
    assert.equal((await daemon.call('POST', '/v1/holds', { budget: 't/a', amount_micros: 600, wait_ms: 10, approval: { wait_ms: 10 } }, AGENT_A)).status, 400);
    const listedApproved = await daemon.call('GET', '/v1/approvals?state=approved', undefined, ADMIN);
    assert.equal(listedApproved.json.approvals.length, 1);
  } finally {
    await daemon.stop();
  }
});

test('denied and expired are refused with the reason and next; approve after expiry is 409; money gone is refused', async () => {
  const { daemon } = await daemonWith('approvals-deny');
  try {
    const poll = daemon.call('POST', '/v1/holds', ask('t/a', 600), AGENT_A);
    const [a] = await eventually(async () => { const p = await pending(daemon.call); return p.length === 1 && p; });
    const denied = await daemon.call('POST', `/v1/approvals/${a.id}/deny`, { note: 'not today' }, ADMIN);
    assert.equal(denied.status, 200, denied.text);
    const answer = await poll;
    assert.equal(answer.status, 402, answer.text);
    assert.equal(answer.json.refusal.reason, 'revoked');
    assert.equal(answer.json.refusal.next.approval.state, 'denied');
    assert.equal(answer.json.approval.note, 'not today');
    assert.equal((await daemon.call('POST', `/v1/approvals/${a.id}/approve`, {}, ADMIN)).status, 409);

    const late = await daemon.call('POST', '/v1/holds', ask('t/a', 600, 150), AGENT_A);
    assert.equal(late.status, 402, late.text);
    assert.equal(late.json.approval.state, 'expired');
    assert.equal(late.json.refusal.next.approval.outcome, 'expired');
    const afterExpiry = await daemon.call('POST', `/v1/approvals/${late.json.approval.id}/approve`, {}, ADMIN);
    assert.equal(afterExpiry.status, 409, afterExpiry.text);
    assert.equal(await held(daemon.call, 't/a'), 0);

    // Approved after the money went: refused with the reason, never past the hard limit.
    const poll2 = daemon.call('POST', '/v1/holds', ask('t/a', 600), AGENT_A);
    const [b] = await eventually(async () => { const p = await pending(daemon.call); return p.length === 1 && p; });
    const taken = await daemon.call('POST', '/v1/holds', { budget: 't/b', amount_micros: 700, class: 'critical' }, ADMIN);
    assert.equal(taken.status, 200, taken.text); // the parent t (limit 1000) now has 700 held
    const approved = await daemon.call('POST', `/v1/approvals/${b.id}/approve`, {}, ADMIN);
    assert.equal(approved.status, 200, approved.text);
    assert.match(approved.json.approval.outcome, /^refused: ceiling at t$/);
    const answer2 = await poll2;
    assert.equal(answer2.status, 402, answer2.text);
    assert.equal(answer2.json.refusal.reason, 'ceiling');
    assert.equal(await held(daemon.call, 't'), 700);
  } finally {
    await daemon.stop();
  }
});

test('a client that leaves while it waits: the approval expires (client_gone), nothing held, approving it is 409', async () => {
  const { daemon } = await daemonWith('approvals-gone');
  try {
    const conn = await connect(daemon.port, AGENT_A);
    conn.ask('POST', '/v1/holds', { body: JSON.stringify(ask('t/a', 600)) });
    const [a] = await eventually(async () => { const p = await pending(daemon.call); return p.length === 1 && p; });
    conn.socket.destroy();
    const gone = await eventually(async () => {
      const r = await daemon.call('GET', `/v1/approvals/${a.id}`, undefined, ADMIN);
      return r.json.approval.state === 'expired' && r.json.approval;
    });
    assert.ok(gone, 'expired once the client left');
    assert.equal(gone.outcome, 'client_gone');
    assert.equal((await daemon.call('POST', `/v1/approvals/${a.id}/approve`, {}, ADMIN)).status, 409);
    assert.equal(await held(daemon.call, 't/a'), 0);
  } finally {
    await daemon.stop();
  }
});

test('a thousand pending requests hit the bound: per budget 100, in total 1000, 503 full past them', async () => {
  const dir = tempDir('approvals-bound');
  const config = path.join(dir, 'c.yaml');
  const lines = ['port: 0', 'store: {kind: memory}', 'budgets:', '  - {path: r, limit: "1000"}'];
  for (let i = 0; i < 11; i++) lines.push(`  - {path: r/b${i}, limit: "0.001000", revoke_at: "0.000500"}`);
  fs.writeFileSync(config, lines.join('\n') + '\n');
  const daemon = await startDaemon(config, { admin: ADMIN });
  const polls = [];
  try {
    // Each long poll on its own connection (fetch pools them; these stay parked).
    const conns = [];
    for (let b = 0; b < 10; b++) {
      for (let i = 0; i < 100; i++) {
        const c = await connect(daemon.port, ADMIN);
        conns.push(c);
        polls.push(c.ask('POST', '/v1/holds', { body: JSON.stringify({ ...ask(`r/b${b}`, 600, 60000), class: 'normal' }) }));
      }
    }
    const full = await eventually(async () => {
      const r = await daemon.call('GET', '/v1/approvals?state=pending&limit=1', undefined, ADMIN);
      return r.json.pending === 1000 && r.json;
    }, 20000);
    assert.ok(full, 'a thousand pending');
    const metrics = await daemon.call('GET', '/metrics', undefined, ADMIN);
    assert.match(metrics.text, /^tollgate_approvals_pending 1000$/m);
    const perBudget = await daemon.call('POST', '/v1/holds', { ...ask('r/b0', 600), class: 'normal' }, ADMIN);
    assert.equal(perBudget.status, 503, perBudget.text);
    assert.equal(perBudget.json.error.code, 'full');
    const total = await daemon.call('POST', '/v1/holds', { ...ask('r/b10', 600), class: 'normal' }, ADMIN);
    assert.equal(total.status, 503, total.text);
    assert.equal(await held(daemon.call, 'r'), 0);
    for (const c of conns) c.socket.destroy();
    const drained = await eventually(async () => {
      const r = await daemon.call('GET', '/v1/approvals?state=pending&limit=1', undefined, ADMIN);
      return r.json.pending === 0;
    }, 20000);
    assert.ok(drained, 'every approval expired once its client left');
  } finally {
    await daemon.stop();
  }
});

test('kill -9 with an approval pending: the restarted daemon expires it (restart), keeps the record; the CLI decides and lists', async () => {
  const { config, db, daemon, text } = await daemonWith('approvals-kill', 'store: {kind: sqlite, path: DB, durability: strict}');
  let second = null;
  try {
    const poll = daemon.call('POST', '/v1/holds', ask('t/a', 600), AGENT_A).catch(() => null);
    const [a] = await eventually(async () => { const p = await pending(daemon.call); return p.length === 1 && p; });
    // Durable before the event goes out: the row is in the file.
    assert.ok(await eventually(() => sql(db, `SELECT state FROM approvals WHERE id = ${a.id}`).length === 1));
    daemon.child.kill('SIGKILL');
    await daemon.exited;
    await poll;
    fs.writeFileSync(config, text(daemon.port));
    second = await startDaemon(config, { admin: ADMIN });
    const after = await second.call('GET', `/v1/approvals/${a.id}`, undefined, ADMIN);
    assert.equal(after.status, 200, after.text);
    assert.equal(after.json.approval.state, 'expired');
    assert.equal(after.json.approval.outcome, 'restart');
    assert.equal((await second.call('POST', `/v1/approvals/${a.id}/approve`, {}, ADMIN)).status, 409);
    assert.equal(await held(second.call, 't/a'), 0);
    const row = await eventually(() => { const r = sql(db, `SELECT state, outcome, requested_by FROM approvals WHERE id = ${a.id}`)[0]; return r && r.state === 'expired' && r; });
    assert.deepEqual(row, { state: 'expired', outcome: 'restart', requested_by: 'agent-a' });

    // The CLI: list, approve, deny.
    const env = { TOLLGATE_URL: second.base, TOLLGATE_KEY: ADMIN };
    const poll2 = second.call('POST', '/v1/holds', ask('t/a', 600), AGENT_A);
    const [b] = await eventually(async () => { const p = await pending(second.call); return p.length === 1 && p; });
    const listed = await cli(['approvals'], env);
    assert.equal(listed.status, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`^${b.id}\\s+pending\\s+t/a\\s+0\\.000600`, 'm'));
    const agentTry = await cli(['approve', String(b.id)], { ...env, TOLLGATE_KEY: AGENT_A });
    assert.notEqual(agentTry.status, 0);
    assert.match(agentTry.stderr, /admin/);
    const approved = await cli(['approve', String(b.id), '--note', 'go'], env);
    assert.equal(approved.status, 0, approved.stderr);
    assert.match(approved.stdout, /approved/);
    assert.equal((await poll2).status, 200);
    const again = await cli(['deny', String(b.id)], env);
    assert.notEqual(again.status, 0);
    assert.match(again.stderr, /already/);
    const history = await cli(['approvals', '--state', 'expired'], env);
    assert.match(history.stdout, new RegExp(`^${a.id}\\s+expired`, 'm'));
    const events = sql(db, "SELECT kind, detail FROM events WHERE kind LIKE 'approval_%' ORDER BY id");
    assert.deepEqual(events.map((e) => `${e.kind}:${e.detail}`), [
      'approval_requested:pending', 'approval_decided:restart', 'approval_requested:pending', 'approval_decided:granted',
    ]);
  } finally {
    if (second) await second.stop();
  }
});
