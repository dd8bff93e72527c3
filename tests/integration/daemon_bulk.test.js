// Budgets in bulk and in pages: PUT/PATCH /v1/budgets apply a list whole or not at
// all (the bad item anywhere in the list leaves every other one unapplied), GET
// /v1/budgets pages through a ledger in path order with filters, budgets made over
// the API survive a restart, and a config reload leaves them alone.
'use strict';
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { tempDir, startDaemon, cli } = require('./daemon_helpers');

const dir = tempDir('bulk');
const configFile = path.join(dir, 'tollgate.yaml');
const db = path.join(dir, 'ledger.db');
const writeConfig = (limit) => fs.writeFileSync(configFile, `port: 0
store: {kind: sqlite, path: ${db}, durability: strict}
budgets:
  - {path: hand, limit: "${limit}"}
`);
let daemon;
after(async () => { if (daemon) await daemon.stop(); });

const users = (from, to, extra = {}) => {
  const items = [];
  for (let i = from; i < to; i++) items.push({ path: `users/u${String(i).padStart(4, '0')}`, limit: '5', ...extra });
  return items;
};

async function all(query) {
  const seen = [];
  let after = '';
  for (let pages = 0; pages < 100; pages++) {
    const r = await daemon.call('GET', `/v1/budgets?${query}&after=${encodeURIComponent(after)}`);
    assert.equal(r.status, 200, r.text);
    seen.push(...r.json.budgets.map((b) => b.path));
    if (r.json.next === null) return seen;
    after = r.json.next;
  }
  throw new Error('paging did not end');
}

test('a bulk request applies whole or not at all', async () => {
  writeConfig('10');
  daemon = await startDaemon(configFile);
  let r = await daemon.call('PUT', '/v1/budgets', { budgets: [{ path: 'users' }, ...users(0, 600)] });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { created: 601, updated: 0, deleted: 0 });
  // A bad item last, in the middle, or a parent deleted under a child: nothing applies.
  const bad = [
    [[...users(600, 700), { path: 'nowhere/x' }], 404],
    [[...users(700, 750), { path: 'users/u0001', limit: '-1' }, ...users(750, 800)], 400],
    [[{ path: 'users/u0002', limit: '9' }, { path: 'users', delete: true }], 409],
    [[{ path: 'users/u0003', delete: true }, { path: 'users/u0003', limit: '1' }], 400],
    [[{ path: 'users/late/x' }, { path: 'users/late' }], 404],
  ];
  for (const [items, status] of bad) {
    r = await daemon.call('PUT', '/v1/budgets', { budgets: items });
    assert.equal(r.status, status, r.text);
    assert.match(r.json.error.message, /^(operation \d+|budgets\[\d+\]): /);
  }
  const listed = await all('prefix=users/&limit=1000');
  assert.equal(listed.length, 600, 'no failed request created anything');
  assert.equal((await daemon.call('GET', '/v1/budgets/users/u0002')).json.limit_micros, 5000000);
  // PATCH changes only what it names; deletes go children first, in one request.
  r = await daemon.call('PATCH', '/v1/budgets', { budgets: [
    { path: 'users/u0001', calls_limit: 3 }, { path: 'users/u0599', delete: true },
    { path: 'users/sub' }, { path: 'users/sub/x', limit: '1' }] });
  assert.deepEqual(r.json, { created: 2, updated: 1, deleted: 1 }, r.text);
  const u1 = (await daemon.call('GET', '/v1/budgets/users/u0001')).json;
  assert.equal(u1.limit_micros, 5000000);
  assert.equal(u1.calls_limit, 3);
  r = await daemon.call('PUT', '/v1/budgets', { budgets: [{ path: 'users/sub/x', delete: true }, { path: 'users/sub', delete: true }] });
  assert.deepEqual(r.json, { created: 0, updated: 0, deleted: 2 }, r.text);
  // Only an admin changes budgets; a reserved segment is refused in a list too.
  r = await daemon.call('PUT', '/v1/budgets', { budgets: [{ path: 'users/history' }] });
  assert.equal(r.status, 400);
  r = await daemon.call('PUT', '/v1/budgets', { budgets: 'x' });
  assert.equal(r.status, 400);
});

