// The proxy's holds are upper bounds (docs/proxy.md, "What a hold covers"): every shape
// of tests/integration/proxy_shapes.js, streamed and not, through `tollgate serve` with
// the official SDKs, against a fake upstream that bills the most the provider's
// published rules allow for that request (x-fake-bill: max). For every admitted call
// the charge (what the upstream billed, times the price) must be at most what was held,
// with no overrun; every unbounded shape is refused 400 with a message naming it, and
// nothing is held or charged for it.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { OpenAI } = require('openai');
const { Anthropic } = require('@anthropic-ai/sdk');
const { sha, tempDir, startDaemon, eventually } = require('./daemon_helpers.js');
const { startFakeLlm } = require('../upstream/fake_llm.js');
const { proxyConfig, stopClean } = require('./proxy_helpers.js');
const { ADMITTED, REFUSED, send } = require('./proxy_shapes.js');

const AGENT = 'bounds-agent';
let fake, daemon, clients, lastCharge = 0;

test.before(async () => {
  fake = await startFakeLlm({ port: 0 });
  daemon = await startDaemon(proxyConfig(tempDir('bounds'), 'tollgate', {
    fake,
    budgets: ['{path: team, limit: "1000.00"}'],
    keys: [`{name: bot, role: agent, scope: team, sha256: ${sha(AGENT)}}`],
  }));
  clients = {
    openai: new OpenAI({ apiKey: AGENT, baseURL: `${daemon.base}/v1`, maxRetries: 0 }),
    anthropic: new Anthropic({ apiKey: AGENT, baseURL: daemon.base, maxRetries: 0 }),
  };
});

test.after(async () => {
  await stopClean(daemon);
  await fake.close();
});

// The charges made since the last look, once no hold is open.
async function newCharges() {
  await eventually(async () => (await daemon.call('GET', '/v1/budgets/team')).json.held_micros === 0, 5000);
  const found = await eventually(async () => {
    const r = await daemon.call('GET', `/v1/charges?budget=team&after=${lastCharge}`);
    return r.status === 200 && r.json.charges.length > 0 ? r.json.charges : null;
  }, 5000);
  assert.ok(found, 'the call was charged');
  lastCharge = found[found.length - 1].id;
  return found;
}

async function previousId() {
  const first = await clients.openai.responses.create({ model: 'gpt-4o-mini', input: 'start', max_output_tokens: 50 },
    { headers: { 'x-fake-bill': 'max' } });
  await newCharges();
  return first.id;
}

for (const stream of [false, true]) {
  for (const [name, shape] of Object.entries(ADMITTED)) {
    test(`${name}${stream ? ', streamed' : ''}: charged <= held`, async () => {
      let sent = shape;
      if (shape.body.previous_response_id === 'PREVIOUS') {
        sent = { ...shape, body: { ...shape.body, previous_response_id: await previousId() } };
      }
      await send(clients, sent, stream);
      const charges = await newCharges();
      assert.equal(charges.length, 1, JSON.stringify(charges));
      const [c] = charges;
      if (process.env.TG_BOUNDS_VERBOSE) console.log(`${name}${stream ? " streamed" : ""}: charged ${c.cost_micros} held ${c.held_micros}`);
      assert.ok(c.cost_micros > 0, `nothing charged: ${JSON.stringify(c)}`);
      assert.ok(c.cost_micros <= c.held_micros,
        `charged ${c.cost_micros} > held ${c.held_micros} for ${name}: ${JSON.stringify(c)}`);
      const budget = (await daemon.call('GET', '/v1/budgets/team')).json;
      assert.equal(budget.locked, false, 'no overrun');
    });
  }
}

for (const [name, [shape, message]] of Object.entries(REFUSED)) {
  test(`${name}: refused 400 naming what is unbounded`, async () => {
    const before = (await daemon.call('GET', '/v1/budgets/team')).json.spent_micros;
    await assert.rejects(send(clients, shape, false), (e) => {
      assert.equal(e.status, 400, String(e));
      assert.match(e.message, message);
      return true;
    });
    const after = (await daemon.call('GET', '/v1/budgets/team')).json;
    assert.equal(after.spent_micros, before);
    assert.equal(after.held_micros, 0);
  });
}

test('Anthropic without max_tokens gets Anthropic\'s own 400 shape', async () => {
  const r = await fetch(`${daemon.base}/v1/messages`, {
    method: 'POST', headers: { 'x-api-key': AGENT, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude-sonnet-4-0', messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(r.status, 400);
  const body = await r.json();
  assert.equal(body.type, 'error');
  assert.equal(body.error.type, 'invalid_request_error');
  assert.equal(body.error.message, 'max_tokens: Field required');
});

test('a call without an output cap is given one upstream, and held for it', async () => {
  await clients.openai.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }] });
  const sent = fake.requests[fake.requests.length - 1].body;
  assert.equal(sent.max_completion_tokens, 4096);
  const [c] = await newCharges();
  assert.ok(c.held_micros < 8000000 / 10, `held ${c.held_micros}: not the whole context window`);
});
