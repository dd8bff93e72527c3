// The dishonest scenario (bench/sim/overshoot.js) against the real daemon (TG_BINARY),
// smaller than `make indicators` runs it: agents that lie about cost on the JSON API
// and agents that call the LLM proxy with absent or oversized caps against an upstream
// billing its maximum. The overshoot must be read from the ledger and be 0 through the
// proxy and with above_hold: cap, and the lie must really pass the limit with
// above_hold: charge (else the scenario would prove nothing).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { simulateOvershoot, overshootFromCharges, overshootTable, withCap } = require('../../bench/sim/overshoot');
const { loadScenario } = require('../../bench/sim/scenario');
const { ADMITTED } = require('../integration/proxy_shapes.js');

const binary = process.env.TG_BINARY || 'build/tollgate';
const M = 1000000;

test('overshoot is the ledger rows under the budget in its window, minus the limit', () => {
  const rows = [
    { budget: 'a/bot', cost_micros: 7 * M, time_ms: 100 },
    { budget: 'a', cost_micros: 5 * M, time_ms: 200 },
    { budget: 'ab/bot', cost_micros: 50 * M, time_ms: 200 }, // a sibling whose name starts alike
    { budget: 'b/bot', cost_micros: 50 * M, time_ms: 200 },
    { budget: 'a/bot', cost_micros: 40 * M, time_ms: 10 }, // the window before
  ];
  assert.deepEqual(overshootFromCharges(rows, 'a', 10 * M, 50), { charges: 2, charged_micros: 12 * M, overshoot_micros: 2 * M });
  assert.deepEqual(overshootFromCharges(rows, 'a', 20 * M, 50), { charges: 2, charged_micros: 12 * M, overshoot_micros: 0 });
  assert.equal(overshootFromCharges(rows, 'a', 10 * M).overshoot_micros, 42 * M, 'without a window start, every row');
});

test('an agent\'s cap is removed or replaced on every wire', () => {
  assert.equal(withCap(ADMITTED['chat text'], null).body.max_tokens, undefined);
  assert.equal(withCap(ADMITTED['chat long text, n=3'], 9).body.max_completion_tokens, 9);
  assert.equal(withCap(ADMITTED['responses text'], 9).body.max_output_tokens, 9);
  assert.equal(withCap(ADMITTED['claude text'], null).body.max_tokens, undefined);
  assert.equal(ADMITTED['claude text'].body.max_tokens, 64, 'the shape itself is not changed');
});

test('dishonest agents: 0 overshoot through the proxy and with cap, measured from the ledger', async () => {
  const scenario = { ...loadScenario('dishonest'), agents: 3, calls_per_agent: 20 };
  const result = await simulateOvershoot({ scenario, binary });
  const arm = (name) => result.arms.find((a) => a.name === name);
  const table = overshootTable(result);
  assert.equal(result.summary.sanitizer_errors, false, 'no sanitizer report from the daemon');
  for (const a of result.arms) {
    assert.ok(a.spent_matches, `${a.name}: budget spent ${a.spent_micros} = sum of its charges ${a.charged_micros}\n${table}`);
    assert.equal(a.overshoot_micros, Math.max(0, a.charged_micros - a.limit_micros), a.name);
    assert.equal(a.failed, 0, `${a.name}: ${a.errors.join('; ')}`);
  }
  for (const name of ['api-charge', 'api-cap']) {
    // What the agents were told was charged is what the ledger holds.
    assert.equal(arm(name).acknowledged, arm(name).charged_micros, name);
    assert.ok(arm(name).force_forbidden > 0, `${name}: agents tried force and got 403`);
  }

  const charge = arm('api-charge');
  assert.ok(charge.overshoot_micros > 0, `the lie passes the limit with above_hold: charge\n${table}`);
  assert.ok(charge.locked, 'and locks the budget');
  assert.ok(charge.overrun_events > 0);

  const cap = arm('api-cap');
  assert.equal(cap.overshoot_micros, 0, table);
  assert.ok(cap.capped > 0 && cap.claimed > cap.charged_micros, `commits were capped\n${table}`);
  assert.equal(cap.capped_events, cap.capped, 'each capped commit reported');

  const proxy = arm('proxy');
  assert.equal(proxy.overshoot_micros, 0, table);
  assert.ok(proxy.answered > 0 && proxy.refused > 0, `calls answered and the limit reached\n${table}`);
  assert.ok(proxy.charged_micros > proxy.limit_micros / 2, `most of the budget spent\n${table}`);
});
