// Short simulator runs against the real daemon (TG_BINARY): the oracle must find
// no wrong decision, no overshoot of a limit with honest estimates, every class as
// labelled, no critical call refused while affordable, and every acknowledged commit
// in the ledger exactly once. Latencies are printed by the report, never asserted.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { simulate } = require('../../bench/sim/sim');
const { html, textTable } = require('../../bench/sim/report');

const binary = process.env.TG_BINARY || 'build/tollgate';

for (const scenario of ['support', 'data', 'long-day']) {
  test(`sim ${scenario}: the oracle agrees with every decidable decision`, async () => {
    const result = await simulate({ scenario, binary });
    const row = (id) => result.indicators.find((r) => r.id === id);
    for (const id of ['revocation_accuracy', 'impact_accuracy', 'false_revocation_critical', 'safety_margin', 'data_integrity', 'estimate_error']) {
      assert.ok(row(id).met, `${id}: ${row(id).tollgate_text}`);
    }
    assert.ok(result.summary.decisions > 100, 'the run made decisions');
    assert.ok(result.summary.events.revoked > 0, 'the run reached a revocation');
    assert.equal(result.summary.webhooks_missing, 0, 'every notifiable event reached the webhook');
    assert.equal(result.summary.sanitizer_errors, false, 'no sanitizer report from the daemon');
    for (const b of result.budgets) assert.equal(b.overshoot_honest_micros, 0, b.budget);
    if (result.summary.clock.startsWith('faked')) {
      assert.ok(result.summary.events.window_rolled > 0, 'the faked clock crossed a window boundary');
    }
    assert.equal(textTable(result).split('\n').length, 2 + result.indicators.length);
    const page = html(result);
    assert.ok((page.match(/<svg /g) || []).length >= 4, 'spend, latency and notification plots');
    assert.ok(!/<script|https?:\/\/(?!www\.w3\.org)/.test(page), 'self-contained: no scripts, no external links');
  });
}

// --retry full: waiting holds, shrink to fit and approvals answered by the simulated admin
// (bench/sim/admin.js) over the real API. The data scenario without its kill -9, with an
// admin who finds little "small" (0.2% of the limit), so both verdicts come up: the path
// must be exercised and counted, every approved grant judged at the class approved.
test('sim full retry: approvals asked, approved and denied, all counted and judged', async () => {
  const fs = require('node:fs');
  const os = require('node:os');
  const path = require('node:path');
  const { loadScenario } = require('../../bench/sim/scenario');
  const base = loadScenario('data');
  const scenario = { ...base, name: 'data-approvals', kill_at_ms: undefined, integrity_after_revocation: false,
    admin: { small_fraction: 0.002 } };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sim-approvals-'));
  const file = path.join(dir, 'data-approvals.json');
  fs.writeFileSync(file, JSON.stringify(scenario));
  try {
    const result = await simulate({ scenario: file, binary, retry: 'full' });
    const row = (id) => result.indicators.find((r) => r.id === id);
    for (const id of ['revocation_accuracy', 'impact_accuracy', 'false_revocation_critical', 'safety_margin', 'data_integrity']) {
      assert.ok(row(id).met, `${id}: ${row(id).tollgate_text}`);
    }
    const retry = row('retry_success');
    const ap = retry.approvals;
    assert.ok(ap.asked > 0 && ap.approved > 0 && ap.denied > 0, `approved and denied both seen: ${retry.tollgate_text}`);
    assert.equal(ap.asked, ap.approved + ap.approved_refused + ap.denied + ap.expired + ap.full + ap.no_person);
    const asks = result.trace.filter((op) => op.type === 'hold' && op.via === 'approval' && op.policy_cls === undefined);
    assert.equal(asks.length, ap.asked);
    assert.equal(asks.filter((op) => op.approval_state === 'denied').length, ap.denied);
    assert.ok(asks.every((op) => op.label === 'routine'), 'critical work is never revoked, so never asks');
    const grants = result.trace.filter((op) => op.type === 'hold' && op.policy_cls !== undefined && op.granted);
    assert.equal(grants.length, ap.approved);
    for (const op of grants) {
      assert.equal(op.cls, 'critical', 'approved at the default class');
      assert.equal(op.daemon_class, 'critical');
      assert.ok(op.t0 >= asks.find((a) => a.key === op.key).t0, 'decided after it was asked');
    }
    // A denied approval is a failed retry, never hidden: the approval path's tries include it.
    assert.equal(retry.by.approval[1] >= ap.denied + ap.approved, true);
    assert.ok(retry.tollgate < 100, `a denial costs the ratio: ${retry.tollgate_text}`);
    assert.match(result.summary.command, new RegExp(`--seed ${base.seed} --retry full`), 'replayable: the seed is in the command');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the daemon-side latency reads p50 and p99 off a Prometheus histogram', () => {
  const { histogramQuantiles } = require('../../bench/sim/runner');
  const text = [
    '# TYPE tollgate_request_seconds histogram',
    'tollgate_request_seconds_bucket{le="0.00005"} 10',
    'tollgate_request_seconds_bucket{le="0.0001"} 60',
    'tollgate_request_seconds_bucket{le="0.00025"} 98',
    'tollgate_request_seconds_bucket{le="0.0005"} 99',
    'tollgate_request_seconds_bucket{le="+Inf"} 100',
  ].join('\n');
  assert.deepEqual(histogramQuantiles(text, 'tollgate_request_seconds'),
    { count: 100, p50_ms_at_most: 0.1, p99_ms_at_most: 0.5 });
  const tail = text.replace('le="0.0005"} 99', 'le="0.0005"} 98');
  assert.equal(histogramQuantiles(tail, 'tollgate_request_seconds').p99_ms_at_most, null, 'p99 in +Inf');
  assert.equal(histogramQuantiles(text, 'tollgate_store_commit_seconds'), null, 'absent histogram');
});
