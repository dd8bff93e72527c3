// Concurrency test of `tollgate serve`: 200 concurrent clients hold and commit
// random amounts on a small tree for a few seconds. Afterwards no budget's spend
// passes its limit, and each budget's spend equals the sum of the acknowledged
// commits below it (nothing acknowledged was lost, nothing charged twice).
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');

const binary = process.env.TG_BINARY || 'build/tollgate';
const CLIENTS = 200;
const SECONDS = Number(process.env.TG_CONCURRENCY_SECONDS || 3);
const LEAVES = ['t/a/x', 't/a/y', 't/b'];

test('200 clients never push spend past a limit, and spend = acknowledged commits', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-conc-'));
  const config = path.join(dir, 'c.yaml');
  const db = path.join(dir, 'db.sqlite');
  // SQLite by default, so acknowledged commits can be checked in the file; the memory
  // store when the SQLite store is not built into this tree.
  const launch = (store) => {
    fs.writeFileSync(config, `port: 0
store: {kind: ${store}, path: ${db}}
limits: {connections_max: 1024}
budgets:
  - {path: t, limit: "50.00"}
  - {path: t/a, limit: "30.00", revoke_at: "25.00"}
  - {path: t/a/x, limit: "20.00"}
  - {path: t/a/y, limit: "20.00"}
  - {path: t/b, limit: "40.00"}
`);
    const child = spawn(binary, ['serve', '--config', config], {
      env: { ...process.env, TOLLGATE_ADMIN_KEY: 'k' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (c) => { err += c; });
    const ready = new Promise((resolve) => {
      let text = '';
      child.stdout.on('data', (c) => { text += c; const m = text.match(/:(\d+)\n/); if (m) resolve(Number(m[1])); });
      child.on('exit', () => resolve(null));
    });
    return { child, ready, stderr: () => err };
  };
  let store = process.env.TG_STORE || 'sqlite';
  let started = launch(store);
  let port = await started.ready;
  if (port === null && store === 'sqlite' && /unknown store/.test(started.stderr())) {
    store = 'memory';
    started = launch(store);
    port = await started.ready;
  }
  assert.ok(port, started.stderr());
  const daemon = started.child;
  const exited = new Promise((resolve) => daemon.on('exit', resolve));
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  const post = (url, body) => new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request({ port, host: '127.0.0.1', path: url, method: 'POST', agent,
      headers: { Authorization: 'Bearer k', 'Content-Length': Buffer.byteLength(data) } }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, json: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(data);
  });
  const committed = Object.fromEntries(LEAVES.map((l) => [l, 0]));
  let grants = 0, refusals = 0;
  const deadline = Date.now() + SECONDS * 1000;
  const client = async () => {
    while (Date.now() < deadline) {
      const leaf = LEAVES[Math.floor(Math.random() * LEAVES.length)];
      const amount = 1 + Math.floor(Math.random() * 200000);
      const h = await post('/v1/holds', { budget: leaf, amount_micros: amount });
      if (h.status === 402) { refusals++; continue; }
      assert.equal(h.status, 200);
      grants++;
      const actual = Math.floor(Math.random() * (amount + 1));
      const c = await post(`/v1/holds/${h.json.hold_id}/commit`, { actual_micros: actual });
      assert.equal(c.status, 200);
      committed[leaf] += actual;
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, client));
  agent.destroy();
  const get = async (p) => (await fetch(`http://127.0.0.1:${port}/v1/budgets/${p}`, { headers: { Authorization: 'Bearer k' } })).json();
  const expected = { 't/a/x': committed['t/a/x'], 't/a/y': committed['t/a/y'], 't/b': committed['t/b'] };
  expected['t/a'] = expected['t/a/x'] + expected['t/a/y'];
  expected.t = expected['t/a'] + expected['t/b'];
  for (const [p, spent] of Object.entries(expected)) {
    const b = await get(p);
    assert.ok(b.spent_micros <= b.limit_micros, `${p} spent ${b.spent_micros} > limit ${b.limit_micros}`);
    assert.equal(b.spent_micros, spent, `${p}: spend equals the sum of acknowledged commits`);
    assert.equal(b.held_micros, 0);
  }
  assert.ok(grants > 100 && refusals > 0, `grants ${grants}, refusals ${refusals}: the limits were reached`);
  console.log(`# ${grants} holds granted and committed, ${refusals} refused, ${CLIENTS} clients, ${SECONDS} s`);
  daemon.kill('SIGTERM');
  assert.equal(await exited, 0);
  if (store === 'sqlite') {
    const sql = spawnSync('sqlite3', [db, 'SELECT budget, sum(cost_micros) FROM charges GROUP BY budget'], { encoding: 'utf8' });
    assert.equal(sql.status, 0, sql.stderr);
    const rows = Object.fromEntries(sql.stdout.trim().split('\n').map((l) => l.split('|')));
    for (const leaf of LEAVES) {
      assert.equal(Number(rows[leaf] || 0), committed[leaf], `${leaf}: every acknowledged commit is in the database`);
    }
  }
  console.log(`# store: ${store}`);
});
