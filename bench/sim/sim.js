#!/usr/bin/env node
// bench/sim: the scenario simulator and indicator report (issue 8).
//
//   node bench/sim/sim.js --scenario support [--seed N] [--binary build/tollgate]
//                         [--report] [--json FILE|-] [--html FILE] [--out DIR]
//
// Starts `tollgate serve` with the scenario's budgets, plays the scenario's agents
// against it over HTTP, judges the trace with the oracle, runs the naive tracker on
// the same plan, and prints the indicator table (text; --json / --html / --out write
// the JSON and the HTML report; --json - prints the JSON instead of the table).
// Node's built-ins only.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { loadScenario, listScenarios, budgetRules, makePlan } = require('./scenario');
const { startDaemon } = require('./daemon');
const { startReceiver } = require('./webhook');
const { runPlan } = require('./runner');
const { judge } = require('./oracle');
const { simulateNaive } = require('./naive');
const { buildIndicators } = require('./indicators');
const { simulateOvershoot } = require('./overshoot');
const { textTable, summaryText, html } = require('./report');

const usage = 'usage: sim.js --scenario NAME|FILE [--seed N] [--binary PATH] [--retry advice|wait|full] [--report] [--json FILE|-] [--html FILE] [--out DIR]\n' +
  `scenarios: ${listScenarios().join(', ')}`;

