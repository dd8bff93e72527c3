// Plays a workload plan against a running daemon: every agent concurrently, each
// call as hold -> run -> commit, refusals answered by the retry policy (shrink to
// max_amount_micros, wait retry_after_ms, ask for an approval, or give up), crashes
// leaving holds open. Records every request as a trace operation with its send and
// reply times, and polls GET /v1/events to time notifications.
'use strict';
const { performance } = require('node:perf_hooks');
const { startAdmin } = require('./admin');

const nowMs = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The retry policy: what to do with refusal `r` of a call asking `amount`.
// Returns {action: 'shrink'|'wait'|'approval'|'give_up', amount, wait_ms, why}. With
// policy.mode 'wait' or 'full' every hold carries wait_ms: one that queued and was still
// refused has had its wait (the only retries left are to shrink or, in 'full', to ask a
// person); one refused at once follows the advice as before. In 'full' a refusal whose
// `next.approval.possible` says a person may let it through (its class stops it, not the
// hard limit) asks for an approval, unless `noApproval` (the admin already said no to
// such a request on that budget this window: asking again only pages them again).
function retryAdvice(policy, call, amount, r, attempt, minShrink, queued = false, noApproval = null) {
  if (attempt >= policy.max_attempts) return { action: 'give_up', why: 'attempts' };
  const max = r.max_amount_micros || 0;
  if (call.shrinkable && max >= minShrink && max < amount) return { action: 'shrink', amount: max };
  const offered = Boolean(r.next && r.next.approval && r.next.approval.possible);
  if (policy.mode === 'full' && offered) {
    if (noApproval) return { action: 'give_up', why: noApproval };
    return { action: 'approval', amount };
  }
  if (policy.mode !== 'advice' && queued) return { action: 'give_up', why: 'waited' };
  if (r.retry_after_ms !== null && r.retry_after_ms !== undefined && r.retry_after_ms <= policy.max_wait_ms) {
    return { action: 'wait', amount, wait_ms: r.retry_after_ms };
  }
  return { action: 'give_up', why: r.reason === 'revoked' ? 'class_revoked' : r.reason === 'ceiling' ? 'hard_limit' : r.reason };
}

// The agents' runtime remembers, per budget, what the admin said no to until the
// window rolls: after "headroom" it asks no more approvals there, after "size" none
// for that amount or more. Returns the reason not to ask, or null.
function approvalBarred(ctx, budget, amount) {
  const no = ctx.denied.get(budget);
  if (!no || nowMs() >= no.until_ms) return null;
  if (no.headroom) return 'admin_said_no_headroom';
  if (amount >= no.size_at_least) return 'admin_said_no_size';
  return null;
}

function rememberDenial(ctx, budget, note, amount) {
  const ends = (ctx.boundaries[budget] || []).filter((t) => t > nowMs());
  const until = ends.length ? Math.min(...ends) : Infinity;
  const no = ctx.denied.get(budget);
  const fresh = !no || nowMs() >= no.until_ms;
  const cur = fresh ? { until_ms: until, headroom: false, size_at_least: Infinity } : no;
  if (/^headroom/.test(note || '')) cur.headroom = true;
  else if (/^size/.test(note || '')) cur.size_at_least = Math.min(cur.size_at_least, amount);
  ctx.denied.set(budget, cur);
}

// A call that outlives a daemon restart: connection errors and 503s are retried
// (mutations carry idempotency keys, so a retry never applies twice).
// With `fullIsAnswer`, a 503 `full` (the bound of pending approvals) is an answer to
// count, not a restart to wait out.
async function reliable(ctx, method, route, body, fullIsAnswer = false) {
  const deadline = nowMs() + 15000;
  for (;;) {
    try {
      const res = await ctx.client.call(method, route, body);
      const full = fullIsAnswer && res.json && res.json.error && res.json.error.code === 'full';
      if (res.status !== 503 || full || nowMs() > deadline) return res;
    } catch (e) {
      if (nowMs() > deadline) throw e;
    }
    ctx.retriedRequests++;
    await sleep(20);
  }
}

