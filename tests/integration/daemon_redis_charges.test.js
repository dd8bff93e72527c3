// Charges on the Redis store (docs/multi-node.md, "Charges"): GET /v1/charges and
// `tollgate report` read each budget tree's stream in Redis, so every daemon on one
// Redis answers the same history whichever daemon made the charge:
//   - 2 daemons, 3 trees (one named "acm", a prefix of "acme" that must never match it),
//     concurrent charges spread over both: each daemon pages (1, 7, 1000 a page) to
//     exactly the charges acknowledged, every field, in id order, once each;
//   - an agent key scoped to acme/support sees its subtree only, never a sibling's
//     (asking for one is 403), and pages through it alone;
//   - since/until and model narrow the page; the spend-log filters answer 501, not an
//     empty page that would read as "none";
//   - `tollgate report` sums what was acknowledged, per budget, from either daemon.
// And budget listing (GET /v1/budgets) on Redis: the second test below.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { tempDir, startDaemon, cli } = require('./daemon_helpers');
const { startRedis, writeConfig } = require('./redis_helpers');

const sha = (s) => crypto.createHash('sha256').update(s).digest('hex');
const ADMIN = 'k', AGENT = 'agent-support';
const LEAVES = ['acme/support', 'acme/support2', 'acme/research', 'acm/x', 'beta/q'];
const MODELS = ['m-small', 'm-big'];

async function pageAll(daemon, query, limit, key = ADMIN) {
  const rows = [];
  let after = 0;
  for (let pages = 0; ; pages++) {
    assert.ok(pages < 10000, 'the pages must end');
    const sep = query ? '&' : '';
    const r = await daemon.call('GET', `/v1/charges?${query}${sep}after=${after}&limit=${limit}`, undefined, key);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.ok(r.json.charges.length <= limit);
    rows.push(...r.json.charges);
    if (r.json.next === after) return rows;
    assert.ok(r.json.next > after, 'the cursor moves forward');
    after = r.json.next;
  }
}

function sameRows(got, want, what) {
  assert.deepEqual(got.map((c) => c.id), want.map((c) => c.id), `${what}: ids`);
  for (let i = 0; i < want.length; i++) {
    for (const field of ['budget', 'cost_micros', 'model', 'tool', 'tokens_in', 'tokens_out', 'hold_id', 'held_micros', 'class']) {
      assert.equal(got[i][field], want[i][field], `${what}: charge ${want[i].id} ${field}`);
    }
  }
}