test('pages cover every budget once, in order, with filters', async () => {
  const small = await all('prefix=users/&limit=7');
  assert.equal(small.length, 599);
  assert.deepEqual(small, [...small].sort(), 'path order');
  assert.equal(new Set(small).size, small.length, 'no budget twice');
  const first = await daemon.call('GET', '/v1/budgets');
  assert.equal(first.json.budgets.length, 100, 'a page is 100 by default');
  assert.equal(typeof first.json.next, 'string');
  // Spend and state filters: charge three budgets, freeze one.
  for (const u of ['u0010', 'u0020', 'u0030']) {
    assert.equal((await daemon.call('POST', '/v1/charges', { budget: `users/${u}`, cost: '1' })).status, 200);
  }
  await daemon.call('POST', '/v1/budgets/users/u0020/freeze');
  assert.deepEqual(await all('prefix=users/&spent_min=1000000&limit=2'), ['users/u0010', 'users/u0020', 'users/u0030']);
  assert.deepEqual(await all('state=frozen'), ['users/u0020']);
  assert.equal((await all('prefix=users/&state=open')).length, 598);
  assert.equal((await daemon.call('GET', '/v1/budgets?state=sleepy')).status, 400);
  assert.equal((await daemon.call('GET', '/v1/budgets?limit=0')).status, 400);
});

test('API budgets survive a restart and a reload that does not name them', async () => {
  writeConfig('20');
  daemon.child.kill('SIGHUP');
  for (let i = 0; i < 500; i++) {
    if ((await daemon.call('GET', '/v1/budgets/hand')).json.limit_micros === 20000000) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal((await daemon.call('GET', '/v1/budgets/hand')).json.limit_micros, 20000000);
  assert.equal((await all('prefix=users/&limit=1000')).length, 599, 'a reload touches only what it names');
  await daemon.stop();
  daemon = await startDaemon(configFile);
  const listed = await all('prefix=users&limit=1000');
  assert.equal(listed.length, 600);
  assert.equal((await daemon.call('GET', '/v1/budgets/users/u0010')).json.spent_micros, 1000000);
});

test('tollgate budget apply: a file through the bulk API, whole requests, lines named', async () => {
  const env = { TOLLGATE_URL: daemon.base, TOLLGATE_KEY: 'admin-secret' };
  // 25,000 budgets: three requests (10,000 a request), every one applied.
  const big = path.join(dir, 'big.jsonl');
  const lines = ['# made by the test', JSON.stringify({ path: 'cli' })];
  for (let i = 0; i < 25000; i++) lines.push(JSON.stringify({ path: `cli/u${String(i).padStart(5, '0')}`, limit: '2' }));
  fs.writeFileSync(big, lines.join('\n') + '\n\n');
  let r = await cli(['budget', 'apply', big], env);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /25001 created, 0 updated, 0 deleted \(25001 budgets, 3 requests\)/);
  assert.equal((await all('prefix=cli/&limit=1000')).length, 25000);
  // A bad budget in the second request: the first is applied, nothing after; the line is named.
  const bad = path.join(dir, 'bad.jsonl');
  const items = [];
  for (let i = 0; i < 12000; i++) items.push(JSON.stringify({ path: `cli/u${String(i).padStart(5, '0')}`, limit: '3' }));
  items[11000] = JSON.stringify({ path: 'cli/u11000', limit: '-3' });
  fs.writeFileSync(bad, items.join('\n'));
  r = await cli(['budget', 'apply', bad, '--patch'], env);
  assert.equal(r.status, 4, r.stderr);
  assert.match(r.stderr, /bad\.jsonl:11001: this budget was refused/);
  assert.match(r.stderr, /budgets up to line 10000 were applied \(1 requests\); from line 10001 on, nothing was/);
  assert.equal((await daemon.call('GET', '/v1/budgets/cli/u09999')).json.limit_micros, 3000000);
  assert.equal((await daemon.call('GET', '/v1/budgets/cli/u10000')).json.limit_micros, 2000000);
  // A file with a mistake anywhere sends nothing.
  fs.writeFileSync(bad, '{"path":"cli/u00001","delete":true}\n{"path": 7}\n');
  r = await cli(['budget', 'apply', bad], env);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /bad\.jsonl:2: a budget needs a "path"/);
  assert.equal((await daemon.call('GET', '/v1/budgets/cli/u00001')).status, 200);
  // YAML: numbers under limit are money text, other keys keep their types.
  const yaml = path.join(dir, 'b.yaml');
  fs.writeFileSync(yaml, 'budgets:\n  - {path: cli/u00001, delete: true}\n  - path: cli/y\n    limit: 7\n    calls_limit: 9\n    alerts_ppm: [500000]\n');
  r = await cli(['budget', 'apply', yaml], env);
  assert.equal(r.status, 0, r.stderr);
  const y = (await daemon.call('GET', '/v1/budgets/cli/y')).json;
  assert.deepEqual([y.limit_micros, y.calls_limit, y.alerts_ppm], [7000000, 9, [500000]]);
  assert.equal((await daemon.call('GET', '/v1/budgets/cli/u00001')).status, 404);
  // list: one page and the way on; --all --json is every budget, one a line, in path order.
  r = await cli(['budget', 'list', 'cli/', '--limit', '2'], env);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').length, 3, r.stdout);
  assert.match(r.stderr, /--after 'cli\/u00002'/);
  r = await cli(['budget', 'list', 'cli/', '--all', '--json'], env);
  assert.equal(r.status, 0, r.stderr);
  const listed = r.stdout.trim().split('\n').map((l) => JSON.parse(l).path);
  assert.deepEqual(listed, await all('prefix=cli/&limit=1000'));
  assert.equal(listed.length, 25000);
});

