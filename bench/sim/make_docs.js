#!/usr/bin/env node
// `make indicators`: runs every shipped scenario against the daemon, writes each one's
// JSON and HTML report into OUT_DIR, and regenerates docs/indicators.md from the
// measured figures.
//
//   node bench/sim/make_docs.js BINARY OUT_DIR [DOC]
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execSync } = require('node:child_process');
const { listScenarios, loadScenario } = require('./scenario');
const { simulate, writeOutputs } = require('./sim');
const { textTable, summaryText } = require('./report');

const dollars = (m) => `$${(m / 1e6).toFixed(2)}`;
const exact = (m) => `$${(m / 1e6).toFixed(6)}`;

// The answer the dishonest scenario exists for, in words, from this run's figures.
function overshootAnswer(result) {
  const arm = (via, aboveHold) => result.arms.find((a) => a.via === via && (aboveHold === undefined || a.above_hold === aboveHold));
  const out = [];
  const charge = arm('api', 'charge'), cap = arm('api', 'cap'), proxy = arm('proxy');
  if (charge) {
    out.push(`- **Dishonest commits on the JSON API, \`above_hold: charge\` (the default): overshoot ` +
      `${exact(charge.overshoot_micros)}** in this run. An agent key's commit above its hold is charged in full ` +
      `(${dollars(charge.claimed)} claimed in ${charge.committed} commits and ${charge.recorded} records, ${charge.overrun_events} ` +
      '`overrun` events): the ledger tells the truth it was given, and the first commit that takes spend past the limit ' +
      'locks the budget for every class (`locked`), so every later hold is refused. What passes the limit is the ' +
      'claims of holds granted before the lock, so the overshoot is bounded by how much the agents in flight at that ' +
      'moment lie, not by anything Tollgate checks: it is not 0 and cannot be with `charge`.');
  }
  if (cap) {
    out.push(`- **The same agents, \`above_hold: cap\`: overshoot ${exact(cap.overshoot_micros)}.** Each of the ` +
      `${cap.capped} commits above its hold was charged the hold only (\`capped: true\`), and the holds were admitted ` +
      `against the limit, so spend cannot pass it; the ${dollars(cap.claimed - cap.charged_micros)} claimed beyond what ` +
      `was charged is in ${cap.capped_events} \`overrun\` events (detail \`capped\`) for an admin to record with ` +
      '`force` if they believe it. The price is truthfulness: with a lying agent the ledger under-counts instead.');
  }
  const api = [charge, cap].filter(Boolean);
  if (api.length) {
    const forbidden = api.reduce((s, a) => s + a.force_forbidden, 0);
    out.push('- **Records without a hold** (`POST /v1/charges`) are admitted like a hold, against every limit, and ' +
      `refused with 402 when they do not fit; \`force\` is an admin's alone (${forbidden} forced records by agent ` +
      'keys answered 403). So an agent that never reserves cannot pass a limit by recording; an admin\'s forced record ' +
      'can, by design (a cost already incurred elsewhere).');
  }
  if (proxy) {
    const why = Object.entries(proxy.bad_requests).map(([k, n]) => `${k}: ${n}`).join('; ');
    out.push(`- **Through the LLM proxy: overshoot ${exact(proxy.overshoot_micros)}** over ${proxy.answered} answered calls ` +
      `(${proxy.refused} refused 429 when their bound did not fit, ${proxy.bad_request} refused 400${why ? ` (${why})` : ''}; ` +
      `${proxy.overrun_events} \`overrun\` events). The agent never states a cost: each hold is ` +
      'the bound the proxy computes from the request (docs/proxy.md, "What a hold covers"), a request without an ' +
      'output cap is given one the budget affords (and the upstream enforces it), and the call is settled from ' +
      'the usage the upstream reports, which even billing the most it could stayed within the hold. On this path ' +
      'an agent can neither hold too little nor claim a cost.');
  }
  return `Answer, from this run:\n\n${out.join('\n')}`;
}

