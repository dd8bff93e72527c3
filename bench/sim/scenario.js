// Scenarios (bench/sim/scenarios/*.json) and the workload plan drawn from one:
// per agent, a list of tasks, each a sequence of LLM and tool calls with a
// heavy-tailed true cost, the estimate the agent holds, how long the call runs,
// and where the agent crashes. The plan depends only on the scenario and the seed.
//
// A scenario file (JSON) has: name, description, seed; budgets (path, limit, window,
// timezone, revoke_at, ceilings, alerts: as in the daemon's config); agents {count,
// budget or budgets (round robin), tasks per agent, stagger_ms}; task {calls_min,
// calls_max, think_ms: [lo, hi]}; calls: the kinds of call, each {tool, model, class
// (the policy rule the daemon gets), label (critical|routine: the truth the oracle
// uses), weight, shrinkable, cost: {dist: lognormal, median, sigma | pareto, min,
// alpha; max}, duration_ms: [lo, hi]}; estimate {margin, error_rate, error_factor:
// [lo, hi]} (an error makes the actual cost exceed the hold); crash_rate (per task);
// retry {max_attempts, max_wait_ms, shrink_min}; and optionally hold_ttl_ms,
// durability, targets {revocation_ms, notification_ms}, notify.urgency {glob: {mode,
// within_ms}}, kill_at_ms (SIGKILL the daemon then), clock {period_ms, lead_ms} (start
// the daemon's clock before a window boundary), integrity_after_revocation, admin
// {small_fraction, keep_fraction, delay_ms: [lo, hi], poll_ms} (the simulated on-call
// admin of `--retry full`, bench/sim/admin.js).
// A scenario with kind "overshoot" is played by bench/sim/overshoot.js instead (its
// fields are described there).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { makeRng } = require('./rng');

const scenariosDir = path.join(__dirname, 'scenarios');

// "12.50" -> 12500000 micros, exactly (at most 6 decimals).
function micros(text) {
  const m = /^(\d+)(?:\.(\d{1,6}))?$/.exec(String(text));
  if (!m) throw new Error(`not money: ${text}`);
  return Number(m[1]) * 1e6 + Number((m[2] || '').padEnd(6, '0'));
}

function loadScenario(nameOrFile) {
  const file = fs.existsSync(nameOrFile) ? nameOrFile : path.join(scenariosDir, `${nameOrFile}.json`);
  const s = JSON.parse(fs.readFileSync(file, 'utf8'));
  // kind "overshoot": dishonest agents, one budget per arm (bench/sim/overshoot.js).
  const required = s.kind === 'overshoot' ? ['name', 'seed', 'limit', 'agents', 'calls_per_agent', 'arms']
    : ['name', 'seed', 'budgets', 'agents', 'task', 'calls', 'estimate', 'retry'];
  for (const key of required) {
    if (s[key] === undefined) throw new Error(`${file}: missing ${key}`);
  }
  return s;
}

function listScenarios() {
  return fs.readdirSync(scenariosDir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
}

// Budget limits and class ceilings as the ledger rules define them (docs/ledger.md),
// computed from the scenario alone so the oracle does not trust the daemon.
function budgetRules(scenario) {
  return scenario.budgets.map((b) => {
    const limit = b.limit === undefined ? null : micros(b.limit);
    const threshold = b.revoke_at === undefined ? limit : micros(b.revoke_at);
    const ceilings = { low: threshold, normal: threshold, critical: limit };
    ceilings.high = limit === null ? null : threshold + Math.floor((limit - threshold) / 2);
    for (const [cls, value] of Object.entries(b.ceilings || {})) ceilings[cls] = micros(value);
    return { path: b.path, limit, threshold, ceilings, window: b.window || 'day' };
  });
}

function drawCost(rng, cost) {
  const max = micros(cost.max) / 1e6;
  const dollars = cost.dist === 'pareto'
    ? rng.pareto(micros(cost.min) / 1e6, cost.alpha, max)
    : Math.min(max, rng.lognormal(micros(cost.median) / 1e6, cost.sigma));
  return Math.max(1, Math.ceil(dollars * 1e6));
}

function drawCall(rng, scenario, kinds, weightTotal) {
  let r = rng.uniform() * weightTotal;
  const kind = kinds.find((k) => (r -= k.weight) < 0) || kinds[kinds.length - 1];
  const truth = drawCost(rng, kind.cost);
  const e = scenario.estimate;
  let estimate = Math.ceil(truth * (1 + e.margin * rng.uniform()));
  let actual = truth;
  if (rng.chance(e.error_rate)) {
    actual = Math.ceil(estimate * (e.error_factor[0] + rng.uniform() * (e.error_factor[1] - e.error_factor[0])));
  }
  estimate = Math.max(estimate, 1);
  return {
    tool: kind.tool, model: kind.model || null, cls: kind.class, label: kind.label,
    estimate, actual, duration_ms: rng.int(kind.duration_ms[0], kind.duration_ms[1]),
    shrinkable: Boolean(kind.shrinkable),
  };
}

// The plan: [{agent, budget, tasks: [{calls: [...], crash_at}]}], from the seed only.
function makePlan(scenario, seed = scenario.seed) {
  const root = makeRng(seed);
  const weightTotal = scenario.calls.reduce((sum, k) => sum + k.weight, 0);
  const agents = [];
  for (let i = 0; i < scenario.agents.count; i++) {
    const rng = root.fork(i);
    const tasks = [];
    for (let t = 0; t < scenario.agents.tasks; t++) {
      const n = rng.int(scenario.task.calls_min, scenario.task.calls_max);
      const calls = [];
      for (let c = 0; c < n; c++) {
        calls.push({ ...drawCall(rng, scenario, scenario.calls, weightTotal),
          think_ms: rng.int(scenario.task.think_ms[0], scenario.task.think_ms[1]) });
      }
      const crash_at = rng.chance(scenario.crash_rate || 0) ? rng.int(0, n - 1) : -1;
      tasks.push({ calls, crash_at });
    }
    const budgets = scenario.agents.budgets || [scenario.agents.budget];
    agents.push({ agent: i, budget: budgets[i % budgets.length], start_ms: rng.int(0, scenario.agents.stagger_ms || 0), tasks });
  }
  return agents;
}

module.exports = { micros, loadScenario, listScenarios, budgetRules, makePlan, scenariosDir };
