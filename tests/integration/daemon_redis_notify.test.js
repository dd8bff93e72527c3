// Notifications on the Redis store (docs/notifications.md, "On Redis"): each sink is a
// consumer group on the ledger-wide events stream, each daemon a consumer, so every event
// goes out once across the daemons, and one a daemon held when it died is taken over by
// another once idle past notify.claim_idle_ms. Each test starts its own redis-server and a
// webhook receiver on loopback; nothing is waited for by a fixed sleep.
//   1. Three daemons on one Redis, decisions spread over all three (charges, holds reserved
//      on one daemon and settled on another, refusals and revocations as four trees fill):
//      the receiver gets every event of the ledger-wide stream exactly once (counted by id),
//      the revocations among them, each the same event as the stream's entry; nothing is
//      left pending in the group.
//   2. The receiver stalls (holds every request unanswered); once the daemons have read
//      every event, the one holding the most unacknowledged entries is killed with SIGKILL
//      and the receiver answers again: the others deliver the dead daemon's entries after
//      the claim time, none lost; and none twice, since the live daemons kept refreshing
//      the entries they held in flight the whole time the receiver stalled.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { tempDir, startDaemon } = require('./daemon_helpers');
const { startRedis, writeConfig, redisJson, ledgerEvents, EVENTS_STREAM } = require('./redis_helpers');
const { waitFor } = require('./notify_receiver');

const STREAM = EVENTS_STREAM;
const GROUP = 'notify:hook';
const CLAIM_IDLE_MS = 3000;
const WAIT_MS = 60000; // deliveries on a loaded machine, the claim time included


// The group's pending entries: how many, and their ids by consumer.
async function pendingOf(port) {
  const rows = await redisJson(port,
    "local p = redis.call('XPENDING', KEYS[1], 'notify:hook', '-', '+', 100000) " +
    "if #p == 0 then return '[]' end return cjson.encode(p)", STREAM);
  const byConsumer = new Map();
  for (const [id, consumer] of rows) {
    if (!byConsumer.has(consumer)) byConsumer.set(consumer, []);
    byConsumer.get(consumer).push(Number(id.split('-')[0]));
  }
  return { count: rows.length, byConsumer };
}

// A webhook receiver that can stall: while stalled, requests are held unanswered; a request
// counts as delivered only when it is answered 200. Each daemon posts to its own path
// (/hook/N: the sink is the same, its url differs per daemon's config), so the receiver
// knows which daemon sent what, and can drop what a killed daemon left unanswered.
class StallingReceiver {
  constructor() {
    this.stalled = false;
    this.held = [];      // {res, json, from} waiting for an answer
    this.delivered = []; // {id, kind, budget, at, from}: every event object answered 200
  }

  start() {
    this.server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        const from = Number(req.url.split('/').pop());
        if (this.stalled) this.held.push({ res, json, from }); else this.answer(res, json, from);
      });
    });
    this.server.keepAliveTimeout = 120000;
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${this.server.address().port}/hook`)));
  }

  answer(res, json, from) {
    const at = Date.now();
    for (const e of json.events) {
      this.delivered.push({ id: e.id, kind: e.kind, budget: e.budget, at, from });
    }
    res.writeHead(200).end('ok');
  }

  // Answers what was held, except what daemon `dead` sent (its sender is gone: an answer
  // would reach nobody, and counting it would count a delivery no daemon made).
  unstall(dead) {
    this.stalled = false;
    for (const { res, json, from } of this.held.splice(0)) {
      if (from !== dead) this.answer(res, json, from);
    }
  }

  counts() {
    const counts = new Map();
    for (const e of this.delivered) counts.set(e.id, (counts.get(e.id) || 0) + 1);
    return counts;
  }

  stop() {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function configFor(dir, redis, hook, timeoutMs, index) {
  return writeConfig(dir, `c${index}.yaml`, `port: 0
