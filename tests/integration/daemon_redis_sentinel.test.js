// store.url redis-sentinel://...#master (docs/multi-node.md, "Sentinel"): the daemon asks the
// sentinels where the primary is before every connect, so it follows a failover by itself.
//   - a primary, a replica and 3 sentinels (quorum 2), all AOF `always`; a daemon in strict
//     mode with wait_replicas 1 (an acknowledged decision is on the replica too);
//   - 8 clients charge with idempotency keys, each retrying its charge with the same key
//     until it is acknowledged; the primary is killed (SIGKILL) mid-run, the sentinels
//     promote the replica, and a new replica of it is started;
//   - then: every acknowledged charge is in the ledger exactly once (spend = the sum, one
//     charge row per key), every request was answered (200 or 503, never a hang past the
//     bound), and the daemon wrote to the new primary without being restarted;
//   - a master name no sentinel knows, a sentinel that is down, and one that accepts and never
//     answers each stop the daemon at start with a sentence saying why (never a hang); the
//     silent one named first, before a live sentinel, is passed over.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { tempDir, startDaemon, cli, eventually } = require('./daemon_helpers');
const { startRedis, freePort, post, writeConfig } = require('./redis_helpers');

const AOF = ['--appendonly', 'yes', '--appendfsync', 'always'];
const MASTER = 'ledger';

// A sentinel watching `primary` (quorum 2 of 3); it finds the replica and the other
// sentinels through the primary. Quick to judge a primary down: this is a test.
function startSentinel(primary) {
  return startRedis(['--sentinel'], {
    conf: [`sentinel monitor ${MASTER} 127.0.0.1 ${primary.port} 2`,
      `sentinel down-after-milliseconds ${MASTER} 1000`,
      `sentinel failover-timeout ${MASTER} 4000`],
  });
}

// The primary's port as a sentinel names it now.
async function namedPort(sentinel) {
  const reply = await sentinelCommand(sentinel.port, ['SENTINEL', 'get-master-addr-by-name', MASTER]);
  return reply ? Number(reply[1]) : 0;
}

