#!/usr/bin/env node
// bench/mcp.js: the latency Tollgate adds to a tools/call, over stdio (`tollgate mcp`)
// and over Streamable HTTP (`tollgate serve` at /mcp/{name}, which spawns the server
// per session). A raw JSON-RPC client (no SDK: its own overhead would blur the figure)
// sends sequential tools/call "echo" requests to server-everything, first directly,
// then through Tollgate with a strict (fsync) and a relaxed ledger, and prints p50/p99
// of each and what Tollgate adds. Over HTTP the direct figure is server-everything's own
// Streamable HTTP transport (the SDK's, on express), on one keep-alive connection; what
// Tollgate adds is given against the server over stdio (what `tollgate serve` runs).
// Usage: node bench/mcp.js [--calls N] [--rounds R] [--binary build/tollgate] [--only stdio|http]
'use strict';
const { spawn } = require('node:child_process');
const http = require('node:http');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const args = process.argv.slice(2);
const usage = `usage: node bench/mcp.js [--calls 5000] [--rounds 5] [--binary build/tollgate] [--only stdio|http]
Sequential tools/call "echo" to server-everything, directly and through Tollgate (relaxed and
strict ledger), over stdio and Streamable HTTP; prints p50/p99 and what Tollgate adds.
Figures and method: docs/benchmarks-mcp.md.`;
if (args.includes('--help') || args.includes('-h')) { console.log(usage); process.exit(0); }
for (let i = 0; i < args.length; i += 2) {
  if (!['--calls', '--rounds', '--binary', '--only'].includes(args[i]) || args[i + 1] === undefined) {
    console.error(`unknown or incomplete argument ${args[i]}\n${usage}`);
    process.exit(2);
  }
}
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const calls = Number(option('--calls', 5000));
const warmup = Math.min(500, calls);
const root = path.resolve(__dirname, '..');
const binary = path.resolve(option('--binary', path.join(root, 'build/tollgate')));
const server = ['node', path.join(root, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js'), 'stdio'];

function session(command) {
  const child = spawn(command[0], command.slice(1), { stdio: ['pipe', 'pipe', 'ignore'] });
  let buffer = '';
  const waiting = new Map();
  child.stdout.on('data', (chunk) => {
    buffer += chunk;
    let newline;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const message = JSON.parse(buffer.slice(0, newline));
      buffer = buffer.slice(newline + 1);
      const resolve = waiting.get(message.id);
      if (resolve) { waiting.delete(message.id); resolve(message); }
    }
  });
  let next = 0;
  const request = (method, params) => new Promise((resolve) => {
    const id = next++;
    waiting.set(id, resolve);
    child.stdin.write(JSON.stringify({ jsonrpc: '2.0', id, method, params }) + '\n');
  });
  const notify = (method) => child.stdin.write(JSON.stringify({ jsonrpc: '2.0', method }) + '\n');
  const close = () => new Promise((resolve) => { child.on('exit', resolve); child.stdin.end(); });
  return { request, notify, close };
}

// A Streamable HTTP client: one POST per message on a keep-alive connection; a reply is
// application/json or an SSE stream whose `data:` line with the request's id is the answer.
function httpSession(url, headers = {}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let sessionId = null;
  let next = 0;
  const post = (body) => new Promise((resolve, reject) => {
    const h = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...headers };
    if (sessionId) h['Mcp-Session-Id'] = sessionId;
    const req = http.request(url, { method: 'POST', agent, headers: h }, (res) => {
      if (res.headers['mcp-session-id']) sessionId = res.headers['mcp-session-id'];
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'] || '', text }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
  const request = async (method, params) => {
    const id = next++;
    const reply = await post({ jsonrpc: '2.0', id, method, params });
    const lines = reply.type.startsWith('text/event-stream')
      ? reply.text.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim())
      : [reply.text];
    const answer = lines.map((l) => JSON.parse(l)).find((m) => m.id === id);
    if (!answer) throw new Error(`no answer over HTTP (${reply.status}): ${reply.text}`);
    return answer;
  };
  const notify = (method) => post({ jsonrpc: '2.0', method });
  const close = async () => {
    await new Promise((resolve) => {
      const h = { ...headers, 'Mcp-Session-Id': sessionId };
      http.request(url, { method: 'DELETE', agent, headers: h }, (res) => { res.resume(); res.on('end', resolve); }).end();
    });
    agent.destroy();
  };
  return { request, notify, close };
}

async function measure(label, command) {
  const s = typeof command === 'function' ? await command() : session(command);
  await s.request('initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '1' } });
  await s.notify('notifications/initialized');
  const samples = [];
  for (let i = 0; i < warmup + calls; i++) {
    const start = process.hrtime.bigint();
    const answer = await s.request('tools/call', { name: 'echo', arguments: { message: `call ${i}` } });
    const us = Number(process.hrtime.bigint() - start) / 1000;
    if (!answer.result || answer.result.isError) throw new Error(`${label}: ${JSON.stringify(answer)}`);
    if (i >= warmup) samples.push(us);
  }
  await s.close();
  samples.sort((a, b) => a - b);
  const at = (q) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))];
  return { label, p50: at(0.5), p99: at(0.99) };
}

function gateway(dir, durability) {
  const config = path.join(dir, `${durability}.yaml`);
  fs.writeFileSync(config, `budgets:
  - {path: bench, limit: "1000000.00"}
mcp:
  durability: ${durability}
  tools:
    "echo": {cost: "0.000100", class: low}
`);
  return [binary, 'mcp', '--budget', 'bench', '--config', config, '--database', path.join(dir, `${durability}.db`), '--', ...server];
}

// A daemon (strict or relaxed) serving server-everything at /mcp/bench; resolves to its URL.
function startServe(dir, durability) {
  const config = path.join(dir, `serve-${durability}.yaml`);
  fs.writeFileSync(config, `port: 0
store: {kind: sqlite, path: ${path.join(dir, `serve-${durability}.db`)}, durability: ${durability}}
budgets:
  - {path: bench, limit: "1000000.00"}
mcp:
  tools:
    "echo": {cost: "0.000100", class: low}
  servers:
    - {name: bench, budget: bench, command: ${JSON.stringify(server)}}
`);
  const child = spawn(binary, ['serve', '--config', config], {
    env: { ...process.env, TOLLGATE_ADMIN_KEY: 'bench-key' }, stdio: ['ignore', 'pipe', 'ignore'] });
  return new Promise((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (c) => { text += c; const m = text.match(/listening on (http:\S+)/); if (m) resolve({ child, url: `${m[1]}/mcp/bench` }); });
    child.on('exit', () => reject(new Error('tollgate serve exited')));
  });
}

