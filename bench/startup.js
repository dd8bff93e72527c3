#!/usr/bin/env node
// Start-up alone on a kept ledger: spawn to "listening on", binaries alternated, so a
// before and an after see the same machine. For each start: wall time, the daemon's own
// CPU time until then (user + system, /proc/PID/stat), the time its main thread waited
// for a core (/proc/PID/schedstat), its minor page faults and the load average; then
// the median of each binary. The ledger is one that bench/scale.js kept (SCALE_KEEP=1:
// its folder holds tollgate.yaml and ledger.db); nothing here writes to it but the
// daemon's own start and stop.
//
//   node bench/startup.js --ledger FOLDER [--runs N] BINARY [BINARY...]
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const RUNS_MAX = 100;
const TICKS_PER_SECOND = 100; // USER_HZ: /proc/PID/stat counts CPU time in these

function usage(message) {
  console.error(`${message}\nusage: node bench/startup.js --ledger FOLDER [--runs N] BINARY...`);
  process.exit(2);
}

function parseArgs(argv) {
  const options = { ledger: null, runs: 5, binaries: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--ledger') options.ledger = argv[++i];
    else if (argv[i] === '--runs') options.runs = Number(argv[++i]);
    else options.binaries.push(argv[i]);
  }
  if (!options.ledger || !fs.existsSync(path.join(options.ledger, 'tollgate.yaml'))) {
    usage('--ledger must name a folder holding tollgate.yaml (SCALE_KEEP=1 of bench/scale.js)');
  }
  if (!Number.isInteger(options.runs) || options.runs < 1 || options.runs > RUNS_MAX) {
    usage(`--runs must be 1 to ${RUNS_MAX}`);
  }
  if (options.binaries.length === 0) usage('name at least one binary');
  return options;
}

// One start: resolves with its figures once "listening on" is printed and the daemon
// has exited again (SIGTERM), so the next start never overlaps it.
function startOnce(binary, config) {
  const began = process.hrtime.bigint();
  const child = spawn(binary, ['serve', '--config', config], {
    env: { ...process.env, TOLLGATE_ADMIN_KEY: 'bench-startup' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let errors = '';
  let figures = null;
  child.stderr.on('data', (chunk) => { errors += chunk; });
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      out += chunk;
      if (figures || !/listening on/.test(out)) return;
      const wallS = Number(process.hrtime.bigint() - began) / 1e9;
      const stat = fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const waitS = Number(fs.readFileSync(`/proc/${child.pid}/schedstat`, 'utf8').split(' ')[1]) / 1e9;
      figures = {
        wallS,
        userS: Number(fields[11]) / TICKS_PER_SECOND,
        systemS: Number(fields[12]) / TICKS_PER_SECOND,
        waitS,
        minorFaults: Number(fields[7]),
        load: os.loadavg()[0],
      };
      child.kill('SIGTERM');
    });
    child.on('exit', (code) => {
      if (figures) resolve(figures);
      else reject(new Error(`${binary} exited (${code}) before listening: ${errors}`));
    });
  });
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const config = path.join(options.ledger, 'tollgate.yaml');
  const all = options.binaries.map(() => []);
  for (let run = 1; run <= options.runs; run++) {
    for (let b = 0; b < options.binaries.length; b++) {
      const f = await startOnce(options.binaries[b], config);
      all[b].push(f);
      console.log(`${run} ${options.binaries[b]}: wall ${f.wallS.toFixed(2)} s, CPU ` +
        `${(f.userS + f.systemS).toFixed(2)} s (user ${f.userS.toFixed(2)}, system ` +
        `${f.systemS.toFixed(2)}), core wait ${f.waitS.toFixed(2)} s, ${f.minorFaults} minor ` +
        `faults, load ${f.load.toFixed(2)}`);
    }
  }
  for (let b = 0; b < options.binaries.length; b++) {
    const cpu = all[b].map((f) => f.userS + f.systemS);
    console.log(`median ${options.binaries[b]}: wall ${median(all[b].map((f) => f.wallS)).toFixed(2)} s, ` +
      `CPU ${median(cpu).toFixed(2)} s (${Math.min(...cpu).toFixed(2)}-${Math.max(...cpu).toFixed(2)}), ` +
      `system ${median(all[b].map((f) => f.systemS)).toFixed(2)} s, ` +
      `less core wait ${median(all[b].map((f) => f.wallS - f.waitS)).toFixed(2)} s`);
  }
}

main().catch((error) => { console.error(error.message); process.exit(1); });