// Before paging a person: will there be room under the hard limit when they answer?
// The agents' runtime (one process for all agents, like this simulator) reads the
// budgets of the path (spend and open holds), and knows what its agents have asked and
// not yet heard back on, how fast its agents' grants on that budget have been taking
// room (over the last RATE_WINDOW_MS, of the classes with room left there), and how
// long the admin has taken to answer (the mean so far; ADMIN_DELAY_PRIOR_MS before
// any answer). It asks only when the amount is at most APPROVAL_HEADROOM_SHARE of the
// room projected at that answer; otherwise the call gives up at once, counted as such
// (`approval_unlikely`). The approval analogue of a waiting hold's wait_likely: page a
// person when it is likely to work.
const APPROVAL_HEADROOM_SHARE = 0.5;
const RATE_WINDOW_MS = 500;
const ADMIN_DELAY_PRIOR_MS = 250;

async function approvalLikely(ctx, budget, amount) {
  const now = nowMs();
  while (ctx.grants.length && ctx.grants[0].t < now - RATE_WINDOW_MS) ctx.grants.shift();
  const answered = ctx.answers.length ? ctx.answers.reduce((a, b) => a + b, 0) / ctx.answers.length : ADMIN_DELAY_PRIOR_MS;
  const parts = budget.split('/');
  for (let i = parts.length; i > 0; i--) {
    const path = parts.slice(0, i).join('/');
    const res = await reliable(ctx, 'GET', `/v1/budgets/${path}`);
    if (res.status !== 200 || res.json.limit_micros === null) continue;
    const under = (b) => b === path || b.startsWith(`${path}/`);
    let asked = 0;
    for (const [b, sum] of ctx.asking) if (under(b)) asked += sum;
    // Only the classes still granted there can take room while the person decides.
    const open = (cls) => {
      const c = res.json.classes && res.json.classes[cls];
      return !c || (!c.revoked && c.remaining_micros !== 0);
    };
    const rate = ctx.grants.filter((g) => under(g.budget) && open(g.cls)).reduce((sum, g) => sum + g.amount, 0) / RATE_WINDOW_MS;
    const room = res.json.limit_micros - res.json.spent_micros - res.json.held_micros - asked - rate * answered;
    if (amount > APPROVAL_HEADROOM_SHARE * room) return false;
  }
  return true;
}

// The trace of an approval's answer: the refusal that opened it (decided before the
// admin first saw it pending), and, when a person approved it, the ledger's reserve at
// the class approved (decided between the approve request's send and this reply), so
// the oracle judges that grant against the approved class's ceiling.
function approvalOps(ctx, op, res) {
  const a = res.json.approval;
  const rec = ctx.admin ? ctx.admin.record(a.id) : null;
  const seen = rec ? rec.seen_ms : op.t1;
  Object.assign(op, { granted: false, reason: 'revoked', refused_by: a.refused_at, t1: Math.min(op.t1, seen),
    approval_id: a.id, approval_state: a.state, approval_outcome: a.outcome, approval_why: rec ? rec.why : null });
  if (a.state !== 'approved') return null;
  const decided = { ...op, attempt: op.attempt + 1, t0: rec && rec.decide_t0 ? rec.decide_t0 : op.t0, t1: nowMs(),
    cls: a.approved_class, policy_cls: op.cls, approved_micros: a.approved_micros, advice: undefined };
  ctx.trace.push(decided);
  return decided;
}

