// GET /v1/events/stream (server-sent events) and GET /v1/notify/failed on a real daemon:
// live events arrive with the ids of the events table; a reconnect with Last-Event-ID gets
// exactly the missed ones, in order; filters and key scopes hold; past event_streams_max a
// client hears 503; a client that stops reading is cut; a sink that stays down past its
// give-up time shows its dead letters through the API and `tollgate events --failed`.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { sha, tempDir, startDaemon, cli, sql, eventually, eventuallyWhileMoving } = require('./daemon_helpers.js');
const { Receiver } = require('./notify_receiver.js');
const { SseClient } = require('./sse_client.js');

const AGENT = 'agent-a-secret';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function writeConfig(dir, { limits = '', notify = '' } = {}) {
  const db = path.join(dir, 'ledger.db');
  const file = path.join(dir, 'c.yaml');
  fs.writeFileSync(file, `port: 0
store: {kind: sqlite, path: ${db}, durability: strict}
${limits}
keys:
  - {name: agent-a, role: agent, scope: "t/a", sha256: ${sha(AGENT)}}
budgets:
  - {path: t, limit: "100000.00"}
  - {path: t/a, limit: "10.00", revoke_at: "8.00", alerts: ["0.5"]}
  - {path: t/b, limit: "10.00", revoke_at: "8.00", alerts: ["0.5"]}
${notify}`);
  return { db, file };
}

// A POST on a keep-alive connection the daemon closes as it is sent (request_timeout_s: 1
// here, and a loaded machine) is lost before the daemon reads it: sent again once on a new
// connection. A charge carries an idempotency key, so a retry can never charge twice.
async function post(d, path, body, key) {
  try {
    return await d.call('POST', path, body, key);
  } catch (e) {
    const code = e.cause && e.cause.code;
    if (!['UND_ERR_SOCKET', 'ECONNRESET'].includes(code)) throw e;
    return d.call('POST', path, body, key);
  }
}

let charges = 0;
async function charge(d, budget, cost, key) {
  return post(d, '/v1/charges', { budget, cost, idempotency_key: `c${process.pid}-${++charges}` }, key);
}

function tableIds(db, after, where = '1') {
  return sql(db, `SELECT id FROM events WHERE id > ${after} AND ${where} ORDER BY id`).map((r) => r.id);
}

function lastId(db) {
  return sql(db, 'SELECT coalesce(max(id), 0) AS id FROM events')[0].id;
}

// The last pair of id lists compared by agree(), for the assertion that follows a wait.
let agreed = [[], []];
function agree(a, b) {
  agreed = [a, b];
  return JSON.stringify(a) === JSON.stringify(b);
}

