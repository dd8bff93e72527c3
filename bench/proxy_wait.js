#!/usr/bin/env node
// bench/proxy_wait.js: what waiting in the LLM proxy costs (proxy.wait_ms, issue 18), over
// loopback against the fake upstream (tests/upstream/fake_llm.js). Each round: an API hold
// fills the budget, a proxied Anthropic call waits in the daemon, and once it is listed
// as waiting the hold is released. Printed: release sent -> the proxied answer received,
// beside the same call made with room to spare (no wait), so the difference is what the
// wait adds after the money frees (the waiter's grant, the flush that hands it over, and
// the upstream call starting then). Prints figures; asserts nothing.
//
//   node bench/proxy_wait.js [rounds] [binary]
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { startFakeLlm } = require('../tests/upstream/fake_llm.js');

const rounds = Number(process.argv[2] || 100);
const binary = process.argv[3] || process.env.TG_BINARY || 'build/tollgate';

async function start(fake) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-bench-proxy-wait-'));
  const config = path.join(dir, 'c.yaml');
  fs.writeFileSync(config, `port: 0
store: {kind: sqlite, path: ${path.join(dir, 'ledger.db')}, durability: relaxed}
budgets:
  - {path: b, limit: "1.00"}
upstreams:
  anthropic: {base_url: "${fake.url}", api_key: sk-ant, wait_ms: 60000}
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
  // the admin key has no scope: the proxied call uses an agent key scoped to b
  const key = await call('POST', '/v1/keys', { name: 'bench', role: 'agent', scope: 'b' });
  const proxied = async () => {
    const res = await fetch(`${base}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': key.json.secret, 'content-type': 'application/json', 'anthropic-version': '2023-06-01',
        'x-fake-output-tokens': '3' },
      body: JSON.stringify({ model: 'claude-sonnet-4-0', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
    });
    if (res.status !== 200) throw new Error(`proxied call: ${res.status} ${await res.text()}`);
    await res.text();
  };
  return { dir, child, call, proxied };
}

const q = (xs, p) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
const f = (ms) => `${ms.toFixed(3)} ms`;

(async () => {
  console.log(`bench/proxy_wait.js on ${os.cpus().length} CPUs, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const fake = await startFakeLlm({ port: 0 });
  const d = await start(fake);
  const waited = [], direct = [];
  try {
    for (let r = 0; r < rounds; r++) {
      let t = performance.now();
      await d.proxied();
      direct.push(performance.now() - t);
      const spent = (await d.call('GET', '/v1/budgets/b')).json.spent_micros; // leave 1 micro free
      const blocker = await d.call('POST', '/v1/holds', { budget: 'b', amount_micros: 999999 - spent, class: 'critical' });
      let done = 0;
      const call = d.proxied().then(() => { done = performance.now(); });
      for (;;) { // until the daemon lists it as waiting
        const w = await d.call('GET', '/v1/holds?state=waiting');
        if (w.json.count === 1) break;
      }
      t = performance.now();
      await d.call('POST', `/v1/holds/${blocker.json.hold_id}/release`, {});
      await call;
      waited.push(done - t);
    }
  } finally {
    d.child.kill('SIGTERM');
    await new Promise((r) => d.child.on('exit', r));
    fs.rmSync(d.dir, { recursive: true, force: true });
    await fake.close();
  }
  console.log(`no wait (room to spare):          p50 ${f(q(direct, 0.5))}, p99 ${f(q(direct, 0.99))}`);
  console.log(`release sent -> waited call done: p50 ${f(q(waited, 0.5))}, p99 ${f(q(waited, 0.99))} (${rounds} rounds)`);
})().catch((e) => { console.error(e); process.exit(1); });