const intro = `# Indicators

Tollgate's promises, measured by the scenario simulator (\`bench/sim\`, issue 8) against
a real \`tollgate serve\` over HTTP, side by side with a naive tracker (add each call's
cost when it ends, cancel everything once the running total passes the limit) run on
the same workload plan. Regenerate this page with \`make indicators\`; one scenario
with \`node bench/sim/sim.js --scenario NAME --report [--out DIR]\` (\`--binary
build/tollgate\` by default, or \`TG_BINARY\`). Every figure below was measured by the
command under its table; nothing is typed in by hand.

The scenarios are files in \`bench/sim/scenarios/\` (their fields are described at the
top of \`bench/sim/scenario.js\`); a new file is a new scenario.

How to read it:

- **The plan** is deterministic from the scenario's seed (agents, tasks, calls, heavy-tailed
  costs, estimate errors, crashes). The run is real concurrency, so decisions differ
  slightly from run to run; the oracle judges each run's own trace.
- **The oracle** (\`bench/sim/oracle.js\`, tested on hand-written traces in
  \`tests/sim/sim_oracle.test.js\`) recomputes every decision from the budgets' rules
  (\`docs/ledger.md\`): a decision is *allow* if it fits its class ceiling on every
  budget of its path in any order of the requests in flight beside it, *refuse* if it
  fits in none, *concurrent* otherwise (either answer is right). It also checks the
  limits, and every acknowledged commit against \`GET /v1/charges\` (exactly once, same cost,
  nothing unacknowledged) and the budgets' spend against the sum of their charges.
- **Latencies** are measured by the simulator, a Node.js process on the same machine
  that plays every agent: they include its own event-loop queueing, which dominates
  under the burst's 300 agents. The ledger runs \`durability: strict\` (a reply waits
  for its group commit's fsync) in every scenario but support-relaxed.
- **Revocation latency** is from the send of the commit that reached a class ceiling to
  the \`revoked\` event's time (events carry whole milliseconds, so it is an upper bound).
- **Notification latency** is from a \`revoked\` or \`threshold_crossed\` event's time to
  its webhook POST reaching the simulator's receiver (the daemon's \`notify:\` sink, one
  generic webhook; \`immediate\` urgency except the coding scenario's 2 s digest). The
  table also gives when the simulator saw the event by polling \`GET /v1/events\` every 10 ms.
- **Crashes**: agents crash after taking a hold and leave it open (it expires after the
  scenario's hold TTL); the data scenario also kills the daemon with SIGKILL mid-run
  and restarts it on the same ledger, the agents retrying with their idempotency keys.
- **Retry success** (the seed's "successful retries / all retries") counts the calls
  refused at first that the retry policy tried again, and of those the share granted in
  the end. The first run of each scenario follows the advice only (shrink to
  \`max_amount_micros\` when the call can shrink, or wait \`retry_after_ms\` up to 2 s; the
  target is above 85%). Each scenario also runs the same plan a second time with the issue-18 policy
  (\`--retry full\`; rows marked "waiting holds and approvals", target > 95%):
  - every hold carries \`wait_ms\` = 2 s (the same patience) with \`wait_likely\`, and a
    call that can shrink \`min_amount_micros\` (the scenario's \`shrink_min\`): the daemon
    queues a hold only when waiting is likely to work (a window rolls within the wait,
    or open holds are likely to free the room, \`docs/ledger.md\`), else grants a
    shrinkable call the largest amount that fits now in the same decision; a queued hold
    and a shrunk grant count as refused, then retried;
  - a refusal whose \`next.approval.possible\` says a person may let it through (its class
    stops it, not the hard limit) asks for an approval (\`approval: {wait_ms: 2000,
    reason}\`, the reason naming the call's place in its task), when the agents' runtime
    judges it likely to work: the amount is at most half the room under every hard limit
    of its path projected to when the admin will answer (spend, open holds and the
    runtime's own pending asks taken off, and the room the classes still granted there
    took over the last 500 ms, times the admin's mean answer time so far, 250 ms before
    the first). Otherwise, and after the admin said no for headroom on that budget this
    window (or to that size), the call gives up at once, counted as given up, with why;
  - the simulated admin (\`bench/sim/admin.js\`) answers over the real API after a delay
    drawn from the seed (50-400 ms, one decision at a time, in the compressed time of
    the run where a call lasts milliseconds): it approves (class \`critical\`, so the
    ledger checks the hard limit) a request that is small (at most 1% of the refusing
    budget's limit) or finishes its task, while spend, holds and the amount stay within
    every hard limit of its path; it denies the rest, with a note saying why. Denied,
    expired, approved-when-the-money-had-gone and past-the-bound approvals all count
    as failed retries. The oracle judges an approved grant at the class approved.
  The row gives, by the last way each call was retried, the calls granted of those
  tried, the approvals asked and how each ended, and the calls given up without a retry
  and why.
- **Overshoot with dishonest agents** (the \`dishonest\` scenario, issue 13; \`bench/sim/overshoot.js\`):
  the other scenarios' estimate errors are modest; this one has agents that lie outright (hold 1-20%
  of a call's cost and commit all of it, or record with no hold) on the JSON API, and agents that call
  the LLM proxy with absent or oversized output caps against an upstream that bills the most the
  provider could. Overshoot there is read from the ledger: the sum of \`GET /v1/charges\` under the
  budget in its window, minus its limit (checked against the budget's own \`spent_micros\`).
`;

