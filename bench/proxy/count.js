#!/usr/bin/env node
// bench/proxy/count.js: what the daemon does per proxied call, in counts that the machine's
// load does not move (bench/proxy/run.js times the calls; on a shared 2-CPU machine its
// figures move by more than a change is worth). Per provider, plain, one caller, the same
// requests as run.js --providers, to the same fake upstream:
//
//   --tool callgrind (default): the daemon runs under valgrind's callgrind; after a
//     warm-up the counters are zeroed, N calls are sent, and the instructions the daemon
//     executed (every thread: the loop and the writer) are read from the dump, divided by N.
//   --tool strace: strace -c -f attached to the running daemon over N calls: the
//     system calls per call, by name. strace stops the daemon at every call, which gives
//     the upstream time to answer before curl looks: calls that wait for the answer
//     (epoll_ctl, epoll_wait) are undercounted, by 2.3 a call on 2026-12-07.
//   --tool perf: the same from the kernel's tracepoints (perf stat -e
//     'syscalls:sys_enter_*'), which do not slow the daemon: the counts to go by.
//
//   node bench/proxy/count.js [--binary build/tollgate] [--calls 500] [--tool callgrind|strace|perf]
//        [--providers openai,anthropic,gemini,azure,openrouter,groq] [--keep DIR]
//
// --keep DIR keeps each provider's callgrind dump there (for callgrind_annotate).
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');
const crypto = require('node:crypto');
const { spawn, execFileSync } = require('node:child_process');
const { providerTargets, writeConfig, startChild, startFake, once } = require('./run.js');

const args = process.argv.slice(2);
const KNOWN = ['--binary', '--calls', '--tool', '--providers', '--keep'];
const usage = 'usage: node bench/proxy/count.js [--binary build/tollgate] [--calls 500] ' +
  '[--tool callgrind|strace|perf] [--providers openai,anthropic,gemini,azure,openrouter,groq] [--keep DIR]';
for (let i = 0; i < args.length; i += 2) {
  if (!KNOWN.includes(args[i]) || args[i + 1] === undefined) { console.error(usage); process.exit(2); }
}
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const binary = option('binary', 'build/tollgate');
const calls = Number(option('calls', '500'));
const tool = option('tool', 'callgrind');
const providers = option('providers', 'openai,anthropic,gemini,azure,openrouter,groq').split(',');
const keep = option('keep', null);
if (!(calls > 0) || !['callgrind', 'strace', 'perf'].includes(tool)) { console.error(usage); process.exit(2); }
const WARM_UP_CALLS = 50; // connections opened, handles and caches filled before counting

// Runs a command to its end; resolves to its exit code.
function run(command, argv) {
  return new Promise((resolve) => {
    const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let errors = '';
    child.stderr.on('data', (c) => { errors += c; });
    child.on('exit', (code) => resolve({ code, errors }));
  });
}

async function send(target, count) {
  for (let i = 0; i < count; i++) await once(target, target.payload, false);
}

// Instructions executed since the last zeroing, from callgrind's newest dump of `pid`.
function dumpedInstructions(dir, pid, before) {
  const fresh = fs.readdirSync(dir).filter((f) => f.startsWith(`cg.${pid}.`) && !before.includes(f));
  if (fresh.length !== 1) throw new Error(`expected one new callgrind dump, found ${fresh.join(', ') || 'none'}`);
  const text = fs.readFileSync(path.join(dir, fresh[0]), 'utf8');
  const m = text.match(/^(?:summary|totals): (\d+)/m);
  if (!m) throw new Error(`no totals in ${fresh[0]}`);
  return { instructions: Number(m[1]), file: path.join(dir, fresh[0]) };
}

