// The simulator's oracle, naive tracker and workload plan on hand-written traces
// whose answers are known (an oracle that cannot fail proves nothing).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { judge } = require('../../bench/sim/oracle');
const { simulateNaive } = require('../../bench/sim/naive');
const { makePlan, loadScenario, budgetRules, micros } = require('../../bench/sim/scenario');
const { retryAdvice } = require('../../bench/sim/runner');

// team: limit 100, no threshold; team/a: limit 10, threshold 8 (high ceiling 9).
const rules = budgetRules({ budgets: [
  { path: 'team', limit: '100' },
  { path: 'team/a', limit: '10', revoke_at: '8' }] });
const M = 1000000;
let clock = 0;
const hold = (cls, amount, granted, extra = {}) => {
  const t0 = (clock += 10);
  return { type: 'hold', key: `k${t0}`, budget: 'team/a', cls, label: cls === 'critical' ? 'critical' : 'routine',
    amount: amount * M, t0, t1: t0 + 1, granted, ...extra };
};
const commit = (holdId, held, actual, chargeId) => {
  const t0 = (clock += 10);
  return { type: 'commit', hold_id: holdId, held: held * M, actual: actual * M, t0, t1: t0 + 1, charge_id: chargeId, charged: actual * M };
};

test('rules: class ceilings follow docs/ledger.md', () => {
  const a = rules[1];
  assert.deepEqual(a.ceilings, { low: 8 * M, normal: 8 * M, high: 9 * M, critical: 10 * M });
  assert.equal(micros('12.5'), 12500000);
  assert.equal(micros('0.000001'), 1);
});

test('sequential trace: right and wrong decisions are labelled', () => {
  clock = 0;
  const trace = [
    hold('normal', 5, true, { hold_id: 1 }), commit(1, 5, 5, 1),
    hold('normal', 4, false), // 5 + 4 > 8: refusing is right
    hold('critical', 4, false), // 5 + 4 <= 10: refusing a critical call that fits is wrong
    hold('normal', 3, true, { hold_id: 2 }), commit(2, 3, 3, 2), // 5 + 3 <= 8: right
    hold('normal', 1, true, { hold_id: 3 }), // 8 + 1 > 8: granting is wrong
  ];
  const j = judge(rules, trace, null);
  assert.deepEqual(j.decisions.map((d) => d.label), ['allow', 'refuse', 'allow', 'allow', 'refuse']);
  assert.deepEqual(j.decisions.map((d) => d.wrong), [false, false, true, false, true]);
  assert.deepEqual(j.decisions.map((d) => d.critical_refused_affordable), [false, false, true, false, false]);
});

test('overlapping requests are ambiguous, either answer right', () => {
  const trace = [
    { type: 'hold', budget: 'team/a', cls: 'normal', label: 'routine', amount: 5 * M, t0: 0, t1: 10, granted: true, hold_id: 1 },
    { type: 'hold', budget: 'team/a', cls: 'normal', label: 'routine', amount: 5 * M, t0: 5, t1: 15, granted: false },
  ];
  const j = judge(rules, trace, null);
  assert.equal(j.decisions[0].label, 'allow'); // the refusal beside it changed nothing
  assert.equal(j.decisions[1].label, 'ambiguous'); // 0 + 5 fits, 5 + 5 does not
  assert.ok(j.decisions.every((d) => !d.wrong));
});

test('a crashed hold counts until it expires, then frees its amount', () => {
  const crashed = { type: 'hold', budget: 'team/a', cls: 'normal', label: 'routine', amount: 6 * M, t0: 0, t1: 1,
    granted: true, hold_id: 1, expires_at_ms: 1000 };
  const before = { type: 'hold', budget: 'team/a', cls: 'normal', label: 'routine', amount: 3 * M, t0: 500, t1: 501, granted: false };
  const during = { ...before, t0: 1050, t1: 1051 };
  const after = { ...before, t0: 1200, t1: 1201, granted: true, hold_id: 2 };
  const j = judge(rules, [crashed, before, during, after], null, { expirySlackMs: 100 });
  assert.deepEqual(j.decisions.map((d) => d.label), ['allow', 'refuse', 'ambiguous', 'allow']);
  assert.ok(j.decisions.every((d) => !d.wrong));
});