async function runCall(ctx, agent, key, call, where) {
  let amount = call.estimate;
  let via = 'first';
  const mode = ctx.scenario.retry.mode;
  for (let attempt = 1; ; attempt++) {
    const body = { budget: agent.budget, amount_micros: amount, tool: call.tool, idempotency_key: `h-${key}-${attempt}` };
    if (call.model) body.model = call.model;
    if (via === 'approval') {
      // Ask a person (docs/api.md, "Approvals"), as patient as for a waiting hold; the
      // reason tells the admin what the call is for and whether it finishes its task.
      body.approval = { wait_ms: ctx.scenario.retry.max_wait_ms,
        reason: `${call.tool}: call ${where.c + 1} of ${where.n} of its task` };
    } else if (mode === 'wait' || mode === 'full') {
      // Waiting holds: the daemon queues a hold that could fit within the same patience the
      // advice policy has (max_wait_ms) and answers when it is granted or refused.
      // wait_likely: queue only when the open holds are likely to make room, so an agent
      // does not wait in vain for money live agents are about to commit (docs/api.md).
      body.wait_ms = ctx.scenario.retry.max_wait_ms;
      body.wait_likely = true;
      // A call that can run smaller says how small (shrink to fit): when waiting is unlikely
      // to help, the daemon grants the largest amount from that up that fits now, in the same
      // decision, so the shrunk retry cannot lose the room to another agent in between.
      if (call.shrinkable && ctx.minShrink < amount) body.min_amount_micros = ctx.minShrink;
    }
    const t0 = nowMs();
    if (via === 'approval') ctx.asking.set(agent.budget, (ctx.asking.get(agent.budget) || 0) + amount);
    const res = await reliable(ctx, 'POST', '/v1/holds', body, via === 'approval');
    if (via === 'approval') ctx.asking.set(agent.budget, ctx.asking.get(agent.budget) - amount);
    let op = { type: 'hold', key, agent: agent.agent, budget: agent.budget, tool: call.tool,
      label: call.label, cls: call.cls, amount, attempt, via, t0, t1: nowMs(), status: res.status };
    if (res.json && res.json.waited_ms !== undefined && via !== 'approval') op.waited_ms = res.json.waited_ms; // it queued
    ctx.trace.push(op);
    if (via === 'approval' && res.status === 503) {
      // Past the daemon's bound of pending approvals: refused for its class, and nobody asked.
      Object.assign(op, { granted: false, reason: 'revoked', status: 402, approval_state: 'full', advice: 'give_up' });
      return null;
    }
    if (via === 'approval' && res.json && res.json.approval) {
      if (['approved', 'denied'].includes(res.json.approval.state) && res.json.waited_ms !== undefined) ctx.answers.push(res.json.waited_ms);
      const decided = approvalOps(ctx, op, res);
      if (decided) op = decided;
      if (res.json.approval.state === 'denied') rememberDenial(ctx, agent.budget, res.json.approval.note, amount);
    }
    if (res.status === 200 && res.json.granted && res.json.shrunk_from_micros !== undefined) {
      // Shrunk to fit: the ask was refused and the smaller amount granted in one decision;
      // the trace keeps both (the refusal, then the grant as its shrink retry).
      Object.assign(op, { granted: false, reason: 'shrunk', advice: 'shrink', status: 402 });
      ctx.trace.push({ ...op, amount: res.json.amount_micros, attempt: attempt + 1, via: 'shrink', status: 200, advice: undefined,
        reason: undefined, granted: true, hold_id: res.json.hold_id, expires_at_ms: res.json.expires_at_ms - ctx.offset,
        daemon_class: res.json.class,
        ...(res.json.replayed ? {} : { daemon_ms: res.json.expires_at_ms - (ctx.scenario.hold_ttl_ms || 600000) }) });
      ctx.grants.push({ t: nowMs(), budget: agent.budget, cls: res.json.class, amount: res.json.amount_micros });
      return { hold_id: res.json.hold_id, amount: res.json.amount_micros };
    }
    if (res.status === 200 && res.json.granted) {
      // Approved grants are this runtime's own asks, counted while pending (ctx.asking).
      if (via !== 'approval') ctx.grants.push({ t: nowMs(), budget: agent.budget, cls: res.json.class, amount });
      Object.assign(op, { granted: true, status: 200, reason: undefined, hold_id: res.json.hold_id,
        expires_at_ms: res.json.expires_at_ms - ctx.offset, daemon_class: res.json.class });
      // The daemon's clock when it decided (expiry = decision + TTL), unless replayed.
      if (!res.json.replayed) op.daemon_ms = res.json.expires_at_ms - (ctx.scenario.hold_ttl_ms || 600000);
      return { hold_id: res.json.hold_id, amount };
    }
    if (res.status !== 402) throw new Error(`hold: HTTP ${res.status} ${res.text}`);
    const r = res.json.refusal;
    Object.assign(op, { granted: false, status: 402, reason: r.reason, refused_by: r.budget,
      max_amount: r.max_amount_micros, retry_after_ms: r.retry_after_ms });
    if (via === 'approval' && res.json.approval) {
      // Denied, expired, or approved when the money had gone: a person was asked, and
      // there is nothing left to try for this call.
      op.advice = 'give_up';
      return null;
    }
    let barred = mode === 'full' ? approvalBarred(ctx, agent.budget, amount) : null;
    let advice = retryAdvice(ctx.scenario.retry, call, amount, r, attempt, ctx.minShrink, op.waited_ms !== undefined, barred);
    if (advice.action === 'approval' && !(await approvalLikely(ctx, agent.budget, amount))) {
      barred = 'approval_unlikely';
      advice = retryAdvice(ctx.scenario.retry, call, amount, r, attempt, ctx.minShrink, op.waited_ms !== undefined, barred);
    }
    op.advice = advice.action;
    if (advice.why) op.give_up = advice.why;
    if (advice.action === 'give_up') return null;
    if (advice.action === 'wait') await sleep(advice.wait_ms);
    amount = advice.amount;
    via = advice.action;
  }
}

