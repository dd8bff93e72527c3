#!/usr/bin/env node
// bench/proxy: the latency a gateway adds to an LLM call. The same chat completion
// (gpt-4o-mini, 16 output tokens, no artificial delay) is sent to the local fake upstream
// (tests/upstream/fake_llm.js, its own process) directly, through `tollgate serve` (memory
// store, one budget, one agent key) and through the Portkey AI gateway (npm
// @portkey-ai/gateway, its node server, forwarding to the same upstream), at 1, 64 and 512
// concurrent calls, streamed and not. A call is timed from request sent to last byte.
//
// Added latency at one caller (and in --providers) is per call: each pass sends one call
// to every target in turn (in a random order, seeded), and the added p50 / p99 are
// percentiles of (call through the gateway - direct call of the same pass). At 64 and
// 512 calls the targets are measured in interleaved rounds (direct, tollgate, portkey,
// then again) so that load from other work falls on all three alike, and added is the
// difference of the two percentiles (marked ¹; it can come out negative). The load
// generator is one node process; at 512 calls it and the fake upstream are much of the
// cost, so the direct figures there are the floor the gateways are compared with.
//
//   node bench/proxy/run.js [--binary build/tollgate] [--calls N] [--rounds N]
//        [--streams 1,64,512] [--modes stream,plain] [--no-portkey]
//        [--providers openai,anthropic,gemini,azure,openrouter,groq]
//
// --providers: instead, per provider, one caller at a time, plain (not streamed): each
// provider's own request on its own route, direct to the fake and through Tollgate; and
// through Portkey where Portkey can be pointed at the fake for that provider (it takes
// OpenAI's request there and translates it, which is part of what it adds). With
// --binary A,B each binary runs its own daemon, measured in the same passes (a before /
// after comparison under the same load), and the paired difference B - A is printed.
'use strict';
const http = require('node:http');
const fs = require('node:fs');
const os = require('node:os');
const net = require('node:net');
const path = require('node:path');
const crypto = require('node:crypto');
const { spawn } = require('node:child_process');

const args = process.argv.slice(2);
const KNOWN = ['--binary', '--calls', '--rounds', '--streams', '--modes', '--providers'];
const usage = `usage: node bench/proxy/run.js [--binary build/tollgate] [--calls 3000] [--rounds 3]
         [--streams 1,64,512] [--modes stream,plain] [--no-portkey]
         [--providers openai,anthropic,gemini,azure,openrouter,groq]
Sends the same chat completion to the local fake upstream directly, through tollgate serve
and through the Portkey gateway, and prints p50/p99 latency, what each gateway adds, calls/s
and CPU per call. With --providers, --binary A,B compares two binaries side by side.
Figures and method: docs/benchmarks-proxy.md.`;
// Checked only when run: count.js requires this file for its helpers, with its own arguments.
if (require.main === module) {
  if (args.includes('--help') || args.includes('-h')) { console.log(usage); process.exit(0); }
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--no-portkey') continue;
    if (!KNOWN.includes(args[i]) || args[i + 1] === undefined) { console.error(`unknown or incomplete argument ${args[i]}\n${usage}`); process.exit(2); }
    i++;
  }
}
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const binary = option('binary', 'build/tollgate');
const callsPerLevel = Number(option('calls', '3000'));
const rounds = Number(option('rounds', '3'));
const levels = option('streams', '1,64,512').split(',').map(Number);
const modes = option('modes', 'stream,plain').split(',');
if (require.main === module && (!(callsPerLevel > 0) || !(rounds > 0) || levels.some((l) => !(l > 0)) || modes.some((m) => m !== 'stream' && m !== 'plain'))) {
  console.error(`bad --calls, --rounds, --streams or --modes\n${usage}`);
  process.exit(2);
}
const root = path.join(__dirname, '..', '..');
const OUTPUT_TOKENS = '16';

const children = []; // killed when the run ends, however it ends
process.on('exit', () => { for (const child of children) child.kill('SIGTERM'); });

