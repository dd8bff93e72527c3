// Many budgets in one request on Redis (PUT and PATCH /v1/budgets; docs/multi-node.md, "Bulk
// budget changes"): one budget tree's creates, updates and deletes are one atomic call
// there, so with two daemons on one redis-server the test starts:
//   - a bulk PUT of 200 budgets on one daemon is all listed and read, with its limits, by
//     the other; a bulk PATCH on the other (updates, children deleted before their parent)
//     is all seen by the first; the counts are the SQLite daemon's for the same requests;
//   - failing bulks (a missing parent at the last item, a parent with children deleted at a
//     middle one, a path named twice, a create past budgets_max, a bad path at the first
//     one) answer what the SQLite daemon answers (status, code, message; the Redis one
//     naming its tree after budgets_max) and change nothing: every budget and limit read
//     through the other daemon is as before, including the updates listed before the
//     failing item;
//   - budgets of two trees in one request: 501, naming both trees, nothing applied.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { tempDir, startDaemon } = require('./daemon_helpers');
const { startRedis, writeConfig } = require('./redis_helpers');

const ADMIN = 'k';
const BUDGETS_MAX = 250;

function configFor(dir, name, store) {
  return writeConfig(dir, name, `port: 0
store: ${store}
limits: {budgets_max: ${BUDGETS_MAX}}
budgets:
  - {path: acme, limit: "1000.00"}
`);
}

// acme/t0..t9, each with children u0..u18, parents listed first: 200 budgets.
function tree() {
  const items = [];
  for (let t = 0; t < 10; t++) {
    items.push({ path: `acme/t${t}`, limit: '10.00' });
    for (let u = 0; u < 19; u++) items.push({ path: `acme/t${t}/u${u}`, limit: '1.00' });
  }
  return items;
}

// Every acme path with its limit, through one daemon (tree by tree, pages followed).
async function acme(daemon) {
  const out = {};
  let after = null;
  for (let pages = 0; pages < 100; pages++) {
    const cursor = after === null ? '' : `&after=${encodeURIComponent(after)}`;
    const r = await daemon.call('GET', `/v1/budgets?prefix=acme&limit=1000${cursor}`);
    assert.equal(r.status, 200, r.text);
    for (const b of r.json.budgets) out[b.path] = b.limit_micros ?? b.limit;
    if (r.json.next === null) return out;
    after = r.json.next;
  }
  assert.fail('the pages must end');
}