async function commit(ctx, hold, actual) {
  const t0 = nowMs();
  const res = await reliable(ctx, 'POST', `/v1/holds/${hold.hold_id}/commit`,
    { actual_micros: actual, idempotency_key: `c-${hold.hold_id}` });
  if (res.status === 404 && res.json && res.json.error && res.json.error.code === 'not_found') {
    // The agent came back after its hold's TTL (a loaded machine runs the agents late):
    // the hold expired and nothing is charged, as for a crash. Counted, never hidden.
    ctx.trace.push({ type: 'late', hold_id: hold.hold_id, t0, t1: nowMs() });
    return;
  }
  if (res.status !== 200) throw new Error(`commit: HTTP ${res.status} ${res.text}`);
  ctx.trace.push({ type: 'commit', hold_id: hold.hold_id, held: hold.amount, actual, t0, t1: nowMs(),
    charge_id: res.json.charge_id, charged: res.json.charged_micros, overrun: res.json.overrun_micros });
}

async function runAgent(ctx, agent) {
  await sleep(agent.start_ms);
  for (let t = 0; t < agent.tasks.length; t++) {
    const task = agent.tasks[t];
    for (let c = 0; c < task.calls.length; c++) {
      const call = task.calls[c];
      const hold = await runCall(ctx, agent, `${agent.agent}.${t}.${c}`, call, { c, n: task.calls.length });
      if (!hold) break; // gave up: the task ends
      await sleep(call.duration_ms);
      if (task.crash_at === c) {
        ctx.trace.push({ type: 'crash', hold_id: hold.hold_id, t0: nowMs(), t1: nowMs() });
        await sleep(ctx.scenario.restart_ms || 20);
        break;
      }
      const actual = hold.amount < call.estimate ? Math.min(call.actual, hold.amount) : call.actual;
      await commit(ctx, hold, actual);
      await sleep(call.think_ms);
    }
  }
}

// Every event, with the time the poller first saw it.
async function pollEvents(ctx, stopped) {
  let since = 0;
  for (;;) {
    const res = await reliable(ctx, 'GET', `/v1/events?since=${since}&limit=1000`);
    const seen = nowMs();
    if (res.status === 200) {
      for (const e of res.json.events) {
        ctx.events.push({ ...e, time_ms: e.time_ms - ctx.offset, daemon_time_ms: e.time_ms, seen_ms: seen });
        if (e.kind === 'revoked' && ctx.scenario.integrity_after_revocation) ctx.integrityChecks.push(checkIntegrity(ctx, e));
      }
      if (res.json.next !== null && res.json.next !== undefined) since = res.json.next;
    }
    if (stopped() && (res.status !== 200 || res.json.events.length === 0)) return;
    await sleep(ctx.scenario.poll_ms || 10);
  }
}

async function fetchCharges(ctx, roots) {
  const rows = [];
  for (const root of roots) {
    let after = 0;
    for (;;) {
      const res = await reliable(ctx, 'GET', `/v1/charges?budget=${encodeURIComponent(root)}&after=${after}&limit=1000`);
      if (res.status !== 200) throw new Error(`charges: HTTP ${res.status} ${res.text}`);
      rows.push(...res.json.charges);
      if (res.json.next === null || res.json.next === undefined || res.json.charges.length === 0) break;
      after = res.json.next;
    }
  }
  return rows;
}

// After a revocation: every commit acknowledged so far is in the ledger exactly once.
async function checkIntegrity(ctx, event) {
  const acked = ctx.trace.filter((op) => op.type === 'commit');
  const charges = await fetchCharges(ctx, ctx.roots);
  const byId = new Map();
  for (const c of charges) byId.set(c.id, (byId.get(c.id) || 0) + 1);
  const costOf = new Map(charges.map((c) => [c.id, c.cost_micros]));
  const bad = acked.filter((op) => byId.get(op.charge_id) !== 1 || costOf.get(op.charge_id) !== op.charged);
  return { event_id: event.id, acked: acked.length, missing_or_wrong: bad.length };
}