function startChild(command, argv, pattern, env = {}) {
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  children.push(child);
  return new Promise((resolve, reject) => {
    let text = '';
    let errors = '';
    child.stdout.on('data', (c) => {
      text += c;
      const m = pattern && text.match(pattern);
      if (m) resolve({ child, url: m[1] });
    });
    child.stderr.on('data', (c) => { if (errors.length < 4096) errors += c; });
    child.on('exit', (code) => reject(new Error(`${command} exited ${code}: ${errors}`)));
    if (!pattern) resolve({ child });
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

async function waitUntilServing(url, ms) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const up = await new Promise((resolve) => {
      http.get(url, (res) => { res.resume(); resolve(res.statusCode === 200); }).on('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within ${ms} ms`);
}

// Portkey's node server (build/start-server.js), with the fetch shim it needs to stream on
// this node (see portkey_fetch_shim.cjs). null when the package is not installed.
async function startPortkey() {
  let entry;
  try {
    entry = require.resolve('@portkey-ai/gateway/build/start-server.js', { paths: [root] });
  } catch {
    return null;
  }
  const version = JSON.parse(fs.readFileSync(path.join(path.dirname(entry), '..', 'package.json'), 'utf8')).version;
  const port = await freePort();
  const started = await startChild('node', ['-r', path.join(__dirname, 'portkey_fetch_shim.cjs'), entry,
    `--port=${port}`, '--headless'], null, { NODE_ENV: 'production' });
  const url = `http://127.0.0.1:${port}`;
  await waitUntilServing(`${url}/`, 15000);
  return { ...started, url, version };
}

function body(stream) {
  return JSON.stringify({
    model: 'gpt-4o-mini', max_tokens: 64, stream,
    messages: [{ role: 'user', content: 'Say hello in a few words.' }],
  });
}

// One call; resolves to its latency in µs. A call that did not end as the upstream ends it
// (status 200, `data: [DONE]` or a JSON body with choices) fails the run rather than count.
function once(target, payload, stream) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const req = http.request(`${target.url}${target.path || '/v1/chat/completions'}`, {
      method: 'POST', agent: target.agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload),
        'x-fake-output-tokens': OUTPUT_TOKENS, ...target.headers },
    }, (res) => {
      let tail = '';
      res.setEncoding('utf8');
      // 512: a stream through Tollgate ends with its cost comment after [DONE].
      res.on('data', (c) => { tail = (tail + c).slice(-512); });
      res.on('end', () => {
        const end = process.hrtime.bigint();
        const ok = res.statusCode === 200 &&
          (stream ? tail.includes('data: [DONE]') : tail.trimEnd().endsWith('}'));
        if (!ok) return reject(new Error(`${target.name}: status ${res.statusCode}, ends ${JSON.stringify(tail)}`));
        resolve(Number(end - started) / 1000);
      });
    });
    req.on('error', (e) => {
      // A keep-alive connection the server closed while idle (Portkey's node server after
      // 5 s, while the other targets' rounds run) as this request was sent on it: sent
      // again on a new connection, timed afresh, as Node's documentation advises.
      if (req.reusedSocket && e.code === 'ECONNRESET') {
        target.resent = (target.resent || 0) + 1;
        once(target, payload, stream).then(resolve, reject);
        return;
      }
      reject(new Error(`${target.name}: ${e.message}`));
    });
    req.end(payload);
  });
}

// `calls` calls from `streams` concurrent callers; latencies appended to `into`.
async function burst(target, payload, stream, streams, calls, into) {
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: streams }, async () => {
    while (next < calls) {
      next++;
      into.push(await once(target, payload, stream));
    }
  }));
  return Number(process.hrtime.bigint() - started) / 1e9;
}

// CPU time (user + system) a process has used, in µs, from /proc (Linux).
function cpuUs(pid) {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 1e6 / 100; // clock ticks of 10 ms
  } catch { return NaN; }
}

const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor(xs.length * p))];
const us = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : 'n/a');

