// `store: {kind: redis}` for `tollgate serve` (docs/multi-node.md), against a redis-server
// the test starts on a loopback port:
//   - the config refuses what it cannot use, with a sentence (no url, rediss://, a url on
//     another store kind, a bad port), and a daemon that cannot log in does not start;
//   - with an ACL user, a password and a database from the url, two daemons decide on one
//     ledger: a hold made on one is committed on the other, and both see the same spend;
//   - Redis stopped with SIGSTOP for 5 s: every request is answered 503 store_unavailable
//     (JSON) within timeout_ms (plus scheduling), nothing hangs; within a second of
//     SIGCONT answers are 200 again without a restart (polled for, not slept for).
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { tempDir, startDaemon, cli, binary, eventually } = require('./daemon_helpers');
const { startRedis, post, writeConfig } = require('./redis_helpers');

const TIMEOUT_MS = 300;
const PAUSE_MS = 5000;

async function refusedConfig(dir, name, store) {
  const file = writeConfig(dir, name, `port: 0\nstore: ${store}\nbudgets:\n  - {path: t, limit: "1.00"}\n`);
  const r = await cli(['serve', '--config', file], { TOLLGATE_ADMIN_KEY: 'k' });
  assert.notEqual(r.status, 0, `${store} must be refused`);
  return r.stderr;
}

test('the config says what is wrong with a redis store', async () => {
  const dir = tempDir('redis-config');
  assert.match(await refusedConfig(dir, 'a.yaml', '{kind: redis}'), /store\.kind redis needs store\.url/);
  assert.match(await refusedConfig(dir, 'b.yaml', '{kind: redis, url: "rediss://127.0.0.1:1"}'), /TLS/);
  assert.match(await refusedConfig(dir, 'c.yaml', '{kind: sqlite, url: "redis://127.0.0.1:1"}'),
    /store\.url is for store\.kind redis only/);
  assert.match(await refusedConfig(dir, 'd.yaml', '{kind: redis, url: "redis://127.0.0.1:0"}'), /port must be 1\.\.65535/);
  assert.match(await refusedConfig(dir, 'e.yaml', '{kind: redis, url: "redis://h/99"}'), /database after '\/' must be 0\.\.15/);
  assert.match(await refusedConfig(dir, 'f.yaml', '{kind: redis, url: "redis://127.0.0.1:6379", timeout_ms: 0}'),
    /store\.timeout_ms/);
  // Nothing listens on this port: the daemon says so and exits within its timeout.
  const { freePort } = require('./redis_helpers');
  const nobody = await freePort();
  assert.match(await refusedConfig(dir, 'g.yaml', `{kind: redis, url: "redis://127.0.0.1:${nobody}", timeout_ms: 200}`),
    /cannot connect to redis/);
});

test('two daemons share one ledger in redis, logged in with the url\'s ACL user, password and db', async (t) => {
  const redis = await startRedis([], { auth: ['tg', 'p@ss:w'],
    conf: ['user default off', 'user tg on >p@ss:w ~* &* +@all'] });
  t.after(() => redis.stop());
  assert.match(await redis.command(['PING']), /^-NOAUTH/, 'the default user is off');
  const dir = tempDir('redis-two');
  const budgets = 'budgets:\n  - {path: s, limit: "10.00"}\n  - {path: s/a, limit: "4.00"}\n';
  const wrong = writeConfig(dir, 'wrong.yaml',
    `port: 0\nstore: {kind: redis, url: "redis://tg:nope@127.0.0.1:${redis.port}/3", durability: relaxed}\n${budgets}`);
  const refused = await cli(['serve', '--config', wrong], { TOLLGATE_ADMIN_KEY: 'k' });
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /refused AUTH/);
  const url = `redis://tg:p%40ss%3Aw@127.0.0.1:${redis.port}/3`;
  const config = writeConfig(dir, 'c.yaml', `port: 0\nstore: {kind: redis, url: "${url}", timeout_ms: ${TIMEOUT_MS}, durability: relaxed}\n${budgets}`);
  const one = await startDaemon(config, { admin: 'k' });
  const two = await startDaemon(config, { admin: 'k' });
  t.after(() => Promise.all([one.stop(), two.stop()]));
  const hold = await one.call('POST', '/v1/holds', { budget: 's/a', amount_micros: 3000000 }, 'k');
  assert.equal(hold.status, 200, hold.text);
  assert.equal(hold.json.granted, true);
  // The other daemon sees the hold (the ledger is in redis) and refuses past it.
  const seen = await two.call('GET', '/v1/budgets/s/a', undefined, 'k');
  assert.equal(seen.json.held_micros, 3000000);
  const over = await two.call('POST', '/v1/holds', { budget: 's/a', amount_micros: 1500000 }, 'k');
  assert.equal(over.status, 402, over.text);
  const commit = await two.call('POST', `/v1/holds/${hold.json.hold_id}/commit`,
    { actual_micros: 2500000, idempotency_key: 'c1' }, 'k');
  assert.equal(commit.status, 200, commit.text);
  const again = await one.call('POST', `/v1/holds/${hold.json.hold_id}/commit`,
    { actual_micros: 2500000, idempotency_key: 'c1' }, 'k');
  assert.equal(again.status, 200, again.text);
  assert.equal(again.json.replayed, true, 'the same key on another daemon is the same commit');
  for (const d of [one, two]) {
    const b = (await d.call('GET', '/v1/budgets/s', undefined, 'k')).json;
    assert.equal(b.spent_micros, 2500000);
    assert.equal(b.held_micros, 0);
  }
  // Events are read from Redis too (the collectors' ledger-wide stream; every case in
  // daemon_redis_events.test.js): the commit's budget_changed of `s` and its charge's
  // threshold events reach either daemon.
  for (const d of [one, two]) {
    const seen = await eventually(async () => {
      const r = await d.call('GET', '/v1/events?limit=1000', undefined, 'k');
      assert.equal(r.status, 200, r.text);
      return r.json.events.some((e) => e.kind === 'budget_changed' && e.budget === 's') && r.json;
    }, 10000);
    assert.ok(seen, 'the budgets made are in the events');
  }

  // Another database of the same server is another ledger: the url's /3 was used.
  const other = writeConfig(dir, 'other.yaml',
    `port: 0\nstore: {kind: redis, url: "${url.replace('/3', '/4')}", durability: relaxed}\n${budgets}`);
  const four = await startDaemon(other, { admin: 'k' });
  assert.equal((await four.call('GET', '/v1/budgets/s/a', undefined, 'k')).json.spent_micros, 0);
  assert.equal(await four.stop(), 0);
  // A restart keeps the spend (it lives in redis, not in the daemon).
  assert.equal(await one.stop(), 0);
  const three = await startDaemon(config, { admin: 'k' });
  t.after(() => three.stop());
  assert.equal((await three.call('GET', '/v1/budgets/s/a', undefined, 'k')).json.spent_micros, 2500000);
});

