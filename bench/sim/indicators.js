// The indicator table: each promise's target, its value measured on the daemon's run,
// and its value for the naive tracker on the same plan. Values are plain numbers in
// `tollgate`/`naive` (null: does not apply) with a human `text` each.
'use strict';

const quantile = (xs, q) => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const ms = (x) => (x === null ? 'n/a' : `${x.toFixed(x < 10 ? 2 : 0)} ms`);
const pct = (n, d) => (d === 0 ? null : (100 * n) / d);
const pctText = (x) => (x === null ? 'n/a' : `${x.toFixed(x === 100 || x === 0 ? 0 : 2)}%`);
const dollars = (m) => `$${(m / 1e6).toFixed(2)}`;

function accuracy(judged) {
  const clear = judged.decisions.filter((d) => d.label !== 'ambiguous');
  const wrong = clear.filter((d) => d.wrong).length;
  return { value: pct(clear.length - wrong, clear.length), wrong, clear: clear.length,
    ambiguous: judged.decisions.length - clear.length };
}

function falseCritical(judged) {
  const critical = judged.decisions.filter((d) => d.op.label === 'critical');
  const bad = critical.filter((d) => d.critical_refused_affordable).length;
  return { value: pct(bad, critical.length), bad, total: critical.length };
}

// Retry success as the seed defines it: of the calls refused at first that the policy
// tried again (a hold that queued counts: the daemon retried it), the share granted in
// the end. Per path (the way the last attempt was made: queued, shrunk, waited
// retry_after_ms, asked an approval), the calls granted and tried; the approvals asked
// and how each ended; the calls given up without any retry, and why.
function retrySuccess(trace) {
  const byKey = new Map();
  for (const op of trace) if (op.type === 'hold' && op.key !== 'probe') byKey.set(op.key, [...(byKey.get(op.key) || []), op]);
  let retried = 0, won = 0, gaveUp = 0;
  const by = { queue: [0, 0], shrink: [0, 0], wait: [0, 0], approval: [0, 0] };
  const why = {};
  const approvals = { asked: 0, approved: 0, approved_refused: 0, denied: 0, expired: 0, full: 0, no_person: 0, denied_for: {} };
  for (const ops of byKey.values()) {
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i];
      if (op.via !== 'approval' || op.policy_cls !== undefined) continue;
      approvals.asked++;
      if (op.approval_state === undefined) approvals.no_person++; // answered at once: granted, or not the class
      else if (op.approval_state === 'approved') approvals[ops[i + 1] && ops[i + 1].granted ? 'approved' : 'approved_refused']++;
      else approvals[op.approval_state === 'full' ? 'full' : op.approval_state === 'denied' ? 'denied' : 'expired']++;
      if (op.approval_state === 'denied') {
        const w = op.approval_why || 'unknown'; // the admin's reason: size or headroom
        approvals.denied_for[w] = (approvals.denied_for[w] || 0) + 1;
      }
    }
    const queued = ops[0].waited_ms !== undefined;
    if (ops[0].granted && !queued) continue;
    if (ops.length === 1 && !queued) {
      gaveUp++;
      const w = ops[0].give_up || 'no_advice';
      why[w] = (why[w] || 0) + 1;
      continue;
    }
    retried++;
    const last = ops[ops.length - 1];
    const ok = Boolean(last.granted);
    if (ok) won++;
    const path = last.via && last.via !== 'first' ? last.via : queued ? 'queue' : ops[0].advice;
    if (by[path]) { by[path][1]++; if (ok) by[path][0]++; }
  }
  return { value: pct(won, retried), retried, won, gave_up: gaveUp, by, why, approvals };
}

const WHY = {
  hard_limit: 'the hard limit reached, only a new window helps',
  class_revoked: 'class revoked, nothing to shrink to, waiting unlikely to help',
  admin_said_no_headroom: 'class revoked after the admin had said no for headroom on that budget this window',
  admin_said_no_size: 'class revoked, of a size the admin had refused on that budget this window',
  approval_unlikely: 'class revoked, too little room under the hard limit for an approval to be likely',
  attempts: 'out of attempts',
  no_advice: 'no advice to follow',
};
const whyText = (why) => Object.entries(why).sort((x, y) => y[1] - x[1])
  .map(([k, n]) => `${n} ${WHY[k] || k}`).join('; ') || 'none';

