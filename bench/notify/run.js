#!/usr/bin/env node
// bench/notify: latency from the decision that revoked to the webhook's receipt.
// Starts a webhook receiver on loopback, runs bench_notify (engine + notifier in one
// process, SQLite store, strict) once per mode, and prints p50/p99/max of
//   decision -> receipt   (from just before the commit that revoked)
//   durable  -> receipt   (from when that commit was on disk)
// and the decision latency of every reserve/commit with and without the notifier.
//
//   node bench/notify/run.js [--binary build/bench_notify] [--revocations 2000]
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Receiver } = require('../../tests/integration/notify_receiver.js');

const args = process.argv.slice(2);
const usage = `usage: node bench/notify/run.js [--binary build/bench_notify] [--revocations 2000] [--gap-us 2000]
Latency from the decision that revoked to the webhook's receipt (immediate and digest), and
decision latency with and without sinks. Figures and method: docs/benchmarks-notify.md.`;
if (args.includes('--help') || args.includes('-h')) { console.log(usage); process.exit(0); }
for (let i = 0; i < args.length; i += 2) {
  if (!['--binary', '--revocations', '--gap-us'].includes(args[i]) || args[i + 1] === undefined) {
    console.error(`unknown or incomplete argument ${args[i]}\n${usage}`);
    process.exit(2);
  }
}
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const binary = option('--binary', 'build/bench_notify');
const revocations = Number(option('--revocations', '2000'));
const gapUs = option('--gap-us', '2000');

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

function run(argv) {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c) => { out += c; });
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}`))));
  });
}

async function mode(name, urgency) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-bench-notify-'));
  const db = path.join(dir, 'ledger.db');
  let receiver = null;
  let config = 'none';
  if (urgency !== null) {
    receiver = new Receiver({ secret: 'bench' });
    const url = await receiver.start();
    config = path.join(dir, 'c.yaml');
    fs.writeFileSync(config, `notify:
  sinks:
    - {name: hook, kind: webhook, url: "${url}", secret: bench, concurrency: 8,
       filter: {kinds: [revoked]}}
  urgency: {default: ${urgency}, within_ms: 2000}
`);
  }
  const out = await run(['--db', db, '--config', config, '--revocations', String(revocations),
    '--gap-us', gapUs]);
  const decided = new Map();
  let decisions = '';
  for (const line of out.split('\n')) {
    const parts = line.split(' ');
    if (parts[0] === 'R') decided.set(Number(parts[1]), { start: BigInt(parts[2]), durable: BigInt(parts[3]) });
    if (parts[0] === 'decisions') decisions = line;
  }
  const row = { name, revocations: decided.size, decisions };
  if (receiver !== null) {
    await receiver.stop();
    const fromDecision = [], fromDurable = [];
    for (const event of receiver.events()) {
      const d = decided.get(event.id);
      if (!d || event.kind !== 'revoked') continue;
      fromDecision.push(Number(event.receivedNs - d.start) / 1e6);
      fromDurable.push(Number(event.receivedNs - d.durable) / 1e6);
      decided.delete(event.id);
    }
    fromDecision.sort((a, b) => a - b);
    fromDurable.sort((a, b) => a - b);
    row.received = fromDecision.length;
    row.missing = decided.size;
    row.decisionToReceipt = [0.5, 0.99, 1].map((p) => percentile(fromDecision, p).toFixed(2));
    row.durableToReceipt = [0.5, 0.99, 1].map((p) => percentile(fromDurable, p).toFixed(2));
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return row;
}

(async () => {
  const rows = [await mode('no sinks', null), await mode('immediate', 'immediate'),
    await mode('digest 2 s', 'digest')];
  console.log(`bench/notify: ${revocations} revocations, one every ${gapUs} us + the decision; ` +
    'SQLite strict (fsync per decision), receiver on 127.0.0.1');
  for (const r of rows) {
    console.log(`\n${r.name}: ${r.decisions}`);
    if (r.received !== undefined) {
      console.log(`  received ${r.received}/${r.revocations} (missing ${r.missing})`);
      console.log(`  decision -> receipt ms: p50 ${r.decisionToReceipt[0]} p99 ${r.decisionToReceipt[1]} max ${r.decisionToReceipt[2]}`);
      console.log(`  durable  -> receipt ms: p50 ${r.durableToReceipt[0]} p99 ${r.durableToReceipt[1]} max ${r.durableToReceipt[2]}`);
    }
  }
})().catch((e) => { console.error(e); process.exit(1); });
