// `tollgate mcp` relays MCP byte for byte: the official SDK client (the agent)
// drives server-everything and server-filesystem through the gateway, with a
// wiretap on each side of it; every message the agent sent must reach the server
// unchanged, and every message the server sent must reach the agent unchanged
// (nothing is withdrawn here, so not even tools/list is rewritten).
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./mcp_helpers.js');

const config = `
budgets:
  - {path: acme, limit: "100.00"}
  - {path: acme/agent, limit: "50.00"}
mcp:
  tools:
    "echo": {cost: "0.01", class: low}
    "*": {cost: "0.02"}
`;

function assertSameTraffic(dir) {
  const agent = h.readTap(path.join(dir, 'agent.tap'));
  const server = h.readTap(path.join(dir, 'server.tap'));
  const lines = (tap, dir) => tap.filter((e) => e.dir === dir).map((e) => e.line);
  // agent.tap 'in' = agent -> gateway; server.tap 'in' = gateway -> server.
  assert.deepEqual(lines(server, 'in'), lines(agent, 'in'), 'agent -> server relayed byte for byte');
  // server.tap 'out' = server -> gateway; agent.tap 'out' = gateway -> agent.
  assert.deepEqual(lines(agent, 'out'), lines(server, 'out'), 'server -> agent relayed byte for byte');
  return { agent, server };
}

test('server-everything: requests, notifications, progress, sampling, elicitation, roots, cancellation', async () => {
  const dir = h.tempDir('relay');
  const g = await h.startGateway({ dir, config, budget: 'acme/agent', server: h.servers.everything, taps: true,
    roots: [{ uri: 'file:///tmp', name: 'tmp' }] });
  const c = g.client;
  const tools = await c.listTools();
  assert.ok(tools.tools.some((t) => t.name === 'trigger-long-running-operation'));
  assert.equal(h.text(await c.callTool({ name: 'echo', arguments: { message: 'hello, ünïcode ✓' } })), 'Echo: hello, ünïcode ✓');
  assert.match(h.text(await c.callTool({ name: 'get-sum', arguments: { a: 2, b: 40 } })), /42/);
  const structured = await c.callTool({ name: 'get-structured-content', arguments: { location: 'New York' } });
  assert.ok(structured.structuredContent);
  const image = await c.callTool({ name: 'get-tiny-image', arguments: {} });
  assert.ok(image.content.some((x) => x.type === 'image'));
  const progress = [];
  const long = await c.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 0.6, steps: 3 } },
    undefined, { onprogress: (p) => progress.push(p.progress) });
  assert.match(h.text(long), /completed/);
  // all three notifications/progress are relayed (the tap comparison below proves it); the
  // SDK may settle the call before it runs the last progress callback
  assert.deepEqual(progress.slice(0, 2), [1, 2]);
  // server -> client requests relayed both ways
  assert.match(h.text(await c.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'hi', maxTokens: 5 } })),
    /sampled by the test agent/);
  assert.match(h.text(await c.callTool({ name: 'trigger-elicitation-request', arguments: {} })), /Ada/);
  assert.match(h.text(await c.callTool({ name: 'get-roots-list', arguments: {} })), /file:\/\/\/tmp/);
  // resources, prompts, completion, logging, ping
  const resources = await c.listResources();
  assert.ok(resources.resources.length > 0);
  const read = await c.readResource({ uri: resources.resources[0].uri });
  assert.ok(read.contents.length > 0);
  await c.subscribeResource({ uri: resources.resources[0].uri });
  const prompts = await c.listPrompts();
  assert.ok(prompts.prompts.some((p) => p.name === 'simple-prompt'));
  assert.ok((await c.getPrompt({ name: 'args-prompt', arguments: { city: 'Taipei' } })).messages.length > 0);
  await c.complete({ ref: { type: 'ref/prompt', name: 'completable-prompt' }, argument: { name: 'department', value: 'E' } });
  await c.setLoggingLevel('debug');
  await c.ping();
  // the agent cancels a call itself: relayed, the hold waits a grace, nothing charged
  const abort = new AbortController();
  const cancelled = c.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 5, steps: 5 } },
    undefined, { signal: abort.signal });
  // abort only once the server has the call, so the cancellation is the server's to handle
  await h.until(() => h.readTap(path.join(dir, 'server.tap')).some((e) => e.dir === 'in' &&
    JSON.parse(e.line).params?.arguments?.duration === 5), 10000, 'the call to reach the server');
  abort.abort('changed my mind');
  await assert.rejects(cancelled);
  await c.close();
  await h.until(() => g.closed, 10000, 'gateway exit');
  const { server } = assertSameTraffic(dir);
  const cancel = server.find((e) => e.dir === 'in' && e.line.includes('notifications/cancelled'));
  assert.ok(cancel, 'the agent\'s cancellation reached the server');
  // charges: one row per finished tools/call (the cancelled one is released, not charged)
  const charges = h.sql(g.database, 'select tool, cost_micros from charges order by id');
  assert.equal(charges.length, 8);
  assert.deepEqual(charges[0], { tool: 'echo', cost_micros: 10000 });
  assert.ok(charges.slice(1).every((row) => row.cost_micros === 20000));
  assert.deepEqual(h.sql(g.database, 'select count(*) as n from holds'), [{ n: 0 }]);
});

test('server-filesystem: files listed, read, written and searched through the gateway', async () => {
  const dir = h.tempDir('relay-fs');
  const files = fs.mkdtempSync(path.join(dir, 'files-'));
  fs.writeFileSync(path.join(files, 'ticket-1.txt'), 'refund requested\n');
  const g = await h.startGateway({ dir, config, budget: 'acme/agent', server: h.servers.filesystem(files), taps: true });
  const c = g.client;
  assert.ok((await c.listTools()).tools.some((t) => t.name === 'read_text_file'));
  assert.match(h.text(await c.callTool({ name: 'list_directory', arguments: { path: files } })), /ticket-1\.txt/);
  assert.equal(h.text(await c.callTool({ name: 'read_text_file', arguments: { path: path.join(files, 'ticket-1.txt') } })),
    'refund requested\n');
  await c.callTool({ name: 'write_file', arguments: { path: path.join(files, 'note.md'), content: 'line 1\nline 2 — ✓\n' } });
  assert.equal(fs.readFileSync(path.join(files, 'note.md'), 'utf8'), 'line 1\nline 2 — ✓\n');
  assert.match(h.text(await c.callTool({ name: 'search_files', arguments: { path: files, pattern: '*.md' } })), /note\.md/);
  const outside = await c.callTool({ name: 'read_text_file', arguments: { path: '/etc/passwd' } });
  assert.equal(outside.isError, true); // the server's own error result, relayed and charged
  await c.close();
  await h.until(() => g.closed, 10000, 'gateway exit');
  assertSameTraffic(dir);
  assert.deepEqual(h.sql(g.database, 'select count(*) as n, sum(cost_micros) as micros from charges'),
    [{ n: 5, micros: 100000 }]);
});
