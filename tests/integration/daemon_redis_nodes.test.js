// Many daemons, one ledger: 4 `tollgate serve` on one redis-server (started by the test on
// a loopback port) under many concurrent clients on a small budget tree with classes and
// revoke_at. One daemon is killed with SIGKILL mid-run (once enough commits are acknowledged,
// a condition, not a time); clients whose answer was lost send the same request, with the
// same idempotency key, to another daemon. Afterwards:
//   - no budget's spend is past its limit (0 overshoot), nothing is left held;
//   - each budget's spend is exactly the sum of the commits acknowledged below it: none of
//     the acknowledged charges is lost, none is counted twice by a retry;
//   - low and normal work together never charged past a budget's revoke_at;
//   - charge ids are unique, and a retried commit answers the id of the first.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { tempDir, startDaemon } = require('./daemon_helpers');
const { startRedis, post, writeConfig } = require('./redis_helpers');

const DAEMONS = 4;
const CLIENTS = Number(process.env.TG_REDIS_CLIENTS || 1000);
const SECONDS = Number(process.env.TG_REDIS_SECONDS || 6);
const KILL_AFTER_COMMITS = 300;
const LEAVES = ['t/a/x', 't/a/y', 't/b'];
const LIMITS = { t: 100e6, 't/a': 60e6, 't/a/x': 40e6, 't/a/y': 40e6, 't/b': 80e6 };
const REVOKE = { t: 80e6, 't/a': 50e6 }; // low and normal work stops here
const CLASSES = ['low', 'normal', 'high'];
const KEY = 'k';