function parseArgs(argv) {
  const o = { binary: process.env.TG_BINARY || 'build/tollgate', report: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value\n${usage}`);
      return argv[++i];
    };
    if (a === '--scenario') o.scenario = value();
    else if (a === '--seed') o.seed = Number(value());
    else if (a === '--binary') o.binary = value();
    else if (a === '--report') o.report = true;
    else if (a === '--retry') o.retry = value();
    else if (a === '--json') o.json = value();
    else if (a === '--html') o.html = value();
    else if (a === '--out') o.out = value();
    else if (a === '--help' || a === '-h') { console.log(usage); process.exit(0); }
    else throw new Error(`unknown argument ${a}\n${usage}`);
  }
  if (!o.scenario) throw new Error(usage);
  if (o.retry !== undefined && !['advice', 'wait', 'full'].includes(o.retry)) throw new Error('--retry is advice, wait or full');
  if (o.seed !== undefined && !Number.isInteger(o.seed)) throw new Error('--seed takes an integer');
  return o;
}

async function simulate(options) {
  const loaded = loadScenario(options.scenario);
  // The retry policy: 'advice' (wait retry_after_ms, shrink to max_amount_micros),
  // 'wait' (every hold carries wait_ms: waiting holds, docs/ledger.md), or 'full'
  // (waiting holds, shrink to fit, and approvals asked of a simulated admin, admin.js).
  const scenario = loaded.retry ? { ...loaded, retry: { ...loaded.retry, mode: options.retry || 'advice' } } : loaded;
  if (scenario.kind === 'overshoot') return simulateOvershoot({ ...options, scenario });
  const seed = options.seed === undefined ? scenario.seed : options.seed;
  const plan = makePlan(scenario, seed);
  const rules = budgetRules(scenario);
  const key = `sim_${crypto.randomBytes(12).toString('hex')}`;
  const receiver = await startReceiver();
  let daemonStderr = '';
  const daemon = await startDaemon(options.binary, scenario, key, receiver.url);
  let run;
  try {
    run = await runPlan(daemon, scenario, plan, receiver, seed);
  } finally {
    await daemon.stop();
    await receiver.close();
    daemonStderr = daemon.stderr();
    fs.rmSync(daemon.dir, { recursive: true, force: true });
  }
  for (const rule of rules) {
    rule.rollovers = run.boundaries[rule.path] || [];
    rule.rollover_slack_ms = run.offset_error_ms || 0;
  }
  const judged = judge(rules, run.trace, run.charges, { expirySlackMs: scenario.expiry_slack_ms || 100 });
  // The naive tracker runs in the plan's time: 0 is the run's start.
  const naiveRules = rules.map((r) => ({ ...r, rollovers: r.rollovers.map((t) => t - run.started), rollover_slack_ms: 0 }));
  const naive = simulateNaive(naiveRules, plan, { restartMs: scenario.restart_ms || 20 });
  const naiveJudged = judge(naiveRules, naive.trace, null);
  const indicators = buildIndicators({ scenario, plan, run, judged, naive, naiveJudged });
  const calls = plan.flatMap((a) => a.tasks.flatMap((t) => t.calls));
  const naiveHolds = new Map(naive.trace.filter((op) => op.type === 'hold').map((op) => [op.hold_id, op]));
  const result = {
    summary: {
      scenario: scenario.name, description: scenario.description || '', seed, agents: plan.length,
      calls_planned: calls.length, demand_micros: calls.reduce((s, c) => s + c.actual, 0),
      decisions: run.trace.filter((op) => op.type === 'hold').length,
      commits: run.trace.filter((op) => op.type === 'commit').length,
      crashes: run.trace.filter((op) => op.type === 'crash').length,
      late_commits: run.trace.filter((op) => op.type === 'late').length,
      daemon_kills: run.restarts.length, requests_retried: run.retried_requests,
      // A sanitizer build's findings end up on the daemon's stderr.
      sanitizer_errors: /AddressSanitizer|LeakSanitizer|runtime error:/.test(daemonStderr),
      webhook_events: run.webhooks.length, webhooks_missing: run.webhooks_missing,
      clock: daemon.clockShifted ? `${daemon.clock} (offset to our clock known within ±${run.offset_error_ms.toFixed(1)} ms)` : daemon.clock,
      rollovers_ms: Object.fromEntries(Object.entries(run.boundaries).filter(([, v]) => v.length)
        .map(([k, v]) => [k, v.map((t) => Math.round(t - run.started))])),
      run_ms: run.finished - run.started, started_ms: run.started,
      events: run.events.reduce((m, e) => ({ ...m, [e.kind]: (m[e.kind] || 0) + 1 }), {}),
      command: `node bench/sim/sim.js --scenario ${scenario.name} --seed ${seed}${scenario.retry.mode === 'advice' ? '' : ` --retry ${scenario.retry.mode}`} --report`,
    },
    indicators,
    trace: run.trace,
    budgets: judged.limits.map((l) => ({ ...l, naive_spent: naiveJudged.limits.find((n) => n.budget === l.budget).spent,
      rollovers: run.boundaries[l.budget] || [] })),
    integrity_after_revocations: run.integrity,
    latency: {
      hold_ms: run.trace.filter((op) => op.type === 'hold').map((op) => op.t1 - op.t0),
      commit_ms: run.trace.filter((op) => op.type === 'commit').map((op) => op.t1 - op.t0),
      notify_ms: run.events.map((e) => Math.max(0, e.seen_ms - e.time_ms)),
      webhook_ms: run.webhooks.map((w) => Math.max(0, w.received_ms - w.time_ms)),
    },
    charges_timeline: run.charges.map((c) => ({ time_ms: c.time_ms, budget: c.budget, cost_micros: c.cost_micros })),
    naive_timeline: naive.trace.filter((op) => op.type === 'commit')
      .map((op) => ({ t_ms: op.t0, budget: naiveHolds.get(op.hold_id).budget, actual: op.actual })),
  };
  return result;
}

function writeOutputs(result, options) {
  const json = result.kind === 'overshoot' ? result : { summary: result.summary, indicators: result.indicators,
    budgets: result.budgets, integrity_after_revocations: result.integrity_after_revocations };
  const files = [];
  if (options.out) {
    fs.mkdirSync(options.out, { recursive: true });
    options.json = options.json || path.join(options.out, `${result.summary.scenario}.json`);
    options.html = options.html || path.join(options.out, `${result.summary.scenario}.html`);
  }
  if (options.json === '-') process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
  else if (options.json) { fs.writeFileSync(options.json, `${JSON.stringify(json, null, 2)}\n`); files.push(options.json); }
  if (options.html) { fs.writeFileSync(options.html, html(result)); files.push(options.html); }
  return files;
}

async function main() {
  let options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(e.message);
    process.exit(2);
  }
  const result = await simulate(options);
  const files = writeOutputs(result, options);
  if (result.summary.sanitizer_errors) console.error('sim: the daemon reported sanitizer errors on stderr');
  if (options.json === '-') process.exit(0);
  console.log(summaryText(result));
  if (options.report || !files.length) console.log(`\n${textTable(result)}`);
  for (const f of files) console.log(`wrote ${f}`);
  // Unmet targets are findings for the report, not failures of the run.
  process.exit(0);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(`sim: ${e.stack || e.message}`);
    process.exit(1);
  });
}

module.exports = { simulate, writeOutputs };