test('charges in redis page the same from every daemon, scoped, filtered and reported', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const dir = tempDir('redis-charges');
  const config = writeConfig(dir, 'c.yaml', `port: 0
store: {kind: redis, url: "${redis.url}", timeout_ms: 2000, durability: relaxed}
budgets:
  - {path: acme, limit: "1000.00"}
  - {path: acme/support, limit: "100.00"}
  - {path: acme/support2, limit: "100.00"}
  - {path: acme/research, limit: "100.00"}
  - {path: acm, limit: "100.00"}
  - {path: acm/x, limit: "100.00"}
  - {path: beta, limit: "100.00"}
  - {path: beta/q, limit: "100.00"}
keys:
  - {name: support-bot, role: agent, scope: acme/support, sha256: ${sha(AGENT)}}
`);
  const one = await startDaemon(config, { admin: ADMIN });
  const two = await startDaemon(config, { admin: ADMIN });
  t.after(() => Promise.all([one.stop(), two.stop()]));

  // 240 charges at once over both daemons: half records, half holds committed.
  const made = [];
  await Promise.all(Array.from({ length: 240 }, async (_, i) => {
    const d = i % 2 ? one : two;
    const budget = LEAVES[i % LEAVES.length];
    const model = MODELS[i % 3 === 0 ? 1 : 0];
    const cost = 1000 + i;
    if (i % 4 < 2) {
      const r = await d.call('POST', '/v1/charges', { budget, cost_micros: cost, model, tool: 'search', tokens_in: i, tokens_out: 2 * i });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      made.push({ id: r.json.charge_id, budget, cost_micros: cost, model, tool: 'search', tokens_in: i, tokens_out: 2 * i, hold_id: 0, held_micros: 0 });
    } else {
      const h = await d.call('POST', '/v1/holds', { budget, amount_micros: cost + 50, model });
      assert.equal(h.status, 200, JSON.stringify(h.json));
      const other = d === one ? two : one; // committed on the other daemon
      const c = await other.call('POST', `/v1/holds/${h.json.hold_id}/commit`, { actual_micros: cost, tokens_in: i, tokens_out: 2 * i });
      assert.equal(c.status, 200, JSON.stringify(c.json));
      made.push({ id: c.json.charge_id, budget, cost_micros: cost, model, tool: '', tokens_in: i, tokens_out: 2 * i, hold_id: h.json.hold_id, held_micros: cost + 50 });
    }
  }));
  made.sort((a, b) => a.id - b.id);
  assert.equal(new Set(made.map((c) => c.id)).size, 240, 'every charge has its own id');
  const all = await pageAll(one, '', 1000);
  const classOf = new Map(all.map((c) => [c.id, c.class]));
  for (const c of made) c.class = classOf.get(c.id);

  for (const [daemon, name] of [[one, 'one'], [two, 'two']]) {
    for (const limit of [1, 7, 1000]) {
      sameRows(await pageAll(daemon, '', limit), made, `daemon ${name}, all, ${limit} a page`);
    }
    sameRows(await pageAll(daemon, 'budget=acme', 7), made.filter((c) => c.budget.startsWith('acme/')), `${name} acme`);
    sameRows(await pageAll(daemon, 'budget=acm', 7), made.filter((c) => c.budget.startsWith('acm/')), `${name} acm (not acme)`);
    sameRows(await pageAll(daemon, 'budget=acme/support', 5), made.filter((c) => c.budget === 'acme/support'),
      `${name} acme/support (not acme/support2)`);
    sameRows(await pageAll(daemon, 'budget=acme&model=m-big', 3),
      made.filter((c) => c.budget.startsWith('acme/') && c.model === 'm-big'), `${name} acme m-big`);
  }
  sameRows(await pageAll(one, 'budget=nobody', 10), [], 'a tree that does not exist');

  // Time: every charge was made within this test; a range after now holds none, and
  // [since, until) splits the charges exactly in two.
  const times = all.map((c) => c.time_ms).sort((a, b) => a - b);
  const middle = times[Math.floor(times.length / 2)];
  const early = await pageAll(two, `until=${middle}`, 50);
  const late = await pageAll(two, `since=${middle}`, 50);
  assert.equal(early.length + late.length, 240);
  assert.ok(early.every((c) => c.time_ms < middle) && late.every((c) => c.time_ms >= middle));
  assert.deepEqual(await pageAll(two, `since=${times[times.length - 1] + 1}`, 50), []);

  // The agent key: its subtree only, whatever it asks.
  const mine = made.filter((c) => c.budget === 'acme/support');
  sameRows(await pageAll(one, '', 4, AGENT), mine, 'agent, no budget named');
  sameRows(await pageAll(two, 'budget=acme/support', 1000, AGENT), mine, 'agent, its budget');
  for (const sibling of ['acme/support2', 'acme', 'beta/q']) {
    const r = await one.call('GET', `/v1/charges?budget=${sibling}`, undefined, AGENT);
    assert.equal(r.status, 403, `agent reading ${sibling}: ${JSON.stringify(r.json)}`);
  }

  // The spend-log filters need the SQLite store: said, not answered empty.
  for (const filter of ['key=support-bot', 'user=u1', 'tag=t', 'provider=openai']) {
    const r = await one.call('GET', `/v1/charges?${filter}`, undefined, ADMIN);
    assert.equal(r.status, 501, filter);
    assert.match(r.json.error.message, /spend log/);
  }

  // tollgate report from the daemon: each budget's sum is what was acknowledged.
  const want = {};
  for (const c of made) want[c.budget] = (want[c.budget] || 0) + c.cost_micros;
  for (const daemon of [one, two]) {
    const r = await cli(['report', '--by', 'budget', '--format', 'json'],
      { TOLLGATE_URL: daemon.base, TOLLGATE_KEY: ADMIN });
    assert.equal(r.status, 0, r.stderr);
    const got = {};
    for (const row of JSON.parse(r.stdout).rows) got[row.key] = row.cost_micros;
    assert.deepEqual(got, want);
  }
});