test('bulk budget changes on redis: all or nothing, seen by the other daemon, answered as on SQLite', async (t) => {
  const dir = tempDir('redis-bulk');
  const redis = await startRedis();
  t.after(() => redis.stop());
  const config = configFor(dir, 'redis.yaml',
    `{kind: redis, url: "${redis.url}", timeout_ms: 5000, durability: relaxed}`);
  const one = await startDaemon(config, { admin: ADMIN });
  const two = await startDaemon(config, { admin: ADMIN });
  const sqlite = await startDaemon(configFor(dir, 'sqlite.yaml',
    `{kind: sqlite, path: ${path.join(dir, 'ledger.db')}}`), { admin: ADMIN });
  t.after(() => Promise.all([one.stop(), two.stop(), sqlite.stop()]));

  // The same request on Redis (through `on`) and on SQLite: the same answer.
  async function both(on, method, body) {
    const r = await on.call(method, '/v1/budgets', body);
    const s = await sqlite.call(method, '/v1/budgets', body);
    assert.equal(r.status, s.status, `redis ${r.text}, sqlite ${s.text}`);
    if (s.status === 200) {
      assert.deepEqual(r.json, s.json);
    } else {
      assert.equal(r.json.error.code, s.json.error.code, r.text);
      if (s.json.error.code === 'full') {
        assert.equal(r.json.error.message, `${s.json.error.message} (budget tree 'acme')`);
      } else {
        assert.equal(r.json.error.message, s.json.error.message);
      }
    }
    return r;
  }

  const made = await both(one, 'PUT', { budgets: tree() });
  assert.equal(made.status, 200, made.text);
  assert.deepEqual(made.json, { created: 200, updated: 0, deleted: 0 });
  const seen = await acme(two);
  assert.equal(Object.keys(seen).length, 201, 'acme and its 200 budgets, read on the other daemon');
  assert.deepEqual(seen, await acme(sqlite));
  const u = await two.call('GET', '/v1/budgets/acme/t3');
  assert.equal(u.status, 200, u.text);
  assert.equal(u.json.children, 19);

  // PATCH on the other daemon: 50 limits raised, t9's children deleted before t9.
  const patch = [];
  for (let t = 0; t < 5; t++) {
    for (let i = 0; i < 10; i++) patch.push({ path: `acme/t${t}/u${i}`, limit: '2.00' });
  }
  for (let i = 0; i < 19; i++) patch.push({ path: `acme/t9/u${i}`, delete: true });
  patch.push({ path: 'acme/t9', delete: true });
  const changed = await both(two, 'PATCH', { budgets: patch });
  assert.equal(changed.status, 200, changed.text);
  assert.deepEqual(changed.json, { created: 0, updated: 50, deleted: 20 });
  const after = await acme(one);
  assert.equal(Object.keys(after).length, 181);
  assert.deepEqual(after, await acme(sqlite));
  assert.equal((await one.call('GET', '/v1/budgets/acme/t9')).status, 404);

  // Failing bulks: the SQLite answer, and nothing changed on either daemon.
  const raise = (n) => Array.from({ length: n }, (_, i) => ({ path: `acme/t5/u${i}`, limit: '3.00' }));
  const failing = [
    ['a missing parent, last', 'PUT', [...raise(5), { path: 'acme/nowhere/x', limit: '1.00' }]],
    ['a parent with children, middle', 'PATCH', [...raise(3), { path: 'acme/t6', delete: true }, ...raise(6).slice(3)]],
    ['a path named twice', 'PATCH', [...raise(4), { path: 'acme/t5/u1', limit: '4.00' }]],
    ['past budgets_max', 'PUT', [...raise(2), ...Array.from({ length: 80 }, (_, i) => ({ path: `acme/t0/n${i}`, limit: '1.00' }))]],
    ['a bad path, first', 'PUT', [{ path: 'acme//u0', limit: '1.00' }, ...raise(8).slice(1)]],
  ];
  for (const [what, method, budgets] of failing) {
    const r = await both(one, method, { budgets });
    assert.notEqual(r.status, 200, `${what}: ${r.text}`);
    assert.match(r.json.error.message, /^operation \d+: /, what);
    assert.deepEqual(await acme(two), after, `${what}: nothing changed`);
  }
  assert.match((await both(one, 'PUT', { budgets: failing[3][2] })).json.error.message,
    /^operation 71: the ledger holds its maximum of 250 budgets/);

  // Two trees: refused whole on Redis, naming both.
  const trees = await one.call('PUT', '/v1/budgets',
    { budgets: [{ path: 'acme/t0/x', limit: '1.00' }, { path: 'beta/y', limit: '1.00' }] });
  assert.equal(trees.status, 501, trees.text);
  assert.equal(trees.json.error.code, 'unsupported');
  assert.match(trees.json.error.message, /operation 1: .*'beta'.*'acme'/);
  assert.equal((await two.call('GET', '/v1/budgets/acme/t0/x')).status, 404);
  assert.equal((await two.call('GET', '/v1/budgets/beta/y')).status, 404);
  // One request per tree: each applies.
  const beta = await two.call('PUT', '/v1/budgets', { budgets: [{ path: 'beta' }, { path: 'beta/y', limit: '1.00' }] });
  assert.equal(beta.status, 200, beta.text);
  assert.deepEqual(beta.json, { created: 2, updated: 0, deleted: 0 });
  assert.equal((await one.call('GET', '/v1/budgets/beta/y')).status, 200);
});