test('live events, then a reconnect with Last-Event-ID gets exactly the missed ones', async (t) => {
  const dir = tempDir('sse-live');
  const { db, file } = writeConfig(dir, { limits: 'limits: {request_timeout_s: 1, event_stream_keepalive_ms: 3000}' });
  const d = await startDaemon(file);
  t.after(() => d.stop('SIGKILL'));
  const start = lastId(db);
  const live = await new SseClient(d.base, '/v1/events/stream', { Authorization: 'Bearer admin-secret' }).opened;
  assert.equal(live.status, 200);
  assert.match(live.headers['content-type'], /text\/event-stream/);
  // Quiet for longer than request_timeout_s: the stream must stay open. The quiet time
  // is what is tested here, so this one wait is a duration, not a condition.
  await sleep(1500);
  assert.equal(live.ended, false, 'a quiet stream outlives request_timeout_s');
  for (let i = 0; i < 9; i++) await charge(d, 't/a', '1.00'); // alert at 5, revocations at 8, refusal
  assert.ok(await eventually(() => live.events.some((e) => e.event === 'revoked'), 15000), 'revoked arrived');
  assert.ok(await eventually(() => live.events.some((e) => e.event === 'denied'), 15000), 'denied arrived');
  const revoked = live.events.find((e) => e.event === 'revoked');
  assert.equal(revoked.data.budget, 't/a');
  assert.equal(revoked.data.id, revoked.id);
  assert.equal(revoked.data.severity, 'warning');
  assert.ok(live.events.some((e) => e.event === 'threshold_crossed' && e.data.severity === 'info'));
  // Exactly the table's events since the stream opened, in order. The refusal's event
  // reaches the table with a later loop turn, and the stream a moment after the table:
  // wait until the two agree, then compare them whole.
  assert.ok(await eventually(() => agree(live.ids(), tableIds(db, start)), 15000), 'caught up');
  assert.deepEqual(...agreed);

  // Disconnect after the last event; events happen meanwhile; reconnect from the last id.
  const seen = live.ids().at(-1);
  live.close();
  for (let i = 0; i < 9; i++) await charge(d, 't/b', '1.00');
  await post(d, '/v1/budgets/t/a/freeze'); // freezing twice changes nothing
  const frozen = lastId(db);
  await charge(d, 't/a', '0.10');
  // The refusal's event reaches the table with the next loop turn.
  assert.ok(await eventually(() => lastId(db) > frozen, 10000), 'the refusal was recorded');
  const missed = tableIds(db, seen);
  assert.ok(missed.length >= 5, `events while away (${missed.length})`);
  const back = await new SseClient(d.base, '/v1/events/stream', { Authorization: 'Bearer admin-secret', 'Last-Event-ID': String(seen) }).opened;
  assert.ok(await eventually(() => back.events.length >= missed.length, 15000));
  await charge(d, 't/b', '0.50'); // and live again after the backlog
  const after = lastId(db);
  assert.ok(await eventually(() => back.ids().at(-1) >= after, 15000), 'live after the backlog');
  // An event may still reach the table after `after` was read (a refusal's event is
  // written with a later loop turn): wait until the stream has caught up with the
  // table as it then is, and compare the two whole.
  // Each comparison is of one snapshot of both sides (agree), since either may grow between
  // two reads.
  await eventually(() => agree(back.ids(), tableIds(db, seen)), 15000);
  assert.deepEqual(...agreed, 'the missed events, then live ones: in order, no repeats');
  assert.equal(new Set(agreed[0]).size, agreed[0].length);
  // since= does the same for clients that cannot set headers.
  const since = await new SseClient(d.base, `/v1/events/stream?since=${seen}`, { Authorization: 'Bearer admin-secret' }).opened;
  await eventually(() => agree(since.ids(), back.ids()), 15000);
  assert.deepEqual(...agreed);
  // The keep-alive comment after event_stream_keepalive_ms of silence.
  assert.ok(await eventually(() => back.comments.includes(': keep-alive'), 15000), 'keep-alive');
  back.close();
  since.close();
});