// Listing budgets on Redis (docs/multi-node.md, "Listing budgets"): budgets made over the
// API on one daemon are listed by the other, tree by tree, through short pages when a
// page's reads run out (more than 200 budgets), with every filter; an agent key lists its
// subtree only; a budget deleted on one daemon is gone from the other's list.
test('budgets made on one daemon are listed by the other, paged, filtered, scoped', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const dir = tempDir('redis-list');
  const config = writeConfig(dir, 'c.yaml', `port: 0
store: {kind: redis, url: "${redis.url}", timeout_ms: 2000, durability: relaxed}
budgets:
  - {path: users, limit: "1000.00"}
  - {path: users-old, limit: "10.00"}
  - {path: team, limit: "100.00"}
  - {path: team/a, limit: "10.00"}
keys:
  - {name: team-a, role: agent, scope: team/a, sha256: ${sha(AGENT)}}
`);
  const one = await startDaemon(config, { admin: ADMIN });
  const two = await startDaemon(config, { admin: ADMIN });
  t.after(() => Promise.all([one.stop(), two.stop()]));
  const users = Array.from({ length: 260 }, (_, i) => `users/u${String(i).padStart(3, '0')}`);
  for (let i = 0; i < users.length; i += 20) {
    await Promise.all(users.slice(i, i + 20).map(async (path) => {
      const r = await one.call('PUT', `/v1/budgets/${path}`, { limit: '1.00' });
      assert.equal(r.status, 200, JSON.stringify(r.json));
    }));
  }
  const spend = await one.call('POST', '/v1/charges', { budget: 'users/u007', cost_micros: 500000 });
  assert.equal(spend.status, 200);
  assert.equal((await one.call('POST', '/v1/budgets/team/freeze', {})).status, 200);

  async function list(daemon, query, key = ADMIN) {
    const paths = [];
    let after = null;
    for (let pages = 0; pages < 1000; pages++) {
      const cursor = after === null ? '' : `&after=${encodeURIComponent(after)}`;
      const r = await daemon.call('GET', `/v1/budgets?${query}${cursor}`, undefined, key);
      assert.equal(r.status, 200, JSON.stringify(r.json));
      paths.push(...r.json.budgets.map((b) => b.path));
      if (r.json.next === null) return paths;
      after = r.json.next;
    }
    assert.fail('the pages must end');
  }
  // Tree by tree: the roots in byte order ("team" < "users" < "users-old"), then paths.
  const everything = ['team', 'team/a', 'users', ...users, 'users-old'];
  assert.deepEqual(await list(two, 'limit=1000'), everything, 'one page of 1000 asked');
  assert.deepEqual(await list(two, 'limit=7'), everything, '7 a page');
  assert.deepEqual(await list(one, 'prefix=users/&limit=100'), users);
  assert.deepEqual(await list(one, 'prefix=users&limit=50'), ['users', ...users, 'users-old']);
  assert.deepEqual(await list(two, 'prefix=users/u25&limit=3'), users.filter((p) => p.startsWith('users/u25')));
  assert.deepEqual(await list(two, 'prefix=nobody'), []);
  assert.deepEqual(await list(two, 'state=frozen'), ['team']); // its own flag, as on SQLite
  assert.deepEqual(await list(two, 'prefix=users/&spent_min=1'), ['users/u007']);
  // A page is short when its reads run out, but never past its limit and never repeats.
  const first = await two.call('GET', '/v1/budgets?limit=1000', undefined, ADMIN);
  assert.ok(first.json.budgets.length <= 1000 && first.json.next !== null);
  // The agent key: its subtree, whatever it asks for.
  assert.deepEqual(await list(one, '', AGENT), ['team/a']);
  assert.deepEqual(await list(one, 'prefix=users/', AGENT), []);
  // Many budgets of one tree in one request are one atomic call on Redis; budgets of two
  // trees are refused whole, nothing applied (daemon_redis_bulk.test.js tests the rest).
  const trees = await one.call('PUT', '/v1/budgets', { budgets: [{ path: 'users/new1', limit: '1.00' }, { path: 'team/new2', limit: '1.00' }] });
  assert.equal(trees.status, 501, JSON.stringify(trees.json));
  assert.match(trees.json.error.message, /one budget tree/);
  assert.equal((await two.call('GET', '/v1/budgets/users/new1')).status, 404);
  const bulk = await one.call('PUT', '/v1/budgets', { budgets: [{ path: 'users/new1', limit: '1.00' }, { path: 'users/new2', limit: '1.00' }] });
  assert.equal(bulk.status, 200, JSON.stringify(bulk.json));
  assert.equal(bulk.json.created, 2);
  assert.equal((await two.call('DELETE', '/v1/budgets/users/new1')).status, 200);
  assert.equal((await two.call('DELETE', '/v1/budgets/users/new2')).status, 200);
  // Deleted on one daemon, gone from the other's list.
  assert.equal((await one.call('DELETE', '/v1/budgets/users/u100')).status, 200);
  assert.deepEqual(await list(two, 'prefix=users/u10&limit=4'), users.filter((p) => p.startsWith('users/u10') && p !== 'users/u100'));
});
