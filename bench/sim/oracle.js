// The oracle: replays a trace with full knowledge of every budget's rules and labels
// each decision. A daemon decides requests one at a time, somewhere between the
// request's send (t0) and its reply (t1); the oracle counts as certainly before a
// decision every effect whose reply came before the decision's request was sent,
// and as uncertain every effect whose interval overlaps it. A decision is labelled
// `allow` when it fits every class ceiling on its path in the worst order, `refuse`
// when it fits in no order, `ambiguous` otherwise. A hold that expires is an effect
// in [expires_at_ms, expires_at_ms + expiry_slack_ms] (the daemon expires lazily).
//
// It also checks the ledger: no limit exceeded (and by how much, separating honest
// estimates from overruns), every acknowledged commit in the charges exactly once
// with its cost, nothing in the charges that was not acknowledged, and which class
// revocations the spend should have caused (and when).
'use strict';

const CLASSES = ['low', 'normal', 'high', 'critical'];

function pathOf(rules, budget) {
  return rules.filter((r) => budget === r.path || budget.startsWith(`${r.path}/`));
}

// Effects on usage (spent + held) with the interval in which each took effect.
function effectsOf(trace, expirySlackMs) {
  const holds = new Map();
  const ended = new Set();
  const effects = [];
  for (const op of trace) {
    if (op.type === 'hold' && op.granted) {
      holds.set(op.hold_id, op);
      effects.push({ a: op.t0, b: op.t1, budget: op.budget, usage: op.amount, spent: 0, op });
    }
  }
  for (const op of trace) {
    const hold = holds.get(op.hold_id);
    if (!hold) continue;
    if (op.type === 'commit') {
      ended.add(op.hold_id);
      effects.push({ a: op.t0, b: op.t1, budget: hold.budget, usage: op.actual - hold.amount, spent: op.actual, op,
        time: op.charge_time_ms });
    } else if (op.type === 'release') {
      ended.add(op.hold_id);
      effects.push({ a: op.t0, b: op.t1, budget: hold.budget, usage: -hold.amount, spent: 0, op });
    }
  }
  for (const [id, hold] of holds) {
    if (ended.has(id) || hold.expires_at_ms === undefined) continue;
    effects.push({ a: hold.expires_at_ms, b: hold.expires_at_ms + expirySlackMs, budget: hold.budget,
      usage: -hold.amount, spent: 0, op: { type: 'expiry', hold_id: id } });
  }
  effects.sort((x, y) => x.b - y.b);
  return effects;
}

const inside = (rule, budget) => budget === rule.path || budget.startsWith(`${rule.path}/`);

// prefix[path].usage[i] / .spent[i]: the usage (spent + held) and spend changes of
// effects[0..i) on that budget's subtree.
function prefixSums(rules, effects) {
  const prefix = {};
  for (const rule of rules) {
    const usage = [0], spent = [0];
    effects.forEach((e, i) => {
      const on = inside(rule, e.budget);
      usage.push(usage[i] + (on ? e.usage : 0));
      spent.push(spent[i] + (on ? e.spent : 0));
    });
    prefix[rule.path] = { usage, spent };
  }
  return prefix;
}

// The start of the window `t` falls in (-Infinity before the first rollover).
function windowStart(rule, t) {
  let start = -Infinity;
  for (const r of rule.rollovers || []) if (r <= t) start = Math.max(start, r);
  return start;
}

// Usage of `rule` certainly before `start` (effects[0..start)) counting only spend of
// the window beginning at `w`; spend that may belong to either window is returned as
// `unsure`, to be taken off for the lower bound.
function certainUsage(rule, effects, prefix, maxSpan, start, w) {
  const p = prefix[rule.path];
  if (w === -Infinity) return { certain: p.usage[start], unsure: 0 };
  const from = firstEndingFrom(effects, w);
  let certain = p.usage[start] - (from < start ? p.spent[from] : p.spent[start]);
  let unsure = 0;
  for (let i = from; i < start && effects[i].b <= w + maxSpan; i++) {
    const e = effects[i];
    if (!inside(rule, e.budget) || e.spent === 0) continue;
    if (e.time !== undefined) { if (e.time < w) certain -= e.spent; } // the ledger's own time says which window
    else if (e.a < w) unsure += e.spent;
  }
  return { certain, unsure };
}

