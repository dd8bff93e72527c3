// Events on the Redis store (docs/multi-node.md, "Events"): every decision writes its events
// to its tree's stream; the daemons' collectors copy them into one ledger-wide stream whose
// numbers are GET /v1/events' ids and the SSE stream's Last-Event-ID. Two daemons on one
// Redis, charges, holds (reserved on one daemon, committed or released on the other) and
// refusals over three trees; then, for each daemon:
//   - GET /v1/events paged from 0 (1, 7 and 1000 a page) holds every event of every tree's
//     own stream (read from Redis directly) exactly once, in each tree's order, the ids
//     increasing; both daemons page the same list;
//   - an SSE stream opened before the run, cut in the middle and resumed with
//     Last-Event-ID, has received that same list, nothing lost, nothing twice;
//   - an agent key scoped to a subtree pages its subtree's events only.
// Second test: a daemon killed with SIGKILL in the middle of a run (its last decisions maybe
// never collected by it): the other daemon's sweep copies them, none lost, none twice.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const { tempDir, startDaemon, eventually, sha } = require('./daemon_helpers');
const { startRedis, writeConfig } = require('./redis_helpers');
const { SseClient } = require('./sse_client');

const ADMIN = 'k', AGENT = 'agent-a';
const ROOTS = ['acme', 'beta', 'gamma'];
const LEAVES = ['acme/a', 'acme/b', 'beta/q', 'gamma/x'];
const KINDS = ['threshold_crossed', 'revoked', 'reinstated', 'denied', 'overrun', 'hold_expired',
  'window_rolled', 'budget_changed'];
const redisCli = process.env.TG_REDIS_CLI || 'redis-cli';
const WAIT_MS = 30000; // for the collectors (every 100 ms) on a loaded machine

// A tree's own stream, read from Redis (the ground truth), as the API's fields.
function treeEvents(port, root) {
  const script = "return cjson.encode(redis.call('XRANGE', KEYS[1], '-', '+'))";
  return new Promise((resolve, reject) => {
    execFile(redisCli, ['-h', '127.0.0.1', '-p', String(port), 'EVAL', script, '1', `tg:{${root}}:events`],
      { maxBuffer: 64 << 20 }, (error, stdout) => {
        if (error) return reject(error);
        const entries = stdout.trim() === '{}' ? [] : JSON.parse(stdout);
        resolve(entries.map(([id, kv]) => {
          const f = {};
          for (let i = 0; i < kv.length; i += 2) f[kv[i]] = kv[i + 1];
          return { seq: Number(id.split('-')[0]), kind: KINDS[Number(f.k)], time_ms: Number(f.t),
            budget: f.b, amount_micros: f.a === undefined ? null : Number(f.a),
            spent_micros: f.s === undefined ? null : Number(f.s) };
        }));
      });
  });
}

const shape = (e) => `${e.kind} ${e.time_ms} ${e.budget} ${e.amount_micros} ${e.spent_micros}`;

async function truth(redis) {
  const all = {};
  for (const root of ROOTS) all[root] = await treeEvents(redis.port, root);
  return all;
}

async function pageAll(daemon, limit, key = ADMIN) {
  const rows = [];
  let since = 0;
  for (let pages = 0; ; pages++) {
    assert.ok(pages < 100000, 'the pages must end');
    const r = await daemon.call('GET', `/v1/events?since=${since}&limit=${limit}`, undefined, key);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.ok(r.json.events.length <= limit);
    rows.push(...r.json.events);
    if (r.json.next === since) return rows;
    assert.ok(r.json.next > since, 'the cursor moves forward');
    since = r.json.next;
  }
}

// Every event of every tree exactly once, in each tree's order, ids increasing.
function sameAsTrees(got, trees, what) {
  for (let i = 1; i < got.length; i++) assert.ok(got[i].id > got[i - 1].id, `${what}: ids increase`);
  for (const root of ROOTS) {
    const mine = got.filter((e) => e.budget === root || e.budget.startsWith(`${root}/`));
    assert.deepEqual(mine.map(shape), trees[root].map(shape), `${what}: tree ${root}`);
  }
  const total = ROOTS.reduce((n, root) => n + trees[root].length, 0);
  assert.equal(got.length, total, `${what}: as many as the trees hold`);
}