test('filters, key scopes, bad requests and the stream limit', async (t) => {
  const dir = tempDir('sse-filter');
  const { db, file } = writeConfig(dir, { limits: 'limits: {event_streams_max: 3}' });
  const d = await startDaemon(file);
  t.after(() => d.stop('SIGKILL'));
  const start = lastId(db);
  const admin = { Authorization: 'Bearer admin-secret' };
  const scoped = await new SseClient(d.base, '/v1/events/stream', { Authorization: `Bearer ${AGENT}` }).opened;
  const kinds = await new SseClient(d.base, '/v1/events/stream?kinds=revoked,denied&budgets=t/b*', admin).opened;
  const severe = await new SseClient(d.base, '/v1/events/stream?severity=warning', admin).opened;
  assert.deepEqual([scoped.status, kinds.status, severe.status], [200, 200, 200]);
  // A fourth is one too many.
  const extra = await d.call('GET', '/v1/events/stream');
  assert.equal(extra.status, 503);
  assert.equal(extra.json.error.code, 'too_many_streams');
  assert.equal(extra.headers.get('retry-after'), '1');

  for (let i = 0; i < 9; i++) { await charge(d, 't/a', '1.00'); await charge(d, 't/b', '1.00'); }
  // Both refusals (the ninth charges) are recorded, then the streams have caught up.
  const denied = () => sql(db, `SELECT count(*) AS n FROM events WHERE id > ${start} AND kind = 'denied'`)[0].n;
  assert.ok(await eventually(() => denied() >= 2, 10000), 'both refusals recorded');
  const all = sql(db, `SELECT id, kind, budget FROM events WHERE id > ${start} ORDER BY id`);
  const newest = lastId(db);
  // Each stream has caught up when it holds the newest event that matches its own filter.
  const lastOf = (rows) => (rows.length ? rows.at(-1).id : undefined);
  const wantKinds = all.filter((e) => e.budget === 't/b' && ['revoked', 'denied'].includes(e.kind));
  assert.ok(await eventually(() => [scoped, kinds, severe].every((c) => c.ids().every((id) => id <= newest)) &&
    scoped.ids().at(-1) === Math.max(...tableIds(db, start, "budget = 't/a'")) &&
    kinds.ids().at(-1) === lastOf(wantKinds), 10000), 'the streams caught up');
  assert.ok(all.some((e) => e.budget === 't/b' && e.kind === 'revoked'));
  assert.deepEqual(scoped.ids(), all.filter((e) => e.budget === 't/a').map((e) => e.id), 'agent key: its subtree only');
  assert.ok(scoped.ids().length > 0);
  assert.deepEqual(kinds.ids(), wantKinds.map((e) => e.id));
  assert.ok(severe.events.length > 0 && severe.events.every((e) => e.data.severity !== 'info'));
  assert.ok(!severe.events.some((e) => e.event === 'threshold_crossed'), '50% alerts are info');

  // Closing a stream frees its place (gone clients are noticed within a second).
  scoped.close();
  const again = await eventually(async () => {
    const s = await new SseClient(d.base, '/v1/events/stream', admin).opened;
    if (s.status === 200) return s;
    await sleep(100);
    return null;
  }, 15000);
  assert.ok(again, 'a place freed after a client left');
  again.close();
  kinds.close();
  severe.close();
  const open = async () => (await d.call('GET', '/metrics')).text.match(/^tollgate_event_streams_open (\d+)$/m)[1];
  assert.ok(await eventually(async () => (await open()) === '0', 10000), 'every stream let go');

  const bad = await d.call('GET', '/v1/events/stream?kinds=nope');
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.code, 'invalid_query');
  assert.equal((await d.call('GET', '/v1/events/stream?severity=loud')).json.error.code, 'invalid_query');
  const badId = await new SseClient(d.base, '/v1/events/stream', { ...admin, 'Last-Event-ID': 'x1' }).opened;
  assert.equal(badId.status, 400);
  assert.equal((await d.call('GET', '/v1/events/stream', undefined, null)).status, 401);
  assert.equal((await post(d, '/v1/events/stream', {})).status, 405);
});

test('a client that stops reading is cut; one that reads gets everything', async (t) => {
  const dir = tempDir('sse-slow');
  const { db, file } = writeConfig(dir, { limits: 'limits: {event_stream_buffer_max_bytes: 65536, request_timeout_s: 1}' });
  const d = await startDaemon(file);
  t.after(() => d.stop('SIGKILL'));
  const start = lastId(db);
  const reader = await new SseClient(d.base, '/v1/events/stream', { Authorization: 'Bearer admin-secret' }).opened;
  // The stopped client: a raw socket that sends its request and never reads.
  const socket = net.connect(d.port, '127.0.0.1');
  await new Promise((r) => socket.on('connect', r));
  socket.pause();
  socket.write('GET /v1/events/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer admin-secret\r\n\r\n');
  let closed = false;
  socket.on('close', () => { closed = true; });
  socket.on('error', () => { closed = true; });
  const open = async () => (await d.call('GET', '/metrics')).text.match(/^tollgate_event_streams_open (\d+)$/m)[1];
  assert.ok(await eventually(async () => (await open()) === '2', 10000), 'both streams open');
  await post(d, '/v1/budgets/t/b/freeze');
  // Refusals on a frozen budget: a thousand events per batch, megabytes of stream.
  const operations = Array.from({ length: 1000 }, () => ({ op: 'hold', body: { budget: 't/b', amount_micros: 1000, tool: 'x'.repeat(100) } }));
  for (let i = 0; i < 40 && !/events stream cut/.test(d.stderr()); i++) {
    const r = await post(d, '/v1/batch', { operations }); // a batch sent twice only adds holds
    assert.equal(r.status, 200);
    await sleep(20);
  }
  assert.ok(await eventually(() => /events stream cut after event \d+: the client is not reading/.test(d.stderr()), 15000), d.stderr());
  socket.resume(); // the reset is seen now
  assert.ok(await eventually(() => closed, 15000), 'the stopped client was disconnected');
  // The daemon is fine and the reading client has every event.
  assert.equal((await d.call('GET', '/healthz', undefined, null)).status, 200);
  const metrics = (await d.call('GET', '/metrics')).text;
  assert.match(metrics, /^tollgate_event_streams_cut_total 1$/m);
  // The last batch's refusals reach the table a loop turn later: wait for the reader to
  // hold exactly the table's events. Under TSan on a busy machine the 40,000 events
  // take longer than any fixed wait: wait while the reader still receives them.
  const same = () => JSON.stringify(reader.ids()) === JSON.stringify(tableIds(db, start));
  assert.ok(await eventuallyWhileMoving(same, () => reader.events.length, 10000),
    `${reader.events.length} of ${tableIds(db, start).length}`);
  assert.deepEqual(reader.ids(), tableIds(db, start));
  // The cut stream's place is freed once libevent has let go of it (the sweep, ≤ 1 s).
  assert.ok(await eventually(async () => (await open()) === '1', 15000), 'only the reader is left');
  reader.close();
});

