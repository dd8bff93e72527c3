// `tollgate mcp` on Redis (docs/multi-node.md): with `store: {kind: redis, url: ...}` the
// stdio MCP gateway decides in the daemons' ledger instead of a private SQLite file. A tool
// call through the gateway (the official MCP SDK client) and API charges on a daemon hit
// the same budget: each sees the other's spend, the gateway refuses a call the daemon's
// charges left no room for, and the daemon refuses what the gateway's call used up. No
// SQLite file is made; a budget missing from the shared ledger stops the gateway.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./mcp_helpers.js');
const { startDaemon } = require('./daemon_helpers');
const { startRedis, writeConfig } = require('./redis_helpers');

test('a tool call through tollgate mcp and API charges on a daemon share one budget in redis', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const dir = h.tempDir('mcp-redis');
  const shared = `store: {kind: redis, url: "${redis.url}", timeout_ms: 2000, durability: relaxed}
budgets:
  - {path: team, limit: "3.00"}
  - {path: team/agent, limit: "3.00"}
`;
  const daemon = await startDaemon(writeConfig(dir, 'daemon.yaml', `port: 0\n${shared}`), { admin: 'k' });
  t.after(() => daemon.stop());
  const g = await h.startGateway({ dir, budget: 'team/agent', server: h.servers.everything, config: `${shared}
mcp:
  tools:
    "echo": {cost: "1.00", class: normal}
`});
  t.after(() => g.client.close());
  const spent = async () => (await daemon.call('GET', '/v1/budgets/team/agent', undefined, 'k')).json.spent_micros;

  // The gateway's call is charged in redis: the daemon sees it.
  assert.equal(h.text(await g.client.callTool({ name: 'echo', arguments: { message: 'one' } })), 'Echo: one');
  assert.equal(await spent(), 1000000);
  // An API charge on the daemon lands on the same budget; the gateway's next call fits
  // only what is left.
  const api = await daemon.call('POST', '/v1/charges', { budget: 'team/agent', cost_micros: 1500000, idempotency_key: 'api-1' }, 'k');
  assert.equal(api.status, 200, api.text);
  assert.equal(await spent(), 2500000);
  const refused = await g.client.callTool({ name: 'echo', arguments: { message: 'two' } });
  assert.equal(refused.isError, true, 'the gateway refuses a call the daemon\'s charge left no room for');
  assert.match(h.text(refused), /budget|refused|exceed/i);
  assert.equal(await spent(), 2500000, 'a refused call charges nothing');
  // And the daemon refuses what the gateway's call used up, and takes what is left.
  const over = await daemon.call('POST', '/v1/charges', { budget: 'team/agent', cost_micros: 600000 }, 'k');
  assert.equal(over.status, 402, over.text);
  const rest = await daemon.call('POST', '/v1/charges', { budget: 'team/agent', cost_micros: 500000 }, 'k');
  assert.equal(rest.status, 200, rest.text);
  const cheap = await g.client.callTool({ name: 'echo', arguments: { message: 'three' } });
  assert.equal(cheap.isError, true, 'nothing is left for the gateway');
  for (const p of ['team', 'team/agent']) {
    const b = (await daemon.call('GET', `/v1/budgets/${p}`, undefined, 'k')).json;
    assert.equal(b.spent_micros, 3000000, `${p}: each front end's charges counted once`);
    assert.equal(b.held_micros, 0, `${p}: the gateway's refused calls hold nothing`);
  }
  assert.equal(fs.existsSync(path.join(dir, 'ledger.db')), false, 'no private SQLite ledger on redis');
});

test('tollgate mcp on redis refuses a budget the shared ledger does not have, naming the server but not its password', async (t) => {
  const redis = await startRedis(['--requirepass', 'n0t-to-be-printed'], { auth: ['n0t-to-be-printed'] });
  t.after(() => redis.stop());
  const dir = h.tempDir('mcp-redis-missing');
  const config = writeConfig(dir, 'c.yaml', `store: {kind: redis, url: "redis://:n0t-to-be-printed@127.0.0.1:${redis.port}/0", durability: relaxed}
budgets:
  - {path: team, limit: "3.00"}
`);
  const r = spawnSync(h.binary, ['mcp', '--budget', 'nobody/here', '--config', config, '--', ...h.servers.everything],
    { input: '', encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`budget nobody/here does not exist in redis 127\\.0\\.0\\.1:${redis.port}/0`));
  assert.doesNotMatch(r.stderr, /n0t-to-be-printed/);
  assert.equal(fs.existsSync(path.join(process.cwd(), 'tollgate-mcp.db')), false);
});
