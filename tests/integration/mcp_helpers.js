// Shared by the mcp_* tests: starts `tollgate mcp` between the official MCP SDK
// client and a real MCP server, optionally with wiretaps (mcp_tap.js) on both
// sides, and reads the gateway's SQLite ledger with the sqlite3 command.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Client } = require('@modelcontextprotocol/sdk/client/index.js');
const { StdioClientTransport } = require('@modelcontextprotocol/sdk/client/stdio.js');
const types = require('@modelcontextprotocol/sdk/types.js');

const source = process.env.TG_SOURCE_DIR || path.resolve(__dirname, '../..');
const binary = process.env.TG_BINARY || path.join(source, 'build/tollgate');
const modules = path.join(source, 'node_modules/@modelcontextprotocol');
const servers = {
  everything: ['node', path.join(modules, 'server-everything/dist/index.js'), 'stdio'],
  filesystem: (dir) => ['node', path.join(modules, 'server-filesystem/dist/index.js'), dir],
  fixture: ['node', path.join(__dirname, 'mcp_fixture_server.mjs')],
};

function tempDir(name) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `tollgate-${name}-`));
}

// Starts a gateway. options: dir, config (YAML text), budget, server (argv), task,
// taps (true: log both sides into dir/agent.tap and dir/server.tap), noDashes (the
// server's command without a `--` before it), client options.
async function startGateway(options) {
  const configFile = path.join(options.dir, 'tollgate.yaml');
  fs.writeFileSync(configFile, options.config);
  const database = path.join(options.dir, 'ledger.db');
  let server = options.server;
  if (options.taps) server = ['node', path.join(__dirname, 'mcp_tap.js'), path.join(options.dir, 'server.tap'), '--', ...server];
  let command = [binary, 'mcp', '--budget', options.budget, '--config', configFile, '--database', database];
  if (options.task) command.push('--task', options.task);
  command = options.noDashes ? [...command, ...server] : [...command, '--', ...server];
  if (options.taps) command = ['node', path.join(__dirname, 'mcp_tap.js'), path.join(options.dir, 'agent.tap'), '--', ...command];
  const transport = new StdioClientTransport({ command: command[0], args: command.slice(1), stderr: 'pipe' });
  const gateway = { transport, configFile, database, stderr: '', listChanged: 0, closed: false };
  transport.stderr.on('data', (chunk) => { gateway.stderr += chunk; if (process.env.TG_MCP_VERBOSE) process.stderr.write(chunk); });
  transport.onclose = () => { gateway.closed = true; };
  const client = new Client({ name: 'tollgate-test-agent', version: '1.0.0' }, {
    capabilities: { sampling: {}, elicitation: { form: {} }, roots: { listChanged: true } },
  });
  client.setRequestHandler(types.CreateMessageRequestSchema, async () => ({
    model: 'test-model', role: 'assistant', content: { type: 'text', text: 'sampled by the test agent' },
  }));
  client.setRequestHandler(types.ElicitRequestSchema, async () => ({ action: 'accept', content: { name: 'Ada' } }));
  client.setRequestHandler(types.ListRootsRequestSchema, async () => ({ roots: options.roots || [] }));
  client.setNotificationHandler(types.ToolListChangedNotificationSchema, async () => {
    gateway.listChanged++;
    if (gateway.onListChanged) gateway.onListChanged();
  });
  gateway.client = client;
  await client.connect(transport);
  return gateway;
}

// Resolves at the next notifications/tools/list_changed (or rejects after ms).
function nextListChanged(gateway, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no tools/list_changed')), ms);
    gateway.onListChanged = () => { clearTimeout(timer); gateway.onListChanged = null; resolve(); };
  });
}

function sql(database, query) {
  const out = execFileSync('sqlite3', ['-json', database, query], { encoding: 'utf8' });
  return out.trim() === '' ? [] : JSON.parse(out);
}

function readTap(file) {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

// Waits until fn() is truthy (polling), or fails after ms.
async function until(fn, ms = 5000, what = 'condition') {
  const end = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const text = (result) => result.content.map((c) => c.text || '').join('');

module.exports = { binary, servers, tempDir, startGateway, nextListChanged, sql, readTap, until, text, types };
