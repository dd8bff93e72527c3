// Crash test of `tollgate serve` on the SQLite store in strict mode: 50 clients hold
// and commit with idempotency keys under load; the daemon is killed with SIGKILL and
// restarted on the same port and file; clients retry whatever got no answer with the
// same keys. Afterwards every commit acknowledged before the kill is in the file with
// its amount, each logical action was charged exactly once (retries replayed, never
// charged twice), and spend equals the sum of the actions.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { tempDir, startDaemon, sql } = require('./daemon_helpers');

const CLIENTS = 50;
const LEAVES = ['c/a', 'c/b'];

test('SIGKILL under load loses no acknowledged commit and charges nothing twice', async () => {
  const dir = tempDir('crash');
  const config = path.join(dir, 'c.yaml');
  const db = path.join(dir, 'ledger.db');
  const writeConfig = (port) => fs.writeFileSync(config, `port: ${port}
store: {kind: sqlite, path: ${db}, durability: strict}
budgets:
  - {path: c, limit: "1000000.00"}
  - {path: c/a}
  - {path: c/b}
`);
  writeConfig(0);
  let daemon = await startDaemon(config, { admin: 'k' });
  const base = daemon.base;
  writeConfig(daemon.port); // the restart listens where the clients already point

  const post = async (url, body) => {
    try {
      const res = await fetch(base + url, { method: 'POST', headers: { Authorization: 'Bearer k' }, body: JSON.stringify(body) });
      return { status: res.status, json: await res.json() };
    } catch {
      return null; // no answer: the daemon is down; retry with the same key
    }
  };
  const pause = () => new Promise((r) => setTimeout(r, 20));
  // One logical action: hold then commit, each retried with its own idempotency key.
  // Returns the acknowledged commit.
  const action = async (id, leaf, amount, actual) => {
    for (;;) {
      const h = await post('/v1/holds', { budget: leaf, amount_micros: amount, idempotency_key: `h-${id}` });
      if (h === null || h.status >= 500) { await pause(); continue; }
      assert.equal(h.status, 200, JSON.stringify(h.json));
      for (;;) {
        const c = await post(`/v1/holds/${h.json.hold_id}/commit`, { actual_micros: actual, idempotency_key: `c-${id}` });
        if (c === null || c.status >= 500) { await pause(); continue; }
        if (c.status === 404) break; // the hold was not durable: hold again under the same key
        assert.equal(c.status, 200, JSON.stringify(c.json));
        return c.json;
      }
    }
  };

  const done = Object.fromEntries(LEAVES.map((l) => [l, 0]));
  const charges = new Map(); // logical action -> [charge id, leaf, actual]
  let killedAt = null; // charges acknowledged before the kill
  let actions = 0;
  let restarted = false;
  let actionsAfterRestart = 0;
  // Clients go on until 300 actions were acknowledged before the kill and 100 after the
  // restart: counts, not a time window, so a loaded machine only makes the test slower.
  const client = async (n) => {
    for (let i = 0; !(restarted && actionsAfterRestart >= 100); i++) {
      const leaf = LEAVES[(n + i) % LEAVES.length];
      const amount = 1000 + ((n * 7919 + i * 104729) % 100000);
      const actual = amount - (i % 1000);
      const answer = await action(`${n}-${i}`, leaf, amount, actual);
      charges.set(`${n}-${i}`, [answer.charge_id, leaf, actual]);
      done[leaf] += actual;
      actions++;
      if (restarted) actionsAfterRestart++;
    }
  };
  const clients = Promise.all(Array.from({ length: CLIENTS }, (_, n) => client(n)));
  while (actions < 300) await new Promise((r) => setTimeout(r, 5));
  daemon.child.kill('SIGKILL');
  killedAt = new Map(charges);
  await daemon.exited;
  daemon = await startDaemon(config, { admin: 'k' });
  restarted = true;
  await clients;
  assert.ok(actions > 300 && killedAt.size >= 300, `${actions} actions, ${killedAt.size} before the kill`);

  for (const leaf of LEAVES) {
    const b = (await daemon.call('GET', `/v1/budgets/${leaf}`, undefined, 'k')).json;
    assert.equal(b.spent_micros, done[leaf], `${leaf}: spend equals the acknowledged actions`);
  }
  assert.equal((await daemon.call('GET', '/v1/budgets/c', undefined, 'k')).json.spent_micros, done['c/a'] + done['c/b']);
  assert.equal(await daemon.stop(), 0);

  const rows = new Map(sql(db, 'SELECT id, budget, cost_micros FROM charges').map((r) => [r.id, [r.budget, r.cost_micros]]));
  for (const [id, [chargeId, leaf, actual]] of killedAt) {
    assert.deepEqual(rows.get(chargeId), [leaf, actual], `action ${id}, acknowledged before the kill, survived`);
  }
  assert.equal(rows.size, charges.size, 'each action charged exactly once: retries replayed');
  for (const [id, [chargeId, leaf, actual]] of charges) {
    assert.deepEqual(rows.get(chargeId), [leaf, actual], `action ${id}`);
  }
  console.log(`# ${actions} actions by ${CLIENTS} clients, ${killedAt.size} acknowledged before one SIGKILL`);
});