const gaps = `## Gaps and findings

- **Tracking latency (target p99 < 1 ms) is not met** as the simulator sees it over
  HTTP. With \`durability: strict\` a granted hold and a commit wait for their group
  commit's fsync: on a quiet machine p50 is under 1 ms and p99 several ms with 16-20
  agents (on a loaded one, see the footer's load average, every latency grows with
  the load and this page's may be far above that), and the
  daemon's own histogram (\`/metrics\`, given in the row) shows the same tail, as a
  request can wait for the commit in flight and then its own. The burst's figures are
  dominated by the simulator's own event loop (300 agents in one Node process).
  Refusals need no fsync. In support-relaxed (no fsync wait) the daemon's histogram
  puts p99 within the target; what the simulator sees beyond that is its own event loop
  and the CPUs it shares with the daemon (see the footer). Throughput and latency of the
  HTTP API under load are in \`docs/benchmarks-api.md\`.
- **Retry success with waiting holds and approvals (issue 18, target > 95%)**: see each
  scenario's row; the figures differ from run to run (real concurrency), and a row with
  a handful of retries moves by several points per failed one. What decides it:
  - *Approvals help where the band between the revocation threshold and the hard limit
    outlasts a person's answer.* In data (a $200 band, high work capped at $1900) and
    long-day (hour windows), many routine calls refused for their class ask, and most
    asks are approved; the row says why each denial was made (\`size\`: more than 1% of
    the limit and not finishing its task, after which the runtime asks no more at or
    above that size; \`headroom\`: the room had gone by the time the admin looked).
  - *Where critical work fills the band about as fast as a person answers, approvals
    cannot help and are not asked for.* In support ($20 band), coding ($50) and burst
    ($30 shared by 300 agents), the critical calls still granted take the room within a
    few hundred ms of the revocation, the time the admin takes to answer (50-400 ms):
    the runtime's projection finds no room for the asks, and the calls give up at once
    ("too little room under the hard limit for an approval to be likely" in the row). The
    retries left there are the shrunk and queued ones, few, so one failure would move the
    row by tens of points. An admin who answered faster, or a budget that kept a wider
    band for approvals, would change that; asking anyway fails: with the projection off
    (the runtime asking whenever the room now, less its pending asks, was twice the
    amount), 10 of 10 of support's asks were denied in a run made while
    building this.
  - *The first asks at a revocation are a guess.* Every routine agent is refused in the
    same few ms, before the runtime has seen the admin answer; when many ask at once the
    admin, deciding one at a time on fresh figures, denies those the room no longer
    covers, and those are failed retries. A burst run with this policy made while
    building this asked 28 times: 3 approved, 21 denied, 4 granted at once without a
    person (34% retry success); other burst runs asked nothing. Burst's row can
    therefore miss the target by far: six runs of
    \`node bench/sim/sim.js --scenario burst --seed 4 --retry full --report\` on 7 December
    (load 1.4 to 5) gave 7.14%, 12.90%, 13.04% and 100%, and "n/a" (nothing retried)
    twice; 26 to 40 asks were denied for headroom in the three that missed.
  - Given-up calls are counted beside the ratio with their reason, never folded into it:
    the hard limit reached (nothing but a new window helps), class revoked with an
    approval unlikely, or after the admin's "no" on that budget this window. The
    runtime's rule has tuning constants (half the projected room, a 500 ms rate window,
    250 ms before the admin's first answer, \`bench/sim/runner.js\`); a bolder one asks more,
    gets more calls through and fails more of its asks.
  - Waiting holds (\`wait_likely\`) queue only when the open holds are likely to make room;
    the share of a hold that commits is one figure per daemon, learnt in memory (a
    restart learns again), and holds of crashed agents that expire within the wait are
    not predicted. \`--retry wait\` (waiting holds and shrink, no approvals) is still there
    for comparison.
- **Retry success after refusal (target > 85%) is not met** where no window rolls; it comes
  near the target only in long-day (\`retry_after_ms\` points at the rollover, and waiting
  for it mostly succeeds; see that table for this run's figure). Shrinking to
  \`max_amount_micros\` mostly succeeds; the waits mostly fail. \`retry_after_ms\` is the
  earliest expiry by which enough open holds would have gone to make room, the holds
  still open counted in full (\`docs/ledger.md\`), which is right when holds are
  abandoned (crashed agents) but not when live agents commit them: the money then becomes
  spend, the class is revoked, and the retry is refused again (\`revoked\`, retry at the
  next window). The waiting-holds path now predicts that (the share of a hold that
  commits, learnt per daemon); a plain refusal's \`retry_after_ms\` still counts holds in
  full, as the Redis ledger computes the same advice and must agree with the local one
  (\`tests/redis\`).
- **Window rollovers use a faked clock**: the daemon reads the real clock and has no
  test clock, so the long-day scenario preloads libfaketime (Debian \`faketime\`, installed
  by \`scripts/setup\`) to start the daemon's clock 1.5 s before an hour boundary; the
  simulator converts the daemon's times with the offset between the two clocks, taken
  from every granted hold's own stamp (its expiry minus its TTL is the daemon's clock
  when it decided, between the request's send and its reply): known to about a
  millisecond, and a decision that near a boundary counts as either answer. (One probe
  hold's round trip, hundreds of ms on a loaded machine, left the boundary tens of ms
  off, and the decisions that cluster at a rollover were misjudged: a recorded run
  judged with its boundary 20-50 ms late gives 97-98% revocation accuracy, what
  \`sim_run\` saw under load.) One
  rollover per run, not a whole day of them; without libfaketime the summary says
  \`clock: real\` and no window rolls. A test clock in the daemon (e.g. a config
  \`clock: {start_ms, speed}\`) would allow a scaled day with many rollovers.
- **Relaxed durability delays notifications**: in support-relaxed the events reach the
  outbox with the delayed sync, so the webhook's latency grows to the order of
  \`sync_interval_ms\` (compare its table with support's). Still within the targets.
- **Naive tracker, critical calls**: it cancels at the hard limit, so once it stops no
  critical call would have fit anyway; its cost is the overshoot and the routine calls
  it lets run past the revocation threshold (counted as wrong decisions).
- **Not yet measured**: revocation -> cancel seen by in-flight holds (\`cancel_requested\`
  on \`GET /v1/holds/{id}\`; the agents here finish a call they started), the LLM proxy
  path beyond overshoot (the dishonest scenario: no decision, latency or notification
  indicators through it), the MCP gateway path, Slack sinks, and
  webhook delivery through a receiver outage (\`tests/integration/notify_outage.test.js\`
  covers that).
`;