test(`${DAEMONS} daemons on one redis, ${CLIENTS} clients, one daemon killed: exact and never past a limit`, async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const dir = tempDir('redis-nodes');
  const config = writeConfig(dir, 'c.yaml', `port: 0
store: {kind: redis, url: "${redis.url}", timeout_ms: 2000}
limits: {connections_max: 2048}
budgets:
  - {path: t, limit: "100.00", revoke_at: "80.00"}
  - {path: t/a, limit: "60.00", revoke_at: "50.00"}
  - {path: t/a/x, limit: "40.00"}
  - {path: t/a/y, limit: "40.00"}
  - {path: t/b, limit: "80.00"}
`);
  const daemons = [];
  for (let i = 0; i < DAEMONS; i++) daemons.push(await startDaemon(config, { admin: KEY }));
  t.after(() => Promise.all(daemons.map((d) => d.stop('SIGKILL'))));
  const alive = daemons.map(() => true);
  const agents = daemons.map(() => new http.Agent({ keepAlive: true, maxSockets: CLIENTS }));
  t.after(() => agents.forEach((a) => a.destroy()));

  // Sends to a live daemon; a lost answer (connection refused or reset) or a 503 is sent
  // again, same body and same idempotency key, to another daemon.
  let lost = 0, unavailable = 0, lostBeforeKill = 0;
  const send = async (url, body, start) => {
    for (let attempt = 0; ; attempt++) {
      let i = (start + attempt) % DAEMONS;
      while (!alive[i]) i = (i + 1) % DAEMONS;
      const r = await post(agents[i], daemons[i].port, url, body, KEY);
      if (r.status === 0) { lost++; continue; }
      if (r.status === 503) { unavailable++; continue; }
      return r;
    }
  };

  const charged = {}; // leaf -> class -> micros acknowledged
  for (const leaf of LEAVES) charged[leaf] = { low: 0, normal: 0, high: 0 };
  const chargeIds = new Set();
  let grants = 0, refusals = 0, commits = 0, replays = 0, resent = 0, killedAt = -1;
  const deadline = Date.now() + SECONDS * 1000;
  const client = async (c) => {
    for (let n = 0; Date.now() < deadline; n++) {
      const leaf = LEAVES[(c + n) % LEAVES.length];
      const cls = CLASSES[Math.floor(Math.random() * CLASSES.length)];
      const amount = 1 + Math.floor(Math.random() * 400000);
      const start = Math.floor(Math.random() * DAEMONS);
      const h = await send('/v1/holds', { budget: leaf, amount_micros: amount, class: cls,
        idempotency_key: `r-${c}-${n}` }, start);
      if (h.status === 402) { refusals++; continue; }
      assert.equal(h.status, 200, h.text);
      grants++;
      if (n % 10 === c % 10) {
        // A client that did not see the answer sends it again, to another daemon.
        const again = await send('/v1/holds', { budget: leaf, amount_micros: amount, class: cls,
          idempotency_key: `r-${c}-${n}` }, start + 2);
        assert.equal(again.status, 200, again.text);
        assert.equal(again.json.hold_id, h.json.hold_id, 'a repeated reserve is the same hold');
        assert.equal(again.json.replayed, true);
        resent++;
      }
      const actual = Math.floor(Math.random() * (amount + 1));
      const k = await send(`/v1/holds/${h.json.hold_id}/commit`,
        { actual_micros: actual, idempotency_key: `c-${c}-${n}` }, start + 1);
      assert.equal(k.status, 200, k.text);
      if (k.json.replayed) replays++;
      if (n % 10 === (c + 5) % 10) {
        const again = await send(`/v1/holds/${h.json.hold_id}/commit`,
          { actual_micros: actual, idempotency_key: `c-${c}-${n}` }, start + 3);
        assert.equal(again.status, 200, again.text);
        assert.equal(again.json.charge_id, k.json.charge_id, 'a repeated commit is the same charge');
        assert.equal(again.json.replayed, true);
        resent++;
      }
      assert.ok(!chargeIds.has(k.json.charge_id), `charge id ${k.json.charge_id} answered twice`);
      chargeIds.add(k.json.charge_id);
      charged[leaf][cls] += actual;
      commits++;
      if (commits === KILL_AFTER_COMMITS) {
        killedAt = commits;
        lostBeforeKill = lost;
        alive[0] = false;
        daemons[0].child.kill('SIGKILL');
      }
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
  assert.ok(killedAt > 0, `daemon 0 was killed mid-run (${commits} commits)`);

  const sum = (leaves, classes) => leaves.reduce((s, l) => s + classes.reduce((u, c) => u + charged[l][c], 0), 0);
  const subtree = { 't/a/x': ['t/a/x'], 't/a/y': ['t/a/y'], 't/b': ['t/b'], 't/a': ['t/a/x', 't/a/y'], t: LEAVES };
  const witness = daemons[1];
  for (const [p, leaves] of Object.entries(subtree)) {
    const b = (await witness.call('GET', `/v1/budgets/${p}`, undefined, KEY)).json;
    assert.ok(b.spent_micros <= LIMITS[p], `${p}: spent ${b.spent_micros} > limit ${LIMITS[p]}`);
    assert.equal(b.spent_micros, sum(leaves, CLASSES), `${p}: spend equals the acknowledged commits`);
    assert.equal(b.held_micros, 0, `${p}: nothing left held`);
    if (REVOKE[p] !== undefined) {
      const lowNormal = sum(leaves, ['low', 'normal']);
      assert.ok(lowNormal <= REVOKE[p], `${p}: low+normal charged ${lowNormal} > revoke_at ${REVOKE[p]}`);
    }
  }
  // The killed daemon, restarted, serves the same ledger.
  daemons[0] = await startDaemon(config, { admin: KEY });
  const again = (await daemons[0].call('GET', '/v1/budgets/t', undefined, KEY)).json;
  assert.equal(again.spent_micros, sum(LEAVES, CLASSES));
  assert.ok(grants > 200 && refusals > 0, `grants ${grants}, refusals ${refusals}: the limits were reached`);
  console.log(`# ${DAEMONS} daemons, ${CLIENTS} clients, ${SECONDS} s: ${grants} granted, ${commits} ` +
    `committed (${replays} answered as replays after a lost answer), ${refusals} refused, ${resent} ` +
    `sent twice on purpose and replayed; daemon 0 killed after ${killedAt} commits: ` +
    `${lost - lostBeforeKill} lost answers retried elsewhere, ${unavailable} 503s retried`);
  assert.equal(lostBeforeKill, 0, 'no answer was lost before the kill');
});