// Has `daemon` paged every event the trees hold (the collectors may still be behind)?
async function caughtUp(daemon, redis) {
  const trees = await truth(redis);
  const total = ROOTS.reduce((n, root) => n + trees[root].length, 0);
  const got = await pageAll(daemon, 1000);
  return got.length >= total ? trees : null;
}

function configFor(dir, redis) {
  return writeConfig(dir, 'c.yaml', `port: 0
store: {kind: redis, url: "${redis.url}", timeout_ms: 2000, durability: relaxed}
budgets:
  - {path: acme, limit: "1.00", revoke_at: "0.80", alerts: ["0.5", "0.9"]}
  - {path: acme/a, limit: "0.60"}
  - {path: acme/b, limit: "0.60"}
  - {path: beta, limit: "0.40"}
  - {path: beta/q, limit: "0.40"}
  - {path: gamma, limit: "100.00"}
  - {path: gamma/x, limit: "100.00"}
keys:
  - {name: a-bot, role: agent, scope: acme/a, sha256: ${sha(AGENT)}}
`);
}

// One operation of the mix on daemon `d` (holds settled on `other`): refusals come as the
// small budgets fill up.
async function operate(d, other, i) {
  const budget = LEAVES[i % LEAVES.length];
  const cost = 20000 + (i % 13) * 3000;
  if (i % 3 === 0) {
    const r = await d.call('POST', '/v1/charges', { budget, cost_micros: cost });
    assert.ok(r.status < 500, JSON.stringify(r.json));
    return;
  }
  const h = await d.call('POST', '/v1/holds', { budget, amount_micros: cost + 500 });
  if (h.status !== 200) return; // refused: a `denied` event
  const url = `/v1/holds/${h.json.hold_id}/${i % 3 === 1 ? 'commit' : 'release'}`;
  const r = await other.call('POST', url, i % 3 === 1 ? { actual_micros: cost } : {});
  assert.equal(r.status, 200, JSON.stringify(r.json));
}

