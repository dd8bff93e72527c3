// Crash test of `tollgate serve` on the SQLite store: clients hold and commit with
// idempotency keys under load; the daemon is killed with SIGKILL and restarted;
// clients retry whatever got no answer with the same keys. Afterwards every
// acknowledged commit is in the ledger and in the database, and nothing was
// charged twice: each budget's spend equals the sum of the logical operations.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const binary = process.env.TG_BINARY || 'build/tollgate';
const CLIENTS = 50;
const LEAVES = ['c/a', 'c/b'];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-crash-'));
const config = path.join(dir, 'c.yaml');
const db = path.join(dir, 'ledger.db');
fs.writeFileSync(config, `port: 0
store: {kind: sqlite, path: ${db}, durability: strict}
budgets:
  - {path: c, limit: "1000000.00"}
  - {path: c/a}
  - {path: c/b}
`);

let base = null;
function start(port) {
  fs.writeFileSync(config, fs.readFileSync(config, 'utf8').replace(/^port: \d+/m, `port: ${port}`));
  const child = spawn(binary, ['serve', '--config', config], {
    env: { ...process.env, TOLLGATE_ADMIN_KEY: 'k' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (c) => { err += c; });
  const ready = new Promise((resolve) => {
    let text = '';
    child.stdout.on('data', (c) => { text += c; const m = text.match(/listening on (\S+)\n/); if (m) resolve(m[1]); });
    child.on('exit', () => resolve(null));
  });
  return { child, ready, stderr: () => err };
}

async function post(url, body) {
  try {
    const res = await fetch(base + url, { method: 'POST', headers: { Authorization: 'Bearer k' }, body: JSON.stringify(body) });
    return { status: res.status, json: await res.json() };
  } catch {
    return null; // no answer: the daemon is down; retry with the same key
  }
}

// One logical action: hold then commit, each retried with its own idempotency key.
async function action(id, leaf, amount, actual) {
  for (;;) {
    const h = await post('/v1/holds', { budget: leaf, amount_micros: amount, idempotency_key: `h-${id}` });
    if (h === null || h.status >= 500) { await new Promise((r) => setTimeout(r, 20)); continue; }
    assert.equal(h.status, 200, JSON.stringify(h.json));
    for (;;) {
      const c = await post(`/v1/holds/${h.json.hold_id}/commit`, { actual_micros: actual, idempotency_key: `c-${id}` });
      if (c === null || c.status >= 500) { await new Promise((r) => setTimeout(r, 20)); continue; }
      if (c.status === 404) break; // the hold was not durable: hold again under the same key
      assert.equal(c.status, 200, JSON.stringify(c.json));
      return;
    }
  }
}

test('SIGKILL under load loses no acknowledged commit and charges nothing twice', async (t) => {
  let daemon = start(0);
  base = await daemon.ready;
  if (base === null && /unknown store/.test(daemon.stderr())) {
    t.skip('the SQLite store is not built into this tree yet');
    return;
  }
  assert.ok(base, daemon.stderr());
  const port = Number(base.split(':').pop());
  const done = Object.fromEntries(LEAVES.map((l) => [l, 0]));
  let actions = 0, killed = false;
  const deadline = Date.now() + 3000;
  const client = async (n) => {
    for (let i = 0; Date.now() < deadline; i++) {
      const leaf = LEAVES[(n + i) % LEAVES.length];
      const amount = 1000 + ((n * 7919 + i * 104729) % 100000);
      const actual = amount - (i % 1000);
      await action(`${n}-${i}`, leaf, amount, actual);
      done[leaf] += actual;
      actions++;
    }
  };
  const clients = Promise.all(Array.from({ length: CLIENTS }, (_, n) => client(n)));
  // Kill once some actions are acknowledged, then restart on the same port.
  while (actions < 200) await new Promise((r) => setTimeout(r, 5));
  daemon.child.kill('SIGKILL');
  killed = true;
  await new Promise((r) => daemon.child.on('exit', r));
  daemon = start(port);
  assert.ok(await daemon.ready, daemon.stderr());
  await clients;
  assert.ok(killed && actions > 200);
  const get = async (p) => (await fetch(`${base}/v1/budgets/${p}`, { headers: { Authorization: 'Bearer k' } })).json();
  for (const leaf of LEAVES) {
    const b = await get(leaf);
    assert.equal(b.spent_micros, done[leaf], `${leaf}: spend equals the acknowledged actions`);
  }
  assert.equal((await get('c')).spent_micros, done['c/a'] + done['c/b']);
  daemon.child.kill('SIGTERM');
  await new Promise((r) => daemon.child.on('exit', r));
  const sql = spawnSync('sqlite3', [db, "SELECT budget, sum(cost_micros) FROM charges GROUP BY budget ORDER BY budget"], { encoding: 'utf8' });
  if (sql.status === 0 && sql.stdout.trim()) {
    const rows = Object.fromEntries(sql.stdout.trim().split('\n').map((l) => l.split('|')));
    for (const leaf of LEAVES) assert.equal(Number(rows[leaf]), done[leaf], `${leaf} in the database`);
  }
  console.log(`# ${actions} actions by ${CLIENTS} clients, one SIGKILL`);
});
