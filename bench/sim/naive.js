// The naive tracker, run on the same plan: each agent adds a call's cost to a running
// total once the call has finished, and everything under a budget is cancelled once
// that total passes the budget's limit. No holds, no classes, no refusal advice: a
// cancelled agent gives up. Played in virtual time with the plan's call durations and
// think times, so its trace has the same shape as the daemon's and the same oracle
// labels it (a call's "hold" is its estimate while it runs). A window rollover resets
// the total and lifts the cancel, as a daily counter reset would.
'use strict';
const { pathOf } = require('./oracle');

function simulateNaive(rules, plan, { restartMs = 20 } = {}) {
  const total = new Map(rules.map((r) => [r.path, 0]));
  const cancelled = new Set();
  const trace = [];
  const queue = []; // {time, seq, fn}; a small binary-free queue: plans are thousands of calls
  let seq = 0;
  const at = (time, fn) => {
    queue.push({ time, seq: seq++, fn });
  };
  let holdId = 0, chargeId = 0, cancelAt = null, crossedCall = null;
  const startCall = (agent, t, c, now) => {
    const task = agent.tasks[t];
    if (!task) return;
    if (c >= task.calls.length) return startCall(agent, t + 1, 0, now);
    const call = task.calls[c];
    const path = pathOf(rules, agent.budget);
    const granted = !path.some((r) => cancelled.has(r.path));
    const op = { type: 'hold', key: `${agent.agent}.${t}.${c}`, agent: agent.agent, budget: agent.budget,
      tool: call.tool, label: call.label, cls: call.cls, amount: call.estimate, attempt: 1, t0: now, t1: now, granted };
    trace.push(op);
    if (!granted) return at(now, () => startCall(agent, t + 1, 0, now));
    op.hold_id = ++holdId;
    op.expires_at_ms = Infinity;
    const end = now + call.duration_ms;
    at(end, () => {
      if (task.crash_at === c) {
        trace.push({ type: 'release', hold_id: op.hold_id, t0: end, t1: end });
        return at(end + restartMs, () => startCall(agent, t + 1, 0, end + restartMs));
      }
      trace.push({ type: 'commit', hold_id: op.hold_id, held: call.estimate, actual: call.actual, t0: end, t1: end,
        charge_id: ++chargeId, charged: call.actual, overrun: Math.max(0, call.actual - call.estimate) });
      for (const r of path) {
        total.set(r.path, total.get(r.path) + call.actual);
        if (r.limit !== null && total.get(r.path) > r.limit && !cancelled.has(r.path)) {
          cancelled.add(r.path);
          if (cancelAt === null) { cancelAt = end; crossedCall = { duration_ms: call.duration_ms, budget: r.path }; }
        }
      }
      at(end + call.think_ms, () => startCall(agent, t, c + 1, end + call.think_ms));
    });
  };
  for (const agent of plan) at(agent.start_ms, () => startCall(agent, 0, 0, agent.start_ms));
  // A window rollover (rule.rollovers, in the plan's time) resets the running total.
  for (const rule of rules) {
    for (const t of rule.rollovers || []) {
      at(t, () => { total.set(rule.path, 0); cancelled.delete(rule.path); });
    }
  }
  while (queue.length) {
    let best = 0;
    for (let i = 1; i < queue.length; i++) {
      const q = queue[i], b = queue[best];
      if (q.time < b.time || (q.time === b.time && q.seq < b.seq)) best = i;
    }
    const [next] = queue.splice(best, 1);
    next.fn();
  }
  // Operations at the same virtual time happened in trace order: make that visible.
  trace.forEach((op, i) => { op.t0 += i * 1e-6; op.t1 = op.t0; });
  return { trace, cancel_at_ms: cancelAt, crossed_call: crossedCall, totals: Object.fromEntries(total) };
}

module.exports = { simulateNaive };