test('limits: overshoot is measured, honest estimates apart from overruns', () => {
  clock = 0;
  const trace = [
    hold('critical', 9, true, { hold_id: 1 }), commit(1, 9, 12, 1), // overrun of 3 past a hold of 9
  ];
  const j = judge(rules, trace, null);
  const a = j.limits.find((l) => l.budget === 'team/a');
  assert.equal(a.spent, 12 * M);
  assert.equal(a.overshoot_micros, 2 * M);
  assert.equal(a.overshoot_honest_micros, 0);
  assert.equal(j.limits.find((l) => l.budget === 'team').overshoot_micros, 0);
});

test('ledger: missing, duplicated, wrong and unacknowledged charges are caught', () => {
  clock = 0;
  const trace = [hold('normal', 1, true, { hold_id: 1 }), commit(1, 1, 1, 1),
    hold('normal', 1, true, { hold_id: 2 }), commit(2, 1, 1, 2),
    hold('normal', 1, true, { hold_id: 3 }), commit(3, 1, 1, 3),
    hold('normal', 1, true, { hold_id: 4 }), commit(4, 1, 1, 4)];
  const row = (id, holdId, cost) => ({ id, hold_id: holdId, cost_micros: cost, budget: 'team/a' });
  const good = judge(rules, trace, [row(1, 1, M), row(2, 2, M), row(3, 3, M), row(4, 4, M)]).ledger;
  assert.equal(good.exactly_once, 4);
  assert.equal(good.unacknowledged_in_ledger, 0);
  const bad = judge(rules, trace, [row(1, 1, M), row(2, 2, M), row(2, 2, M), row(3, 3, M + 1), row(9, 0, 5)]).ledger;
  assert.equal(bad.exactly_once, 1); // 2 twice, 3 wrong cost, 4 missing
  assert.equal(bad.problems.length, 3);
  assert.equal(bad.unacknowledged_in_ledger, 1);
});

test('expected revocations: the commit that reaches each class ceiling', () => {
  clock = 0;
  const trace = [hold('critical', 7, true, { hold_id: 1 }), commit(1, 7, 7, 1),
    hold('critical', 2, true, { hold_id: 2 }), commit(2, 2, 2, 2)];
  const revs = judge(rules, trace, null).revocations.map((r) => `${r.budget}:${r.cls}:${r.commit.charge_id}`);
  assert.deepEqual(revs, ['team/a:low:2', 'team/a:normal:2', 'team/a:high:2']);
});

test('naive tracker: cancels after the limit is passed, overshooting by what was in flight', () => {
  const call = (estimate, actual, duration) => ({ tool: 't', model: null, cls: 'normal', label: 'routine',
    estimate: estimate * M, actual: actual * M, duration_ms: duration, think_ms: 0, shrinkable: false });
  // Two agents on team/a (limit 10): A spends 6 then 6 (crosses at t=20); B's 4 runs 15..35.
  const plan = [
    { agent: 0, budget: 'team/a', start_ms: 0, tasks: [{ calls: [call(6, 6, 10), call(6, 6, 10), call(1, 1, 1)], crash_at: -1 }] },
    { agent: 1, budget: 'team/a', start_ms: 15, tasks: [{ calls: [call(4, 4, 20), call(1, 1, 1)], crash_at: -1 }] },
  ];
  const n = simulateNaive(rules, plan);
  assert.equal(n.totals['team/a'], 16 * M); // 6 + 6 + 4: the limit of 10 passed by 6
  assert.equal(n.cancel_at_ms, 20);
  const j = judge(rules, n.trace, null);
  assert.equal(j.limits.find((l) => l.budget === 'team/a').overshoot_honest_micros, 6 * M);
  assert.ok(j.decisions.some((d) => d.wrong)); // the second 6 should not have run
});

test('retry policy follows the refusal: shrink, wait or give up', () => {
  const policy = { max_attempts: 3, max_wait_ms: 1000 };
  const llm = { shrinkable: true }, tool = { shrinkable: false };
  assert.deepEqual(retryAdvice(policy, llm, 10, { max_amount_micros: 4, retry_after_ms: null }, 1, 1), { action: 'shrink', amount: 4 });
  assert.deepEqual(retryAdvice(policy, tool, 10, { max_amount_micros: 4, retry_after_ms: 50 }, 1, 1), { action: 'wait', amount: 10, wait_ms: 50 });
  assert.equal(retryAdvice(policy, tool, 10, { max_amount_micros: 4, retry_after_ms: 5000 }, 1, 1).action, 'give_up');
  assert.equal(retryAdvice(policy, llm, 10, { max_amount_micros: 0, retry_after_ms: null }, 1, 1).action, 'give_up');
  assert.equal(retryAdvice(policy, llm, 10, { max_amount_micros: 4, retry_after_ms: 5 }, 3, 1).action, 'give_up');
});