function overshoot(judged) {
  const worst = judged.limits.reduce((m, l) => Math.max(m, l.overshoot_honest_micros), 0);
  const worstAll = judged.limits.reduce((m, l) => Math.max(m, l.overshoot_micros), 0);
  return { honest: worst, all: worstAll };
}

function revocationLatency(judged, events) {
  const out = [];
  for (const r of judged.revocations) {
    // The first revocation event of that budget and class at or after the crossing commit.
    const e = events.filter((ev) => ev.kind === 'revoked' && ev.budget === r.budget && ev.class === r.cls &&
      ev.time_ms + 1 >= r.commit.t0).sort((x, y) => x.time_ms - y.time_ms)[0];
    out.push({ ...r, event: e || null, latency_ms: e ? Math.max(0, e.time_ms + 1 - r.commit.t0) : null });
  }
  return out;
}

// The daemon's own view of the same requests (histogram bucket bounds from /metrics).
function daemonSide(latency) {
  if (!latency || !latency.request) return '';
  const le = (v) => (v === null ? 'over 1 s' : `<= ${v} ms`);
  const commit = latency.commit ? `; group commit (transaction + fsync) p99 ${le(latency.commit.p99_ms_at_most)}` : '';
  return `; inside the daemon (its /metrics, every request): p50 ${le(latency.request.p50_ms_at_most)}, p99 ${le(latency.request.p99_ms_at_most)}${commit}`;
}

function retryRow(scenario, retry, naiveRetry) {
  const naive = { naive: naiveRetry.retried ? naiveRetry.value : 0, naive_text: `0% (cancel is final; ${naiveRetry.gave_up} calls refused)` };
  const f = (k) => `${retry.by[k][0]}/${retry.by[k][1]}`;
  const ap = retry.approvals;
  if (scenario.retry.mode === 'full') {
    return { id: 'retry_success', name: `Retry success with waiting holds and approvals (wait_ms ${scenario.retry.max_wait_ms} ms, a simulated admin)`,
      target: '> 95%', tollgate: retry.value, met: retry.retried === 0 || retry.value > 95,
      tollgate_text: `${pctText(retry.value)} (${retry.won} of ${retry.retried} retried calls granted, by the last way tried: ` +
        `queued ${f('queue')}, shrunk to fit ${f('shrink')}, waited retry_after_ms ${f('wait')}, approval ${f('approval')}; ` +
        `approvals asked ${ap.asked}: approved ${ap.approved}, approved but the money had gone ${ap.approved_refused}, ` +
        `denied ${ap.denied}${ap.denied ? ` (${Object.entries(ap.denied_for).map(([k, n]) => `${k} ${n}`).join(', ')})` : ''}, expired ${ap.expired}, past the daemon's bound ${ap.full}, answered at once without a person ${ap.no_person}; ` +
        `${retry.gave_up} given up without a retry: ${whyText(retry.why)})`,
      ...naive, approvals: ap, by: retry.by, gave_up_why: retry.why };
  }
  if (scenario.retry.mode === 'wait') {
    return { id: 'retry_success', name: `Retry success with waiting holds (wait_ms ${scenario.retry.max_wait_ms} ms)`, target: '> 95%',
      tollgate: retry.value, met: retry.retried === 0 || retry.value > 95,
      tollgate_text: `${pctText(retry.value)} (${retry.won} of ${retry.retried} queued or retried calls granted: queued ${f('queue')}, shrunk to fit ${f('shrink')}, refused at once then waited retry_after_ms ${f('wait')}; ${retry.gave_up} given up: ${whyText(retry.why)})`,
      ...naive, by: retry.by, gave_up_why: retry.why };
  }
  return { id: 'retry_success', name: 'Retry success after refusal (following the advice)', target: '> 85%',
    tollgate: retry.value, met: retry.retried === 0 || retry.value > 85,
    tollgate_text: `${pctText(retry.value)} (${retry.won} of ${retry.retried} retried calls granted: shrunk ${f('shrink')}, waited ${f('wait')}; ${retry.gave_up} refusals with no useful advice given up)`,
    ...naive, by: retry.by, gave_up_why: retry.why };
}