// A sentinel's array reply, as strings (redis_helpers' command() reads one line only).
function sentinelCommand(port, args, ms = 1000) {
  return new Promise((resolve) => {
    const socket = require('node:net').connect(port, '127.0.0.1');
    let text = '';
    const done = (v) => { clearTimeout(timer); socket.destroy(); resolve(v); };
    const timer = setTimeout(() => done(null), ms);
    socket.on('error', () => done(null));
    socket.on('connect', () => socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join('')}`));
    socket.on('data', (c) => {
      text += c;
      const lines = text.split('\r\n');
      if (lines[0] === '*-1' || lines[0][0] === '-') return done(null);
      if (lines[0][0] !== '*') return done(null);
      const n = Number(lines[0].slice(1));
      const values = [];
      for (let i = 1; i + 1 < lines.length && values.length < n; i += 2) values.push(lines[i + 1]);
      if (values.length === n && lines.length > 2 * n + 1) done(values);
    });
  });
}

test('a failover mid-run: the daemon follows the sentinels; 0 acknowledged charges lost, 0 doubled', async (t) => {
  const primary = await startRedis(AOF);
  t.after(() => primary.stop());
  const replica = await startRedis([...AOF, '--replicaof', '127.0.0.1', String(primary.port)]);
  t.after(() => replica.stop());
  assert.ok(await eventually(async () => /master_link_status:up/.test(await replica.command(['INFO', 'replication']) || ''), 20000),
    'the replica is in sync');
  assert.ok(await eventually(async () => (await primary.command(['WAIT', '1', '200'])) === ':1', 20000),
    'the primary counts the replica');
  const sentinels = [await startSentinel(primary), await startSentinel(primary), await startSentinel(primary)];
  t.after(() => Promise.all(sentinels.map((s) => s.stop())));
  // Each sentinel knows the other two (they vote on the failover) and the replica.
  for (const s of sentinels) {
    assert.ok(await eventually(async () => (await sentinelCommand(s.port, ['SENTINEL', 'sentinels', MASTER]) || []).length === 2, 30000),
      `sentinel ${s.port} sees the other two`);
    assert.ok(await eventually(async () => (await sentinelCommand(s.port, ['SENTINEL', 'replicas', MASTER]) || []).length === 1, 30000),
      `sentinel ${s.port} sees the replica`);
  }

  const dir = tempDir('redis-sentinel');
  const TIMEOUT_MS = 3000;
  const url = `redis-sentinel://${sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}#${MASTER}`;
  const file = writeConfig(dir, 'c.yaml', `port: 0\nstore: {kind: redis, url: "${url}", durability: strict, ` +
    `timeout_ms: ${TIMEOUT_MS}, wait_replicas: 1, wait_timeout_ms: 1000}\n` +
    'budgets:\n  - {path: d, limit: "1000.00"}\n');
  const daemon = await startDaemon(file, { admin: 'k' });
  t.after(() => daemon.stop());
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  t.after(() => agent.destroy());

  const CALLS = 240, WORKERS = 8, COST = 1000, KILL_AT = 60;
  let next = 0, acked = 0, refused = 0, slowest = 0;
  const keys = new Set();
  let killed = null;
  const deadline = Date.now() + 200000; // a daemon that never follows fails here, not by hanging
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= CALLS) return;
      const key = `c${i}`;
      for (;;) { // the same key until acknowledged: a retry after a lost answer is a replay
        const started = Date.now();
        const r = await post(agent, daemon.port, '/v1/charges', { budget: 'd', cost_micros: COST, idempotency_key: key }, 'k');
        slowest = Math.max(slowest, Date.now() - started);
        if (r.status === 200) break;
        assert.ok(r.status === 503 || r.status === 0, `${key}: ${r.status} ${r.text}`);
        if (r.status === 503) assert.equal(r.json.error.code, 'store_unavailable');
        refused++;
        assert.ok(Date.now() < deadline, `${key} still not acknowledged: ${r.status} ${r.text}`);
        await new Promise((res) => setTimeout(res, 50));
      }
      keys.add(key);
      acked++;
      if (acked === KILL_AT && !killed) killed = primary.kill();
    }
  };
  const workers = Array.from({ length: WORKERS }, worker);
  // The failover: a sentinel names the replica, then a new replica of it is started (as an
  // operator would replace the dead machine), so WAIT 1 can be answered again. Not the old
  // primary on its old port: in a parallel test run another test may have taken the port
  // in the seconds it was free, and the sentinels convert a returning primary only 8 to
  // 20 s after they see it (never while a loaded machine keeps them in TILT mode).
  let spare = null;
  t.after(() => spare && spare.stop());
  const followed = (async () => {
    while (!killed) await new Promise((res) => setTimeout(res, 10));
    await killed;
    assert.ok(await eventually(async () => (await namedPort(sentinels[0])) === replica.port, 120000),
      'the sentinels promote the replica');
    spare = await startRedis([...AOF, '--replicaof', '127.0.0.1', String(replica.port)]);
    assert.ok(await eventually(async () => /master_link_status:up/.test(await spare.command(['INFO', 'replication']) || ''), 60000),
      'a new replica of the promoted one is in sync');
  })();
  await Promise.all([...workers, followed]);
  assert.equal(acked, CALLS);
  assert.ok(refused > 0, 'the failover was seen (some 503s)');
  // Every request was answered within the bound: a call's timeout, plus the sentinels'
  // questions (250 ms each at most), plus scheduling on a loaded machine.
  assert.ok(slowest <= TIMEOUT_MS + 3 * 250 + 3000, `slowest answer ${slowest} ms`);

  // The ledger, read through the daemon (on the new primary) and on the server itself.
  const budget = await daemon.call('GET', '/v1/budgets/d', undefined, 'k');
  assert.equal(budget.status, 200, budget.text);
  assert.equal(budget.json.spent_micros, CALLS * COST, 'spend = the acknowledged charges, each once');
  let after = 0;
  const seen = [];
  for (;;) {
    const page = await daemon.call('GET', `/v1/charges?after=${after}&limit=200`, undefined, 'k');
    assert.equal(page.status, 200, page.text);
    seen.push(...page.json.charges);
    if (page.json.next === after || page.json.next === null || page.json.next === undefined) break;
    after = page.json.next;
  }
  assert.equal(seen.length, CALLS, 'one charge row per acknowledged key');
  assert.equal(seen.reduce((s, c) => s + c.cost_micros, 0), CALLS * COST);
  assert.match(await replica.command(['INFO', 'replication']), /role:master/);
  console.log(`# sentinel failover: ${CALLS} charges acknowledged through a SIGKILL of the primary, ` +
    `${refused} answers 503 or lost on the way, slowest answer ${slowest} ms; spend and charge rows exact`);
});