test('plans are deterministic from the seed', () => {
  const s = loadScenario('support');
  assert.deepEqual(makePlan(s, 7), makePlan(s, 7));
  assert.notDeepEqual(makePlan(s, 7), makePlan(s, 8));
  const calls = makePlan(s, 7).flatMap((a) => a.tasks.flatMap((t) => t.calls));
  assert.ok(calls.every((c) => Number.isInteger(c.estimate) && Number.isInteger(c.actual) && c.actual > 0));
  assert.ok(calls.some((c) => c.actual > c.estimate), 'some estimate errors');
  assert.ok(calls.some((c) => c.label === 'critical') && calls.some((c) => c.label === 'routine'));
});

test('a window rollover resets spend but not holds, and the oracle judges each window apart', () => {
  const windowed = budgetRules({ budgets: [{ path: 'team', limit: '100' }, { path: 'team/a', limit: '10', revoke_at: '8' }] });
  for (const r of windowed) r.rollovers = [1000];
  const op = (extra) => ({ type: 'hold', budget: 'team/a', cls: 'normal', label: 'routine', ...extra });
  const trace = [
    op({ amount: 7 * M, t0: 0, t1: 1, granted: true, hold_id: 1 }),
    { type: 'commit', hold_id: 1, held: 7 * M, actual: 7 * M, t0: 10, t1: 11, charge_id: 1, charged: 7 * M, charge_time_ms: 10 },
    op({ amount: 1 * M, t0: 20, t1: 21, granted: true, hold_id: 2 }), // 7 + 1 <= 8; open across the rollover
    op({ amount: 2 * M, t0: 500, t1: 501, granted: false }), // 7 + 1 + 2 > 8: refuse
    op({ amount: 2 * M, t0: 999, t1: 1001, granted: false }), // straddles the rollover: either answer
    op({ amount: 6 * M, t0: 1500, t1: 1501, granted: true, hold_id: 3 }), // new window: 0 + 1 held + 6 <= 8
    op({ amount: 2 * M, t0: 1600, t1: 1601, granted: true, hold_id: 4 }), // 1 + 6 + 2 > 8: granting is wrong
  ];
  const j = judge(windowed, trace, null);
  assert.deepEqual(j.decisions.map((d) => d.label), ['allow', 'allow', 'refuse', 'ambiguous', 'allow', 'refuse']);
  assert.deepEqual(j.decisions.map((d) => d.wrong), [false, false, false, false, false, true]);
  const trace2 = [...trace.slice(0, 2),
    op({ amount: 5 * M, t0: 1100, t1: 1101, granted: true, hold_id: 5 }),
    { type: 'commit', hold_id: 5, held: 5 * M, actual: 5 * M, t0: 1110, t1: 1111, charge_id: 2, charged: 5 * M, charge_time_ms: 1110 }];
  const jj = judge(windowed, trace2, null);
  const a = jj.limits.find((l) => l.budget === 'team/a');
  assert.equal(a.windows, 2);
  assert.equal(a.spent, 7 * M); // the most spent in one window, not 12
  assert.equal(a.overshoot_micros, 0);
});

test('a boundary known only within rollover_slack_ms: decisions that near it are either answer, others judged', () => {
  const windowed = budgetRules({ budgets: [{ path: 'team', limit: '100' }, { path: 'team/a', limit: '10', revoke_at: '8' }] });
  for (const r of windowed) r.rollovers = [1000];
  const op = (extra) => ({ type: 'hold', budget: 'team/a', cls: 'normal', label: 'routine', ...extra });
  const trace = [
    op({ amount: 8 * M, t0: 0, t1: 1, granted: true, hold_id: 1 }),
    { type: 'commit', hold_id: 1, held: 8 * M, actual: 8 * M, t0: 10, t1: 11, charge_id: 1, charged: 8 * M, charge_time_ms: 10 },
    op({ amount: 1 * M, t0: 990, t1: 991, granted: true, hold_id: 2 }), // the daemon's window rolled already?
    op({ amount: 1 * M, t0: 1010, t1: 1011, granted: false }), // or not yet?
    op({ amount: 1 * M, t0: 900, t1: 901, granted: true, hold_id: 3 }), // well before: granting is wrong
    op({ amount: 1 * M, t0: 1100, t1: 1101, granted: false }), // well after: refusing is wrong
  ];
  const exact = judge(windowed, trace, null);
  assert.deepEqual(exact.decisions.map((d) => d.label), ['allow', 'refuse', 'allow', 'refuse', 'allow']);
  for (const r of windowed) r.rollover_slack_ms = 20;
  const loose = judge(windowed, trace, null);
  assert.deepEqual(loose.decisions.map((d) => d.label), ['allow', 'ambiguous', 'ambiguous', 'refuse', 'allow']);
  assert.deepEqual(loose.decisions.map((d) => d.wrong), [false, false, false, true, true]);
});

