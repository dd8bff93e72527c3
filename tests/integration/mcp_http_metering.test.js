// What `tollgate serve` charges for MCP over Streamable HTTP: one charge per
// finished tools/call at the configured price, on the daemon's own ledger (its
// SQLite file, through its group commit), nothing for calls that never ran; and
// the per-task call cap, where the task is the MCP session.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./mcp_http_helpers.js');

const config = (extra = '') => `
budgets:
  - {path: acme, limit: "100.00"}
  - {path: acme/agent, limit: "50.00"}
policy:
  default: normal
mcp:
  tools:
    "echo": {cost: "0.25", class: low}
    "get-sum": "1.50"
  servers:
${h.serverEntry('everything', h.servers.everything, 'acme/agent', extra)}
`;

test('fixed prices per call on the daemon ledger; failed protocol calls are not charged', async () => {
  const dir = h.tempDir('http-meter');
  const daemon = await h.startServe(dir, config());
  try {
    const a = await h.connect(daemon.base, 'everything');
    const c = a.client;
    for (let i = 0; i < 4; i++) {
      assert.equal(h.text(await c.callTool({ name: 'echo', arguments: { message: `m${i}` } })), `Echo: m${i}`);
    }
    assert.match(h.text(await c.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } })), /3/);
    const unknown = await c.callTool({ name: 'no-such-tool', arguments: {} }).catch((e) => e);
    assert.ok(unknown.isError || unknown instanceof Error);
    const rows = await h.until(() => {
      const r = h.sql(daemon.database, 'select tool, class, cost_micros, held_micros from charges order by id');
      return r.length >= 5 && r;
    }, 5000, 'charges on disk');
    // server-everything answers an unknown tool with an isError result: it "ran", at the price
    // of a tool no rule matches, which is nothing
    assert.ok(rows.slice(5).every((r) => r.cost_micros === 0));
    assert.deepEqual(rows.slice(0, 5), [
      ...[0, 1, 2, 3].map(() => ({ tool: 'echo', class: 'low', cost_micros: 250000, held_micros: 250000 })),
      { tool: 'get-sum', class: 'normal', cost_micros: 1500000, held_micros: 1500000 },
    ]);
    await h.until(() => h.sql(daemon.database, 'select count(*) as n from holds')[0].n === 0, 5000, 'holds gone');
    // the daemon's API sees the same spend
    const budget = await daemon.call('GET', '/v1/budgets/acme/agent');
    assert.equal(budget.status, 200);
    assert.equal(JSON.stringify(budget.json).includes('2500000'), true, JSON.stringify(budget.json));
    await c.close();
  } finally {
    await daemon.stop();
  }
});

test('calls_per_task caps granted calls per session; a new session starts afresh', async () => {
  const dir = h.tempDir('http-cap');
  const daemon = await h.startServe(dir, config('      calls_per_task: 3\n'));
  try {
    const a = await h.connect(daemon.base, 'everything');
    for (let i = 0; i < 3; i++) {
      assert.ok(!(await a.client.callTool({ name: 'echo', arguments: { message: `m${i}` } })).isError);
    }
    const capped = await a.client.callTool({ name: 'echo', arguments: { message: 'too many' } });
    assert.equal(capped.isError, true);
    assert.equal(capped._meta['tollgate/refusal'].reason, 'call_cap');
    const b = await h.connect(daemon.base, 'everything');
    assert.ok(!(await b.client.callTool({ name: 'echo', arguments: { message: 'fresh' } })).isError);
    await h.until(() => h.sql(daemon.database, 'select count(*) as n from charges')[0].n === 4, 5000, '4 charges');
    await a.client.close();
    await b.client.close();
  } finally {
    await daemon.stop();
  }
});