test('redis stopped: every request answered 503 within the bound; service back after SIGCONT', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const dir = tempDir('redis-stop');
  const config = writeConfig(dir, 'c.yaml', `port: 0
store: {kind: redis, url: "${redis.url}", timeout_ms: ${TIMEOUT_MS}, durability: relaxed}
limits: {connections_max: 256}
budgets:
  - {path: p, limit: "1000.00"}
`);
  const daemon = await startDaemon(config, { admin: 'k' });
  t.after(() => daemon.stop());
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  t.after(() => agent.destroy());
  const ask = async (i) => {
    const started = Date.now();
    const r = await post(agent, daemon.port, '/v1/holds', { budget: 'p', amount_micros: 1000, idempotency_key: `k${i}` }, 'k');
    return { ...r, ms: Date.now() - started };
  };
  assert.equal((await ask('warm')).status, 200);

  redis.pause();
  let stopped = true;
  const answers = [];
  // The configured bound is timeout_ms: a request waits at most one call's timeout (the
  // async connection drops everything in flight once the oldest call passes its deadline;
  // after that, calls fail at once for 200 ms). Allowed on top: the loaded 2-core machine's
  // scheduling of daemon and test client. The figure measured is printed.
  const SCHEDULING_MS = 400;
  const BOUND_MS = TIMEOUT_MS + SCHEDULING_MS;
  const pausedUntil = Date.now() + PAUSE_MS; // issue 16's scenario: redis stopped for 5 s
  let n = 0;
  const clients = Array.from({ length: 16 }, async () => {
    while (Date.now() < pausedUntil) {
      const r = await ask(n++);
      if (stopped) answers.push(r);
    }
  });
  await Promise.all(clients);
  const failedOver = answers.filter((a) => a.status !== 503);
  assert.equal(failedOver.length, 0, `answers while redis was stopped: ${JSON.stringify(failedOver.slice(0, 3))}`);
  assert.ok(answers.length >= 16, `${answers.length} answers while stopped`);
  for (const a of answers) {
    assert.equal(a.json && a.json.error && a.json.error.code, 'store_unavailable', a.text);
  }
  const slowest = Math.max(...answers.map((a) => a.ms));
  assert.ok(slowest <= BOUND_MS, `slowest 503 took ${slowest} ms, bound ${BOUND_MS} ms`);

  redis.resume();
  stopped = false;
  const resumed = Date.now();
  const back = await eventually(async () => (await ask(`back${n++}`)).status === 200, 10000);
  assert.ok(back, 'answers are 200 again after SIGCONT, without a restart');
  const recovery = Date.now() - resumed;
  assert.ok(recovery <= 1000, `full service ${recovery} ms after SIGCONT, issue 16 asks within 1 s`);
  // Every later request succeeds too: the connection is whole again.
  for (let i = 0; i < 20; i++) assert.equal((await ask(`after${i}`)).status, 200);
  console.log(`# redis stopped ${PAUSE_MS / 1000} s: ${answers.length} answers, all 503, slowest ${slowest} ms ` +
    `(timeout_ms ${TIMEOUT_MS}); 200 again ${recovery} ms after SIGCONT`);
  void binary;
});
