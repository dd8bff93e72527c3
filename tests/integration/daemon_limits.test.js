// The daemon's limits answer in JSON: connections past limits.connections_max get a
// 503 too_many_connections and are closed (and the limit frees up when a client
// leaves), bodies and headers past their maximum get 413 body_too_large and 431
// headers_too_large, unknown methods 405. Raw sockets where fetch would hide it.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { tempDir, startDaemon, cli, connect } = require('./daemon_helpers');

const dir = tempDir('limits');
const configFile = path.join(dir, 'tollgate.yaml');
fs.writeFileSync(configFile, `port: 0
store: {kind: memory}
limits: {connections_max: 3, body_size_max_bytes: 4096, header_size_max_bytes: 2048}
budgets:
  - {path: team, limit: "100.00"}
`);

let daemon;
before(async () => { daemon = await startDaemon(configFile); });
after(() => daemon.stop('SIGKILL'));

const metric = (text, name) => Number((text.match(new RegExp(`^${name} (\\d+)$`, 'm')) || [0, NaN])[1]);

test('a connection past connections_max is answered 503 in JSON and closed; a free slot is reused', async () => {
  const first = await connect(daemon.port);
  const second = await connect(daemon.port);
  const third = await connect(daemon.port);
  for (const c of [first, second, third]) assert.equal((await c.ask('GET', '/healthz')).status, 200);
  const extra = await connect(daemon.port);
  const refused = await extra.ask('GET', '/healthz');
  assert.equal(refused.status, 503);
  assert.equal(refused.json.error.code, 'too_many_connections');
  assert.match(refused.head, /connection: close/i);
  assert.match(refused.head, /retry-after: 1/i);
  await extra.closed; // the daemon closes it after the answer
  const metrics = await first.ask('GET', '/metrics');
  assert.equal(metric(metrics.body, 'tollgate_connections_open'), 3);
  assert.ok(metric(metrics.body, 'tollgate_connections_refused_total') >= 1);
  // The kept connections still work, and a client leaving frees a slot.
  assert.equal((await second.ask('GET', '/v1/budgets/team')).status, 200);
  third.socket.destroy();
  await third.closed;
  const again = await eventually(async () => {
    const c = await connect(daemon.port);
    const answer = await c.ask('GET', '/healthz');
    if (answer.status === 200) return c;
    c.socket.destroy();
    return null;
  });
  assert.ok(again, 'a new connection is served once one left');
  for (const c of [first, second, again]) c.socket.destroy();
  await eventually(async () => {
    const c = await connect(daemon.port);
    const answer = await c.ask('GET', '/healthz');
    c.socket.destroy();
    return answer.status === 200;
  });
});

async function eventually(fn, ms = 3000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a body past body_size_max_bytes is 413 body_too_large, in JSON', async () => {
  const r = await daemon.call('POST', '/v1/holds', undefined, 'admin-secret',
    JSON.stringify({ budget: 'team', tool: 'x'.repeat(6000) }));
  assert.equal(r.status, 413);
  assert.equal(r.json.error.code, 'body_too_large');
  assert.match(r.json.error.message, /4096/);
  // A batch under the byte limit but past 1000 operations: its own 413.
  const ops = `{"operations":[${Array(1001).fill('{}').join(',')}]}`;
  const batch = await daemon.call('POST', '/v1/batch', undefined, 'admin-secret', ops);
  assert.equal(batch.status, 413);
  assert.equal(batch.json.error.code, 'batch_too_large');
});

test('headers past header_size_max_bytes are 431 headers_too_large, in JSON', async () => {
  const c = await connect(daemon.port);
  const r = await c.ask('GET', '/v1/budgets/team', { headers: { 'X-Padding': 'p'.repeat(3000) } });
  assert.equal(r.status, 431);
  assert.equal(r.json.error.code, 'headers_too_large');
  c.socket.destroy();
});

test('every method reaches the router: unknown ones are 405 in JSON', async () => {
  const c = await connect(daemon.port);
  for (const method of ['OPTIONS', 'PUT']) {
    const r = await c.ask(method, '/v1/holds');
    assert.equal(r.status, 405, method);
    assert.equal(r.json.error.code, 'method_not_allowed');
  }
  const budget = await c.ask('POST', '/v1/budgets/team');
  assert.equal(budget.status, 405);
  c.socket.destroy();
});

test('limits outside their range are refused at start', async () => {
  const bad = path.join(dir, 'bad.yaml');
  fs.writeFileSync(bad, 'port: 0\nstore: {kind: memory}\nlimits: {connections_max: 0}\n');
  const r = await cli(['serve', '--config', bad]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /bad\.yaml:3:27: 'limits\.connections_max' must be a whole number from 1 to 1000000, not '0'/);
});
