// When the MCP server behind `tollgate mcp` crashes, hangs or never starts, and
// when the gateway itself is killed: the agent gets error results rather than
// silence, holds are released (or kept, durable, until they expire), and what
// was charged before stays charged. The server is a small fixture built on the
// official SDK (mcp_fixture_server.mjs); the agent is the official SDK client.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const h = require('./mcp_helpers.js');

const config = (timeout) => `
budgets:
  - {path: acme, limit: "100.00"}
  - {path: acme/agent, limit: "50.00"}
mcp:
  call_timeout_ms: ${timeout}
  tools:
    "echo": "0.10"
    "slow": "0.50"
    "hang": "0.70"
    "crash": "0.90"
`;

test('the server crashes: every waiting call gets an error, holds released, charges kept', async () => {
  const dir = h.tempDir('crash');
  const g = await h.startGateway({ dir, config: config(30000), budget: 'acme/agent', server: h.servers.fixture });
  const c = g.client;
  assert.ok(!(await c.callTool({ name: 'echo', arguments: { message: 'before' } })).isError);
  const slow = c.callTool({ name: 'slow', arguments: { ms: 20000 } });
  await h.until(() => h.sql(g.database, 'select count(*) as n from holds')[0].n === 1, 5000, 'slow call held');
  const crash = await c.callTool({ name: 'crash', arguments: {} });
  assert.equal(crash.isError, true);
  assert.equal(crash._meta['tollgate/refusal'].reason, 'server_exited');
  const other = await slow;
  assert.equal(other.isError, true);
  assert.match(h.text(other), /exited before answering the call to tool 'slow'/);
  await h.until(() => g.closed, 10000, 'gateway exit');
  assert.deepEqual(h.sql(g.database, 'select tool, cost_micros from charges'), [{ tool: 'echo', cost_micros: 100000 }]);
  assert.deepEqual(h.sql(g.database, 'select count(*) as n from holds'), [{ n: 0 }]);
  assert.equal(h.sql(g.database, "select spent_micros from budgets where path = 'acme/agent'")[0].spent_micros, 100000);
  assert.match(g.stderr, /MCP server closed its output or exited/);
});

test('the server hangs: the call times out, is cancelled at the server, and the session goes on', async () => {
  const dir = h.tempDir('hang');
  const g = await h.startGateway({ dir, config: config(400), budget: 'acme/agent', server: h.servers.fixture, taps: true });
  const c = g.client;
  const started = Date.now();
  const hung = await c.callTool({ name: 'hang', arguments: {} });
  const waited = Date.now() - started;
  assert.equal(hung.isError, true);
  assert.equal(hung._meta['tollgate/refusal'].reason, 'timeout');
  assert.match(h.text(hung), /did not answer within 400 ms/);
  assert.ok(waited >= 400 && waited < 5000, `answered after ${waited} ms`);
  assert.deepEqual(h.sql(g.database, 'select count(*) as n from holds'), [{ n: 0 }]);
  assert.ok(!(await c.callTool({ name: 'echo', arguments: { message: 'still here' } })).isError);
  assert.deepEqual(h.sql(g.database, 'select tool from charges'), [{ tool: 'echo' }]);
  const serverTap = h.readTap(path.join(dir, 'server.tap'));
  const hangCall = serverTap.map((e) => JSON.parse(e.line)).find((m) => m.method === 'tools/call' && m.params.name === 'hang');
  const cancel = serverTap.map((e) => JSON.parse(e.line)).find((m) => m.method === 'notifications/cancelled');
  assert.equal(cancel.params.requestId, hangCall.id);
  await c.close();
});

test('the server cannot start: the gateway says why and exits 1', () => {
  const dir = h.tempDir('nostart');
  const file = path.join(dir, 'tollgate.yaml');
  require('node:fs').writeFileSync(file, config(1000));
  const run = spawnSync(h.binary, ['mcp', '--budget', 'acme/agent', '--config', file, '--database',
    path.join(dir, 'ledger.db'), '--', '/nonexistent/mcp-server'], { input: '', encoding: 'utf8', timeout: 10000 });
  assert.equal(run.status, 1);
  assert.match(run.stderr, /cannot start the MCP server '\/nonexistent\/mcp-server'/);
  const missing = spawnSync(h.binary, ['mcp', '--budget', 'acme/nobody', '--config', file, '--database',
    path.join(dir, 'ledger.db'), '--', 'true'], { input: '', encoding: 'utf8', timeout: 10000 });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /budget acme\/nobody does not exist/);
});

test('the gateway is killed mid-call: the hold stays durable until it expires, charges kept', async () => {
  const dir = h.tempDir('kill');
  const g = await h.startGateway({ dir, config: config(30000), budget: 'acme/agent', server: h.servers.fixture });
  assert.ok(!(await g.client.callTool({ name: 'echo', arguments: { message: 'x' } })).isError);
  const pending = g.client.callTool({ name: 'slow', arguments: { ms: 20000 } }).catch((e) => e);
  await h.until(() => h.sql(g.database, 'select count(*) as n from holds')[0].n === 1, 5000, 'slow call held');
  process.kill(g.transport.pid, 'SIGKILL');
  assert.ok((await pending) instanceof Error);
  // The lock died with the first gateway. The next finds exactly the acknowledged state:
  // the charge, and the in-flight call's hold (released when it expires, never charged).
  const again = await h.startGateway({ dir, config: config(30000), budget: 'acme/agent', server: h.servers.fixture });
  assert.deepEqual(h.sql(again.database, 'select tool, cost_micros from charges'), [{ tool: 'echo', cost_micros: 100000 }]);
  assert.deepEqual(h.sql(again.database, 'select tool, amount_micros from holds'), [{ tool: 'slow', amount_micros: 500000 }]);
  await again.client.close();
});

test('two gateways on one ledger file: the second is refused', async () => {
  const dir = h.tempDir('lock');
  const g = await h.startGateway({ dir, config: config(30000), budget: 'acme/agent', server: h.servers.fixture });
  const run = spawnSync(h.binary, ['mcp', '--budget', 'acme/agent', '--config', g.configFile, '--database',
    g.database, '--', 'true'], { input: '', encoding: 'utf8', timeout: 10000 });
  assert.equal(run.status, 1);
  assert.match(run.stderr, /in use by another tollgate process/);
  await g.client.close();
});
