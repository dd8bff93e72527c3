// When the MCP server behind a `tollgate serve` session crashes, hangs or cannot
// start: the agent gets error results rather than silence, holds are released,
// what was charged before stays charged, and a crashed session is gone (404, so
// the client initializes a new one with a new server). The server is the SDK
// fixture (mcp_fixture_server.mjs); the agent is the official SDK client.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./mcp_http_helpers.js');

const config = (timeout, command = h.servers.fixture) => `
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
  servers:
${h.serverEntry('fixture', command, 'acme/agent')}
`;

const holds = (daemon) => h.sql(daemon.database, 'select count(*) as n from holds')[0].n;

test('the server crashes: waiting calls get errors, holds released, charges kept, session gone', async () => {
  const dir = h.tempDir('http-crash');
  const daemon = await h.startServe(dir, config(30000));
  try {
    const a = await h.connect(daemon.base, 'fixture');
    const c = a.client;
    assert.ok(!(await c.callTool({ name: 'echo', arguments: { message: 'before' } })).isError);
    const slow = c.callTool({ name: 'slow', arguments: { ms: 20000 } });
    await h.until(() => holds(daemon) === 1, 5000, 'slow call held on disk');
    const crash = await c.callTool({ name: 'crash', arguments: {} });
    assert.equal(crash.isError, true);
    assert.equal(crash._meta['tollgate/refusal'].reason, 'server_exited');
    const other = await slow;
    assert.equal(other.isError, true);
    assert.match(h.text(other), /exited before answering the call to tool 'slow'/);
    await h.until(() => holds(daemon) === 0, 5000, 'holds released on disk');
    assert.deepEqual(h.sql(daemon.database, 'select tool, cost_micros from charges'), [{ tool: 'echo', cost_micros: 100000 }]);
    await h.until(() => /MCP server closed its output or exited/.test(daemon.stderr()), 5000, 'the exit on stderr');
    // the session ended with its server: 404, and a new session gets a new server
    await assert.rejects(c.callTool({ name: 'echo', arguments: { message: 'after' } }), /404|Not Found|session/i);
    const b = await h.connect(daemon.base, 'fixture');
    assert.ok(!(await b.client.callTool({ name: 'echo', arguments: { message: 'again' } })).isError);
    await b.client.close();
  } finally {
    await daemon.stop();
  }
});

test('the server hangs: the call times out, is cancelled, the session goes on', async () => {
  const dir = h.tempDir('http-hang');
  const daemon = await h.startServe(dir, config(400));
  try {
    const a = await h.connect(daemon.base, 'fixture');
    const started = Date.now();
    const hung = await a.client.callTool({ name: 'hang', arguments: {} });
    const waited = Date.now() - started;
    assert.equal(hung.isError, true);
    assert.equal(hung._meta['tollgate/refusal'].reason, 'timeout');
    assert.ok(waited >= 400 && waited < 5000, `answered after ${waited} ms`);
    assert.ok(!(await a.client.callTool({ name: 'echo', arguments: { message: 'still here' } })).isError);
    await h.until(() => holds(daemon) === 0 && h.sql(daemon.database, 'select count(*) as n from charges')[0].n === 1,
      5000, 'hold released, echo charged');
    await a.client.close();
  } finally {
    await daemon.stop();
  }
});

test('the server cannot start: initialize is answered 503 with a JSON-RPC error', async () => {
  const dir = h.tempDir('http-nostart');
  const daemon = await h.startServe(dir, config(1000, ['/nonexistent/mcp-server']));
  try {
    await assert.rejects(h.connect(daemon.base, 'fixture'), /503|could not start/);
    // the daemon's stderr is a pipe: its line may land a moment after the reply
    await h.until(() => /cannot start the MCP server '\/nonexistent\/mcp-server'/.test(daemon.stderr()), 5000, 'the reason on stderr');
  } finally {
    await daemon.stop();
  }
});

test('a bad mcp: section stops the daemon at start with a sentence', async () => {
  const cases = [
    ['  servers:\n    - {name: "a b", budget: acme/agent, command: [x]}\n', /name must be/],
    ['  servers:\n    - {name: x, budget: acme/agent}\n', /command must be a list/],
    ['  servers:\n    - {name: x, budget: acme/agent, command: [x], price: 1}\n', /unknown mcp field 'price'/],
    ['  sessions_max: 0\n  servers: []\n', /sessions_max must be a whole number in 1\.\.4096/],
    ['  servers:\n    - {name: x, budget: acme/agent, command: [x]}\n    - {name: x, budget: acme/agent, command: [y]}\n', /named twice/],
  ];
  for (const [section, message] of cases) {
    const dir = h.tempDir('http-badconfig');
    await assert.rejects(h.startServe(dir, `budgets:\n  - {path: acme, limit: "1.00"}\nmcp:\n${section}`), message);
  }
  // bytes that are not UTF-8: refused before libfyaml sees them
  const dir = h.tempDir('http-badutf8');
  const file = require('node:path').join(dir, 'bad.yaml');
  require('node:fs').writeFileSync(file, Buffer.concat([Buffer.from('port: 0\nmcp:\n  servers: []\n# '), Buffer.from([0xff, 0xfe, 0x0a])]));
  const run = require('node:child_process').spawnSync(h.binary, ['serve', '--config', file], { encoding: 'utf8', timeout: 10000 });
  assert.notEqual(run.status, 0);
  assert.match(run.stderr, /not UTF-8/);
});

test('SIGTERM with sessions open: holds released, children stopped, exit 0', async () => {
  const dir = h.tempDir('http-stop');
  const daemon = await h.startServe(dir, config(30000));
  const a = await h.connect(daemon.base, 'fixture');
  assert.ok(!(await a.client.callTool({ name: 'echo', arguments: { message: 'x' } })).isError);
  const slow = a.client.callTool({ name: 'slow', arguments: { ms: 20000 } }).catch((e) => e);
  await h.until(() => holds(daemon) === 1, 5000, 'slow call held on disk');
  const pid = Number(daemon.stderr().match(/\(pid (\d+)\)/)[1]);
  assert.equal(await daemon.stop('SIGTERM'), 0);
  await slow;
  assert.equal(holds(daemon), 0, 'the open call\'s hold was released before the last commit');
  assert.deepEqual(h.sql(daemon.database, 'select tool from charges'), [{ tool: 'echo' }]);
  assert.throws(() => process.kill(pid, 0), /ESRCH/, 'the session\'s server was stopped');
});

test('a session nobody uses for session_idle_ms ends (404 after)', async () => {
  const dir = h.tempDir('http-idle');
  const daemon = await h.startServe(dir, config(30000).replace('  servers:', '  session_idle_ms: 1000\n  servers:'));
  try {
    const url = `${daemon.base}/mcp/fixture`;
    const headers = { Authorization: `Bearer ${h.ADMIN}`, Accept: 'application/json, text/event-stream' };
    let r = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }) });
    assert.equal(r.status, 200);
    const session = r.headers.get('mcp-session-id');
    await h.until(() => /idle past mcp.session_idle_ms/.test(daemon.stderr()), 5000, 'idle end');
    r = await fetch(url, { method: 'POST', headers: { ...headers, 'Mcp-Session-Id': session },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }) });
    assert.equal(r.status, 404);
  } finally {
    await daemon.stop();
  }
});
