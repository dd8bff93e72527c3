// Many daemons, one ledger: 4 `tollgate serve` on one redis-server (started by the test on
// a loopback port) under many concurrent clients on a small budget tree with classes and
// revoke_at. Mid-run (once enough commits are acknowledged: a condition, not a time) one
// daemon is killed with SIGKILL, or, in the second test, Redis itself (AOF with fsync on
// every write) is killed with SIGKILL and started again on its files. Clients whose answer
// was lost, or who got a 503, send the same request with the same idempotency key to
// another daemon; one request in ten is sent twice on purpose. Afterwards:
//   - no budget's spend is past its limit (0 overshoot), nothing is left held;
//   - each budget's spend is exactly the sum of the commits acknowledged below it: none of
//     the acknowledged charges is lost, none is counted twice by a retry;
//   - low and normal work together never charged past a budget's revoke_at;
//   - charge ids are unique; a repeated reserve answers the same hold, a repeated commit
//     the same charge.
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
const RETRY_PAUSE_MS = 20; // a client's pause before sending a 503'd request again

// Runs the clients against `DAEMONS` daemons on `redis`; `kill(daemons, alive)` is called
// once, when KILL_AFTER_COMMITS commits are acknowledged, and may return a promise.
async function run(t, redis, clients, kill, durability) {
  const dir = tempDir('redis-nodes');
  const config = writeConfig(dir, 'c.yaml', `port: 0
store: {kind: redis, url: "${redis.url}", timeout_ms: 2000, durability: ${durability}}
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
  const agents = daemons.map(() => new http.Agent({ keepAlive: true, maxSockets: clients }));
  t.after(() => agents.forEach((a) => a.destroy()));

  // Sends to a live daemon; a lost answer (connection refused or reset) or a 503 is sent
  // again, same body and same idempotency key, to another daemon.
  const stats = { grants: 0, refusals: 0, commits: 0, replays: 0, resent: 0, lost: 0, unavailable: 0 };
  let lostBeforeKill = -1;
  const send = async (url, body, start) => {
    for (let attempt = 0; ; attempt++) {
      let i = (start + attempt) % DAEMONS;
      while (!alive[i]) i = (i + 1) % DAEMONS;
      const r = await post(agents[i], daemons[i].port, url, body, KEY);
      if (r.status === 0) { stats.lost++; continue; }
      if (r.status === 503) {
        assert.equal(r.json && r.json.error && r.json.error.code, 'store_unavailable', r.text);
        stats.unavailable++;
        await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
        continue;
      }
      return r;
    }
  };

  const charged = {}; // leaf -> class -> micros acknowledged
  for (const leaf of LEAVES) charged[leaf] = { low: 0, normal: 0, high: 0 };
  const chargeIds = new Set();
  let killed = null;
  const deadline = Date.now() + SECONDS * 1000;
  // Until the time is up and the tree is full (a refusal seen): on a loaded machine the
  // limits may take longer than SECONDS to reach.
  const client = async (c) => {
    for (let n = 0; Date.now() < deadline || stats.refusals === 0; n++) {
      const leaf = LEAVES[(c + n) % LEAVES.length];
      const cls = CLASSES[Math.floor(Math.random() * CLASSES.length)];
      const amount = 1 + Math.floor(Math.random() * 400000);
      const start = Math.floor(Math.random() * DAEMONS);
      const reserve = { budget: leaf, amount_micros: amount, class: cls, idempotency_key: `r-${c}-${n}` };
      const h = await send('/v1/holds', reserve, start);
      if (h.status === 402) { stats.refusals++; continue; }
      assert.equal(h.status, 200, h.text);
      stats.grants++;
      if (n % 10 === c % 10) {
        // A client that did not see the answer sends it again, to another daemon.
        const again = await send('/v1/holds', reserve, start + 2);
        assert.equal(again.status, 200, again.text);
        assert.equal(again.json.hold_id, h.json.hold_id, 'a repeated reserve is the same hold');
        assert.equal(again.json.replayed, true);
        stats.resent++;
      }
      const actual = Math.floor(Math.random() * (amount + 1));
      const commit = { actual_micros: actual, idempotency_key: `c-${c}-${n}` };
      const k = await send(`/v1/holds/${h.json.hold_id}/commit`, commit, start + 1);
      assert.equal(k.status, 200, k.text);
      if (k.json.replayed) stats.replays++;
      if (n % 10 === (c + 5) % 10) {
        const again = await send(`/v1/holds/${h.json.hold_id}/commit`, commit, start + 3);
        assert.equal(again.status, 200, again.text);
        assert.equal(again.json.charge_id, k.json.charge_id, 'a repeated commit is the same charge');
        assert.equal(again.json.replayed, true);
        stats.resent++;
      }
      assert.ok(!chargeIds.has(k.json.charge_id), `charge id ${k.json.charge_id} answered twice`);
      chargeIds.add(k.json.charge_id);
      charged[leaf][cls] += actual;
      if (++stats.commits === KILL_AFTER_COMMITS) {
        lostBeforeKill = stats.lost;
        killed = Promise.resolve(kill(daemons, alive));
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
  assert.ok(killed !== null, `the kill happened mid-run (${stats.commits} commits)`);
  await killed;
  assert.equal(lostBeforeKill, 0, 'no answer was lost before the kill');

  const sum = (leaves, classes) => leaves.reduce((s, l) => s + classes.reduce((u, c) => u + charged[l][c], 0), 0);
  const subtree = { 't/a/x': ['t/a/x'], 't/a/y': ['t/a/y'], 't/b': ['t/b'], 't/a': ['t/a/x', 't/a/y'], t: LEAVES };
  const witness = daemons[alive.indexOf(true)];
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
  assert.ok(stats.grants > 200 && stats.refusals > 0,
    `grants ${stats.grants}, refusals ${stats.refusals}: the limits were reached`);
  return { daemons, alive, config, total: sum(LEAVES, CLASSES), stats };
}

const said = (what, s) => console.log(`# ${what}: ${s.grants} granted, ${s.commits} committed ` +
  `(${s.replays} answered as replays after a lost answer), ${s.refusals} refused, ${s.resent} sent ` +
  `twice on purpose and replayed; ${s.lost} lost answers and ${s.unavailable} 503s retried`);

test(`${DAEMONS} daemons on one redis, ${CLIENTS} clients, one daemon killed: exact and never past a limit`, async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const { daemons, config, total, stats } = await run(t, redis, CLIENTS, (all, alive) => {
    alive[0] = false;
    all[0].child.kill('SIGKILL');
  }, 'relaxed'); // this redis keeps no AOF: the daemon's kill is what is tested
  // The killed daemon, restarted, serves the same ledger.
  daemons[0] = await startDaemon(config, { admin: KEY });
  assert.equal((await daemons[0].call('GET', '/v1/budgets/t', undefined, KEY)).json.spent_micros, total);
  said(`${DAEMONS} daemons, ${CLIENTS} clients, ${SECONDS} s, daemon 0 killed after ${KILL_AFTER_COMMITS} commits`, stats);
});

test(`${DAEMONS} daemons, redis (AOF, fsync always) killed and restarted mid-run: nothing acknowledged lost or doubled`, async (t) => {
  const redis = await startRedis(['--appendonly', 'yes', '--appendfsync', 'always']);
  t.after(() => redis.stop());
  const clients = Math.min(CLIENTS, 300);
  const started = { at: 0, back: 0 };
  const { stats } = await run(t, redis, clients, async () => {
    started.at = Date.now();
    await redis.kill();
    await redis.restart();
    started.back = Date.now();
  }, 'strict'); // checked at connect: the server fsyncs every write
  assert.ok(stats.unavailable + stats.lost > 0, 'requests met the killed server');
  said(`${DAEMONS} daemons, ${clients} clients, ${SECONDS} s, redis killed after ${KILL_AFTER_COMMITS} ` +
    `commits and back in ${started.back - started.at} ms`, stats);
});
