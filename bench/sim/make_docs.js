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
- **Retry success** counts calls refused at first that the retry policy tried again
  (shrink to \`max_amount_micros\` when the call can shrink, or wait \`retry_after_ms\` up to
  2 s) and that were then granted. Each scenario also runs the same plan a second time
  with **waiting holds** (\`--retry wait\`, issue 18): every hold carries \`wait_ms\` = 2 s
  (the same patience), and a call that can shrink also carries \`min_amount_micros\` (the
  scenario's \`shrink_min\`). The daemon queues a hold only when waiting is likely to work
  (a window rolls within the wait, or the open holds are likely to free the room: the
  share of a hold that usually does not commit, learnt from the holds that closed,
  \`docs/ledger.md\`), and answers when it is granted or refused; a queued hold counts as
  refused-then-retried. Otherwise a call that can shrink is granted the largest amount
  that fits now in the same decision (counted as refused, then retried shrunk and
  granted); any other is refused at once and follows the advice as the other policy does
  (wait \`retry_after_ms\` up to 2 s, then retry: only a window roll is advised then),
  else is given up. Its retry success (target > 95%), overshoot, critical refusals and
  revocation accuracy are the rows marked "waiting holds".
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
- **Retry success with waiting holds (issue 18, target > 95%)**: see each scenario's row.
  A hold queues only when waiting is likely to work, and a call that can shrink is shrunk
  to fit in the same decision, so the retries the policy makes are the ones the daemon
  says can work; in every scenario most refused calls are given up, because the money
  is truly spent for the window (a plan's demand is far above its budgets) or is held by
  live calls that will commit it. Those were the retries that failed before: with the
  earlier rule (queue whenever open holds might free the room, counted in full) 0-32 of
  12-344 queued holds were granted in the scenarios where no window rolls (0-26%; \`git
  log\` of this page). The denominators are small now (0-3 retried calls in those
  scenarios), so one failed retry moves a row by a third or more, and burst can miss the
  target: a hold or two of its 300 agents still queues and is refused (cause not
  established: the learnt share, a critical call granted into the room meanwhile, and
  overruns of up to 1.5x are the suspects).
  The price: a waiter that would have been lucky (its elders' calls committing well below
  their holds) is now refused at once. The share of a hold that commits is one figure per
  daemon, learnt in memory (a restart learns again; before any hold closes, open holds
  count in full as before); holds of crashed agents that expire within the wait are not
  predicted (they count as committing like the others).
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
      // The same plan with waiting holds (every hold carries wait_ms): its retry success,
      // overshoot and critical refusals go beside the advice-only policy's.
      console.log(`indicators: ${name} with waiting holds`);
      const waited = await simulate({ scenario: name, binary, retry: 'wait' });
      writeOutputs(waited, { json: path.join(outDir, `${name}-wait.json`) });
      const row = (id) => waited.indicators.find((r) => r.id === id);
      const tag = (r, what) => ({ ...r, name: `${what} (waiting-holds run: \`${waited.summary.command}\`)` });
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