// Waits (at most `ms`) until every notifiable event the poller saw reached the webhook.
async function awaitWebhooks(ctx, receiver, ms) {
  const kinds = new Set(['revoked', 'reinstated', 'threshold_crossed', 'overrun', 'hold_expired', 'window_rolled']);
  const deadline = nowMs() + ms;
  for (;;) {
    const got = new Set(receiver.received.map((w) => w.id));
    const missing = ctx.events.filter((e) => kinds.has(e.kind) && !got.has(e.id)).length;
    if (missing === 0 || nowMs() > deadline) return missing;
    await sleep(20);
  }
}

// How far the daemon's clock is ahead of ours (0 unless its clock was shifted): a
// probe hold of 1 micro on a root budget, released at once, and kept in the trace.
async function measureOffset(ctx, root) {
  const ttl = 60000;
  const t0 = nowMs();
  const res = await reliable(ctx, 'POST', '/v1/holds', { budget: root, amount_micros: 1, ttl_ms: ttl });
  const t1 = nowMs();
  if (res.status !== 200 || !res.json.granted) throw new Error(`clock probe: HTTP ${res.status} ${res.text}`);
  const offset = res.json.expires_at_ms - ttl - (t0 + t1) / 2;
  ctx.offsetError = (t1 - t0) / 2 + 1;
  ctx.trace.push({ type: 'hold', key: 'probe', agent: -1, budget: root, tool: null, label: 'routine', cls: 'normal',
    amount: 1, attempt: 1, t0, t1, status: 200, granted: true, hold_id: res.json.hold_id,
    expires_at_ms: res.json.expires_at_ms - offset, daemon_class: res.json.class, daemon_ms: res.json.expires_at_ms - ttl });
  const r0 = nowMs();
  await reliable(ctx, 'POST', `/v1/holds/${res.json.hold_id}/release`, {});
  ctx.trace.push({ type: 'release', hold_id: res.json.hold_id, t0: r0, t1: nowMs() });
  return offset;
}

// The offset from the daemons' own stamps: a granted hold was decided at daemon time
// daemon_ms (whole ms) between its send t0 and reply t1 on our clock, so the offset
// lies in [daemon_ms - t1, daemon_ms + 1 - t0] for every hold; the intersection over
// a run's holds is far tighter than one probe's round trip on a loaded machine.
// Returns {offset_ms, error_ms} (error: half the interval), or null if the stamps
// disagree (the clock stepped) or there are none.
function offsetFromStamps(trace) {
  let lo = -Infinity, hi = Infinity;
  for (const op of trace) {
    if (op.type !== 'hold' || op.daemon_ms === undefined) continue;
    lo = Math.max(lo, op.daemon_ms - op.t1);
    hi = Math.min(hi, op.daemon_ms + 1 - op.t0);
  }
  if (!(lo <= hi) || !Number.isFinite(lo) || !Number.isFinite(hi)) return null;
  return { offset_ms: (lo + hi) / 2, error_ms: (hi - lo) / 2 };
}

// Moves every time converted with ctx.offset to the refined offset.
function applyOffset(ctx, boundaries, refined) {
  const delta = refined.offset_ms - ctx.offset;
  for (const op of ctx.trace) if (op.expires_at_ms !== undefined) op.expires_at_ms -= delta;
  for (const e of ctx.events) e.time_ms -= delta;
  for (const list of Object.values(boundaries)) list.forEach((t, i) => { list[i] = t - delta; });
  ctx.offset = refined.offset_ms;
}

// Window boundaries (our clock) of each budget that fall within `horizonMs` from now.
async function windowBoundaries(ctx, scenario, horizonMs) {
  const out = {};
  for (const b of scenario.budgets) {
    const res = await reliable(ctx, 'GET', `/v1/budgets/${b.path}`);
    const end = res.json.window_end_ms === null ? null : res.json.window_end_ms - ctx.offset;
    out[b.path] = end !== null && end < nowMs() + horizonMs ? [end] : [];
  }
  return out;
}

