#!/usr/bin/env node
// Scale: the same daemon and the same workload on ledgers of 10, 10k and 1M budgets
// (and 1M budgets with 100k open holds in strict durability), side by side. Each
// ledger is built through the API's bulk path (PUT /v1/budgets, 5,000 budgets a
// request; holds through POST /v1/batch), then the daemon is restarted and measured:
// start-up (spawn to "listening on", the same less the time the daemon's main thread
// waited for a core, the daemon's CPU time and its minor page faults until then),
// decisions/s and p50/p99 of POST /v1/charges on a random budget over one keep-alive
// connection, RSS, and idle CPU (the daemon's own CPU time over a few idle seconds).
// And what does not depend on the machine's load: the pages each group commit wrote
// and read (from /metrics, over the decisions), and the pages WAL checkpoints copied
// inside commits rather than on the store's checkpointer thread.
//
//   node bench/scale.js                 # all four ledgers
//   node bench/scale.js --quick         # 10 and 10k only
//   SCALE_SECONDS=5 node bench/scale.js # longer runs of decisions
//   SCALE_KEEP=1 ... --plan N,HOLDS,D   # keeps the ledger (its folder on stderr)
//   SCALE_REUSE=FOLDER ... --plan N,HOLDS,D  # measures a kept ledger again, no build
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const binary = process.env.TOLLGATE_BIN || path.join(__dirname, '..', 'build', 'tollgate');
const seconds = Number(process.env.SCALE_SECONDS || 3);
const idleSeconds = Number(process.env.SCALE_IDLE_SECONDS || 3);
const admin = 'bench-admin';
const CHUNK = 5000;

function start(config) {
  const began = process.hrtime.bigint();
  const child = spawn(binary, ['serve', '--config', config], {
    env: { ...process.env, TOLLGATE_ADMIN_KEY: admin }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c) => { stderr += c; });
  return new Promise((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (chunk) => {
      text += chunk;
      const m = text.match(/listening on http:\/\/[0-9.]+:(\d+)/);
      if (m) {
        const startMs = Number(process.hrtime.bigint() - began) / 1e6;
        // The daemon's own CPU time to get there: on a loaded machine the wall time
        // above is mostly waiting for a core.
        // And the time the load waited for a core (the main thread's run-queue wait, from
        // /proc/PID/schedstat): start-up less that is what a quiet machine would show.
        const waitMs = Number(fs.readFileSync(`/proc/${child.pid}/schedstat`, 'utf8').split(' ')[1]) / 1e6;
        const at = procStat(child.pid);
        resolve({ child, port: Number(m[1]), startMs, waitMs, startCpuS: at.cpuS, startFaults: at.minorFaults });
      }
    });
    child.on('exit', (code) => reject(new Error(`daemon exited (${code}): ${stderr}`)));
  });
}

function stop(d) {
  return new Promise((resolve) => {
    if (d.child.exitCode !== null) return resolve();
    d.child.on('exit', resolve);
    d.child.kill('SIGTERM');
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function call(port, method, url, body) {
  const data = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port, path: url, method, agent,
      headers: { Authorization: `Bearer ${admin}`, ...(data ? { 'Content-Length': Buffer.byteLength(data) } : {}) },
    }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, json: text ? JSON.parse(text) : null }));
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

