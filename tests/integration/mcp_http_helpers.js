// Shared by the mcp_http_* tests: starts `tollgate serve` with an `mcp:` section
// whose servers are spawned per session, and connects the official MCP SDK
// client to /mcp/{name} with StreamableHTTPClientTransport. The client's
// transport is wrapped so that a test sees every message the agent sent and
// received (as the SDK parsed them); a wiretap (mcp_tap.js) on the server side
// logs the bytes the daemon relayed to and from the spawned server.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { Client } = require('@modelcontextprotocol/sdk/client/index.js');
const { StreamableHTTPClientTransport } = require('@modelcontextprotocol/sdk/client/streamableHttp.js');
const d = require('./daemon_helpers.js');
const m = require('./mcp_helpers.js');

const ADMIN = 'admin-secret';

// The YAML of one mcp.servers entry running argv (a tap in front when tapFile is set).
function serverEntry(name, argv, budget, extra = '', tapFile) {
  const command = tapFile ? ['node', path.join(__dirname, 'mcp_tap.js'), tapFile, '--', ...argv] : argv;
  return `    - name: ${name}\n      budget: ${budget}\n      command: ${JSON.stringify(command)}\n${extra}`;
}

// Starts the daemon with config text (written to dir/tollgate.yaml, SQLite in dir).
async function startServe(dir, config) {
  const configFile = path.join(dir, 'tollgate.yaml');
  const database = path.join(dir, 'tollgate.db');
  fs.writeFileSync(configFile, `port: 0\nstore: {kind: sqlite, path: ${database}}\n${config}`);
  const daemon = await d.startDaemon(configFile, { admin: ADMIN });
  return { ...daemon, configFile, database };
}

// Connects an SDK client to base/mcp/name. Returns {client, transport, sent, received, listChanged,
// streams}: streams counts the GET streams the daemon answered 200 (its headers are sent in the
// same step that makes the stream the session's, so a 200 here means the daemon holds it).
async function connect(base, name, { key = ADMIN, roots = [] } = {}) {
  const agent = { sent: [], received: [], listChanged: 0, errors: [], onListChanged: null, streams: 0 };
  const watched = async (url, init) => {
    const response = await fetch(url, init);
    if ((init?.method ?? 'GET') === 'GET' && response.ok) agent.streams++;
    return response;
  };
  const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp/${name}`), {
    requestInit: { headers: { Authorization: `Bearer ${key}` } }, fetch: watched,
  });
  agent.transport = transport;
  const send = transport.send.bind(transport);
  transport.send = (message, options) => { agent.sent.push(message); return send(message, options); };
  // Whatever handler the SDK installs is wrapped once, so each message is seen once.
  let handler;
  Object.defineProperty(transport, 'onmessage', {
    configurable: true,
    get: () => handler,
    set: (fn) => { handler = fn && ((message, extra) => { agent.received.push(message); fn(message, extra); }); },
  });
  const client = new Client({ name: 'tollgate-http-test-agent', version: '1.0.0' }, {
    capabilities: { sampling: {}, elicitation: { form: {} }, roots: { listChanged: true } },
  });
  client.onerror = (e) => agent.errors.push(e);
  client.setRequestHandler(m.types.CreateMessageRequestSchema, async () => ({
    model: 'test-model', role: 'assistant', content: { type: 'text', text: 'sampled by the test agent' },
  }));
  client.setRequestHandler(m.types.ElicitRequestSchema, async () => ({ action: 'accept', content: { name: 'Ada' } }));
  client.setRequestHandler(m.types.ListRootsRequestSchema, async () => ({ roots }));
  client.setNotificationHandler(m.types.ToolListChangedNotificationSchema, async () => {
    agent.listChanged++;
    if (agent.onListChanged) agent.onListChanged();
  });
  await client.connect(transport);
  agent.client = client;
  return agent;
}

// Resolves at the agent's next notifications/tools/list_changed.
function nextListChanged(agent, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no tools/list_changed')), ms);
    agent.onListChanged = () => { clearTimeout(timer); agent.onListChanged = null; resolve(); };
  });
}

// Waits until the agent's GET stream is open (the SDK opens it after initialized): the
// daemon answered its GET with 200, so messages for the stream now reach the agent.
async function streamOpen(agent) {
  await m.until(() => agent.streams > 0, 10000, 'the GET stream open');
}

module.exports = { ...m, ADMIN, serverEntry, startServe, connect, nextListChanged, streamOpen, sha: d.sha };
