#!/usr/bin/env node
// bench/proxy: the latency the proxy adds to a streamed LLM call. The same streamed
// chat completion (16 output tokens, no artificial delay) is sent straight to the
// local fake upstream (tests/upstream/fake_llm.js, its own process) and through
// `tollgate serve` (memory store) at 1, 64 and 512 concurrent streams; p50/p99 of the
// whole call (request sent to last byte) and of the first byte, and calls per second.
// Added latency = proxied minus direct at the same percentile. The load generator is
// one node process; at 512 streams it and the fake upstream are much of the cost.
//
//   node bench/proxy/run.js [--binary build/tollgate] [--calls N] [--streams 1,64,512]
'use strict';
const http = require('node:http');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');
const { spawn } = require('node:child_process');

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const binary = option('binary', 'build/tollgate');
const callsPerLevel = Number(option('calls', '4000'));
const levels = option('streams', '1,64,512').split(',').map(Number);
const root = path.join(__dirname, '..', '..');

function startChild(command, argv, pattern, env = {}) {
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  return new Promise((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (c) => {
      text += c;
      const m = text.match(pattern);
      if (m) resolve({ child, url: m[1] });
    });
    child.stderr.on('data', () => {});
    child.on('exit', (code) => reject(new Error(`${command} exited ${code}`)));
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
const BODY = JSON.stringify({
  model: 'gpt-4o-mini', max_tokens: 64, stream: true,
  messages: [{ role: 'user', content: 'Say hello in a few words.' }],
});

function once(base, key) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    let first = 0n;
    const req = http.request(`${base}/v1/chat/completions`, {
      method: 'POST', agent,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`,
        'x-fake-output-tokens': '16', 'content-length': Buffer.byteLength(BODY) },
    }, (res) => {
      res.on('data', () => { if (first === 0n) first = process.hrtime.bigint(); });
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode}`));
        const end = process.hrtime.bigint();
        resolve([Number(end - started) / 1000, Number(first - started) / 1000]);
      });
    });
    req.on('error', reject);
    req.end(BODY);
  });
}

async function level(base, key, streams, calls) {
  const totals = [];
  const firsts = [];
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: streams }, async () => {
    while (next < calls) {
      next++;
      const [total, first] = await once(base, key);
      totals.push(total);
      firsts.push(first);
    }
  }));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const pct = (xs, p) => xs.sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
  return { p50: pct(totals, 0.5), p99: pct(totals, 0.99), first50: pct(firsts, 0.5),
    first99: pct(firsts, 0.99), rate: calls / seconds };
}

// CPU time (user + system) the daemon has used, in µs, from /proc (Linux).
function cpuUs(pid) {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 1e6 / 100; // clock ticks of 10 ms
  } catch { return NaN; }
}

async function main() {
  const fake = await startChild('node', [path.join(root, 'tests/upstream/fake_llm.js'), '--port', '0'],
    /listening on (http:\/\/[0-9.]+:\d+)/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-bench-proxy-'));
  const key = 'bench-agent';
  const sha = crypto.createHash('sha256').update(key).digest('hex');
  fs.writeFileSync(path.join(dir, 'tollgate.yaml'), `
port: 0
store: {kind: memory}
limits: {connections_max: 4096}
budgets:
  - {path: bench, limit: "1000000.00"}
keys:
  - {name: bench, role: agent, scope: bench, sha256: ${sha}}
upstreams:
  openai: {base_url: "${fake.url}", api_key: sk-bench}
`);
  const daemon = await startChild(binary, ['serve', '--config', path.join(dir, 'tollgate.yaml')],
    /listening on (http:\/\/[0-9.]+:\d+)/, { TOLLGATE_ADMIN_KEY: 'bench-admin' });
  const us = (x) => `${Math.round(x)}`;
  console.log(`calls per level: ${callsPerLevel}; ${os.cpus().length} CPUs (${os.cpus()[0].model})`);
  console.log('| streams | direct p50 / p99 µs | proxied p50 / p99 µs | added p50 / p99 µs | first byte added p50 µs | direct / proxied calls/s | daemon CPU µs/call |');
  console.log('|---|---|---|---|---|---|---|');
  for (const streams of levels) {
    await level(fake.url, key, streams, Math.min(200, callsPerLevel)); // warm up both paths
    await level(daemon.url, key, streams, Math.min(200, callsPerLevel));
    const direct = await level(fake.url, key, streams, callsPerLevel);
    const cpuBefore = cpuUs(daemon.child.pid);
    const proxied = await level(daemon.url, key, streams, callsPerLevel);
    const cpuPerCall = (cpuUs(daemon.child.pid) - cpuBefore) / callsPerLevel;
    console.log(`| ${streams} | ${us(direct.p50)} / ${us(direct.p99)} | ${us(proxied.p50)} / ${us(proxied.p99)} | ` +
      `${us(proxied.p50 - direct.p50)} / ${us(proxied.p99 - direct.p99)} | ${us(proxied.first50 - direct.first50)} | ` +
      `${Math.round(direct.rate)} / ${Math.round(proxied.rate)} | ${Math.round(cpuPerCall)} |`);
  }
  daemon.child.kill('SIGTERM');
  fake.child.kill('SIGTERM');
  agent.destroy();
}

main().catch((e) => { console.error(e); process.exit(1); });