async function main() {
  const [binary, outDir, doc = 'docs/indicators.md'] = process.argv.slice(2);
  if (!binary || !outDir) {
    console.error('usage: make_docs.js BINARY OUT_DIR [DOC]');
    process.exit(2);
  }
  let commit = 'unknown';
  try { commit = execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim(); } catch { /* no git */ }
  const loadBefore = os.loadavg();
  const sections = [];
  const order = ['support', 'coding', 'data', 'burst', 'long-day', 'support-relaxed', 'dishonest'];
  const names = listScenarios().sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99));
  for (const name of names) {
    const scenario = loadScenario(name);
    console.log(`indicators: ${name}`);
    const result = await simulate({ scenario: name, binary });
    writeOutputs(result, { out: outDir });
    if (result.kind !== 'overshoot') {
      // The same plan with the issue-18 policy (waiting holds, shrink to fit, approvals
      // asked of a simulated admin): its retry success, overshoot, critical refusals and
      // accuracy go beside the advice-only policy's.
      console.log(`indicators: ${name} with waiting holds and approvals`);
      const full = await simulate({ scenario: name, binary, retry: 'full' });
      writeOutputs(full, { json: path.join(outDir, `${name}-full.json`) });
      const row = (id) => full.indicators.find((r) => r.id === id);
      const tag = (r, what) => ({ ...r, name: `${what} (waiting holds and approvals: \`${full.summary.command}\`)` });
      const at = result.indicators.findIndex((r) => r.id === 'retry_success') + 1;
      result.indicators.splice(at, 0, row('retry_success'),
        tag(row('safety_margin'), 'Overshoot of any hard limit'),
        tag(row('false_revocation_critical'), 'Critical calls refused while affordable'),
        tag(row('revocation_accuracy'), 'Revocation accuracy'));
    }
    sections.push(`## ${name}\n\n${scenario.description}\n\n\`\`\`\n${summaryText(result)}\n\`\`\`\n\n` +
      `${textTable(result)}\n\nCommand: \`${result.summary.command}\` ` +
      `(HTML report${result.kind === 'overshoot' ? '' : ' with plots'}: \`${path.join(outDir, `${name}.html`)}\`).\n` +
      (result.kind === 'overshoot' ? `\n${overshootAnswer(result)}\n` : ''));
  }
  const load = (l) => l.map((x) => x.toFixed(2)).join(' ');
  const footer = `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${os.cpus().length} CPUs ` +
    `(${os.cpus()[0].model.trim()}), Node ${process.version}, tree at ${commit} plus uncommitted changes; ` +
    `load average (1, 5, 15 min) ${load(loadBefore)} before the run, ${load(os.loadavg())} after. The machine is shared ` +
    'with other work: latencies scale with its load, the oracle\'s verdicts and the overshoot figures do not.\n';
  fs.writeFileSync(doc, `${intro}\n${sections.join('\n')}\n${gaps}\n${footer}`);
  console.log(`indicators: wrote ${doc} and ${outDir}/*.html, *.json`);
}

main().catch((e) => {
  console.error(`indicators: ${e.stack || e.message}`);
  process.exit(1);
});
