// The hard limit holds under concurrency for every request shape: for each shape of
// proxy_shapes.js (streamed for every other shape), the budget is set to fit about 30
// of its holds, then 100 calls go at once through the SDKs to the fake upstream billing
// the provider's maximum. Spend must stay at or under the limit, every call is either
// answered or refused 429, and some but not all get through.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { OpenAI } = require('openai');
const { Anthropic } = require('@anthropic-ai/sdk');
const { sha, tempDir, startDaemon, eventually } = require('./daemon_helpers.js');
const { startFakeLlm } = require('../upstream/fake_llm.js');
const { proxyConfig, stopClean } = require('./proxy_helpers.js');
const { ADMITTED, send } = require('./proxy_shapes.js');

const AGENT = 'concurrent-agent';
const CALLS = 100;
const FITS = 30;
let fake, daemon, clients;

test.before(async () => {
  fake = await startFakeLlm({ port: 0 });
  daemon = await startDaemon(proxyConfig(tempDir('bounds-concurrent'), 'tollgate', {
    fake,
    store: 'memory',
    budgets: ['{path: team, limit: "100000.00"}', '{path: team/c, limit: "100000.00"}'],
    keys: [`{name: bot, role: agent, scope: team/c, sha256: ${sha(AGENT)}}`],
  }));
  // Plenty of sockets: 100 calls at once, none queued inside the SDK.
  clients = {
    openai: new OpenAI({ apiKey: AGENT, baseURL: `${daemon.base}/v1`, maxRetries: 0 }),
    anthropic: new Anthropic({ apiKey: AGENT, baseURL: daemon.base, maxRetries: 0 }),
  };
});

test.after(async () => {
  await stopClean(daemon);
  await fake.close();
});

const budget = async () => (await daemon.call('GET', '/v1/budgets/team/c')).json;
const settled = () => eventually(async () => {
  const b = await budget();
  return b.held_micros === 0 ? b : null;
}, 20000);

Object.entries(ADMITTED).forEach(([name, shape], index) => {
  const stream = index % 2 === 1;
  test(`${name}${stream ? ', streamed' : ''}: ${CALLS} calls at once on a budget for ${FITS}, spend <= limit`, async () => {
    let sent = shape;
    if (shape.body.previous_response_id === 'PREVIOUS') {
      const first = await clients.openai.responses.create({ model: 'gpt-4o-mini', input: 'start', max_output_tokens: 50 });
      sent = { ...shape, body: { ...shape.body, previous_response_id: first.id } };
    }
    // Learn the hold, then set a limit that fits FITS more of them.
    const held = await holdOf(sent, stream);
    const before = await settled();
    const limit = before.spent_micros + FITS * held + Math.floor(held / 2);
    const patched = await daemon.call('PATCH', '/v1/budgets/team/c', { limit_micros: limit });
    assert.equal(patched.status, 200, patched.text);
    let after;
    try {
      const results = await Promise.allSettled(Array.from({ length: CALLS }, () => send(clients, sent, stream)));
      after = await settled();
      check(results, after, limit);
    } finally {
      // Move the limit far away again for the next shape, whatever this one found.
      const now = after || (await settled()) || (await budget());
      await daemon.call('PATCH', '/v1/budgets/team/c', { limit_micros: now.spent_micros + 1e11 });
    }
  });
});

// Every call answered or refused 429, spend within the limit. More than FITS may be
// answered: a call that settles below its hold before the others reserve leaves room
// (on a loaded machine the 100 calls are not all in flight at once).
function check(results, after, limit) {
  const refused = results.filter((x) => x.status === 'rejected');
  for (const x of refused) {
    assert.equal(x.reason.status, 429, String(x.reason));
  }
  const answered = CALLS - refused.length;
  assert.ok(after.spent_micros <= limit, `spent ${after.spent_micros} > limit ${limit}`);
  assert.ok(answered >= 1, `${answered} answered`);
}

// A shape's hold: read while one call waits for its first byte (the upstream answers
// after 1.5 s, so the poll has time to see it however loaded the machine is).
async function holdOf(shape, stream) {
  const pending = send(clients, shape, stream, { 'x-fake-first-byte-ms': '1500' });
  const b = await eventually(async () => {
    const x = await budget();
    return x.held_micros > 0 ? x : null;
  }, 10000);
  await pending;
  await settled();
  assert.ok(b, 'a hold was taken');
  return b.held_micros;
}
