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
store: {kind: redis, url: "${redis.url}", timeout_ms: 2000}
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
