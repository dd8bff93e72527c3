#!/usr/bin/env node
// bench/mcp.js: the latency `tollgate mcp` adds to a tools/call over stdio.
// A raw JSON-RPC client (no SDK: its own overhead would blur the figure) sends
// sequential tools/call "echo" requests to server-everything, first directly,
// then through the gateway with a strict (fsync per decision) and a relaxed
// ledger, and prints p50/p99 of each and what the gateway adds.
// Usage: node bench/mcp.js [--calls N] [--rounds R] [--binary build/tollgate]
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const args = process.argv.slice(2);
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

async function measure(label, command) {
  const s = session(command);
  await s.request('initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '1' } });
  s.notify('notifications/initialized');
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

// The three setups are measured in turn, `rounds` times, so that drift on a busy machine
// touches all of them alike; each figure is the median over the rounds.
(async () => {
  const rounds = Number(option('--rounds', 3));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-bench-mcp-'));
  const setups = [
    ['direct (server-everything over stdio)', server],
    ['through tollgate mcp, relaxed ledger', gateway(dir, 'relaxed')],
    ['through tollgate mcp, strict ledger (fsync)', gateway(dir, 'strict')],
  ];
  const runs = setups.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < setups.length; i++) runs[i].push(await measure(...setups[i]));
  }
  const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const results = runs.map((r, i) => ({ label: setups[i][0],
    p50: median(r.map((x) => x.p50)), p99: median(r.map((x) => x.p99)) }));
  const direct = results[0];
  console.log(`tools/call "echo": ${calls} sequential calls after ${warmup} warm-up, median of ${rounds} rounds, ${os.cpus().length} cores`);
  for (const r of results) {
    const added = r === direct ? '' : `   added: p50 ${(r.p50 - direct.p50).toFixed(0)} us, p99 ${(r.p99 - direct.p99).toFixed(0)} us`;
    console.log(`${r.label.padEnd(46)} p50 ${r.p50.toFixed(0).padStart(6)} us  p99 ${r.p99.toFixed(0).padStart(6)} us${added}`);
  }
})().catch((e) => { console.error(e); process.exit(1); });
