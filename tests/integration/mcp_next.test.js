// What an agent refused by the MCP gateway can do next (issue 18, "resumable work"), read
// through the official SDK client, over stdio (`tollgate mcp`) and Streamable HTTP
// (`tollgate serve`): the tool error result carries the same `next` object as the JSON
// API's 402 and the proxy's refusals, in _meta["tollgate/refusal"] and, where the MCP spec
// allows it, in structuredContent. A tool that declares an outputSchema gets no
// structuredContent in its refusal: the SDK validates it against that schema, even on an
// error, and would throw instead of showing the agent the refusal.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./mcp_http_helpers.js');

const tools = `policy:
  default: normal
mcp:
  call_timeout_ms: 30000
  tools:
    "slow": "0.60"
    "priced": "0.50"
    "typed": "0.50"
    "echo": "0.40"
`;
const budgets = 'budgets:\n  - {path: acme, limit: "1.00"}\n';

// `slow` holds 0.60 of 1.00 while it runs; `priced` (0.50) is then refused, told it could
// wait for the hold to go or shrink to 0.40 now.
async function refusedWhileHeld(client, database, label) {
  const running = client.callTool({ name: 'slow', arguments: { ms: 1500 } }, undefined, { timeout: 60000 });
  await h.until(() => h.sql(database, 'select count(*) as n from holds')[0].n === 1, 10000, `${label}: slow held`);
  const before = Date.now();
  const refused = await client.callTool({ name: 'priced', arguments: {} });
  assert.equal(refused.isError, true, label);
  const facts = refused._meta['tollgate/refusal'];
  assert.equal(facts.reason, 'ceiling', label);
  assert.equal(facts.max_amount_micros, 400000, label);
  const next = facts.next;
  assert.deepEqual(Object.keys(next).sort(), ['approval', 'shrink_to_micros', 'wait_ms', 'wait_until_ms'], label);
  assert.equal(next.shrink_to_micros, 400000, label);
  assert.equal(next.approval, null, label);
  assert.equal(next.wait_ms, facts.retry_after_ms, label);
  // the hold lives call_timeout_ms + 60 s: the wait ends then, give or take the test's own time
  assert.ok(next.wait_ms > 60000 && next.wait_ms <= 90000, `${label}: ${next.wait_ms}`);
  assert.ok(Math.abs(next.wait_until_ms - (before + next.wait_ms)) < 10000, label);
  assert.deepEqual(refused.structuredContent, { tollgate_refusal: facts }, label);
  // shrinking works: a 0.40 call passes now
  assert.ok(!(await client.callTool({ name: 'echo', arguments: { message: 'x' } })).isError, label);
  // a tool with an outputSchema: refused without structuredContent, and the SDK does not throw
  const typed = await client.callTool({ name: 'typed', arguments: {} });
  assert.equal(typed.isError, true, label);
  assert.equal(typed.structuredContent, undefined, label);
  assert.equal(typed._meta['tollgate/refusal'].next.shrink_to_micros, null, `${label}: nothing left to shrink to`);
  // the gateway's own stops carry the same object: a tool the server does not list is
  // refused with nothing to wait for or shrink to (only calling a listed tool helps)
  const unlisted = await client.callTool({ name: 'no_such_tool', arguments: {} });
  assert.equal(unlisted.isError, true, label);
  const stop = unlisted._meta['tollgate/refusal'];
  assert.equal(stop.reason, 'unlisted', label);
  assert.deepEqual(stop.next, { wait_until_ms: null, wait_ms: null, shrink_to_micros: null, approval: null }, label);
  assert.equal(h.text(await running), 'done', label);
}

test('stdio: a refusal carries next in _meta and structuredContent', async () => {
  const dir = h.tempDir('mcp-next');
  const g = await h.startGateway({ dir, config: budgets + tools, budget: 'acme', server: h.servers.fixture });
  try {
    await g.client.listTools();
    await refusedWhileHeld(g.client, g.database, 'stdio');
  } finally {
    await g.client.close();
  }
});

test('HTTP: the same refusal over Streamable HTTP', async () => {
  const dir = h.tempDir('mcp-http-next');
  const daemon = await h.startServe(dir, `${budgets}${tools}  servers:\n${h.serverEntry('fixture', h.servers.fixture, 'acme')}\n`);
  try {
    const a = await h.connect(daemon.base, 'fixture');
    await a.client.listTools();
    await refusedWhileHeld(a.client, daemon.database, 'http');
    await a.client.close();
  } finally {
    await daemon.stop();
  }
});