test('dead letters: GET /v1/notify/failed and `tollgate events --failed` ask the daemon', async (t) => {
  const dir = tempDir('sse-dead');
  const receiver = new Receiver({});
  const url = await receiver.start();
  receiver.answer = 500;
  const { db, file } = writeConfig(dir, { notify: `notify:
  sinks:
    - {name: hook, kind: webhook, url: "${url}"}
  retry: {initial_ms: 20, max_ms: 100, give_up_after_ms: 500}
` });
  const d = await startDaemon(file);
  t.after(async () => { await d.stop('SIGKILL'); await receiver.stop(); });
  for (let i = 0; i < 9; i++) { await charge(d, 't/a', '1.00'); await charge(d, 't/b', '1.00'); }
  const revokedA = sql(db, "SELECT id FROM events WHERE kind = 'revoked' AND budget = 't/a'").map((r) => r.id);
  assert.ok(revokedA.length > 0);
  const listed = await eventually(async () => {
    const r = await d.call('GET', '/v1/notify/failed?limit=1000');
    return r.status === 200 && revokedA.every((id) => r.json.failed.some((f) => f.event_id === id)) ? r : null;
  }, 8000);
  assert.ok(listed, 'the revocation is a dead letter');
  const failed = listed.json.failed;
  // Each names its last error: the receiver's 500, or (on a slow machine, where an attempt
  // can outlast give_up_after_ms) the attempt's timeout. An event read while its lane's
  // batch was failing can pass give_up_after_ms before its own first attempt: it is given up
  // with 0 attempts and the lane's last error (a loaded machine does this).
  assert.ok(failed.every((f) => f.sink === 'hook' && f.attempts >= 0 && f.last_error.length > 0), JSON.stringify(failed));
  assert.ok(failed.some((f) => f.attempts >= 1), JSON.stringify(failed));
  assert.ok(failed.some((f) => /HTTP 500/.test(f.last_error)), JSON.stringify(failed));
  assert.ok(failed.some((f) => f.budget === 't/b'));
  assert.equal(listed.json.next, failed.at(-1).event_id);
  // An agent key sees its subtree's dead letters only.
  const scoped = await d.call('GET', '/v1/notify/failed?limit=1000', undefined, AGENT);
  assert.equal(scoped.status, 200);
  assert.ok(scoped.json.failed.length > 0 && scoped.json.failed.every((f) => f.budget === 't/a'));
  // Paging and bad queries.
  const page = await d.call('GET', `/v1/notify/failed?after=${failed[0].event_id}&limit=1`);
  assert.deepEqual(page.json.failed.map((f) => f.event_id), [failed[1].event_id]);
  assert.equal((await d.call('GET', '/v1/notify/failed?limit=0')).json.error.code, 'invalid_query');
  assert.equal((await post(d, '/v1/notify/failed', {})).status, 405);
  // The CLI without --db asks the daemon.
  const env = { TOLLGATE_URL: d.base, TOLLGATE_KEY: 'admin-secret' };
  const json = await cli(['events', '--failed', '--json', '--limit', '1000'], env);
  assert.equal(json.status, 0, json.stderr);
  assert.deepEqual(JSON.parse(json.stdout).failed.map((f) => f.event_id).slice(0, failed.length), failed.map((f) => f.event_id));
  const table = await cli(['events', '--failed'], env);
  assert.equal(table.status, 0, table.stderr);
  assert.match(table.stdout, /EVENT\s+SINK\s+KIND/);
  assert.match(table.stdout, /hook\s+revoked\s+t\/a/);
});