async function main() {
  const fake = await startFake(binary);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-bench-count-'));
  const key = 'bench-agent';
  writeConfig(path.join(dir, 'tollgate.yaml'), fake.url, crypto.createHash('sha256').update(key).digest('hex'));
  const serve = [binary, 'serve', '--config', path.join(dir, 'tollgate.yaml')];
  const daemon = tool === 'callgrind'
    ? await startChild('valgrind', ['--tool=callgrind', `--callgrind-out-file=${dir}/cg.%p`, ...serve],
      /listening on (http:\/\/[0-9.]+:\d+)/, { TOLLGATE_ADMIN_KEY: 'bench-admin' })
    : await startChild(serve[0], serve.slice(1), /listening on (http:\/\/[0-9.]+:\d+)/,
      { TOLLGATE_ADMIN_KEY: 'bench-admin' });
  const pid = daemon.child.pid;
  console.log(`${binary}: ${tool}, ${calls} plain calls per provider after ${WARM_UP_CALLS} warm-up calls; ` +
    `load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log(tool === 'callgrind' ? '| provider | instructions per call |\n|---|---|'
    : '| provider | syscalls per call | by name, per call |\n|---|---|---|');
  for (const name of providers) {
    const row = providerTargets(name, fake);
    const target = { name, url: daemon.url, path: row.tollgatePath || row.path, payload: row.payload,
      agent: new http.Agent({ keepAlive: true, maxSockets: 1 }), headers: row.auth(key) };
    await send(target, WARM_UP_CALLS);
    if (tool === 'callgrind') {
      const zeroed = await run('callgrind_control', ['-z', String(pid)]);
      if (zeroed.code !== 0) throw new Error(`callgrind_control -z: ${zeroed.errors}`);
      await send(target, calls);
      const before = fs.readdirSync(dir);
      const dumped = await run('callgrind_control', ['-d', String(pid)]);
      if (dumped.code !== 0) throw new Error(`callgrind_control -d: ${dumped.errors}`);
      const { instructions, file } = dumpedInstructions(dir, pid, before);
      if (keep) { fs.mkdirSync(keep, { recursive: true }); fs.copyFileSync(file, path.join(keep, `callgrind.${name}`)); }
      console.log(`| ${name} | ${Math.round(instructions / calls).toLocaleString('en-US')} |`);
    } else if (tool === 'perf') {
      const out = path.join(dir, `perf.${name}`);
      // Started with its counters off; 'enable' is acknowledged once they count.
      const ctl = path.join(dir, `perf-ctl.${name}`);
      const ack = path.join(dir, `perf-ack.${name}`);
      execFileSync('mkfifo', [ctl, ack]);
      const counter = spawn('perf', ['stat', '-x', ',', '-o', out, '-D', '-1', '--control', `fifo:${ctl},${ack}`,
        '-e', 'syscalls:sys_enter_*', '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
      const acked = new Promise((resolve, reject) => {
        const reader = fs.createReadStream(ack, 'utf8'); // perf keeps it open: read to 'ack'
        reader.on('data', (t) => { if (/ack/.test(t)) { reader.destroy(); resolve(); } });
        reader.on('error', reject);
      });
      fs.writeFileSync(ctl, 'enable\n');
      await acked;
      await send(target, calls);
      const ended = new Promise((resolve) => counter.on('exit', resolve));
      counter.kill('SIGINT');
      await ended;
      const counts = fs.readFileSync(out, 'utf8').split('\n').map((l) => l.split(','))
        .filter((f) => f.length > 2 && /^\d+$/.test(f[0]) && Number(f[0]) > 0)
        .map((f) => [f[2].replace('syscalls:sys_enter_', ''), Number(f[0])]).sort((a, b) => b[1] - a[1]);
      const total = counts.reduce((sum, [, c]) => sum + c, 0);
      console.log(`| ${name} | ${(total / calls).toFixed(2)} | ${counts.map(([n, c]) => `${n} ${(c / calls).toFixed(2)}`).join(', ')} |`);
    } else {
      const out = path.join(dir, `strace.${name}`);
      const tracer = spawn('strace', ['-c', '-f', '-o', out, '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
      let attached = '';
      await new Promise((resolve) => tracer.stderr.on('data', (c) => { attached += c; if (/attached/.test(attached)) resolve(); }));
      await send(target, calls);
      const ended = new Promise((resolve) => tracer.on('exit', resolve));
      tracer.kill('SIGINT');
      await ended;
      const lines = fs.readFileSync(out, 'utf8').split('\n').filter((l) => /^\s*[\d.]+\s+[\d.]+\s+\d+\s+\d+/.test(l));
      const counts = lines.map((l) => { const f = l.trim().split(/\s+/); return [f[f.length - 1], Number(f[3])]; })
        .filter(([n]) => n !== 'total').sort((a, b) => b[1] - a[1]);
      const total = counts.reduce((s, [, c]) => s + c, 0);
      console.log(`| ${name} | ${(total / calls).toFixed(2)} | ${counts.map(([n, c]) => `${n} ${(c / calls).toFixed(2)}`).join(', ')} |`);
    }
    target.agent.destroy();
  }
  console.log(`load average after: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  daemon.child.kill('SIGTERM');
  fake.child.kill('SIGTERM');
}

main().catch((e) => { console.error(e); process.exit(1); });