test('the daemon clock offset from hold stamps: the intersection of every hold\'s interval', () => {
  const { offsetFromStamps } = require('../../bench/sim/runner');
  // True offset 5000.4 ms: daemon_ms = floor(t + 5000.4) for a decision at t in [t0, t1].
  const holds = [[100, 400, 250], [1000, 1003, 1001], [2000, 2200, 2199], [3000, 3001.5, 3000.2]]
    .map(([t0, t1, t]) => ({ type: 'hold', t0, t1, daemon_ms: Math.floor(t + 5000.4) }));
  const r = offsetFromStamps([...holds, { type: 'hold', t0: 0, t1: 1 }, { type: 'commit', t0: 5, t1: 6 }]);
  assert.ok(Math.abs(r.offset_ms - 5000.4) <= r.error_ms, JSON.stringify(r));
  assert.ok(r.error_ms <= 1.5, `tighter than any one round trip: ${r.error_ms}`);
  assert.equal(offsetFromStamps([{ type: 'hold', t0: 0, t1: 1 }]), null, 'no stamps');
  // Stamps that cannot all be true (the daemon's clock stepped): no answer, not a wrong one.
  assert.equal(offsetFromStamps([{ type: 'hold', t0: 0, t1: 1, daemon_ms: 10 }, { type: 'hold', t0: 100, t1: 101, daemon_ms: 500 }]), null);
});

test('an approved grant is judged at the class approved, its refusal at the policy class', () => {
  clock = 0;
  const spent = [hold('normal', 8, true, { hold_id: 1 }), commit(1, 8, 8, 1)];
  // A normal call of 1 is refused for its class (8 + 1 > 8), asks, and a person approves
  // it as critical (8 + 1 <= 10): the grant is right, and so is the refusal.
  const asked = hold('normal', 1, false, { key: 'ask', via: 'approval', reason: 'revoked', approval_state: 'approved' });
  const approved = { ...asked, t0: (clock += 10), t1: clock + 1, granted: true, hold_id: 2, cls: 'critical', policy_cls: 'normal', daemon_class: 'critical' };
  const j = judge(rules, [...spent, asked, approved], null);
  assert.deepEqual(j.decisions.map((d) => [d.label, d.wrong]), [['allow', false], ['refuse', false], ['allow', false]]);
  // Judged at its policy class instead, the same grant would be wrong: the oracle needs the class approved.
  const unknown = judge(rules, [...spent, asked, { ...approved, cls: 'normal' }], null);
  assert.equal(unknown.decisions[2].wrong, true);
  // Approved at the hard limit's edge and past it: the oracle still finds a grant past the limit wrong.
  const past = judge(rules, [...spent, { ...asked, amount: 3 * M }, { ...approved, amount: 3 * M }], null);
  assert.equal(past.decisions[2].wrong, true, '8 + 3 > 10 even for critical');
});