test('SIGHUP restarts the notify sinks: added, moved, and a bad section refused', async (t) => {
  const dir = tempDir('sse-hup');
  const one = new Receiver({ secret: 'hup' });
  const two = new Receiver({ secret: 'hup' });
  const urlOne = await one.start();
  const urlTwo = await two.start();
  const { db, file } = writeConfig(dir);
  const d = await startDaemon(file);
  t.after(async () => { await d.stop('SIGKILL'); await one.stop(); await two.stop(); });
  const rewrite = (notify) => fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/\nnotify:[\s\S]*$/, '\n') + notify);
  const reloaded = async (count) => eventually(() => (d.stderr().match(/reload/g) || []).length >= count, 15000);
  const delivered = (receiver, id) => receiver.events().some((e) => e.id === id);

  await charge(d, 't/a', '5.00'); // an alert, before any sink exists
  const first = lastId(db);
  rewrite(`notify:\n  sinks:\n    - {name: hook, kind: webhook, url: "${urlOne}", secret: hup}\n`);
  d.child.kill('SIGHUP');
  assert.ok(await reloaded(1), d.stderr());
  assert.ok(await eventually(() => delivered(one, first), 15000), 'the added sink delivers (backfill)');
  await charge(d, 't/a', '3.00'); // revocations
  const second = lastId(db);
  assert.ok(await eventually(() => delivered(one, second), 15000), 'and new events');

  rewrite(`notify:\n  sinks:\n    - {name: hook, kind: webhook, url: "${urlTwo}", secret: hup}\n`);
  d.child.kill('SIGHUP');
  assert.ok(await reloaded(2), d.stderr());
  await charge(d, 't/b', '5.00');
  const third = lastId(db);
  assert.ok(await eventually(() => delivered(two, third), 15000), 'the moved sink delivers to its new url');
  assert.ok(!delivered(two, first), 'what the sink delivered before is not sent again');
  assert.ok(!delivered(one, third));

  rewrite(`notify:\n  sinks:\n    - {name: hook, kind: nope, url: "${urlOne}"}\n`);
  d.child.kill('SIGHUP');
  assert.ok(await eventually(() => /reload refused, keeping the old config: .*kind/.test(d.stderr()), 15000), d.stderr());
  await charge(d, 't/b', '3.00');
  const fourth = lastId(db);
  assert.ok(await eventually(() => delivered(two, fourth), 15000), 'the previous sinks go on');
  assert.ok(one.requests.every((r) => r.valid) && two.requests.every((r) => r.valid));
});

test('`tollgate events --follow` prints the backlog, then the stream, across a restart', async (t) => {
  const { spawn } = require('node:child_process');
  const dir = tempDir('sse-follow');
  const { db, file } = writeConfig(dir);
  let d = await startDaemon(file);
  t.after(() => d.stop('SIGKILL'));
  await charge(d, 't/a', '5.00');
  const follow = spawn(process.env.TG_BINARY || 'build/tollgate', ['events', '--follow', '--json'],
    { env: { ...process.env, TOLLGATE_URL: d.base, TOLLGATE_KEY: 'admin-secret' } });
  t.after(() => follow.kill('SIGKILL'));
  let out = '';
  follow.stdout.on('data', (c) => { out += c; });
  const printed = () => out.split('\n').filter(Boolean).map((l) => JSON.parse(l).id);
  assert.ok(await eventually(() => printed().length === lastId(db), 15000), 'the backlog');
  await charge(d, 't/a', '3.00');
  assert.ok(await eventually(() => printed().at(-1) === lastId(db), 15000), 'live events');
  await d.stop('SIGTERM');
  d = await startDaemon(file, { args: ['--port', String(d.port)] });
  await charge(d, 't/b', '5.00');
  assert.ok(await eventually(() => printed().at(-1) === lastId(db), 15000), 'after the restart');
  assert.deepEqual(printed(), tableIds(db, 0), 'every event once, in order');
});
