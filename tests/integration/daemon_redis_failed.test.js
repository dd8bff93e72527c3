// Notifications given up on, on the Redis store (docs/notifications.md, "On Redis" and "The
// dead-letter list"): GET /v1/notify/failed and `tollgate events --failed` read the stream
// tg:{roots}:notify:dead that every daemon's notifier fills, with SQLite's answer, order,
// paging and limits. Each test starts its own redis-server and a webhook receiver that
// answers 500 to everything, so with give_up_after_ms 500 every event is given up quickly;
// nothing is waited for by a fixed sleep.
//   1. Two daemons, two sinks, events on three budgets decided on both daemons: once every
//      event is read and acknowledged, each (sink, event) of the ledger-wide stream is
//      listed exactly once (given up by one daemon only), as itself, in (event id, sink)
//      order, the same from either daemon; pages of every size join up to the whole list
//      without losing the second sink of an event at a page's end; an agent key sees its
//      subtree's only (exactly those); bad limits are refused;
//      the CLI asks the daemon, and refuses to read a Redis config "directly".
//   2. The bound: 10,050 dead letters recorded through the notifier's own function leave
//      exactly the newest 10,000 (stream and index alike), a second give-up of one
//      (sink, event) replaces the first, and the API pages the bounded list whole; an agent
//      key's one dead letter at the far end of it is on its first page.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { spawn } = require('node:child_process');
const { tempDir, startDaemon, cli, sha } = require('./daemon_helpers');
const { startRedis, writeConfig, redisCli, redisJson, ledgerEvents, EVENTS_STREAM } = require('./redis_helpers');
const { waitFor } = require('./notify_receiver');

const STREAM = EVENTS_STREAM;
const DEAD = 'tg:{roots}:notify:dead';
const ORDER = 'tg:{roots}:notify:dead:order';
const SINKS = ['hook', 'pager'];
const ADMIN = 'k', AGENT = 'agent-a', OTHER = 'agent-c';
const WAIT_MS = 60000;


// Commands fed to redis-cli one a line; resolves with its output.
function redisLines(port, lines) {
  return new Promise((resolve, reject) => {
    const child = spawn(redisCli, ['-h', '127.0.0.1', '-p', String(port)]);
    let out = '';
    child.stdout.on('data', (c) => { out += c; });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(out))));
    child.stdin.end(lines.join('\n') + '\n');
  });
}

// Every sink's group has read the whole stream and has nothing pending: every event is
// finished for every sink (here: given up, the receiver never says yes).
async function settled(port) {
  const state = await redisJson(port,
    "local out = {} for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do " +
    'local f = {} for j = 1, #g, 2 do f[g[j]] = g[j + 1] end ' +
    'out[#out + 1] = {f.name, f.pending, f["last-delivered-id"]} end ' +
    "local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1] " +
    "return cjson.encode({out, last and last[1] or ''})", STREAM);
  const [groups, last] = state;
  return groups.length === SINKS.length && last !== '' &&
    groups.every(([, pending, delivered]) => pending === 0 && delivered === last);
}

// A webhook receiver that refuses everything.
async function failingReceiver() {
  let requests = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => { requests++; res.writeHead(500).end('no'); });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/hook`,
    requests: () => requests,
    stop: () => { server.closeAllConnections(); return new Promise((r) => server.close(r)); },
  };
}

// With `url`, both sinks post there; without, the daemon has no notifier.
function configFor(dir, redis, url, index) {
  return writeConfig(dir, `c${index}.yaml`, `port: 0
store: {kind: redis, url: "${redis.url}", timeout_ms: 2000, durability: relaxed}
budgets:
  - {path: acme, limit: "1.00", revoke_at: "0.80", alerts: ["0.5", "0.9"]}
  - {path: acme/a, limit: "0.40", revoke_at: "0.30"}
  - {path: acme/b, limit: "0.40"}
  - {path: beta, limit: "0.30", revoke_at: "0.20"}
  - {path: gamma, limit: "0.30"}
