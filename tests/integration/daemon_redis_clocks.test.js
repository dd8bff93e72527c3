// Clocks apart on one Redis ledger (issue 16, "Windows and time"; docs/multi-node.md). Two
// daemons run under libfaketime (Debian `faketime`, installed by scripts/setup), both a few
// seconds before an hour boundary B, the leading one SKEW_S seconds ahead of the lagging
// one. Clients charge through both (charges without a hold, and holds reserved on one
// daemon and committed on the other) on a tree of `hour` budgets from before the leading
// clock reaches B until after the lagging one has. Then, for every budget:
//   - the window rolled once: one closed window in the tree's history (P.."windows"), the
//     hour before B, and the budget's window now starts at B;
//   - no spend lost or counted twice: the closed window's spend is the sum of the
//     acknowledged charges on its subtree numbered up to the last charge the history
//     entry names, and the open window's spend the sum of the rest;
//   - the hard limit held in each window, and each was driven to refusals;
//   - the lagging daemon never charged into the closed window: it did charge after the
//     roll while its own clock was still before B (on `v`, a tree kept for that probe,
//     and on `w` when the load left room), and those charges are in the new window's
//     sum above; it reports the new window's bounds then too.
//   - nothing is left held.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const { tempDir, startDaemon } = require('./daemon_helpers');
const { startRedis, post, writeConfig } = require('./redis_helpers');

const HOUR_MS = 3600000;
const SKEW_S = 5;            // the leading daemon's clock is this far ahead (3 left too little
                             // time between the crossings for the probe under TSan)
const LEAD_MS = 5000;        // the leading clock reaches B this long after the clients start
const AFTER_MS = 3000;       // clients go on this long after the lagging clock reaches B
const CLIENTS = 8;           // per daemon
const KEY = 'k';
const LIMITS = { w: 6000000, 'w/a': 4000000, 'w/b': null };
const SEQ_SPAN = 2 ** 40;
const REFUSED_PAUSE_MS = 20; // a refused client's pause (pacing the load, as daemon_redis_nodes)    // an id is tree << 40 | sequence in the tree (docs/multi-node.md)

const fakeTimeLibrary = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/faketime/libfaketime.so.1']
  .find((f) => fs.existsSync(f));

function clockEnv(offsetS) {
  const asan = [process.env.ASAN_OPTIONS, 'verify_asan_link_order=0'].filter(Boolean).join(':');
  return { LD_PRELOAD: fakeTimeLibrary, FAKETIME: `+${offsetS}s`, FAKETIME_DONT_FAKE_MONOTONIC: '1',
    TZ: 'UTC', ASAN_OPTIONS: asan };
}

// Entries of a stream, as objects, through a RESP parse of XRANGE's nested arrays.
function xrange(port, key) {
  const net = require('node:net');
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    socket.on('error', reject);
    socket.on('connect', () => socket.write(`*4\r\n$6\r\nXRANGE\r\n$${Buffer.byteLength(key)}\r\n${key}\r\n$1\r\n-\r\n$1\r\n+\r\n`));
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      const parsed = parse(data, 0);
      if (parsed) { socket.destroy(); resolve(parsed.value.map(([, fields]) => Object.fromEntries(
        fields.reduce((pairs, v, i) => (i % 2 ? pairs[pairs.length - 1].push(v) : pairs.push([v]), pairs), [])))); }
    });
  });
  function parse(buf, at) {
    const end = buf.indexOf('\r\n', at);
    if (end < 0) return null;
    const line = buf.toString('utf8', at + 1, end);
    const type = String.fromCharCode(buf[at]);
    if (type === '*') {
      const items = []; let pos = end + 2;
      for (let i = 0; i < Number(line); i++) {
        const item = parse(buf, pos);
        if (!item) return null;
        items.push(item.value); pos = item.next;
      }
      return { value: items, next: pos };
    }
    if (type === '$') {
      const length = Number(line);
      if (buf.length < end + 2 + length + 2) return null;
      return { value: buf.toString('utf8', end + 2, end + 2 + length), next: end + 4 + length };
    }
    if (type === '-') throw new Error(line);
    return { value: line, next: end + 2 };
  }
}

