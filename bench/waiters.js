#!/usr/bin/env node
// bench/waiters.js: a waiting hold's latency after the money frees, through the daemon
// over loopback HTTP (issue 18). Each round: a blocker hold fills the budget, a client
// long-polls POST /v1/holds with wait_ms, and once it is listed as waiting another
// client releases the blocker. Printed per durability mode: release sent -> waiter's
// grant received, the release's own round trip, and the gap between the two replies
// (what the grant adds over the release that freed the money). In strict mode both
// replies wait for the same group commit's fsync. Prints figures; asserts nothing.
//
//   node bench/waiters.js [rounds] [binary]
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');

const rounds = Number(process.argv[2] || 200);
const binary = process.argv[3] || process.env.TG_BINARY || 'build/tollgate';

async function start(durability) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-bench-waiters-'));
  const config = path.join(dir, 'c.yaml');
  fs.writeFileSync(config, `port: 0
store: {kind: sqlite, path: ${path.join(dir, 'ledger.db')}, durability: ${durability}}
budgets:
  - {path: b, limit: "1.00"}
`);
  const child = spawn(binary, ['serve', '--config', config], {
    env: { ...process.env, TOLLGATE_ADMIN_KEY: 'k' }, stdio: ['ignore', 'pipe', 'inherit'] });
  const base = await new Promise((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (c) => { text += c; const m = text.match(/listening on (http:\/\/[0-9.]+:\d+)/); if (m) resolve(m[1]); });
    child.on('exit', () => reject(new Error('daemon exited')));
  });
  const call = async (method, url, body) => {
    const res = await fetch(base + url, { method, headers: { Authorization: 'Bearer k' }, body: body && JSON.stringify(body) });
    return { status: res.status, json: await res.json() };
  };
  return { dir, child, call };
}

const q = (xs, p) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
const f = (ms) => `${ms.toFixed(3)} ms`;

async function bench(durability) {
  const d = await start(durability);
  const total = [], release = [], gap = [];
  try {
    for (let r = 0; r < rounds; r++) {
      const blocker = await d.call('POST', '/v1/holds', { budget: 'b', amount_micros: 1000000, class: 'critical' });
      let waiterDone = 0;
      const waiter = d.call('POST', '/v1/holds', { budget: 'b', amount_micros: 1000000, class: 'critical', wait_ms: 60000 })
        .then((res) => { waiterDone = performance.now(); return res; });
      for (;;) { // until the daemon lists it as waiting
        const w = await d.call('GET', '/v1/holds?state=waiting');
        if (w.json.count === 1) break;
      }
      const t0 = performance.now();
      await d.call('POST', `/v1/holds/${blocker.json.hold_id}/release`, {});
      const t1 = performance.now();
      const granted = await waiter;
      if (!granted.json.granted) throw new Error(`not granted: ${JSON.stringify(granted.json)}`);
      total.push(waiterDone - t0);
      release.push(t1 - t0);
      gap.push(waiterDone - t1);
      await d.call('POST', `/v1/holds/${granted.json.hold_id}/release`, {});
    }
  } finally {
    d.child.kill('SIGTERM');
    await new Promise((r) => d.child.on('exit', r));
    fs.rmSync(d.dir, { recursive: true, force: true });
  }
  console.log(`${durability.padEnd(7)} release sent -> waiter granted: p50 ${f(q(total, 0.5))}, p99 ${f(q(total, 0.99))}; ` +
    `release round trip p50 ${f(q(release, 0.5))}; waiter's reply after the release's: p50 ${f(q(gap, 0.5))}, p99 ${f(q(gap, 0.99))} (${rounds} rounds)`);
}

(async () => {
  console.log(`bench/waiters.js on ${os.cpus().length} CPUs, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  await bench('relaxed');
  await bench('strict');
})().catch((e) => { console.error(e); process.exit(1); });
