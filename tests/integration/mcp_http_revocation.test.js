// Revocation as an agent on MCP over Streamable HTTP sees it (server-everything
// spawned by `tollgate serve`, the official SDK client on /mcp/everything):
// spend crosses the threshold, so low and normal tools disappear from tools/list
// with notifications/tools/list_changed (on the session's GET stream), the
// long-running operation in flight is cancelled (notifications/cancelled to the
// server, an isError result to the agent), critical tools go on up to the hard
// limit and never past it, and raising the limit (SIGHUP) lists the tools again.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./mcp_http_helpers.js');

const config = (dir, limit, revokeAt) => `
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
  servers:
${h.serverEntry('everything', h.servers.everything, 'acme/agent', '', path.join(dir, 'server.tap'))}
`;

test('threshold, in-flight cancel, withdrawn tools, critical to the limit, reinstatement', async () => {
  const dir = h.tempDir('http-revoke');
  const daemon = await h.startServe(dir, config(dir, '1.00', '0.50'));
  try {
    const a = await h.connect(daemon.base, 'everything');
    const c = a.client;
    await h.streamOpen(a);
    const names = async () => (await c.listTools()).tools.map((t) => t.name);
    const before = await names();
    assert.ok(before.includes('echo') && before.includes('get-sum') && before.includes('get-env'));

    let progressed = 0;
    const started = Date.now();
    const long = c.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 20, steps: 20 } },
      undefined, { onprogress: () => { progressed++; }, timeout: 60000 });
    await h.until(() => progressed > 0, 5000, 'first progress');

    assert.ok(!(await c.callTool({ name: 'echo', arguments: { message: 'a' } })).isError); // 0.20 (+0.05 held)
    assert.ok(!(await c.callTool({ name: 'get-sum', arguments: { a: 1, b: 1 } })).isError); // 0.40
    const changed = h.nextListChanged(a);
    assert.ok(!(await c.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } })).isError); // 0.60: revoked
    await changed;

    const cancelled = await long;
    assert.equal(cancelled.isError, true);
    assert.equal(cancelled._meta['tollgate/refusal'].reason, 'revoked');
    assert.ok(Date.now() - started < 10000, 'cancelled long before the operation would finish');

    assert.deepEqual(await names(), ['get-sum'], 'only the critical tool is still listed');
    const refused = await c.callTool({ name: 'echo', arguments: { message: 'b' } });
    assert.equal(refused.isError, true);
    assert.deepEqual(refused._meta['tollgate/refusal'], { budget: 'acme/agent', reason: 'revoked', class: 'low',
      tool: 'echo', max_amount_micros: 0, retry_after_ms: null,
      next: { wait_until_ms: null, wait_ms: null, shrink_to_micros: null, approval: null } });
    assert.deepEqual(refused.structuredContent, { tollgate_refusal: refused._meta['tollgate/refusal'] });
    assert.equal((await c.callTool({ name: 'get-env', arguments: {} })).isError, true);

    // critical work between threshold (0.50) and limit (1.00), never past it
    assert.ok(!(await c.callTool({ name: 'get-sum', arguments: { a: 2, b: 2 } })).isError); // 0.80
    const emptied = h.nextListChanged(a);
    assert.ok(!(await c.callTool({ name: 'get-sum', arguments: { a: 3, b: 3 } })).isError); // 1.00
    await emptied;
    assert.deepEqual(await names(), []);
    const over = await c.callTool({ name: 'get-sum', arguments: { a: 4, b: 4 } });
    assert.equal(over.isError, true);
    assert.equal(over._meta['tollgate/refusal'].reason, 'ceiling');
    const budget = () => ({
      spent_micros: h.sql(daemon.database, "select spent_micros from budgets where path = 'acme/agent'")[0].spent_micros,
      holds: h.sql(daemon.database, 'select count(*) as n from holds')[0].n,
    });
    await h.until(() => budget().spent_micros === 1000000 && budget().holds === 0, 5000, 'spend on disk');

    // the server was told to cancel the long operation
    const tap = h.readTap(path.join(dir, 'server.tap')).map((e) => ({ dir: e.dir, m: JSON.parse(e.line) }));
    const call = tap.find((e) => e.dir === 'in' && e.m.method === 'tools/call' && e.m.params.name === 'trigger-long-running-operation');
    const cancel = tap.find((e) => e.dir === 'in' && e.m.method === 'notifications/cancelled');
    assert.equal(cancel.m.params.requestId, call.m.id);

    // an administrator raises the limit: SIGHUP, and the tools come back
    fs.writeFileSync(daemon.configFile, fs.readFileSync(daemon.configFile, 'utf8')
      .replace('limit: "1.00", revoke_at: "0.50"', 'limit: "3.00", revoke_at: "2.50"'));
    const restored = h.nextListChanged(a);
    daemon.child.kill('SIGHUP');
    await restored;
    const after = await names();
    assert.ok(after.includes('echo') && after.includes('trigger-long-running-operation') && after.includes('get-env'));
    assert.ok(!(await c.callTool({ name: 'echo', arguments: { message: 'back' } })).isError);
    await h.until(() => budget().spent_micros === 1200000, 5000, 'charge after reinstatement');
    await c.close();
  } finally {
    await daemon.stop();
  }
});

test('two sessions on one budget: one agent\'s spend withdraws tools from the other and cancels its call', async () => {
  const dir = h.tempDir('http-revoke2');
  const daemon = await h.startServe(dir, config(dir, '1.00', '0.50'));
  try {
    const a = await h.connect(daemon.base, 'everything');
    const b = await h.connect(daemon.base, 'everything');
    await h.streamOpen(a);
    await h.streamOpen(b);
    assert.ok((await b.client.listTools()).tools.some((t) => t.name === 'echo'));
    let progressed = 0;
    const long = b.client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 20, steps: 20 } },
      undefined, { onprogress: () => { progressed++; }, timeout: 60000 });
    await h.until(() => progressed > 0, 5000, 'first progress');
    const changed = h.nextListChanged(b);
    for (const x of [1, 2, 3]) {
      assert.ok(!(await a.client.callTool({ name: 'get-sum', arguments: { a: x, b: x } })).isError); // 0.60: revoked
    }
    await changed;
    const cancelled = await long;
    assert.equal(cancelled.isError, true);
    assert.equal(cancelled._meta['tollgate/refusal'].reason, 'revoked');
    assert.deepEqual((await b.client.listTools()).tools.map((t) => t.name), ['get-sum']);
    await a.client.close();
    await b.client.close();
  } finally {
    await daemon.stop();
  }
});