test('two daemons with clocks apart: a window rolls once, nothing lost or doubled, limits hold in each window', async (t) => {
  assert.ok(fakeTimeLibrary, 'libfaketime is installed (scripts/setup installs the faketime package)');
  const redis = await startRedis();
  t.after(() => redis.stop());
  const dir = tempDir('redis-clocks');
  const config = writeConfig(dir, 'c.yaml', `port: 0
store: {kind: redis, url: "${redis.url}", timeout_ms: 2000, durability: relaxed}
limits: {connections_max: 512}
budgets:
  - {path: w, limit: "${LIMITS.w / 1e6}", window: hour}
  - {path: w/a, limit: "${LIMITS['w/a'] / 1e6}", window: hour}
  - {path: w/b, window: hour}
  - {path: v, window: hour}
`);
  // Daemon clocks (whole seconds of offset): the leading one reaches B at startReal +
  // LEAD_MS, the lagging one SKEW_S seconds later. B is an hour boundary ahead of both.
  const planned = Date.now() + 2000; // when the clients start, about: after both daemons are up
  const B = Math.ceil((planned + LEAD_MS + 60000) / HOUR_MS) * HOUR_MS;
  const leadOffsetS = Math.round((B - (planned + LEAD_MS)) / 1000);
  const lagOffsetS = leadOffsetS - SKEW_S;
  const lead = await startDaemon(config, { admin: KEY, env: clockEnv(leadOffsetS) });
  const lag = await startDaemon(config, { admin: KEY, env: clockEnv(lagOffsetS) });
  t.after(() => Promise.all([lead.stop(), lag.stop()]));
  const leadCrossReal = B - leadOffsetS * 1000;
  const lagCrossReal = B - lagOffsetS * 1000;
  // Both daemons started in the hour before B (their windows end at B).
  for (const d of [lead, lag]) {
    const b = (await d.call('GET', '/v1/budgets/w', undefined, KEY)).json;
    assert.equal(b.window_end_ms, B, `window end before the roll: ${JSON.stringify(b)}`);
  }
  assert.ok(Date.now() < leadCrossReal - 1000, 'the clients start before the leading clock reaches B');

  const agents = [lead, lag].map(() => new http.Agent({ keepAlive: true, maxSockets: CLIENTS }));
  t.after(() => agents.forEach((a) => a.destroy()));
  const daemons = [lead, lag];
  const acked = [];   // {budget, cost, seq, daemon, sent, answered}
  const refusals = { before: 0, after: 0 };
  let n = 0;
  const seqOf = (id) => id % SEQ_SPAN;
  const pause = () => new Promise((r) => setTimeout(r, REFUSED_PAUSE_MS));
  const stopAt = lagCrossReal + AFTER_MS;
  const client = async (c) => {
    while (Date.now() < stopAt) {
      const which = (c + n) % 2;
      const d = daemons[which], agent = agents[which];
      const budget = n % 3 === 0 ? 'w/b' : 'w/a';
      const cost = 50000 + ((n * 7919) % 200000);
      const key = `c${n++}`;
      const sent = Date.now();
      let r;
      if (n % 4 === 0) { // a hold on one daemon, committed on the other
        const hold = await post(agent, d.port, '/v1/holds', { budget, amount_micros: cost, idempotency_key: `h-${key}` }, KEY);
        assert.ok(hold.status === 200 || hold.status === 402, hold.text);
        if (hold.status === 402) { refusals[sent < leadCrossReal ? 'before' : 'after']++; await pause(); continue; }
        const other = daemons[1 - which];
        r = await post(agents[1 - which], other.port, `/v1/holds/${hold.json.hold_id}/commit`,
          { actual_micros: cost, idempotency_key: key }, KEY);
        assert.equal(r.status, 200, r.text);
        acked.push({ budget, cost: r.json.charged_micros, seq: seqOf(r.json.charge_id), daemon: 1 - which, sent, answered: Date.now() });
      } else {
        r = await post(agent, d.port, '/v1/charges', { budget, cost_micros: cost, idempotency_key: key }, KEY);
        if (r.status === 402) { refusals[sent < leadCrossReal ? 'before' : 'after']++; await pause(); continue; }
        assert.equal(r.status, 200, r.text);
        acked.push({ budget, cost, seq: seqOf(r.json.charge_id), daemon: which, sent, answered: Date.now() });
      }
    }
  };
  // The lagging daemon's view between the two crossings, once the leading daemon has rolled
  // `w` (its closed window is in the history: a condition, not a time after the crossing,
  // since on a loaded machine the first request after it may come late).
  let lagView = null;
  let probe = null;
  const watcher = (async () => {
    while (Date.now() < lagCrossReal - 700 && !lagView) {
      await new Promise((r) => setTimeout(r, 50));
      if (Date.now() > leadCrossReal &&
          (await xrange(redis.port, 'tg:{w}:windows')).some((e) => e.budget === 'w') &&
          Date.now() < lagCrossReal - 700) {
        lagView = (await lag.call('GET', '/v1/budgets/w', undefined, KEY)).json;
        // The same promise on a tree no client fills, so the new window has room whatever
        // the load did to `w` (under TSan on a busy machine the clients can fill w's new
        // window before the lagging daemon's turn): `v` rolled by the leading daemon,
        // then charged through the lagging one while its clock is still before B.
        const rolled = await post(agents[0], lead.port, '/v1/charges', { budget: 'v', cost_micros: 1, idempotency_key: 'v-lead' }, KEY);
        const lagged = await post(agents[1], lag.port, '/v1/charges', { budget: 'v', cost_micros: 1, idempotency_key: 'v-lag' }, KEY);
        probe = { rolled, lagged, answered: Date.now() };
      }
    }
  })();
  await Promise.all([...Array.from({ length: 2 * CLIENTS }, (_, c) => client(c)), watcher]);

  const history = await xrange(redis.port, 'tg:{w}:windows');
  const sum = (list) => list.reduce((s, a) => s + a.cost, 0);
  const under = (budget, path) => budget === path || budget.startsWith(`${path}/`);
  const report = [];
  for (const path of Object.keys(LIMITS)) {
    const closed = history.filter((e) => e.budget === path);
    assert.equal(closed.length, 1, `${path} rolled once, not ${closed.length} times: ${JSON.stringify(closed.slice(0, 3))}`);
    const [w1] = closed;
    assert.equal(Number(w1.start), B - HOUR_MS, `${path}: the closed window is the hour before B`);
    assert.equal(Number(w1.end), B);
    const last = Number(w1.last_charge);
    const mine = acked.filter((a) => under(a.budget, path));
    const inW1 = mine.filter((a) => a.seq <= last), inW2 = mine.filter((a) => a.seq > last);
    assert.equal(Number(w1.spent), sum(inW1), `${path}: the closed window's spend = its acknowledged charges`);
    const now = (await lead.call('GET', `/v1/budgets/${path}`, undefined, KEY)).json;
    assert.equal(now.window_start_ms, B, `${path}: the open window starts at B`);
    assert.equal(now.spent_micros, sum(inW2), `${path}: the open window's spend = the charges after the roll`);
    assert.equal(now.held_micros, 0, `${path}: nothing left held`);
    if (LIMITS[path] !== null) {
      assert.ok(Number(w1.spent) <= LIMITS[path], `${path}: closed window ${w1.spent} within ${LIMITS[path]}`);
      assert.ok(now.spent_micros <= LIMITS[path], `${path}: open window ${now.spent_micros} within ${LIMITS[path]}`);
    }
    // Every charge acknowledged after the roll (in redis order) carries a later number: no
    // charge landed in the closed window once it was closed.
    report.push(`${path}: ${inW1.length} charges (${w1.spent}) in the closed window, ${inW2.length} (${now.spent_micros}) in the open one`);
  }
  // The lagging daemon charged into the new window while its own clock was before B: on
  // `v` always (its new window holds both probe charges), on `w` when the clients left it
  // room between the crossings (counted).
  assert.ok(probe, 'the probe ran between the crossings');
  assert.equal(probe.rolled.status, 200, probe.rolled.text);
  assert.equal(probe.lagged.status, 200, probe.lagged.text);
  assert.ok(probe.answered < lagCrossReal - 200, 'the lagging daemon charged v before its clock reached B');
  const v = (await lead.call('GET', '/v1/budgets/v', undefined, KEY)).json;
  assert.equal(v.window_start_ms, B, `v: the open window starts at B: ${JSON.stringify(v)}`);
  assert.equal(v.spent_micros, 2, 'v: the lagging daemon\'s charge is in the new window, with the leading one\'s');
  const lastRoot = Number(history.find((e) => e.budget === 'w').last_charge);
  const lagEarly = acked.filter((a) => a.daemon === 1 && a.seq > lastRoot && a.answered < lagCrossReal - 200);
  assert.ok(refusals.before > 0 && refusals.after > 0, `limits reached in both windows: ${JSON.stringify(refusals)}`);
  assert.ok(lagView, 'the lagging daemon was asked between the crossings');
  assert.equal(lagView.window_start_ms, B, 'between the crossings the lagging daemon reports the new window');
  console.log(`# clocks ${SKEW_S} s apart: ${acked.length} charges acknowledged; ${report.join('; ')}; ` +
    `${lagEarly.length} charges by the lagging daemon into the new window before its clock reached B; ` +
    `refusals ${refusals.before} before / ${refusals.after} after the leading clock's roll`);
});