// server-everything's own Streamable HTTP transport on a free port.
async function startDirectHttp() {
  const port = await new Promise((resolve) => {
    const probe = http.createServer().listen(0, '127.0.0.1', () => { const p = probe.address().port; probe.close(() => resolve(p)); });
  });
  const child = spawn(server[0], [server[1], 'streamableHttp'], { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise((resolve) => child.stderr.on('data', (c) => { if (/listening/.test(String(c))) resolve(); }));
  return { child, url: `http://127.0.0.1:${port}/mcp` };
}

async function httpSetups(dir) {
  const direct = await startDirectHttp();
  const relaxed = await startServe(dir, 'relaxed');
  const strict = await startServe(dir, 'strict');
  const auth = { Authorization: 'Bearer bench-key' };
  return {
    setups: [
      ['direct (server-everything over stdio)', server],
      ['direct (server-everything, Streamable HTTP)', () => httpSession(direct.url)],
      ['through tollgate serve /mcp, relaxed ledger', () => httpSession(relaxed.url, auth)],
      ['through tollgate serve /mcp, strict ledger', () => httpSession(strict.url, auth)],
    ],
    stop: () => [direct, relaxed, strict].forEach((p) => p.child.kill('SIGTERM')),
  };
}

async function report(title, setups, rounds) {
  const runs = setups.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < setups.length; i++) runs[i].push(await measure(...setups[i]));
  }
  const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const results = runs.map((r, i) => ({ label: setups[i][0],
    p50: median(r.map((x) => x.p50)), p99: median(r.map((x) => x.p99)) }));
  const direct = results[0];
  console.log(`${title}: tools/call "echo", ${calls} sequential calls after ${warmup} warm-up, median of ${rounds} rounds, ${os.cpus().length} cores`);
  for (const r of results) {
    const added = r === direct ? '' : `   added: p50 ${(r.p50 - direct.p50).toFixed(0)} us, p99 ${(r.p99 - direct.p99).toFixed(0)} us`;
    console.log(`${r.label.padEnd(46)} p50 ${r.p50.toFixed(0).padStart(6)} us  p99 ${r.p99.toFixed(0).padStart(6)} us${added}`);
  }
}

// The three setups are measured in turn, `rounds` times, so that drift on a busy machine
// touches all of them alike; each figure is the median over the rounds.
(async () => {
  const rounds = Number(option('--rounds', 3));
  const only = option('--only', '');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-bench-mcp-'));
  if (only !== 'http') {
    await report('stdio', [
      ['direct (server-everything over stdio)', server],
      ['through tollgate mcp, relaxed ledger', gateway(dir, 'relaxed')],
      ['through tollgate mcp, strict ledger (fsync)', gateway(dir, 'strict')],
    ], rounds);
  }
  if (only !== 'stdio') {
    const h = await httpSetups(dir);
    try {
      await report('Streamable HTTP', h.setups, rounds);
    } finally {
      h.stop();
    }
  }
})().catch((e) => { console.error(e); process.exit(1); });
