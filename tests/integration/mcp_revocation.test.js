// Revocation as the agent sees it through `tollgate mcp` (server-everything behind
// it, the official SDK client in front): spend crosses the revocation threshold,
// so low and normal tools disappear from tools/list with notifications/tools/
// list_changed, the long-running operation in flight is cancelled (notifications/
// cancelled to the server, an isError result to the agent), refused calls get an
// isError result naming budget and reason, critical tools go on up to the hard
// limit and never past it, and raising the limit (SIGHUP) lists the tools again.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./mcp_helpers.js');

const config = (limit, revokeAt) => `
budgets:
  - {path: acme, limit: "100.00"}
  - {path: acme/agent, limit: "${limit}", revoke_at: "${revokeAt}"}
policy:
  default: normal
mcp:
  tools:
    "echo": {cost: "0.20", class: low}
    "trigger-long-running-operation": {cost: "0.05", class: low}
    "get-sum": {cost: "0.20", class: critical}
    "get-env": "0.10"
`;

test('threshold, in-flight cancel, withdrawn tools, critical to the limit, reinstatement', async () => {
  const dir = h.tempDir('revoke');
  const g = await h.startGateway({ dir, config: config('1.00', '0.50'), budget: 'acme/agent',
    server: h.servers.everything, taps: true });
  const c = g.client;
  const names = async () => (await c.listTools()).tools.map((t) => t.name);
  const before = await names();
  assert.ok(before.includes('echo') && before.includes('get-sum') && before.includes('get-env'));

  // A long-running low-impact call in flight at the server.
  let progressed = 0;
  const started = Date.now();
  const long = c.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 20, steps: 20 } },
    undefined, { onprogress: () => { progressed++; }, timeout: 60000 });
  await h.until(() => progressed > 0, 5000, 'first progress');

  assert.ok(!(await c.callTool({ name: 'echo', arguments: { message: 'a' } })).isError); // spent 0.20
  assert.ok(!(await c.callTool({ name: 'get-sum', arguments: { a: 1, b: 1 } })).isError); // 0.40
  const changed = h.nextListChanged(g);
  assert.ok(!(await c.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } })).isError); // 0.60: revoked
  await changed;

  const cancelled = await long;
  assert.equal(cancelled.isError, true);
  assert.equal(cancelled._meta['tollgate/refusal'].reason, 'revoked');
  assert.match(h.text(cancelled), /revoked on budget acme\/agent/);
  assert.ok(Date.now() - started < 10000, 'cancelled long before the operation would finish');

  const during = await names();
  assert.deepEqual(during, ['get-sum'], 'only the critical tool is still listed');

  const refused = await c.callTool({ name: 'echo', arguments: { message: 'b' } });
  assert.equal(refused.isError, true);
  assert.deepEqual(refused._meta['tollgate/refusal'], { budget: 'acme/agent', reason: 'revoked', class: 'low',
    tool: 'echo', max_amount_micros: 0, retry_after_ms: null,
    next: { wait_until_ms: null, wait_ms: null, shrink_to_micros: null, approval: null } });
  assert.deepEqual(refused.structuredContent, { tollgate_refusal: refused._meta['tollgate/refusal'] });
  assert.match(h.text(refused), /budget acme\/agent, reason revoked/);
  const normal = await c.callTool({ name: 'get-env', arguments: {} });
  assert.equal(normal.isError, true);

  // Critical work goes on between threshold (0.50) and limit (1.00) ...
  assert.ok(!(await c.callTool({ name: 'get-sum', arguments: { a: 2, b: 2 } })).isError); // 0.80
  const emptied = h.nextListChanged(g);
  assert.ok(!(await c.callTool({ name: 'get-sum', arguments: { a: 3, b: 3 } })).isError); // 1.00
  await emptied;
  assert.deepEqual(await names(), []);
  // ... and never past it.
  const over = await c.callTool({ name: 'get-sum', arguments: { a: 4, b: 4 } });
  assert.equal(over.isError, true);
  const budget = () => ({
    spent_micros: h.sql(g.database, "select spent_micros from budgets where path = 'acme/agent'")[0].spent_micros,
    holds: h.sql(g.database, 'select count(*) as n from holds')[0].n,
  });
  assert.deepEqual(budget(), { spent_micros: 1000000, holds: 0 });

  // The server was told to cancel the long operation, and its result never came.
  const serverTap = h.readTap(path.join(dir, 'server.tap'));
  const call = serverTap.find((e) => e.dir === 'in' && e.line.includes('trigger-long-running-operation') && e.line.includes('tools/call'));
  const id = JSON.parse(call.line).id;
  const cancel = serverTap.map((e) => e.dir === 'in' && JSON.parse(e.line)).find((m) => m && m.method === 'notifications/cancelled');
  assert.equal(cancel.params.requestId, id);
  assert.ok(!serverTap.some((e) => e.dir === 'out' && JSON.parse(e.line).id === id && 'result' in JSON.parse(e.line)));
  const agentTap = h.readTap(path.join(dir, 'agent.tap'));
  assert.ok(agentTap.some((e) => e.dir === 'out' && e.line.includes('notifications/tools/list_changed')));

  // An administrator raises the limit: SIGHUP re-reads the config, the tools come back.
  fs.writeFileSync(g.configFile, config('3.00', '2.50'));
  const restored = h.nextListChanged(g);
  process.kill(g.transport.pid, 'SIGHUP'); // the tap passes it on to the gateway
  await restored;
  const after = await names();
  assert.ok(after.includes('echo') && after.includes('trigger-long-running-operation') && after.includes('get-env'));
  assert.ok(!(await c.callTool({ name: 'echo', arguments: { message: 'back' } })).isError);
  assert.deepEqual(budget(), { spent_micros: 1200000, holds: 0 });
  const kinds = h.sql(g.database, "select kind, class from events where kind in ('revoked', 'reinstated') and budget = 'acme/agent' order by id");
  assert.deepEqual(kinds.map((e) => `${e.kind}:${e.class}`),
    ['revoked:low', 'revoked:normal', 'revoked:high', 'revoked:critical',
      'reinstated:low', 'reinstated:normal', 'reinstated:high', 'reinstated:critical']);
  await c.close();
});