// p50 and p99 of a Prometheus histogram in the daemon's /metrics, as the upper bound
// (ms) of the bucket that holds them: the latency inside the daemon, without the
// simulator's own event loop. Counts since the daemon's last start.
function histogramQuantiles(text, name) {
  const buckets = [];
  const re = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\d+)$`, 'gm');
  for (let m = re.exec(text); m; m = re.exec(text)) buckets.push({ le: m[1] === '+Inf' ? Infinity : Number(m[1]), count: Number(m[2]) });
  const total = buckets.length ? buckets[buckets.length - 1].count : 0;
  if (!total) return null;
  const at = (q) => {
    const b = buckets.find((x) => x.count >= q * total);
    return b.le === Infinity ? null : b.le * 1000;
  };
  return { count: total, p50_ms_at_most: at(0.5), p99_ms_at_most: at(0.99) };
}

async function runPlan(client, scenario, plan, receiver = null, seed = scenario.seed) {
  const roots = scenario.budgets.filter((b) => !b.path.includes('/')).map((b) => b.path);
  const minShrink = Math.round(Number(scenario.retry.shrink_min || '0.01') * 1e6);
  const ctx = { client, scenario, trace: [], events: [], integrityChecks: [], roots, minShrink, retriedRequests: 0, offset: 0,
    denied: new Map(), asking: new Map(), grants: [], answers: [], boundaries: {}, admin: null };
  if (client.clockShifted) ctx.offset = await measureOffset(ctx, roots[0]);
  const boundaries = await windowBoundaries(ctx, scenario, 600000);
  ctx.boundaries = boundaries;
  // `--retry full`: an on-call admin answers the approvals the agents ask for.
  if (scenario.retry.mode === 'full') ctx.admin = startAdmin((m, r, b) => reliable(ctx, m, r, b), scenario, seed, nowMs);
  let done = false;
  const poller = pollEvents(ctx, () => done);
  const started = nowMs();
  const restarts = [];
  let killer = Promise.resolve();
  if (scenario.kill_at_ms) {
    killer = sleep(scenario.kill_at_ms).then(async () => {
      const killed = nowMs();
      await client.kill9();
      await client.restart();
      restarts.push({ killed_ms: killed, back_ms: nowMs() });
    });
  }
  await Promise.all(plan.map((agent) => runAgent(ctx, agent)));
  await killer;
  if (ctx.admin) await ctx.admin.stop();
  const finished = nowMs();
  const ttl = scenario.hold_ttl_ms || 600000;
  // Let crashed agents' holds expire so the ledger's end state is final.
  if (ctx.trace.some((op) => op.type === 'crash')) await sleep(Math.min(ttl + 300, 5000));
  done = true;
  await poller;
  // A shifted clock: the probe's offset is off by up to half its round trip, which on a
  // loaded machine is hundreds of ms, and decisions cluster at a rollover (agents wait
  // for it); refine it from every hold's own stamp.
  let offsetError = 0;
  if (client.clockShifted) {
    const refined = offsetFromStamps(ctx.trace);
    if (refined && refined.error_ms < ctx.offsetError) {
      applyOffset(ctx, boundaries, refined);
      offsetError = refined.error_ms;
    } else {
      offsetError = ctx.offsetError;
    }
  }
  const webhooksMissing = receiver ? await awaitWebhooks(ctx, receiver, 5000) : null;
  const charges = (await fetchCharges(ctx, roots)).map((c) => ({ ...c, time_ms: c.time_ms - ctx.offset }));
  const chargeTime = new Map(charges.map((c) => [c.id, c.time_ms]));
  for (const op of ctx.trace) if (op.type === 'commit') op.charge_time_ms = chargeTime.get(op.charge_id);
  const budgets = [];
  for (const b of scenario.budgets) {
    const res = await reliable(ctx, 'GET', `/v1/budgets/${b.path}`);
    budgets.push(res.json);
  }
  const integrity = await Promise.all(ctx.integrityChecks);
  const metrics = await reliable(ctx, 'GET', '/metrics');
  const daemonLatency = metrics.status === 200 ? {
    request: histogramQuantiles(metrics.text, 'tollgate_request_seconds'),
    commit: histogramQuantiles(metrics.text, 'tollgate_store_commit_seconds'),
  } : null;
  return { started, finished, trace: ctx.trace, events: ctx.events, charges, budgets, integrity, restarts,
    retried_requests: ctx.retriedRequests, daemon_latency: daemonLatency, webhooks_missing: webhooksMissing, offset_ms: ctx.offset,
    offset_error_ms: offsetError, boundaries,
    webhooks: receiver ? receiver.received.map((w) => ({ ...w, time_ms: w.time_ms - ctx.offset })) : [] };
}

module.exports = { runPlan, retryAdvice, fetchCharges, nowMs, histogramQuantiles, offsetFromStamps };
