// The simulated on-call admin of `--retry full` (issue 18): answers the approvals the
// agents ask for, over the daemon's real API (GET /v1/approvals, POST
// /v1/approvals/{id}/approve|deny), with a rule a person on call might follow and a
// person's response delay.
//
// The rule, per pending approval, applied when the admin gets to it:
//   - it must be worth it: small (at most `small_fraction` of the refusing budget's limit)
//     or on its task's critical path (the call that finishes a task whose earlier calls
//     are paid for; the agent's `reason` says "call N of N");
//   - it must fit while headroom under the hard limit remains: on every budget of its
//     path, spend + holds + the amount stay at or under
//     limit - keep_fraction * (limit - threshold) (read from GET /v1/budgets/{path} just
//     before deciding; keep_fraction 0 by default: the hard limit itself, which critical
//     work shares; above 0 that share of the band is kept for critical work alone);
//   - then approve (class critical: the ledger checks it against the hard limit, so an
//     approval can never pass it), else deny with a note naming why: "headroom: ..." or
//     "size: ..." (the agents' runtime reads that prefix, runner.js).
// The delay before each decision is drawn from a generator seeded by the run's seed, in
// the order the approvals arrive (`delay_ms` [lo, hi], uniform): time in the simulator is
// compressed like the calls' own (a call lasts milliseconds, a day a few seconds), and
// the delay stays under the agents' patience (retry.max_wait_ms), so an approval expires
// only when the machine is slower than that.
//
// Scenario field `admin` (all optional): {small_fraction, keep_fraction, delay_ms, poll_ms}.
'use strict';
const { makeRng } = require('./rng');

const DEFAULTS = { small_fraction: 0.01, keep_fraction: 0, delay_ms: [50, 400], poll_ms: 10 };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Every budget from `budget` up to its root, leaf first.
function pathUp(budget) {
  const parts = budget.split('/');
  return parts.map((_, i) => parts.slice(0, parts.length - i).join('/'));
}

// True when the reason the agent gave names the call that finishes its task.
const finishesTask = (reason) => {
  const m = /call (\d+) of (\d+)/.exec(reason || '');
  return Boolean(m) && m[1] === m[2];
};

// The verdict for approval `a` given the budgets of its path (GET /v1/budgets rows, leaf
// first): {approve, note, why}. Pure, so tests can check the rule itself.
function verdict(a, budgets, rule = DEFAULTS) {
  const refusing = budgets.find((b) => b.path === a.refused_at) || budgets[0];
  const small = refusing.limit_micros !== null && a.amount_micros <= rule.small_fraction * refusing.limit_micros;
  if (!small && !finishesTask(a.reason)) {
    return { approve: false, why: 'size', note: `size: ${a.amount_micros} micros is neither small nor finishes a task` };
  }
  for (const b of budgets) {
    if (b.limit_micros === null || b.limit_micros === undefined) continue;
    const threshold = b.threshold_micros ?? b.limit_micros;
    const line = b.limit_micros - Math.ceil(rule.keep_fraction * (b.limit_micros - threshold));
    if (b.spent_micros + b.held_micros + a.amount_micros > line) {
      return { approve: false, why: 'headroom', note: `headroom: ${b.path} keeps the rest for critical work` };
    }
  }
  return { approve: true, why: small ? 'small' : 'finishes_task', note: small ? 'small' : 'finishes its task' };
}

// The admin's response delays, in the order approvals arrive: the same seed, the same
// sequence (`next()` -> ms).
function delays(seed, rule = DEFAULTS) {
  const rng = makeRng((seed ^ 0xad317) >>> 0);
  return () => rule.delay_ms[0] + rng.uniform() * (rule.delay_ms[1] - rule.delay_ms[0]);
}

// Starts polling. `call(method, route, body)` -> {status, json} (survives restarts);
// `nowMs()` the simulator's clock. Returns {record(id), records, stop()}.
function startAdmin(call, scenario, seed, nowMs) {
  const rule = { ...DEFAULTS, ...(scenario.admin || {}) };
  const nextDelay = delays(seed, rule);
  const records = new Map(); // approval id -> {seen_ms, decide_t0, verdict, why, state, outcome}
  const pendingDecisions = [];
  let stopped = false;
  let desk = Promise.resolve(); // one person: decisions one at a time, each on fresh figures

  async function decide(a, rec) {
    const budgets = [];
    for (const p of pathUp(a.budget)) {
      const res = await call('GET', `/v1/budgets/${p}`);
      if (res.status === 200) budgets.push(res.json);
    }
    const v = verdict(a, budgets, rule);
    rec.verdict = v.approve ? 'approve' : 'deny';
    rec.why = v.why;
    rec.usage = budgets.map((b) => ({ path: b.path, spent: b.spent_micros, held: b.held_micros }));
    // The ledger reserves an approved hold while answering this request: its decision
    // lies between this send and the agent's reply.
    rec.decide_t0 = nowMs();
    const res = await call('POST', `/v1/approvals/${a.id}/${v.approve ? 'approve' : 'deny'}`, { note: v.note });
    const info = res.json && (res.json.approval || (res.json.error && res.json.error.approval));
    rec.status = res.status;
    if (info) Object.assign(rec, { state: info.state, outcome: info.outcome });
  }

  const poller = (async () => {
    let seq = 0;
    while (!stopped) {
      const res = await call('GET', '/v1/approvals?state=pending&limit=1000');
      const seen = nowMs();
      if (res.status === 200) {
        // Oldest first: the order a person works down a queue.
        for (const a of [...res.json.approvals].reverse()) {
          if (records.has(a.id)) continue;
          const rec = { seen_ms: seen, delay_ms: nextDelay(), seq: seq++ };
          records.set(a.id, rec);
          pendingDecisions.push(sleep(rec.delay_ms).then(() => { desk = desk.then(() => decide(a, rec)); return desk; }));
        }
      }
      await sleep(rule.poll_ms);
    }
  })();

  return {
    record: (id) => records.get(id) || null,
    records,
    async stop() {
      stopped = true;
      await poller;
      await Promise.all(pendingDecisions);
    },
  };
}

module.exports = { startAdmin, verdict, delays, finishesTask, DEFAULTS };