function buildIndicators({ scenario, plan, run, judged, naive, naiveJudged }) {
  const targets = { notification_ms: 500, revocation_ms: 200, ...(scenario.targets || {}) };
  const holds = run.trace.filter((op) => op.type === 'hold').map((op) => op.t1 - op.t0);
  const commits = run.trace.filter((op) => op.type === 'commit');
  const commitLat = commits.map((op) => op.t1 - op.t0);
  const callDur = plan.flatMap((a) => a.tasks.flatMap((t) => t.calls.map((c) => c.duration_ms)));
  const overruns = commits.filter((op) => op.actual > op.held);
  const overrunsCharged = overruns.filter((op) => op.charged === op.actual && op.overrun === op.actual - op.held);
  const estErr = commits.map((op) => Math.abs(op.actual - op.held) / op.actual);
  const acc = accuracy(judged), naiveAcc = accuracy(naiveJudged);
  const fc = falseCritical(judged), naiveFc = falseCritical(naiveJudged);
  const granted = run.trace.filter((op) => op.type === 'hold' && op.granted);
  const classOk = granted.filter((op) => op.daemon_class === op.cls).length;
  const revs = revocationLatency(judged, run.events);
  const revLat = revs.filter((r) => r.latency_ms !== null).map((r) => r.latency_ms);
  const urgent = (e) => ['revoked', 'threshold_crossed'].includes(e.kind);
  const notify = run.events.filter(urgent).map((e) => Math.max(0, e.seen_ms - e.time_ms));
  const hooks = run.webhooks.filter(urgent).map((w) => Math.max(0, w.received_ms - w.time_ms));
  const retry = retrySuccess(run.trace), naiveRetry = retrySuccess(naiveJudged.decisions.map((d) => d.op));
  const over = overshoot(judged), naiveOver = overshoot(naiveJudged);
  const ledger = judged.ledger;
  const integrityValue = pct(ledger.exactly_once, ledger.commits);
  const afterRev = run.integrity || [];
  // A budget's spend is its current window's: the charges since the window started.
  const spentMatches = run.budgets.every((b) => b.spent_micros === run.charges
    .filter((c) => (c.budget === b.path || c.budget.startsWith(`${b.path}/`)) && c.time_ms >= b.window_start_ms - run.offset_ms)
    .reduce((s, c) => s + c.cost_micros, 0));
  const rows = [
    { id: 'tracking_latency', name: 'Tracking latency (per call)', target: 'p99 < 1 ms',
      tollgate: quantile(holds, 0.99), met: quantile(holds, 0.99) < 1 && quantile(commitLat, 0.99) < 1,
      tollgate_text: `hold p50 ${ms(quantile(holds, 0.5))}, p99 ${ms(quantile(holds, 0.99))}; commit p50 ${ms(quantile(commitLat, 0.5))}, p99 ${ms(quantile(commitLat, 0.99))}${daemonSide(run.daemon_latency)}`,
      naive: quantile(callDur, 0.99), naive_text: `cost counted when the call ends: p50 ${ms(quantile(callDur, 0.5))}, p99 ${ms(quantile(callDur, 0.99))} after it starts` },
    { id: 'estimate_error', name: 'Estimate error (actual vs hold)', target: 'every overrun charged in full and reported',
      tollgate: pct(overrunsCharged.length, overruns.length), met: overrunsCharged.length === overruns.length,
      tollgate_text: `mean abs(actual - hold) / actual ${pctText(100 * (estErr.reduce((a, b) => a + b, 0) / Math.max(1, estErr.length)))}; ${overruns.length} of ${commits.length} commits above the hold, ${overrunsCharged.length} charged in full with overrun_micros`,
      naive: null, naive_text: 'no estimate: nothing is known before the call ends' },
    { id: 'revocation_accuracy', name: 'Revocation accuracy (decisions the oracle agrees with)', target: '100% of decidable decisions',
      tollgate: acc.value, met: acc.wrong === 0,
      tollgate_text: `${pctText(acc.value)} (${acc.wrong} wrong of ${acc.clear}; ${acc.ambiguous} concurrent, either answer right)`,
      naive: naiveAcc.value, naive_text: `${pctText(naiveAcc.value)} (${naiveAcc.wrong} wrong of ${naiveAcc.clear})` },
    { id: 'impact_accuracy', name: 'Impact accuracy (class applied = class labelled)', target: '100%',
      tollgate: pct(classOk, granted.length), met: classOk === granted.length,
      tollgate_text: `${pctText(pct(classOk, granted.length))} (${classOk} of ${granted.length} granted holds)`,
      naive: null, naive_text: 'no classes: critical and routine work stop together' },
    { id: 'false_revocation_critical', name: 'Critical calls refused while affordable', target: '< 0.1% (goal 0)',
      tollgate: fc.value, met: fc.bad === 0 || (fc.value !== null && fc.value < 0.1),
      tollgate_text: `${pctText(fc.value)} (${fc.bad} of ${fc.total} critical attempts)`,
      naive: naiveFc.value, naive_text: `${pctText(naiveFc.value)} (${naiveFc.bad} of ${naiveFc.total})` },
    { id: 'revocation_latency', name: 'Revocation latency (crossing commit sent -> revoked event)', target: `< ${targets.revocation_ms} ms`,
      tollgate: revLat.length ? Math.max(...revLat) : null,
      met: revs.every((r) => r.latency_ms !== null && r.latency_ms < targets.revocation_ms),
      tollgate_text: revs.length ? `at most ${ms(Math.max(...revLat, 0))} (event times are whole ms) over ${revs.length} expected revocations, ${revLat.length} seen as events` : 'no class ceiling reached',
      naive: naive.crossed_call ? naive.crossed_call.duration_ms : null,
      naive_text: naive.crossed_call ? `cancels only after the crossing call ends: ${ms(naive.crossed_call.duration_ms)} after it started` : 'never cancelled' },
    { id: 'notification_latency', name: 'Notification latency (revoked / threshold event -> webhook received)', target: `< ${targets.notification_ms} ms`,
      tollgate: hooks.length ? Math.max(...hooks) : null,
      met: hooks.length > 0 && Math.max(...hooks) < targets.notification_ms && run.webhooks_missing === 0,
      tollgate_text: hooks.length ? `webhook p50 ${ms(quantile(hooks, 0.5))}, max ${ms(Math.max(...hooks))} over ${hooks.length} events` +
        `${run.webhooks_missing ? `, ${run.webhooks_missing} events never delivered` : ''}; GET /v1/events poll (10 ms) saw them after p50 ${ms(quantile(notify, 0.5))}` : 'no event delivered',
      naive: null, naive_text: 'none: nobody is told' },
    retryRow(scenario, retry, naiveRetry),
    { id: 'safety_margin', name: 'Overshoot of any hard limit', target: '0 with honest estimates',
      tollgate: over.honest, met: over.honest === 0,
      tollgate_text: `${dollars(over.honest)} (${dollars(over.all)} counting deliberate estimate errors)`,
      naive: naiveOver.all, naive_text: `${dollars(naiveOver.all)}` },
    { id: 'data_integrity', name: 'Data integrity (acknowledged commits in the ledger exactly once)', target: '> 99.9% (goal 100%)',
      tollgate: integrityValue, met: ledger.exactly_once === ledger.commits && ledger.unacknowledged_in_ledger === 0 && spentMatches && afterRev.every((c) => c.missing_or_wrong === 0),
      tollgate_text: `${pctText(integrityValue)} (${ledger.exactly_once} of ${ledger.commits}; ${ledger.unacknowledged_in_ledger} unacknowledged rows; budget spend = sum of charges: ${spentMatches ? 'yes' : 'NO'}${afterRev.length ? `; ${afterRev.filter((c) => c.missing_or_wrong === 0).length} of ${afterRev.length} checks after revocations clean` : ''}${run.restarts.length ? `; across ${run.restarts.length} kill -9 and restart` : ''})`,
      naive: null, naive_text: 'a counter in memory: lost on a crash' },
  ];
  return rows;
}

module.exports = { buildIndicators, retrySuccess, quantile, dollars };