store: {kind: redis, url: "${redis.url}", timeout_ms: 2000, durability: relaxed}
budgets:
  - {path: acme, limit: "1.00", revoke_at: "0.80", alerts: ["0.5", "0.9"]}
  - {path: acme/a, limit: "0.60"}
  - {path: beta, limit: "0.40", revoke_at: "0.30"}
  - {path: gamma, limit: "0.50", revoke_at: "0.40"}
  - {path: delta, limit: "0.70", revoke_at: "0.50"}
notify:
  claim_idle_ms: ${CLAIM_IDLE_MS}
  sinks:
    - {name: hook, kind: webhook, url: "${hook}/${index}", timeout_ms: ${timeoutMs}, aggregate_denied: false}
`);
}

const LEAVES = ['acme/a', 'acme', 'beta', 'gamma', 'delta'];

// Operation i on daemons[i % n], a hold settled on the next daemon: charges, holds committed
// or released, refusals and revocations as the budgets fill.
async function operate(daemons, i) {
  const d = daemons[i % daemons.length], other = daemons[(i + 1) % daemons.length];
  const budget = LEAVES[i % LEAVES.length];
  const cost = 30000 + (i % 7) * 5000;
  if (i % 2 === 0) {
    const r = await d.call('POST', '/v1/charges', { budget, cost_micros: cost });
    assert.ok(r.status < 500, JSON.stringify(r.json));
    return;
  }
  const h = await d.call('POST', '/v1/holds', { budget, amount_micros: cost });
  if (h.status !== 200) return; // refused: a `denied` event
  const r = await other.call('POST', `/v1/holds/${h.json.hold_id}/${i % 4 === 1 ? 'commit' : 'release'}`,
    i % 4 === 1 ? { actual_micros: cost } : {});
  assert.equal(r.status, 200, JSON.stringify(r.json));
}

// Every event of the stream delivered exactly once, as itself; nothing else delivered.
function exactlyOnce(receiver, truth, what) {
  const counts = receiver.counts();
  for (const [id, event] of truth) {
    assert.equal(counts.get(id), 1, `${what}: event ${id} (${event.kind} on ${event.budget}) ` +
      `delivered ${counts.get(id) || 0} times`);
  }
  for (const e of receiver.delivered) {
    const event = truth.get(e.id);
    assert.ok(event, `${what}: event ${e.id} delivered but not in the stream`);
    assert.deepEqual({ kind: e.kind, budget: e.budget }, { kind: event.kind, budget: event.budget },
      `${what}: event ${e.id} as itself`);
  }
}

// Every tree's events copied into the ledger-wide stream (the collectors are done), and
// every one of them delivered.
const ROOTS = ['acme', 'beta', 'gamma', 'delta'];
async function copied(redis) {
  const lengths = await redisJson(redis.port,
    "local n = 0 for _, k in ipairs(KEYS) do n = n + redis.call('XLEN', k) end " +
    "return cjson.encode({n, redis.call('XLEN', KEYS[#KEYS])})",
    ...ROOTS.map((r) => `tg:{${r}}:events`), STREAM);
  return lengths[0] - lengths[1] === lengths[1]; // trees' sum (the stream counted once too)
}
async function allDelivered(receiver, redis) {
  if (!(await copied(redis))) return false;
  const truth = await ledgerEvents(redis.port);
  const counts = receiver.counts();
  return truth.size > 0 && [...truth.keys()].every((id) => counts.has(id));
}

test('three daemons on one Redis notify each event once', { timeout: 180000 }, async (t) => {
  const redis = await startRedis();
  const receiver = new StallingReceiver();
  const hook = await receiver.start();
  const dir = tempDir('redis-notify-once');
  const daemons = [];
  t.after(async () => {
    await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
    await receiver.stop();
    await redis.stop();
  });
  for (let i = 0; i < 3; i++) {
    daemons.push(await startDaemon(configFor(dir, redis, hook, 5000, i), { admin: 'k' }));
  }
  // Four clients at once, so the daemons decide (and read the group) concurrently.
  await Promise.all([0, 1, 2, 3].map(async (c) => {
    for (let i = c; i < 240; i += 4) await operate(daemons, i);
  }));
  await waitFor(() => allDelivered(receiver, redis), 'every event delivered', WAIT_MS);
  await waitFor(async () => (await pendingOf(redis.port)).count === 0, 'every entry acknowledged',
    WAIT_MS);
  const truth = await ledgerEvents(redis.port);
  exactlyOnce(receiver, truth, 'three daemons');
  const revoked = [...truth.values()].filter((e) => e.kind === 'revoked').length;
  // Which trees revoke depends on how the four clients interleave; some always do.
  assert.ok(revoked >= 1, 'revocations among the events');
  assert.ok([...truth.values()].some((e) => e.kind === 'denied'), 'refusals too');
  const by = [0, 1, 2].map((i) => receiver.delivered.filter((e) => e.from === i).length);
  t.diagnostic(`${truth.size} events, ${revoked} revocations, each delivered once; ` +
    `by daemon: ${by.join(', ')}`);
});

test('a daemon killed holding entries: the others deliver them after the claim time',
  { timeout: 180000 }, async (t) => {
    const redis = await startRedis();
    const receiver = new StallingReceiver();
    const hook = await receiver.start();
    // A long attempt timeout: a stalled request is not retried, it stays in flight.
    const dir = tempDir('redis-notify-kill');
    const daemons = [];
    t.after(async () => {
      await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
      await receiver.stop();
      await redis.stop();
    });
    receiver.stalled = true;
    for (let i = 0; i < 3; i++) {
      daemons.push(await startDaemon(configFor(dir, redis, hook, 120000, i), { admin: 'k' }));
    }
    for (let i = 0; i < 150; i++) await operate(daemons, i);
    // Every event read by some daemon (pending in the group), none delivered.
    let held = null;
    await waitFor(async () => {
      if (!(await copied(redis))) return false;
      const truth = await ledgerEvents(redis.port);
      held = await pendingOf(redis.port);
      return truth.size > 0 && held.count === truth.size;
    }, 'every event read by a daemon', WAIT_MS);
    assert.equal(receiver.delivered.length, 0);
    // The daemon holding the most: its consumer is HOST-PID.
    let victim = null, victimIds = [];
    for (const [consumer, ids] of held.byConsumer) {
      const d = daemons.find((x) => consumer.endsWith(`-${x.child.pid}`));
      assert.ok(d, `consumer ${consumer} is one of the daemons`);
      if (ids.length > victimIds.length) { victim = d; victimIds = ids; }
    }
    assert.ok(victimIds.length > 0);
    // Let the live daemons' stalled requests outlast the claim time: they must keep what
    // they hold (refreshed), not lose it to another daemon.
    const stallUntil = Date.now() + CLAIM_IDLE_MS * 1.5;
    await waitFor(() => Date.now() >= stallUntil, 'the stall to outlast the claim time', WAIT_MS);
    const killedAt = Date.now();
    await victim.stop('SIGKILL');
    const dead = daemons.indexOf(victim);
    daemons[dead] = { stop: async () => {} };
    receiver.unstall(dead);
    await waitFor(() => allDelivered(receiver, redis), 'every event delivered', WAIT_MS);
    await waitFor(async () => (await pendingOf(redis.port)).count === 0, 'every entry acknowledged',
      WAIT_MS);
    const truth = await ledgerEvents(redis.port);
    exactlyOnce(receiver, truth, 'after the kill');
    const at = new Map(receiver.delivered.map((e) => [e.id, e.at]));
    const lastMs = Math.max(...victimIds.map((id) => at.get(id))) - killedAt;
    t.diagnostic(`${truth.size} events; the killed daemon held ${victimIds.length}, delivered by ` +
      `the others within ${lastMs} ms of the kill (claim time ${CLAIM_IDLE_MS} ms)`);
  });