keys:
  - {name: a-bot, role: agent, scope: acme/a, sha256: ${sha(AGENT)}}
  - {name: c-bot, role: agent, scope: gamma, sha256: ${sha(OTHER)}}
${url ? `notify:
  retry: {initial_ms: 20, max_ms: 100, give_up_after_ms: 500}
  sinks:
    - {name: hook, kind: webhook, url: "${url}", timeout_ms: 2000, aggregate_denied: false}
    - {name: pager, kind: webhook, url: "${url}", timeout_ms: 2000, aggregate_denied: false}
` : ''}`);
}

// Every page of GET /v1/notify/failed with `limit`, following `next`.
async function pageAll(d, limit, key = ADMIN) {
  const rows = [];
  let after = 0;
  for (let pages = 0; pages < 100000; pages++) {
    const r = await d.call('GET', `/v1/notify/failed?after=${after}&limit=${limit}`, undefined, key);
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json.failed.length <= limit, `a page of ${limit} held ${r.json.failed.length}`);
    if (r.json.failed.length === 0) {
      assert.equal(r.json.next, after, 'an empty page keeps its place');
      return rows;
    }
    assert.equal(r.json.next, r.json.failed.at(-1).event_id, 'next is the last event listed');
    rows.push(...r.json.failed);
    after = r.json.next;
  }
  throw new Error('pages never ended');
}

const key = (f) => `${f.event_id} ${f.sink}`;

test('dead letters on Redis: listed once across daemons, paged and scoped as on SQLite',
  { timeout: 180000 }, async (t) => {
    const redis = await startRedis();
    const receiver = await failingReceiver();
    const dir = tempDir('redis-failed');
    const daemons = [];
    t.after(async () => {
      await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
      await receiver.stop();
      await redis.stop();
    });
    for (let i = 0; i < 2; i++) {
      daemons.push(await startDaemon(configFor(dir, redis, receiver.url, i), { admin: ADMIN }));
    }
    const budgets = ['acme/a', 'acme/b', 'beta'];
    for (let i = 0; i < 36; i++) {
      const r = await daemons[i % 2].call('POST', '/v1/charges',
        { budget: budgets[i % budgets.length], cost_micros: 30000 + (i % 5) * 7000 });
      assert.ok(r.status < 500, r.text);
    }
    await waitFor(() => settled(redis.port), 'every event given up by every sink', WAIT_MS);
    const truth = await ledgerEvents(redis.port);
    assert.ok(receiver.requests() > 0, 'the daemons tried');

    // Each (sink, event) of the stream exactly once, as itself, in (event id, sink) order.
    const all = await pageAll(daemons[0], 1000);
    const kinds = new Set();
    const expected = [...truth.keys()].sort((a, b) => a - b)
      .flatMap((id) => SINKS.map((sink) => `${id} ${sink}`));
    assert.deepEqual(all.map(key), expected, 'every (event, sink) once, in order');
    for (const f of all) {
      const e = truth.get(f.event_id);
      assert.deepEqual({ kind: f.kind, budget: f.budget, time_ms: f.time_ms }, e, `event ${f.event_id}`);
      assert.ok(f.attempts >= 0 && f.failed_at_ms >= e.time_ms, JSON.stringify(f));
      kinds.add(f.kind);
      assert.ok(f.last_error.length > 0, JSON.stringify(f));
    }
    assert.ok(all.some((f) => /HTTP 500/.test(f.last_error)), JSON.stringify(all.slice(0, 4)));
    assert.ok(all.some((f) => f.kind === 'denied' && f.budget === 'acme/a'), 'a refusal among them');
    assert.ok(kinds.has('threshold_crossed') && kinds.has('budget_changed'), [...kinds].join());
    assert.deepEqual(Object.keys(all[0]).sort(), ['attempts', 'budget', 'event_id', 'failed_at_ms',
      'kind', 'last_error', 'sink', 'time_ms'], 'the fields of the SQLite answer');
    // The same list from the other daemon: it reads Redis, not what it gave up itself.
    assert.deepEqual(await pageAll(daemons[1], 1000), all);
    // The stream holds one entry per (sink, event), and the index one member per entry.
    const sizes = await redisJson(redis.port,
      "return cjson.encode({redis.call('XLEN', KEYS[1]), redis.call('ZCARD', KEYS[2])})", DEAD, ORDER);
    assert.deepEqual(sizes, [all.length, all.length]);

    // Pages of any size join up to the whole list; an odd limit would end a page between an
    // event's two sinks, and the page stops before that event instead.
    for (const limit of [2, 3, 5, 7]) {
      const paged = await pageAll(daemons[limit % 2], limit);
      assert.deepEqual(paged.map(key), all.map(key), `pages of ${limit}`);
    }
    const first = await daemons[0].call('GET', '/v1/notify/failed?limit=3');
    assert.deepEqual(first.json.failed.map(key), all.slice(0, 2).map(key), 'a page of 3 holds two whole events');
    const after = await daemons[0].call('GET', `/v1/notify/failed?after=${all[1].event_id}&limit=2`);
    assert.deepEqual(after.json.failed.map(key), all.slice(2, 4).map(key));

    // An agent key: its subtree's dead letters, exactly.
    const scoped = await pageAll(daemons[1], 3, AGENT);
    assert.deepEqual(scoped.map(key), all.filter((f) => f.budget === 'acme/a').map(key));
    assert.ok(scoped.length > 0);
    const gamma = all.filter((f) => f.budget === 'gamma');
    const other = await daemons[0].call('GET', '/v1/notify/failed?limit=1000', undefined, OTHER);
    assert.equal(other.status, 200);
    assert.deepEqual(other.json, { failed: gamma, next: gamma.at(-1).event_id });
    // Past its subtree's last dead letter, a page is empty and keeps its place, though
    // other subtrees' come after it.
    const past = await daemons[0].call('GET',
      `/v1/notify/failed?after=${gamma.at(-1).event_id}&limit=1000`, undefined, OTHER);
    assert.deepEqual(past.json, { failed: [], next: gamma.at(-1).event_id });
    assert.ok(all.at(-1).event_id > gamma.at(-1).event_id);

    // Limits as on SQLite.
    for (const bad of ['limit=0', 'limit=1001', 'after=-1', 'after=x']) {
      const r = await daemons[0].call('GET', `/v1/notify/failed?${bad}`);
      assert.equal(r.status, 400, bad);
      assert.equal(r.json.error.code, 'invalid_query', bad);
    }

    // The CLI asks a daemon; with a Redis config it cannot read a file, and says so.
    const env = { TOLLGATE_URL: daemons[0].base, TOLLGATE_KEY: ADMIN };
    const json = await cli(['events', '--failed', '--json', '--limit', '1000'], env);
    assert.equal(json.status, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout).failed, all);
    const table = await cli(['events', '--failed', '--limit', '4'], env);
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /EVENT\s+SINK\s+KIND/);
    assert.equal(table.stdout.trim().split('\n').length, 5, table.stdout);
    const direct = await cli(['events', '--failed', '--config', `${dir}/c0.yaml`], env);
    assert.notEqual(direct.status, 0);
    assert.match(direct.stderr, /keeps its ledger in redis: ask a daemon/);
    t.diagnostic(`${truth.size} events, ${all.length} dead letters, ${receiver.requests()} attempts`);
  });

test('the dead-letter stream keeps the newest 10,000, one per (sink, event)',
  { timeout: 180000 }, async (t) => {
    const redis = await startRedis();
    const receiver = await failingReceiver();
    const dir = tempDir('redis-failed-bound');
    const daemons = [];
    t.after(async () => {
      await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
      await receiver.stop();
      await redis.stop();
    });
    // The daemon loads the function library; it has no notifier, so nothing but the lines
    // below records dead letters.
    daemons.push(await startDaemon(configFor(dir, redis, null, 0), { admin: ADMIN }));
    // 10,050 give-ups through tg_notify_ack, as a notifier records them: events 1..5025 on
    // two sinks, newest last; none of these events is in the (empty) ledger-wide stream.
    const record = (event, sink, error) =>
      `FCALL tg_notify_ack 1 tg:{roots} notify:${sink} "" ${sink} ${event} 3 ${error} ${1000 + event}`;
    const lines = [];
    for (let event = 1; event <= 5025; event++) {
      for (const sink of SINKS) lines.push(record(event, sink, 'HTTP_500'));
    }
    await redisLines(redis.port, lines);
    const sizes = async () => redisJson(redis.port,
      "return cjson.encode({redis.call('XLEN', KEYS[1]), redis.call('ZCARD', KEYS[2])})", DEAD, ORDER);
    assert.deepEqual(await sizes(), [10000, 10000], 'stream and index bounded alike');
    // A second give-up of one (sink, event) replaces it: still 10,000, the oldest kept.
    await redisLines(redis.port, [record(4000, 'hook', 'HTTP_503')]);
    assert.deepEqual(await sizes(), [10000, 10000]);
    const all = await pageAll(daemons[0], 1000);
    assert.equal(all.length, 10000);
    assert.deepEqual(all.slice(0, 2).map(key), ['26 hook', '26 pager'], 'the oldest 50 dropped');
    assert.deepEqual(all.at(-1).event_id, 5025);
    const again = all.filter((f) => f.event_id === 4000);
    assert.deepEqual(again.map((f) => [f.sink, f.last_error]), [['hook', 'HTTP_503'], ['pager', 'HTTP_500']]);
    // Events the ledger-wide stream does not hold: kind, budget and time unknown (null), as
    // a dead letter whose events row is gone on SQLite; an agent key sees none of them.
    assert.deepEqual([all[0].kind, all[0].budget, all[0].time_ms, all[0].attempts], [null, null, null, 3]);
    const scoped = await daemons[0].call('GET', '/v1/notify/failed?limit=1000', undefined, AGENT);
    assert.deepEqual(scoped.json, { failed: [], next: 0 });
    assert.equal(scoped.status, 200);
    // The next give-up drops exactly the oldest entry (event 26's hook).
    await redisLines(redis.port, [record(6000, 'hook', 'HTTP_500')]);
    assert.deepEqual(await sizes(), [10000, 10000]);
    const head = await daemons[0].call('GET', '/v1/notify/failed?limit=3');
    assert.deepEqual(head.json.failed.map(key), ['26 pager', '27 hook', '27 pager']);
    // A scoped page looks at the list in bounded calls, yet is never short before the end:
    // the agent's one dead letter, the newest event of 10,000 entries, is on its first page.
    // (An event made for the test at the stream's end: the daemon is idle by now.)
    await redisLines(redis.port, [`XADD ${STREAM} 9000-0 tr 1 k 1 t 1234 b acme/a/x`,
      record(9000, 'pager', 'HTTP_502')]);
    const far = await daemons[0].call('GET', '/v1/notify/failed?limit=5', undefined, AGENT);
    assert.deepEqual(far.json, { failed: [{ sink: 'pager', event_id: 9000, kind: 'revoked',
      budget: 'acme/a/x', time_ms: 1234, failed_at_ms: 10000, attempts: 3, last_error: 'HTTP_502' }],
    next: 9000 });
    const end = await daemons[0].call('GET', '/v1/notify/failed?after=9000', undefined, AGENT);
    assert.deepEqual(end.json, { failed: [], next: 9000 });
    t.diagnostic('10,000 kept of 10,053 recorded');
  });
