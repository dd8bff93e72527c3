// Concurrency test of `tollgate serve` on the SQLite store in strict mode: 200
// concurrent clients hold and commit random amounts on a small tree for a few
// seconds. Afterwards no budget's spend passes its limit, each budget's spend equals
// the sum of the acknowledged commits below it, and the charges table holds exactly
// the acknowledged commits: each one, by id, with its amount, and nothing else.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { tempDir, startDaemon, sql } = require('./daemon_helpers');

const CLIENTS = 200;
const SECONDS = Number(process.env.TG_CONCURRENCY_SECONDS || 3);
const CAP_MS = 60000;
const LEAVES = ['t/a/x', 't/a/y', 't/b'];
const LIMITS = { t: 50e6, 't/a': 30e6, 't/a/x': 20e6, 't/a/y': 20e6, 't/b': 40e6 };

test('200 clients never push spend past a limit, and every acknowledged commit is in the file', async (t) => {
  const dir = tempDir('conc');
  const config = path.join(dir, 'c.yaml');
  const db = path.join(dir, 'db.sqlite');
  fs.writeFileSync(config, `port: 0
store: {kind: sqlite, path: ${db}, durability: strict}
limits: {connections_max: 1024}
budgets:
  - {path: t, limit: "50.00"}
  - {path: t/a, limit: "30.00", revoke_at: "25.00"}
  - {path: t/a/x, limit: "20.00"}
  - {path: t/a/y, limit: "20.00"}
  - {path: t/b, limit: "40.00"}
`);
  const daemon = await startDaemon(config, { admin: 'k' });
  t.after(() => daemon.stop('SIGKILL')); // a failed assertion must not leave it running
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  const post = (url, body) => new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request({ port: daemon.port, host: '127.0.0.1', path: url, method: 'POST', agent,
      headers: { Authorization: 'Bearer k', 'Content-Length': Buffer.byteLength(data) } }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, json: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(data);
  });
  const committed = Object.fromEntries(LEAVES.map((l) => [l, 0]));
  const acknowledged = new Map(); // charge id -> [budget, cost]
  let grants = 0, refusals = 0;
  // At least SECONDS of traffic, and on until some limit refuses (a loaded machine makes
  // fewer calls a second), at most CAP_MS.
  const started = Date.now();
  const going = () => {
    const ran = Date.now() - started;
    return ran < SECONDS * 1000 || (refusals === 0 && ran < CAP_MS);
  };
  const client = async () => {
    while (going()) {
      const leaf = LEAVES[Math.floor(Math.random() * LEAVES.length)];
      const amount = 1 + Math.floor(Math.random() * 200000);
      const h = await post('/v1/holds', { budget: leaf, amount_micros: amount });
      if (h.status === 402) { refusals++; continue; }
      assert.equal(h.status, 200, JSON.stringify(h.json));
      grants++;
      const actual = Math.floor(Math.random() * (amount + 1));
      const c = await post(`/v1/holds/${h.json.hold_id}/commit`, { actual_micros: actual });
      assert.equal(c.status, 200, JSON.stringify(c.json));
      assert.ok(!acknowledged.has(c.json.charge_id), 'charge ids are unique');
      acknowledged.set(c.json.charge_id, [leaf, actual]);
      committed[leaf] += actual;
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, client));
  agent.destroy();
  const expected = { 't/a/x': committed['t/a/x'], 't/a/y': committed['t/a/y'], 't/b': committed['t/b'] };
  expected['t/a'] = expected['t/a/x'] + expected['t/a/y'];
  expected.t = expected['t/a'] + expected['t/b'];
  for (const [p, spent] of Object.entries(expected)) {
    const b = (await daemon.call('GET', `/v1/budgets/${p}`, undefined, 'k')).json;
    assert.ok(b.spent_micros <= LIMITS[p], `${p} spent ${b.spent_micros} > limit ${LIMITS[p]}`);
    assert.equal(b.spent_micros, spent, `${p}: spend equals the sum of acknowledged commits`);
    assert.equal(b.held_micros, 0);
  }
  assert.ok(grants > 100 && refusals > 0, `grants ${grants}, refusals ${refusals}: the limits were reached`);
  assert.equal(await daemon.stop(), 0);

  // The file: exactly the acknowledged charges, and budgets whose spend matches them.
  const rows = sql(db, 'SELECT id, budget, cost_micros FROM charges ORDER BY id');
  assert.equal(rows.length, acknowledged.size, 'one row per acknowledged commit, no more');
  for (const row of rows) {
    assert.deepEqual([row.budget, row.cost_micros], acknowledged.get(row.id), `charge ${row.id}`);
  }
  const spent = Object.fromEntries(sql(db, 'SELECT path, spent_micros FROM budgets').map((r) => [r.path, r.spent_micros]));
  for (const [p, total] of Object.entries(expected)) {
    assert.equal(spent[p], total, `${p}: spend in the file`);
    assert.ok(spent[p] <= LIMITS[p]);
  }
  assert.equal(sql(db, 'SELECT count(*) AS n FROM holds')[0].n, 0);
  console.log(`# ${grants} holds granted and committed, ${refusals} refused, ${CLIENTS} clients, ${SECONDS} s, sqlite strict`);
});