test('events from two daemons on one redis page and stream the same, once each, in tree order', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const config = configFor(tempDir('redis-events'), redis);
  const one = await startDaemon(config, { admin: ADMIN });
  const two = await startDaemon(config, { admin: ADMIN });
  t.after(() => Promise.all([one.stop(), two.stop()]));

  // A stream from the first event on, cut in the middle of the run and resumed.
  const first = new SseClient(two.base, '/v1/events/stream?since=0', { Authorization: `Bearer ${ADMIN}` });
  await first.opened;
  assert.equal(first.status, 200);

  const ops = Array.from({ length: 300 }, (_, i) => i);
  await Promise.all(ops.slice(0, 150).map((i) => operate(i % 2 ? one : two, i % 2 ? two : one, i)));
  assert.ok(await eventually(() => first.events.length > 0, WAIT_MS), 'the stream sends events');
  // The root filled to its revocation threshold exactly: low and normal revoked there.
  const root = (await one.call('GET', '/v1/budgets/acme')).json.classes.normal.remaining_micros;
  assert.equal((await two.call('POST', '/v1/charges', { budget: 'acme', cost_micros: root })).status, 200);
  first.close();
  const seen = first.events.slice();
  const resumed = new SseClient(one.base, '/v1/events/stream',
    { Authorization: `Bearer ${ADMIN}`, 'Last-Event-ID': String(seen[seen.length - 1].id) });
  await resumed.opened;
  assert.equal(resumed.status, 200);
  await Promise.all(ops.slice(150).map((i) => operate(i % 2 ? one : two, i % 2 ? two : one, i)));

  const trees = await eventually(() => caughtUp(one, redis), WAIT_MS);
  assert.ok(trees, 'daemon one pages every event the trees hold');
  assert.ok(await eventually(() => caughtUp(two, redis), WAIT_MS), 'and so does daemon two');
  const kinds = new Set(Object.values(trees).flat().map((e) => e.kind));
  for (const kind of ['budget_changed', 'denied', 'threshold_crossed', 'revoked']) {
    assert.ok(kinds.has(kind), `the run made ${kind} events`);
  }
  const all = await pageAll(one, 1000);
  sameAsTrees(all, trees, 'daemon one, 1000 a page');
  for (const [daemon, name] of [[one, 'one'], [two, 'two']]) {
    for (const limit of [1, 7, 1000]) {
      assert.deepEqual(await pageAll(daemon, limit), all, `daemon ${name}, ${limit} a page`);
    }
  }
  // The stream: what the first connection saw, then the resumed one, is the whole list.
  assert.ok(await eventually(() => seen.length + resumed.events.length >= all.length, WAIT_MS),
    'the resumed stream catches up');
  const streamed = [...seen, ...resumed.events].map((e) => e.data);
  assert.deepEqual(streamed.map((e) => e.id), all.map((e) => e.id), 'streamed: every id once, in order');
  for (let i = 0; i < all.length; i++) {
    delete streamed[i].severity;
    assert.deepEqual(streamed[i], all[i], `streamed event ${all[i].id} as paged`);
  }
  resumed.close();
  // The same fields as on SQLite.
  assert.deepEqual(Object.keys(all[0]).sort(), ['amount_micros', 'budget', 'class', 'count',
    'detail', 'held_micros', 'hold_id', 'id', 'kind', 'limit_micros', 'reason', 'spent_micros',
    'threshold_micros', 'time_ms', 'tool'].sort());
  // An agent key: its subtree's events only, the cursor moving past the others'.
  const scoped = await pageAll(two, 5, AGENT);
  assert.deepEqual(scoped.map((e) => e.id), all.filter((e) => e.budget === 'acme/a').map((e) => e.id));
  assert.ok(scoped.length > 0);
  // The same key's SSE stream from the start, on the other daemon: its subtree's events
  // only, none of a sibling's or the root's (the stream filters what the collector copied
  // for every tree into one ledger-wide stream).
  const agentStream = new SseClient(one.base, '/v1/events/stream?since=0', { Authorization: `Bearer ${AGENT}` });
  await agentStream.opened;
  assert.equal(agentStream.status, 200);
  assert.ok(await eventually(() => agentStream.events.length >= scoped.length, WAIT_MS),
    `the agent's stream: ${agentStream.events.length} of ${scoped.length}`);
  agentStream.close();
  assert.deepEqual(agentStream.events.map((e) => e.data.id), scoped.map((e) => e.id), 'streamed to the agent: its subtree only');
});

test('a daemon killed mid-run loses no event: the other daemon copies what it had not', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const config = configFor(tempDir('redis-events-kill'), redis);
  const one = await startDaemon(config, { admin: ADMIN });
  const two = await startDaemon(config, { admin: ADMIN });
  t.after(() => Promise.all([one.stop('SIGKILL'), two.stop()]));
  // Daemon one decides alone (its collector is the only one that knows those trees were
  // touched), and is killed while requests are in flight.
  let stop = false;
  const workers = Array.from({ length: 16 }, async (_, w) => {
    for (let i = w; !stop; i += 16) {
      try {
        await operate(one, one, i);
      } catch {
        return; // the daemon is gone
      }
    }
  });
  await eventually(async () => (await truth(redis)).acme.length > 100, WAIT_MS);
  await one.stop('SIGKILL');
  stop = true;
  await Promise.all(workers);
  const trees = await eventually(() => caughtUp(two, redis), WAIT_MS);
  assert.ok(trees, 'daemon two pages every event the trees hold');
  sameAsTrees(await pageAll(two, 1000), trees, 'after the kill');
  // And a daemon started afterwards reads the same.
  const three = await startDaemon(config, { admin: ADMIN });
  t.after(() => three.stop());
  const later = await eventually(() => caughtUp(three, redis), WAIT_MS);
  assert.ok(later);
  sameAsTrees(await pageAll(three, 7), later, 'a third daemon');
});