function firstEndingFrom(effects, t) {
  let lo = 0, hi = effects.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (effects[mid].b < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function labelDecision(rules, effects, prefix, maxSpan, d) {
  let allowSure = true, refuseSure = false;
  const fitsAt = [];
  const start = firstEndingFrom(effects, d.t0);
  for (const rule of pathOf(rules, d.budget)) {
    const ceiling = rule.ceilings[d.cls];
    if (ceiling === null || ceiling === undefined) continue;
    // Decided on either side of a rollover: its interval, widened by how well the
    // boundary is known on our clock (rollover_slack_ms), contains one.
    const slack = rule.rollover_slack_ms || 0;
    const w = windowStart(rule, d.t0);
    if (windowStart(rule, d.t1 + slack) !== windowStart(rule, d.t0 - slack)) { allowSure = false; continue; }
    const { certain, unsure } = certainUsage(rule, effects, prefix, maxSpan, start, w);
    let up = 0, down = -unsure;
    for (let i = start; i < effects.length; i++) {
      const e = effects[i];
      if (e.b > d.t1 + maxSpan) break;
      if (e.op === d || e.a >= d.t1 || !inside(rule, e.budget)) continue;
      if (e.usage > 0) up += e.usage;
      else down += e.usage;
    }
    if (certain + up + d.amount > ceiling) allowSure = false;
    if (certain + down + d.amount > ceiling) refuseSure = true;
    fitsAt.push({ budget: rule.path, usage_min: certain + down, usage_max: certain + up, ceiling });
  }
  const label = refuseSure ? 'refuse' : allowSure ? 'allow' : 'ambiguous';
  return { label, fitsAt };
}

function checkLedger(trace, charges) {
  const commits = trace.filter((op) => op.type === 'commit');
  const rows = new Map();
  for (const c of charges) rows.set(c.id, [...(rows.get(c.id) || []), c]);
  let exactlyOnce = 0;
  const problems = [];
  const acked = new Set();
  for (const op of commits) {
    acked.add(op.charge_id);
    const found = rows.get(op.charge_id) || [];
    if (found.length === 1 && found[0].cost_micros === op.charged && found[0].hold_id === op.hold_id) exactlyOnce++;
    else problems.push({ charge_id: op.charge_id, found: found.length });
  }
  const unacked = charges.filter((c) => !acked.has(c.id)).length;
  return { commits: commits.length, exactly_once: exactlyOnce, unacknowledged_in_ledger: unacked, problems };
}

// Which (budget, class) revocations the spend should cause, and the commit that did it.
function expectedRevocations(rules, trace) {
  const commits = trace.filter((op) => op.type === 'commit').sort((x, y) => x.charge_id - y.charge_id);
  const holds = new Map(trace.filter((op) => op.type === 'hold' && op.granted).map((op) => [op.hold_id, op]));
  const spent = new Map(rules.map((r) => [r.path, 0]));
  const windowOf = new Map(rules.map((r) => [r.path, -Infinity]));
  const out = [];
  for (const op of commits) {
    const hold = holds.get(op.hold_id);
    for (const rule of pathOf(rules, hold.budget)) {
      const w = windowStart(rule, op.charge_time_ms ?? op.t0);
      if (w !== windowOf.get(rule.path)) { windowOf.set(rule.path, w); spent.set(rule.path, 0); }
      const before = spent.get(rule.path);
      spent.set(rule.path, before + op.actual);
      for (const cls of CLASSES.slice(0, 3)) {
        const c = rule.ceilings[cls];
        if (c !== null && c !== undefined && c < rule.limit && before < c && before + op.actual >= c) {
          out.push({ budget: rule.path, cls, commit: op, window_start_ms: w });
        }
      }
    }
  }
  return out;
}

// Spend per budget and window (a commit's window by the ledger's charge time when known).
function limitsReport(rules, trace) {
  const holds = new Map(trace.filter((op) => op.type === 'hold' && op.granted).map((op) => [op.hold_id, op]));
  return rules.map((rule) => {
    const windows = new Map();
    for (const op of trace) {
      if (op.type !== 'commit') continue;
      const hold = holds.get(op.hold_id);
      if (!inside(rule, hold.budget)) continue;
      const w = windowStart(rule, op.charge_time_ms ?? op.t0);
      const sums = windows.get(w) || { spent: 0, honest: 0 };
      sums.spent += op.actual;
      sums.honest += Math.min(op.actual, op.held);
      windows.set(w, sums);
    }
    const all = [...windows.values()];
    const spent = all.reduce((m, x) => Math.max(m, x.spent), 0);
    const honest = all.reduce((m, x) => Math.max(m, x.honest), 0);
    const over = rule.limit === null ? 0 : Math.max(0, spent - rule.limit);
    const overHonest = rule.limit === null ? 0 : Math.max(0, honest - rule.limit);
    return { budget: rule.path, limit: rule.limit, threshold: rule.threshold, spent, windows: all.length,
      spent_total: all.reduce((sum, x) => sum + x.spent, 0), overshoot_micros: over, overshoot_honest_micros: overHonest };
  });
}

// trace: operations from the runner (or hand-written); rules: scenario.budgetRules;
// charges: GET /v1/charges rows (null to skip the ledger check).
function judge(rules, trace, charges, { expirySlackMs = 100 } = {}) {
  const effects = effectsOf(trace, expirySlackMs);
  const maxSpan = effects.reduce((m, e) => Math.max(m, e.b - e.a), 0);
  const prefix = prefixSums(rules, effects);
  const decisions = trace.filter((op) => op.type === 'hold').map((d) => {
    const { label, fitsAt } = labelDecision(rules, effects, prefix, maxSpan, d);
    const wrong = (d.granted && label === 'refuse') || (!d.granted && label === 'allow');
    return { op: d, label, wrong, fitsAt, critical_refused_affordable: !d.granted && d.label === 'critical' && label === 'allow' };
  });
  return {
    decisions,
    limits: limitsReport(rules, trace),
    ledger: charges ? checkLedger(trace, charges) : null,
    revocations: expectedRevocations(rules, trace),
  };
}

module.exports = { judge, CLASSES, pathOf, windowStart };