test('a master no sentinel names, or no sentinel up: the daemon does not start, and says why', async (t) => {
  const primary = await startRedis(AOF);
  t.after(() => primary.stop());
  const sentinel = await startSentinel(primary);
  t.after(() => sentinel.stop());
  const dir = tempDir('redis-sentinel-bad');
  const down = await freePort();
  // A sentinel that accepts and never answers (a hung process, a half-open proxy): asked
  // with a bounded wait, then the next one is asked; alone, it stops the start with a
  // reason instead of hanging it.
  const held = new Set();
  const silent = require('node:net').createServer((socket) => {
    held.add(socket);
    socket.on('error', () => {});
  });
  await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => { for (const socket of held) socket.destroy(); silent.close(); });
  const mute = silent.address().port;
  const cases = [
    [`redis-sentinel://127.0.0.1:${sentinel.port}#nobody`, /no sentinel names the master 'nobody' \(127\.0\.0\.1:\d+: no master named 'nobody'\)/],
    [`redis-sentinel://127.0.0.1:${down}#${MASTER}`, new RegExp(`no sentinel names the master '${MASTER}' \\(127\\.0\\.0\\.1:${down}: .*refused`)],
    [`redis-sentinel://127.0.0.1:${mute}#${MASTER}`, new RegExp(`no sentinel names the master '${MASTER}' \\(127\\.0\\.0\\.1:${mute}: `)],
    [`redis-sentinel://127.0.0.1:${mute},127.0.0.1:${sentinel.port}#${MASTER}`, null],
    [`redis-sentinel://127.0.0.1:${sentinel.port}#${MASTER}`, null],
  ];
  for (const [url, message] of cases) {
    const file = writeConfig(dir, `${cases.indexOf(cases.find((c) => c[0] === url))}.yaml`,
      `port: 0\nstore: {kind: redis, url: "${url}", durability: strict}\nbudgets:\n  - {path: d, limit: "1.00"}\n`);
    if (message) {
      const run = await cli(['serve', '--config', file], { TOLLGATE_ADMIN_KEY: 'k' });
      assert.notEqual(run.status, 0);
      assert.match(run.stderr, message);
    } else {
      const daemon = await startDaemon(file, { admin: 'k' });
      const charge = await daemon.call('POST', '/v1/charges', { budget: 'd', cost_micros: 5 }, 'k');
      assert.equal(charge.status, 200, charge.text);
      assert.equal(await daemon.stop(), 0);
    }
  }
  // A cluster cannot be given sentinels.
  const file = writeConfig(dir, 'cluster.yaml', `port: 0\nstore: {kind: redis, url: "redis-sentinel://127.0.0.1:${sentinel.port}#${MASTER}", cluster: true}\n`);
  const run = await cli(['serve', '--config', file], { TOLLGATE_ADMIN_KEY: 'k' });
  assert.notEqual(run.status, 0);
  assert.match(run.stderr, /store\.cluster is for a redis:\/\/ seed, not redis-sentinel:\/\//);
});