async function must(port, method, url, body) {
  const r = await call(port, method, url, body);
  if (r.status !== 200) throw new Error(`${method} ${url}: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json;
}

const leaf = (i) => `org/u${String(i).padStart(7, '0')}`;

async function build(port, budgets, holds) {
  await must(port, 'PUT', '/v1/budgets', { budgets: [{ path: 'org' }] });
  for (let from = 0; from < budgets; from += CHUNK) {
    const items = [];
    for (let i = from; i < Math.min(budgets, from + CHUNK); i++) items.push({ path: leaf(i), limit: '1000000' });
    await must(port, 'PUT', '/v1/budgets', { budgets: items });
  }
  for (let from = 0; from < holds; from += 1000) {
    const operations = [];
    for (let i = from; i < Math.min(holds, from + 1000); i++) {
      operations.push({ op: 'hold', body: { budget: leaf((i * 7919) % budgets), amount: '0.01', ttl_ms: 86400000 } });
    }
    const r = await must(port, 'POST', '/v1/batch', { operations });
    const bad = r.results.find((x) => x.status !== 200);
    if (bad) throw new Error(`hold refused: ${JSON.stringify(bad)}`);
  }
}

// The store's counters from /metrics (absent from a tollgate older than them: NaN).
async function storeCounts(port) {
  const r = await new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/metrics', agent, headers: { Authorization: `Bearer ${admin}` } }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve(text));
    }).on('error', reject);
  });
  const value = (name) => {
    const m = r.match(new RegExp(`^${name} (\\d+)$`, 'm'));
    return m ? Number(m[1]) : NaN;
  };
  return {
    commits: value('tollgate_store_commits_total'),
    written: value('tollgate_store_pages_written_total'),
    read: value('tollgate_store_pages_read_total'),
    inline: value('tollgate_store_checkpoint_pages_inline_total'),
  };
}

async function decide(port, budgets) {
  const latencies = [];
  const until = Date.now() + seconds * 1000;
  let n = 0;
  while (Date.now() < until) {
    const i = Math.floor(Math.random() * budgets);
    const t0 = process.hrtime.bigint();
    const r = await call(port, 'POST', '/v1/charges', { budget: leaf(i), cost_micros: 1 });
    latencies.push(Number(process.hrtime.bigint() - t0) / 1e3);
    if (r.status !== 200) throw new Error(`charge: ${r.status} ${JSON.stringify(r.json)}`);
    n++;
  }
  latencies.sort((a, b) => a - b);
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  return { rate: n / seconds, p50: at(0.5), p99: at(0.99) };
}

function procStat(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]); // utime + stime, in clock ticks
  const minorFaults = Number(stat[7]); // minflt: pages the kernel had to find (and zero)
  const rss = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1];
  return { cpuS: ticks / 100, rssMiB: Number(rss) / 1024, minorFaults };
}

async function scenario(name, budgets, holds, durability) {
  // SCALE_REUSE=DIR: a ledger kept by SCALE_KEEP=1 with the same plan, measured again
  // without building it (before/after binaries alternated on one ledger).
  const reuse = process.env.SCALE_REUSE;
  const dir = reuse || fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-scale-'));
  const config = path.join(dir, 'tollgate.yaml');
  let buildS = 0;
  if (!reuse) {
    fs.writeFileSync(config, `port: 0
store: {kind: sqlite, path: ${path.join(dir, 'ledger.db')}, durability: ${durability}}
limits: {budgets_max: ${budgets + 10}, holds_max: ${Math.max(holds * 2, 1000)}, body_size_max_bytes: 4194304}
`);
    const d = await start(config);
    const t0 = Date.now();
    await build(d.port, budgets, holds);
    buildS = (Date.now() - t0) / 1000;
    await stop(d);
    agent.destroy();
  }
  const d = await start(config); // start-up on the ledger just built
  const c0 = await storeCounts(d.port);
  const decided = await decide(d.port, budgets);
  const c1 = await storeCounts(d.port);
  const commits = c1.commits - c0.commits;
  await new Promise((r) => setTimeout(r, 500)); // the relaxed sync lands
  const before = procStat(d.child.pid);
  await new Promise((r) => setTimeout(r, idleSeconds * 1000));
  const after = procStat(d.child.pid);
  await stop(d);
  agent.destroy();
  if (process.env.SCALE_KEEP || reuse) console.error(`kept ${dir}`);
  else fs.rmSync(dir, { recursive: true, force: true });
  return {
    name, buildS, startS: d.startMs / 1000, quietS: (d.startMs - d.waitMs) / 1000, startCpuS: d.startCpuS, startFaults: d.startFaults, ...decided, rssMiB: after.rssMiB,
    idlePct: (100 * (after.cpuS - before.cpuS)) / idleSeconds,
    writtenPerCommit: (c1.written - c0.written) / commits, readPerCommit: (c1.read - c0.read) / commits,
    inlinePerCommit: (c1.inline - c0.inline) / commits,
  };
}

(async () => {
  const quick = process.argv.includes('--quick');
  const plans = [
    ['10 budgets, relaxed', 10, 0, 'relaxed'],
    ['10k budgets, relaxed', 10000, 0, 'relaxed'],
    ['10 budgets, strict', 10, 0, 'strict'],
    ...(quick ? [] : [
      ['1M budgets, relaxed', 1000000, 0, 'relaxed'],
      ['1M budgets + 100k holds, strict', 1000000, 100000, 'strict'],
    ]),
  ];
  const only = process.argv.indexOf('--plan'); // --plan BUDGETS,HOLDS,DURABILITY: one ledger
  if (only > 0) {
    const [b, h, d] = process.argv[only + 1].split(',');
    plans.splice(0, plans.length, [`${b} budgets + ${h} holds, ${d}`, Number(b), Number(h), d]);
  }
  const rows = [];
  for (const [name, budgets, holds, durability] of plans) {
    process.stderr.write(`building ${name}...\n`);
    rows.push(await scenario(name, budgets, holds, durability));
  }
  console.log(`| ledger | build (API) | start-up | start-up less core wait | start-up CPU | start-up page faults | decisions/s | p50 | p99 | RSS | idle CPU | pages written/commit | pages read/commit | pages checkpointed in commits/commit |`);
  console.log(`|---|---|---|---|---|---|---|---|---|---|---|---|---|---|`);
  for (const r of rows) {
    console.log(`| ${r.name} | ${r.buildS.toFixed(1)} s | ${r.startS.toFixed(2)} s | ${r.quietS.toFixed(2)} s | ${r.startCpuS.toFixed(2)} s | ${r.startFaults.toLocaleString('en')} | ${Math.round(r.rate).toLocaleString('en')} | ` +
      `${(r.p50 / 1000).toFixed(2)} ms | ${(r.p99 / 1000).toFixed(2)} ms | ${r.rssMiB.toFixed(0)} MiB | ${r.idlePct.toFixed(2)}% | ` +
      `${r.writtenPerCommit.toFixed(2)} | ${r.readPerCommit.toFixed(2)} | ${r.inlinePerCommit.toFixed(2)} |`);
  }
})().catch((e) => { console.error(e); process.exit(1); });
