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
