// What `tollgate mcp` charges: one charge per finished tools/call at the configured
// price, the cost a result reports in _meta.cost_micros (with the price as the
// hold), nothing for calls that never ran, and the per-task call cap, counted per
// session or kept in the ledger with --task. Read from the gateway's SQLite file.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./mcp_helpers.js');

const budgets = `
budgets:
  - {path: acme, limit: "100.00"}
  - {path: acme/agent, limit: "50.00"}
policy:
  default: normal
  rules:
    - {tool: "write_*", class: high}
`;

test('fixed prices per call; refused and failed calls are not charged', async () => {
  const dir = h.tempDir('meter');
  const g = await h.startGateway({ dir, budget: 'acme/agent', server: h.servers.everything, config: budgets + `
mcp:
  tools:
    "echo": {cost: "0.25", class: low}
    "get-sum": "1.50"
`});
  for (let i = 0; i < 4; i++) {
    assert.equal(h.text(await g.client.callTool({ name: 'echo', arguments: { message: `m${i}` } })), `Echo: m${i}`);
  }
  await g.client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } });
  // a call the server rejects as a protocol error ran nothing: the hold is released
  const unknown = await g.client.callTool({ name: 'no-such-tool', arguments: {} }).catch((e) => e);
  const bad = await g.client.callTool({ name: 'get-sum', arguments: { a: 'x' } }).catch((e) => e);
  assert.ok(unknown.isError || unknown instanceof Error);
  assert.ok(bad.isError || bad instanceof Error);
  const rows = h.sql(g.database, "select tool, class, cost_micros, held_micros from charges order by id");
  assert.deepEqual(rows.slice(0, 5), [
    ...Array(4).fill({ tool: 'echo', class: 'low', cost_micros: 250000, held_micros: 250000 }),
    { tool: 'get-sum', class: 'normal', cost_micros: 1500000, held_micros: 1500000 },
  ]);
  const spent = h.sql(g.database, "select spent_micros from budgets where path = 'acme/agent'")[0].spent_micros;
  assert.equal(spent, rows.reduce((sum, row) => sum + row.cost_micros, 0));
  assert.deepEqual(h.sql(g.database, 'select count(*) as n from holds'), [{ n: 0 }]);
  await g.client.close();
});

test('charge: result takes _meta.cost_micros, holding the configured cost', async () => {
  const dir = h.tempDir('meter-result');
  const g = await h.startGateway({ dir, budget: 'acme/agent', server: h.servers.fixture, config: budgets + `
mcp:
  tools:
    "priced": {cost: "1.00", charge: result, class: normal}
    "fail": "0.10"
`});
  const call = (args) => g.client.callTool({ name: 'priced', arguments: args });
  assert.equal(h.text(await call({ cost: 370000 })), 'cost 370000');
  await call({});               // no report: the configured cost
  await call({ cost: 1500000 }); // more than the hold: charged all the same (an overrun)
  const failed = await g.client.callTool({ name: 'fail', arguments: {} });
  assert.equal(failed.isError, true); // the tool ran and said it failed: charged
  assert.deepEqual(h.sql(g.database, 'select tool, cost_micros, held_micros from charges order by id'), [
    { tool: 'priced', cost_micros: 370000, held_micros: 1000000 },
    { tool: 'priced', cost_micros: 1000000, held_micros: 1000000 },
    { tool: 'priced', cost_micros: 1500000, held_micros: 1000000 },
    { tool: 'fail', cost_micros: 100000, held_micros: 100000 },
  ]);
  assert.equal(h.sql(g.database, "select count(*) as n from events where kind = 'overrun'")[0].n, 1);
  await g.client.close();
});

test('server-filesystem: reads and writes priced by glob, classes from the policy', async () => {
  const dir = h.tempDir('meter-fs');
  const files = fs.mkdtempSync(path.join(dir, 'files-'));
  const g = await h.startGateway({ dir, budget: 'acme/agent', server: h.servers.filesystem(files), config: budgets + `
mcp:
  tools:
    "read_*": {cost: "0.01", class: low}
    "write_*": "0.10"
`});
  await g.client.callTool({ name: 'write_file', arguments: { path: path.join(files, 'a.txt'), content: 'x' } });
  await g.client.callTool({ name: 'read_text_file', arguments: { path: path.join(files, 'a.txt') } });
  await g.client.callTool({ name: 'list_directory', arguments: { path: files } }); // no rule: free
  assert.deepEqual(h.sql(g.database, 'select tool, class, cost_micros from charges order by id'), [
    { tool: 'write_file', class: 'high', cost_micros: 100000 },
    { tool: 'read_text_file', class: 'low', cost_micros: 10000 },
    { tool: 'list_directory', class: 'normal', cost_micros: 0 },
  ]);
  await g.client.close();
});

test('calls_per_task: the session stops at the cap; with --task the ledger keeps the count', async () => {
  const dir = h.tempDir('meter-cap');
  const config = budgets + `
mcp:
  calls_per_task: 3
  tools:
    "echo": "0.01"
`;
  const g = await h.startGateway({ dir, config, budget: 'acme/agent', server: h.servers.everything });
  for (let i = 0; i < 3; i++) {
    assert.ok(!(await g.client.callTool({ name: 'echo', arguments: { message: 'x' } })).isError);
  }
  const capped = await g.client.callTool({ name: 'echo', arguments: { message: 'x' } });
  assert.equal(capped.isError, true);
  assert.match(h.text(capped), /cap of 3 tool calls/);
  assert.equal(capped._meta['tollgate/refusal'].reason, 'call_cap');
  await g.client.close();
  await h.until(() => g.closed, 10000, 'gateway exit');

  // --task: the cap is the calls limit of acme/agent/task-91, which survives the gateway
  const first = await h.startGateway({ dir, config, budget: 'acme/agent', task: 'task-91', server: h.servers.everything });
  for (let i = 0; i < 2; i++) await first.client.callTool({ name: 'echo', arguments: { message: 'x' } });
  await first.client.close();
  await h.until(() => first.closed, 10000, 'gateway exit');
  const second = await h.startGateway({ dir, config, budget: 'acme/agent', task: 'task-91', server: h.servers.everything });
  assert.ok(!(await second.client.callTool({ name: 'echo', arguments: { message: 'x' } })).isError);
  const refused = await second.client.callTool({ name: 'echo', arguments: { message: 'x' } });
  assert.equal(refused.isError, true);
  assert.equal(refused._meta['tollgate/refusal'].reason, 'calls');
  assert.equal(refused._meta['tollgate/refusal'].budget, 'acme/agent/task-91');
  await second.client.close();
  assert.deepEqual(h.sql(second.database, "select calls_limit, calls_used from budgets where path = 'acme/agent/task-91'"),
    [{ calls_limit: 3, calls_used: 3 }]);
});