test('/metrics: series for top-level, declared and named budgets only, bounded, the rest counted', async () => {
  const series = (text) => [...text.matchAll(/^tollgate_budget_spent_micros\{budget="([^"]+)"\} /mg)].map((m) => m[1]);
  const gauge = (text, name) => Number(text.match(new RegExp(`^${name} (\\d+)$`, 'm'))[1]);
  let text = (await daemon.call('GET', '/metrics')).text;
  // 25,000 cli/ and 600 users/ budgets made over the API: none has series of its own.
  assert.deepEqual(series(text), ['cli', 'hand', 'users']);
  assert.equal(gauge(text, 'tollgate_budget_series_omitted'), 0);
  const roots = await Promise.all(['cli', 'hand', 'users'].map(async (p) => (await daemon.call('GET', `/v1/budgets/${p}`)).json));
  assert.equal(gauge(text, 'tollgate_spent_micros'), roots.reduce((s, b) => s + b.spent_micros, 0));
  assert.ok(gauge(text, 'tollgate_spent_micros') > 0);
  // metrics.budgets names more; budget_series_max bounds them, in path order, and counts the rest.
  fs.appendFileSync(configFile, 'metrics: {budgets: ["users/u001*", "cli/u0000?"], budget_series_max: 6}\n');
  daemon.child.kill('SIGHUP');
  const named = [...(await all('prefix=users/u001&limit=1000')), ...(await all('prefix=cli/u0000&limit=1000'))];
  const want = ['cli', 'hand', 'users', ...named].sort();
  for (let i = 0; i < 500 && series(text).length !== 6; i++) {
    await new Promise((r) => setTimeout(r, 10));
    text = (await daemon.call('GET', '/metrics')).text;
  }
  assert.deepEqual(series(text), want.slice(0, 6));
  assert.equal(gauge(text, 'tollgate_budget_series_omitted'), want.length - 6);
  assert.match(text, new RegExp(`^tollgate_budget_remaining_micros\\{budget="${want[1]}"\\} \\d+$`, 'm'));
});
