// What the API refuses rather than guesses: two spellings of one value (amount and
// amount_micros, limit and limit_micros, the three revoke_at forms, actual, cost), money
// with a point but no digits on one side ("1.", ".5"), "." and ".." as a budget path
// segment, and numbers past their range (since=2^64 is not INT64_MAX).
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { tempDir, startDaemon, connect } = require('./daemon_helpers');

const dir = tempDir('input');
const configFile = path.join(dir, 'tollgate.yaml');
fs.writeFileSync(configFile, `port: 0
store: {kind: sqlite, path: ${path.join(dir, 'ledger.db')}}
budgets:
  - {path: team, limit: "100.00"}
  - {path: team/a, limit: "10.00"}
`);

let d;
before(async () => { d = await startDaemon(configFile); });
after(() => d.stop('SIGKILL'));

async function refused(method, url, body, code = 'invalid_field') {
  const r = await d.call(method, url, body);
  assert.equal(r.status, 400, `${method} ${url} ${JSON.stringify(body)}: ${r.text}`);
  assert.equal(r.json.error.code, code, r.text);
  return r.json.error.message;
}

test('two spellings of one value are refused, whichever would have won', async () => {
  const hold = await d.call('POST', '/v1/holds', { budget: 'team/a', amount: '1' });
  assert.equal(hold.status, 200);
  const message = await refused('POST', '/v1/holds', { budget: 'team/a', amount: '1', amount_micros: 5000000 });
  assert.match(message, /'amount_micros' or 'amount', not both/);
  await refused('POST', `/v1/holds/${hold.json.hold_id}/commit`, { actual: '1', actual_micros: 1 });
  await refused('POST', '/v1/charges', { budget: 'team/a', cost: '1', cost_micros: 1 });
  await refused('PATCH', '/v1/budgets/team/a', { limit: '20', limit_micros: 30000000 });
  await refused('PATCH', '/v1/budgets/team/a', { revoke_at_micros: 1, revoke_at_ppm: 900000 });
  await refused('PATCH', '/v1/budgets/team/a', { revoke_at: '8', revoke_at_ppm: 900000 });
  await refused('PATCH', '/v1/budgets/team/a', { revoke_at: '8', revoke_at_micros: 8000000 });
  // Nothing of the refused requests happened.
  const a = (await d.call('GET', '/v1/budgets/team/a')).json;
  assert.equal(a.limit_micros, 10000000);
  assert.deepEqual(a.revoke_at, { micros: null, ppm: null });
  assert.equal(a.spent_micros, 0);
  // One spelling still works, and null counts as not given.
  assert.equal((await d.call('PATCH', '/v1/budgets/team/a', { revoke_at_ppm: 900000, revoke_at: null })).status, 200);
});

test('money needs digits on both sides of its point', async () => {
  for (const amount of ['1.', '.5', '.', '0.', '1..5']) {
    await refused('POST', '/v1/holds', { budget: 'team/a', amount });
    await refused('PATCH', '/v1/budgets/team/a', { limit: amount });
  }
  assert.equal((await d.call('POST', '/v1/holds', { budget: 'team/a', amount: '0.5' })).status, 200);
});

test('"." and ".." are no budget path segment, encoded or not', async () => {
  // A raw connection: fetch would remove the dot segments before sending.
  const c = await connect(d.port);
  for (const p of ['team/.', 'team/./a', 'team/%2E', 'team/%2e%2e', './team', 'team/a/..']) {
    const r = await c.ask('PUT', `/v1/budgets/${p}`, { body: '{"limit":"1"}' });
    assert.equal(r.status, 400, `${p}: ${r.body}`);
  }
  c.socket.destroy();
  const hold = await d.call('POST', '/v1/holds', { budget: 'team/.', amount: '1' });
  assert.equal(hold.status, 400);
  const list = await d.call('GET', '/v1/budgets');
  assert.deepEqual(list.json.budgets.map((b) => b.path), ['team', 'team/a']);
});

test('numbers past their range are refused, not clamped', async () => {
  for (const url of ['/v1/events?since=18446744073709551616', '/v1/events?since=9223372036854775808',
    '/v1/events?limit=18446744073709551617', '/v1/charges?until=99999999999999999999',
    '/v1/charges?after=18446744073709551616', '/v1/notify/failed?after=18446744073709551616']) {
    const r = await d.call('GET', url);
    assert.equal(r.status, 400, `${url}: ${r.text}`);
    assert.equal(r.json.error.code, 'invalid_query');
  }
  assert.equal((await d.call('GET', '/v1/events?since=9223372036854775807')).status, 200, 'the largest is fine');
  for (const [method, url] of [['GET', '/v1/holds/18446744073709551616'],
    ['POST', '/v1/holds/9223372036854775808/commit']]) {
    const r = await d.call(method, url, method === 'POST' ? { actual: '1' } : undefined);
    assert.equal(r.status, 400, `${url}: ${r.text}`);
    assert.equal(r.json.error.code, 'invalid_path');
  }
  await refused('POST', '/v1/holds', { budget: 'team/a', amount_micros: 1, ttl_ms: 2 ** 64 }, 'malformed_json');
});