test('retry success counts every approval asked, and denied or expired ones as failed retries', () => {
  const { retrySuccess } = require('../../bench/sim/indicators');
  const op = (key, extra) => ({ type: 'hold', key, granted: false, via: 'first', ...extra });
  const trace = [
    op('ok', { advice: 'approval' }), op('ok', { via: 'approval', approval_state: 'approved' }),
    op('ok', { via: 'approval', approval_state: 'approved', policy_cls: 'normal', granted: true }),
    op('gone', { advice: 'approval' }), op('gone', { via: 'approval', approval_state: 'approved' }),
    op('gone', { via: 'approval', approval_state: 'approved', policy_cls: 'normal' }),
    op('no', { advice: 'approval' }), op('no', { via: 'approval', approval_state: 'denied', approval_why: 'size' }),
    op('late', { advice: 'approval' }), op('late', { via: 'approval', approval_state: 'expired' }),
    op('full', { advice: 'approval' }), op('full', { via: 'approval', approval_state: 'full' }),
    op('shrunk', { advice: 'shrink' }), op('shrunk', { via: 'shrink', granted: true }),
    op('queued', { waited_ms: 40, granted: true }),
    op('limit', { give_up: 'hard_limit' }), op('unlikely', { give_up: 'approval_unlikely' }),
    op('fine', { granted: true }),
  ];
  const r = retrySuccess(trace);
  assert.equal(r.retried, 7);
  assert.equal(r.won, 3, 'approved, shrunk and queued');
  assert.deepEqual(r.by, { queue: [1, 1], shrink: [1, 1], wait: [0, 0], approval: [1, 5] });
  assert.deepEqual(r.approvals, { asked: 5, approved: 1, approved_refused: 1, denied: 1, expired: 1, full: 1, no_person: 0,
    denied_for: { size: 1 } });
  assert.equal(r.gave_up, 2);
  assert.deepEqual(r.why, { hard_limit: 1, approval_unlikely: 1 });
});

test('full retry policy: a class refusal that offers approval asks, unless the admin said no', () => {
  const policy = { mode: 'full', max_attempts: 3, max_wait_ms: 2000 };
  const tool = { shrinkable: false };
  const offered = { reason: 'revoked', max_amount_micros: 0, retry_after_ms: null, next: { approval: { possible: true } } };
  assert.deepEqual(retryAdvice(policy, tool, 10, offered, 1, 1), { action: 'approval', amount: 10 });
  assert.deepEqual(retryAdvice(policy, tool, 10, offered, 1, 1, true), { action: 'approval', amount: 10 }, 'after a queue too');
  assert.deepEqual(retryAdvice(policy, tool, 10, offered, 1, 1, false, 'admin_said_no_headroom'),
    { action: 'give_up', why: 'admin_said_no_headroom' });
  const ceiling = { reason: 'ceiling', max_amount_micros: 0, retry_after_ms: null, next: { approval: null } };
  assert.deepEqual(retryAdvice(policy, tool, 10, ceiling, 1, 1), { action: 'give_up', why: 'hard_limit' });
  assert.equal(retryAdvice({ ...policy, mode: 'wait' }, tool, 10, offered, 1, 1).action, 'give_up', 'wait mode asks nobody');
  assert.equal(retryAdvice(policy, tool, 10, offered, 3, 1).action, 'give_up', 'attempts bound it');
});

test('the admin rule: small or task-finishing asks within the headroom, deny the rest; delays replay from the seed', () => {
  const { verdict, delays, DEFAULTS } = require('../../bench/sim/admin');
  const budgets = [{ path: 'team/a', limit_micros: 100 * M, threshold_micros: 80 * M, spent_micros: 85 * M, held_micros: 5 * M },
    { path: 'team', limit_micros: 1000 * M, threshold_micros: 1000 * M, spent_micros: 85 * M, held_micros: 5 * M }];
  const ask = (amount, reason = 'chat: call 1 of 3 of its task') => ({ budget: 'team/a', refused_at: 'team/a', amount_micros: amount, reason });
  assert.equal(verdict(ask(M), budgets).approve, true, '1% of the limit is small');
  assert.equal(verdict(ask(M + 1), budgets).why, 'size');
  assert.equal(verdict(ask(5 * M, 'chat: call 3 of 3 of its task'), budgets).why, 'finishes_task');
  assert.equal(verdict(ask(11 * M, 'chat: call 3 of 3 of its task'), budgets).why, 'headroom', '90 + 11 > 100');
  assert.equal(verdict(ask(10 * M, 'chat: call 3 of 3 of its task'), budgets).approve, true, 'exactly the hard limit');
  const keep = { ...DEFAULTS, keep_fraction: 0.5 }; // keeps 10 of the band of 20 for critical work
  assert.equal(verdict(ask(M), budgets, keep).why, 'headroom', '90 + 1 > 90');
  const a = delays(7), b = delays(7), c = delays(8);
  const seq = [a(), a(), a()];
  assert.deepEqual([b(), b(), b()], seq);
  assert.notDeepEqual([c(), c(), c()], seq);
  assert.ok(seq.every((d) => d >= DEFAULTS.delay_ms[0] && d <= DEFAULTS.delay_ms[1]));
});