// The order of each pass: a random permutation from a seeded generator (mulberry32), so
// a run sends the same orders every time. A call pays for the work the calls before it
// leave running (a node gateway goes on for a millisecond or more after it answers, and
// costs a tollgate call right after it about 200 µs on 2 CPUs), so no target may come
// after another more often, at any distance. Rotating the order did not keep that (with
// direct, A, B and Portkey, B came right after Portkey in 3 passes of 8 and A never did),
// nor does a Williams square, which evens out only the call just before (B then sits
// nearer after Portkey two calls back, and came out 11-13 µs slower than the same binary
// as A). With random orders every target sees the same history in expectation, and the
// targets of --binary A,A are alike (docs/benchmarks-proxy.md).
function random32(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const passRandom = random32(20261207);
function passOrder(n) {
  const order = Array.from({ length: n }, (_, k) => k);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(passRandom() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

// One caller: calls are paired. Each pass sends one call to every target in turn, in a
// random order (passOrder), and a gateway's added latency is taken per call: its call
// minus the direct call of the same pass. "added p50 / p99" are then percentiles of those
// paired differences, not differences of percentiles, so load that falls on one pass
// falls on both calls of the pair.
async function pairedBurst(results, payloadOf, stream, calls) {
  const n = results.length;
  for (let i = 0; i < calls; i++) {
    const row = new Array(n);
    for (const j of passOrder(n)) {
      row[j] = await once(results[j].target, payloadOf(results[j]), stream);
    }
    for (let k = 0; k < n; k++) {
      results[k].latencies.push(row[k]);
      results[k].seconds += row[k] / 1e6;
      if (k > 0) results[k].added.push(row[k] - row[0]);
    }
  }
}

// targets[0] is the direct one. With one caller the calls are paired (pairedBurst); with
// many, each target gets its own bursts in interleaved rounds, and "added" is the
// difference of two percentiles (through the gateway minus direct), which is not a
// per-call figure and can come out negative at p99.
async function measure(targets, stream, streams) {
  const payload = body(stream);
  const payloadOf = (r) => r.target.payload || payload;
  const results = targets.map((t) => ({ target: t, latencies: [], added: [], seconds: 0, cpu: 0 }));
  // Warm-up: every caller opens its keep-alive connection before anything is timed.
  for (const r of results) await burst(r.target, payloadOf(r), stream, streams, Math.max(300, 2 * streams), []);
  const perRound = Math.ceil(callsPerLevel / rounds);
  const paired = streams === 1;
  for (let round = 0; round < rounds; round++) {
    if (paired) {
      const cpuBefore = results.map((r) => (r.target.pid ? cpuUs(r.target.pid) : NaN));
      await pairedBurst(results, payloadOf, stream, perRound);
      results.forEach((r, k) => { r.cpu += r.target.pid ? cpuUs(r.target.pid) - cpuBefore[k] : NaN; });
      continue;
    }
    for (const r of results) {
      const cpuBefore = r.target.pid ? cpuUs(r.target.pid) : NaN;
      r.seconds += await burst(r.target, payloadOf(r), stream, streams, perRound, r.latencies);
      r.cpu += r.target.pid ? cpuUs(r.target.pid) - cpuBefore : NaN;
    }
  }
  const direct = results[0];
  for (const r of results) {
    r.raw = r.latencies.slice(); // in call order: with one caller, pass i of every target
    r.latencies.sort((a, b) => a - b);
    r.p50 = pct(r.latencies, 0.5);
    r.p99 = pct(r.latencies, 0.99);
    r.rate = r.latencies.length / r.seconds;
    r.cpuPerCall = r.cpu / r.latencies.length;
  }
  for (const r of results.slice(1)) {
    r.paired = paired;
    if (paired) {
      r.added.sort((a, b) => a - b);
      r.addedP50 = pct(r.added, 0.5);
      r.addedP99 = pct(r.added, 0.99);
    } else {
      r.addedP50 = r.p50 - direct.p50;
      r.addedP99 = r.p99 - direct.p99;
    }
  }
  return results;
}

// The daemon's config: memory store, one budget, one agent key, every provider's upstream on
// the fake (count.js uses it too).
function writeConfig(file, fakeUrl, sha) {
  fs.writeFileSync(file, `
port: 0
store: {kind: memory}
limits: {connections_max: 4096, request_timeout_s: 3600}
budgets:
  - {path: bench, limit: "1000000000.00"}
keys:
  - {name: bench, role: agent, scope: bench, sha256: ${sha}}
upstreams:
  openai: {base_url: "${fakeUrl}", api_key: sk-bench}
  anthropic: {base_url: "${fakeUrl}", api_key: sk-bench}
  gemini: {base_url: "${fakeUrl}", api_key: sk-bench}
  azure: {wire: azure, base_url: "${fakeUrl}", api_key: sk-bench, deployments: {bench-mini: gpt-4o-mini}}
  openrouter: {wire: openrouter, base_url: "${fakeUrl}/api", api_key: sk-bench}
  groq: {wire: openai, base_url: "${fakeUrl}", api_key: sk-bench}
`);
}

// The fake upstream, its own node process. OpenRouter's usage.cost is reported at the
// prices the daemon reads (prices.json beside the binary), as OpenRouter bills: before
// 2026-12-07 18:00 the fake reported 0, so every OpenRouter call through the bench
// disagreed with Tollgate's price and was logged (docs/benchmarks-proxy.md).
function startFake(binaryPath) {
  const prices = JSON.parse(fs.readFileSync(path.join(path.dirname(binaryPath), 'prices.json'), 'utf8'));
  const provider = prices.providers.find((p) => p.id === 'openrouter');
  const model = provider && provider.models.find((m) => m.id === 'openai/gpt-4o-mini');
  const now = Date.now();
  const row = model && model.prices.filter((r) => !(r.from_ms > now)).pop();
  const argv = [path.join(root, 'tests/upstream/fake_llm.js'), '--port', '0', '--deployments', 'bench-mini=gpt-4o-mini'];
  if (row) argv.push('--openrouter-prices', JSON.stringify({ 'openai/gpt-4o-mini': row }));
  return startChild('node', argv, /listening on (http:\/\/[0-9.]+:\d+)/);
}

async function main() {
  const fake = await startFake(binary.split(',')[0]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-bench-proxy-'));
  const key = 'bench-agent';
  const sha = crypto.createHash('sha256').update(key).digest('hex');
  // request_timeout_s: a target's keep-alive connections sit idle while the other targets'
  // rounds run, over the default 10 s on a loaded machine; the daemon closing them then
  // raced the next round's first request ("socket hang up").
  const providers = option('providers', null);
  writeConfig(path.join(dir, 'tollgate.yaml'), fake.url, sha);
  // --binary A,B (with --providers): one daemon per binary, same config, measured side by
  // side in the same passes, so a before/after comparison sees the same machine load.
  const binaries = binary.split(',');
  if (binaries.length > 1 && !providers) {
    console.error(`several --binary values need --providers\n${usage}`);
    process.exit(2);
  }
  const daemons = [];
  for (const b of binaries) {
    daemons.push({ ...await startChild(b, ['serve', '--config', path.join(dir, 'tollgate.yaml')],
      /listening on (http:\/\/[0-9.]+:\d+)/, { TOLLGATE_ADMIN_KEY: 'bench-admin' }), binary: b });
  }
  const daemon = daemons[0];
  const portkey = args.includes('--no-portkey') ? null : await startPortkey();
  const agent = () => new http.Agent({ keepAlive: true, maxSockets: 1024 });
  if (providers) {
    await perProvider(providers.split(','), fake, daemons, portkey, key, agent);
    for (const d of daemons) d.child.kill('SIGTERM');
    if (portkey) portkey.child.kill('SIGTERM');
    fake.child.kill('SIGTERM');
    return;
  }
  const targets = [
    { name: 'direct', url: fake.url, agent: agent(), headers: { authorization: 'Bearer sk-bench' } },
    { name: 'tollgate', url: daemon.url, agent: agent(), pid: daemon.child.pid,
      headers: { authorization: `Bearer ${key}` } },
  ];
  if (portkey) {
    targets.push({ name: 'portkey', url: portkey.url, agent: agent(), pid: portkey.child.pid,
      headers: { authorization: 'Bearer sk-bench', 'x-portkey-provider': 'openai',
        'x-portkey-custom-host': `${fake.url}/v1`, 'x-portkey-forward-headers': 'x-fake-output-tokens' } });
  }
  console.log(`${callsPerLevel} calls per level and target in ${rounds} interleaved rounds; ` +
    `${os.cpus().length} CPUs (${os.cpus()[0].model}); load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; ` +
    `portkey ${portkey ? portkey.version : 'not run'}`);
  console.log('| mode | streams | direct p50 / p99 µs | tollgate added p50 / p99 µs | portkey added p50 / p99 µs | ' +
    'portkey ÷ tollgate added p50 | calls/s direct / tollgate / portkey | CPU µs/call tollgate / portkey |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const mode of modes) {
    for (const streams of levels) {
      const [direct, tollgate, pk] = await measure(targets, mode === 'stream', streams);
      const added = (r) => (r ? `${us(r.addedP50)} / ${us(r.addedP99)}${r.paired ? '' : ' ¹'}` : 'n/a');
      const ratio = pk ? (pk.addedP50 / tollgate.addedP50).toFixed(0) : 'n/a';
      console.log(`| ${mode} | ${streams} | ${us(direct.p50)} / ${us(direct.p99)} | ${added(tollgate)} | ${added(pk)} | ` +
        `${ratio} | ${Math.round(direct.rate)} / ${Math.round(tollgate.rate)} / ${pk ? Math.round(pk.rate) : 'n/a'} | ` +
        `${us(tollgate.cpuPerCall)} / ${pk ? us(pk.cpuPerCall) : 'n/a'} |`);
    }
  }
  console.log('added: at 1 call, the p50 / p99 of paired per-call differences (a call through the gateway minus ' +
    'the direct call sent next to it); ¹ at more calls, the difference of two percentiles (can be negative)');
  console.log(`load average after: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const resent = targets.filter((t) => t.resent).map((t) => `${t.name} ${t.resent}`);
  if (resent.length) console.log(`calls sent again after an idle keep-alive connection closed under them: ${resent.join(', ')}`);
  for (const t of targets) t.agent.destroy();
  daemon.child.kill('SIGTERM');
  if (portkey) portkey.child.kill('SIGTERM');
  fake.child.kill('SIGTERM');
}

// Each provider's own request, path and key header, direct and through Tollgate; and the
// Portkey headers that point its provider at the fake (null: Portkey is not compared).
function providerTargets(name, fake) {
  const chat = (model) => JSON.stringify({ model, max_tokens: 64, messages: [{ role: 'user', content: 'Say hello in a few words.' }] });
  const version = '2024-10-21';
  const rows = {
    openai: { path: '/v1/chat/completions', payload: chat('gpt-4o-mini'), auth: (k) => ({ authorization: `Bearer ${k}` }),
      portkey: { provider: 'openai', host: `${fake.url}/v1`, payload: chat('gpt-4o-mini') } },
    anthropic: { path: '/v1/messages', auth: (k) => ({ 'x-api-key': k, 'anthropic-version': '2023-06-01' }),
      payload: chat('claude-3-5-haiku-latest'),
      portkey: { provider: 'anthropic', host: `${fake.url}/v1`, payload: chat('claude-3-5-haiku-latest') } },
    gemini: { path: '/v1beta/models/gemini-2.5-flash:generateContent', auth: (k) => ({ 'x-goog-api-key': k }),
      payload: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'Say hello in a few words.' }] }], generationConfig: { maxOutputTokens: 64 } }),
      portkey: { provider: 'google', host: fake.url, payload: chat('gemini-2.5-flash') } },
    azure: { path: `/openai/deployments/bench-mini/chat/completions?api-version=${version}`, auth: (k) => ({ 'api-key': k }),
      payload: chat('bench-mini'),
      portkey: { provider: 'azure-openai', host: `${fake.url}/openai`, payload: chat('bench-mini'),
        headers: { 'x-portkey-azure-resource-name': 'bench', 'x-portkey-azure-deployment-id': 'bench-mini', 'x-portkey-azure-api-version': version } } },
    openrouter: { path: '/api/v1/chat/completions', tollgatePath: '/p/openrouter/v1/chat/completions', auth: (k) => ({ authorization: `Bearer ${k}` }),
      payload: chat('openai/gpt-4o-mini'),
      portkey: { provider: 'openrouter', host: `${fake.url}/api`, payload: chat('openai/gpt-4o-mini') } },
    groq: { path: '/v1/chat/completions', tollgatePath: '/p/groq/v1/chat/completions', auth: (k) => ({ authorization: `Bearer ${k}` }),
      payload: chat('llama-3.1-8b-instant'),
      portkey: { provider: 'groq', host: `${fake.url}/v1`, payload: chat('llama-3.1-8b-instant') } },
  };
  const row = rows[name];
  if (!row) throw new Error(`unknown provider ${name} (${Object.keys(rows).join(', ')})`);
  return row;
}

async function perProvider(names, fake, daemons, portkey, key, agent) {
  console.log(`per provider, plain, one caller: ${callsPerLevel} calls per target in ${rounds} interleaved rounds; ` +
    `${os.cpus().length} CPUs (${os.cpus()[0].model}); load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; ` +
    `portkey ${portkey ? portkey.version : 'not run'}`);
  console.log('| provider | direct p50 / p99 µs | tollgate added p50 / p99 µs | portkey added p50 / p99 µs | CPU µs/call tollgate / portkey |');
  console.log('|---|---|---|---|---|');
  const compared = [];
  for (const name of names) {
    const row = providerTargets(name, fake);
    const targets = [
      { name: `direct ${name}`, url: fake.url, path: row.path, payload: row.payload, agent: agent(), headers: row.auth('sk-bench') },
      ...daemons.map((d) => ({ name: `tollgate ${name} (${d.binary})`, url: d.url, path: row.tollgatePath || row.path,
        payload: row.payload, agent: agent(), pid: d.child.pid, headers: row.auth(key) })),
    ];
    let portkeyNote = '';
    if (portkey && row.portkey) {
      const p = row.portkey;
      const target = { name: `portkey ${name}`, url: portkey.url, payload: p.payload, agent: agent(), pid: portkey.child.pid,
        headers: { authorization: 'Bearer sk-bench', 'x-portkey-provider': p.provider, 'x-portkey-custom-host': p.host,
          'x-portkey-forward-headers': 'x-fake-output-tokens', ...(p.headers || {}) } };
      try {
        await once(target, p.payload, false); // Portkey may not reach the fake for this provider
        targets.push(target);
      } catch (e) {
        portkeyNote = ` (portkey: ${e.message.slice(0, 120)})`;
      }
    }
    const results = await measure(targets, false, 1);
    const direct = results[0];
    const pk = results.length > daemons.length + 1 ? results[results.length - 1] : null;
    const added = (r) => (r ? `${us(r.addedP50)} / ${us(r.addedP99)}` : 'n/a');
    daemons.forEach((d, i) => {
      const tollgate = results[1 + i];
      const label = daemons.length > 1 ? `${name} (${d.binary})` : name;
      console.log(`| ${label} | ${us(direct.p50)} / ${us(direct.p99)} | ${added(tollgate)} | ${added(pk)}${portkeyNote} | ` +
        `${us(tollgate.cpuPerCall)} / ${pk ? us(pk.cpuPerCall) : 'n/a'} |`);
    });
    for (let i = 1; i < daemons.length; i++) {
      // The same pass's call through binary i minus through the first binary.
      const diffs = results[1 + i].raw.map((x, k) => x - results[1].raw[k]).sort((a, b) => a - b);
      // The median's 95% interval from order statistics (ranks n/2 ± 0.98 √n): a
      // difference inside it is noise, whatever the load.
      const half = 0.98 * Math.sqrt(diffs.length);
      const low = diffs[Math.max(0, Math.floor(diffs.length / 2 - half))];
      const high = diffs[Math.min(diffs.length - 1, Math.ceil(diffs.length / 2 + half))];
      compared.push(`${name}: ${daemons[i].binary} − ${daemons[0].binary} p50 ${us(pct(diffs, 0.5))} µs ` +
        `(95% ${us(low)} to ${us(high)})`);
    }
    for (const t of targets) t.agent.destroy();
  }
  console.log('added: the p50 / p99 of paired per-call differences (each call through the gateway minus the ' +
    'direct call sent next to it)');
  if (compared.length) console.log(`paired per call between binaries: ${compared.join('; ')}`);
  console.log(`load average after: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
}

module.exports = { providerTargets, writeConfig, startChild, startFake, once };

if (require.main === module) main().catch((e) => { console.error(e); process.exit(1); });
