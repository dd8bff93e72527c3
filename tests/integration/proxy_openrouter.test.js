// OpenRouter through the proxy (src/proxy/provider_openrouter.c; docs/proxy.md,
// "OpenRouter"): the official `openai` SDK pointed at /p/openrouter/v1, against
// tests/upstream/fake_llm.js speaking OpenRouter's chat wire with its usage accounting.
// Models are `vendor/model`, priced from the price data's openrouter provider (or, where
// it lacks one, the vendor's own); the proxy always asks for usage: {include: true} and
// cross-checks the reported usage.cost against its own price: it charges the larger, never
// above the hold, and counts each disagreement. The fake reporting an absurd cost, or
// billing the most it could, is never charged more than was held.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { OpenAI } = require('openai');
const { binary, sha, tempDir, startDaemon, eventually } = require('./daemon_helpers.js');
const { startFakeLlm } = require('../upstream/fake_llm.js');
const { stopClean } = require('./proxy_helpers.js');

const AGENT = 'openrouter-agent';
const prices = JSON.parse(fs.readFileSync(path.join(path.dirname(binary), 'prices.json'), 'utf8'));
const model = (provider, id) => prices.providers.find((p) => p.id === provider).models.find((m) => m.id === id).prices[0];
const GPT4O = model('openrouter', 'openai/gpt-4o');
const HAIKU = model('openrouter', 'anthropic/claude-3.5-haiku');
const VENDOR = model('openai', 'gpt-5.3'); // not in openrouter's data: the vendor's price

function cost(p, input, output) {
  return Number((BigInt(input) * BigInt(p.input_mtok) + BigInt(output) * BigInt(p.output_mtok) + 999999n) / 1000000n);
}

let fake, daemon;
const lastSeen = {};

test.before(async () => {
  fake = await startFakeLlm({
    port: 0, apiKey: 'or-upstream',
    openrouterPrices: { 'openai/gpt-4o': GPT4O, 'anthropic/claude-3.5-haiku': HAIKU, 'openai/gpt-5.3': VENDOR },
  });
  const dir = tempDir('openrouter');
  const file = path.join(dir, 'tollgate.yaml');
  fs.writeFileSync(file, `
port: 0
store: {kind: sqlite, path: ${path.join(dir, 'tollgate.db')}, durability: relaxed}
budgets:
  - {path: team, limit: "1000.00"}
  - {path: team/a, limit: "100.00"}
  - {path: team/max, limit: "100.00"}
  - {path: team/cut, limit: "1.00", revoke_at: "0.50"}
keys:
  - {name: bot, role: agent, scope: team/a, sha256: ${sha(AGENT)}}
  - {name: max, role: agent, scope: team/max, sha256: ${sha('openrouter-max')}}
  - {name: cut, role: agent, scope: team/cut, sha256: ${sha('openrouter-cut')}}
upstreams:
  openrouter: {wire: openrouter, base_url: "${fake.url}/api", api_key: or-upstream}
proxy:
  timeout_ms: 60000
`);
  daemon = await startDaemon(file);
});

test.after(async () => {
  await stopClean(daemon);
  await fake.close();
});

const client = (key) => new OpenAI({ apiKey: key, baseURL: `${daemon.base}/p/openrouter/v1`, maxRetries: 0 });

async function newCharges(budget) {
  await eventually(async () => (await daemon.call('GET', `/v1/budgets/${budget}`)).json.held_micros === 0, 5000);
  const found = await eventually(async () => {
    const r = await daemon.call('GET', `/v1/charges?budget=${budget}&after=${lastSeen[budget] || 0}`);
    return r.status === 200 && r.json.charges.length > 0 ? r.json.charges : null;
  }, 5000);
  assert.ok(found, `${budget} was charged`);
  lastSeen[budget] = found[found.length - 1].id;
  return found;
}

async function metric(name) {
  const r = await daemon.call('GET', '/metrics');
  const line = r.text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `${name} in /metrics`);
  return Number(line.split(' ')[1]);
}

const USAGE = { 'x-fake-input-tokens': '1000', 'x-fake-output-tokens': '20' };

test('vendor/model: charged exactly usage x openrouter\'s price; usage accounting asked; the cost agrees', async () => {
  const reports = await metric('tollgate_proxy_cost_reports_total');
  const r = await client(AGENT).chat.completions.create({
    model: 'openai/gpt-4o', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }],
  }, { headers: USAGE });
  assert.equal(r.usage.prompt_tokens, 1000);
  assert.equal(typeof r.usage.cost, 'number', 'the client sees OpenRouter\'s cost');
  const [c] = await newCharges('team/a');
  assert.equal(c.cost_micros, cost(GPT4O, 1000, 20), JSON.stringify(c));
  assert.equal(c.model, 'openai/gpt-4o');
  const sent = fake.requests[fake.requests.length - 1];
  assert.equal(sent.path, '/api/v1/chat/completions');
  assert.equal(sent.headers.authorization, 'Bearer or-upstream');
  assert.deepEqual(sent.body.usage, { include: true });
  assert.equal(await metric('tollgate_proxy_cost_reports_total'), reports + 1);
  assert.equal(await metric('tollgate_proxy_cost_disagreements_total'), 0);
});

test('streamed: the last chunk\'s usage (and cost) charged exactly; include: false is asked as true', async () => {
  const stream = await client(AGENT).chat.completions.create({
    model: 'anthropic/claude-3.5-haiku', max_tokens: 50, stream: true, usage: { include: false },
    messages: [{ role: 'user', content: 'hi' }],
  }, { headers: { 'x-fake-input-tokens': '500', 'x-fake-output-tokens': '30' } });
  let text = '';
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content || '';
  }
  assert.match(text, /Hello/);
  const [c] = await newCharges('team/a');
  assert.equal(c.cost_micros, cost(HAIKU, 500, 30), JSON.stringify(c));
  const sent = fake.requests[fake.requests.length - 1];
  assert.deepEqual(sent.body.usage, { include: true }, 'the proxy needs the cost report');
  assert.equal(sent.body.stream_options.include_usage, true);
  assert.equal(await metric('tollgate_proxy_cost_disagreements_total'), 0);
});

test('a vendor/model openrouter\'s data lacks is priced at the vendor\'s price; an unknown one is refused', async () => {
  await client(AGENT).chat.completions.create({ model: 'openai/gpt-5.3', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }, { headers: USAGE });
  const [c] = await newCharges('team/a');
  assert.equal(c.cost_micros, cost(VENDOR, 1000, 20));
  const count = fake.requests.length;
  for (const name of ['nosuch/model', 'openai/', '/gpt-4o', 'openai/nosuch-model']) {
    await assert.rejects(client(AGENT).chat.completions.create({ model: name, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
      (e) => e.status === 400 && e.code === 'model_not_priced', name);
  }
  assert.equal(fake.requests.length, count, 'never forwarded, never free');
});

test('a reported cost above the price is charged (up to the hold) and counted; below or absent, the price', async () => {
  // Real usage well inside the hold (500 output tokens held, 20 used), so that the
  // hold, not the price, is the cap below.
  const ask = (extra, stream = false) => client(AGENT).chat.completions.create({
    model: 'openai/gpt-4o', max_tokens: 500, stream, messages: [{ role: 'user', content: 'hi' }],
  }, { headers: { 'x-fake-output-tokens': '20', ...extra } });
  const probe = await ask({});
  const own = cost(GPT4O, probe.usage.prompt_tokens, 20);
  let [c] = await newCharges('team/a');
  assert.equal(c.cost_micros, own);
  assert.ok(own * 2 < c.held_micros, `the hold ${c.held_micros} leaves room above the price ${own}`);
  const disagreements = await metric('tollgate_proxy_cost_disagreements_total');
  // Twice the price: the upstream billed more; the ledger follows the money.
  await ask({ 'x-fake-cost': String((own * 2) / 1e6) });
  [c] = await newCharges('team/a');
  assert.equal(c.cost_micros, own * 2);
  assert.ok(c.cost_micros <= c.held_micros);
  // Ten thousand dollars on a call held at cents: charged the hold, never past it.
  const s = await ask({ 'x-fake-cost': '10000' }, true);
  for await (const chunk of s) assert.ok(chunk);
  [c] = await newCharges('team/a');
  assert.equal(c.cost_micros, c.held_micros, 'capped at the hold');
  assert.equal((await daemon.call('GET', '/v1/budgets/team/a')).json.locked, false, 'no overrun');
  // Less than the price, or nothing: the price.
  await ask({ 'x-fake-cost': '0' });
  [c] = await newCharges('team/a');
  assert.equal(c.cost_micros, own);
  await ask({ 'x-fake-cost': 'none' });
  [c] = await newCharges('team/a');
  assert.equal(c.cost_micros, own);
  assert.equal(await metric('tollgate_proxy_cost_disagreements_total'), disagreements + 3);
  assert.match(daemon.stderr(), /openrouter model openai\/gpt-4o: the upstream billed \d+ micros, its usage prices at \d+/);
  // Half a micro over the price rounds to it: rounding is not a disagreement.
  await ask({ 'x-fake-cost': String((own + 0.4) / 1e6) });
  [c] = await newCharges('team/a');
  assert.equal(c.cost_micros, own);
  assert.equal(await metric('tollgate_proxy_cost_disagreements_total'), disagreements + 3);
});


test('a stream is cut cleanly when its class is revoked mid-way: finish_reason length, the SDK ends normally', async () => {
  const stream = await client('openrouter-cut').chat.completions.create({
    model: 'openai/gpt-4o', max_tokens: 200, stream: true, messages: [{ role: 'user', content: 'go' }],
  }, { headers: { 'x-fake-output-tokens': '200', 'x-fake-delay-ms': '20', 'x-fake-input-tokens': '10' } });
  let chunks = 0;
  let finish = null;
  for await (const chunk of stream) {
    chunks++;
    finish = chunk.choices?.[0]?.finish_reason || finish;
    if (chunks === 5) {
      const r = await daemon.call('POST', '/v1/charges', { budget: 'team/cut', cost: '0.60', force: true });
      assert.equal(r.status, 200, r.text);
    }
  }
  assert.equal(finish, 'length', 'ended like an output limit');
  assert.ok(chunks < 150, `cut after ${chunks} chunks`);
  assert.ok(await eventually(() => fake.requests[fake.requests.length - 1].disconnected), 'upstream aborted');
  const b = await eventually(async () => {
    const s = (await daemon.call('GET', '/v1/budgets/team/cut')).json;
    return s.held_micros === 0 && s.spent_micros > 600000 ? s : null;
  });
  assert.ok(b, 'what was streamed was charged');
});

for (const stream of [false, true]) {
  for (const [name, request] of Object.entries({
    'chat': { model: 'openai/gpt-4o', max_tokens: 300, messages: [{ role: 'user', content: 'Tell me a story' }] },
    'no cap (the proxy gives one), two choices': { model: 'anthropic/claude-3.5-haiku', n: 2, messages: [{ role: 'user', content: 'Tell me a story' }] },
  })) {
    test(`the fake bills the most it could (${name}${stream ? ', streamed' : ''}): charged <= held`, async () => {
      const r = await client('openrouter-max').chat.completions.create({ ...request, stream }, { headers: { 'x-fake-bill': 'max' } });
      if (stream) {
        for await (const chunk of r) assert.ok(chunk);
      }
      const charges = await newCharges('team/max');
      assert.equal(charges.length, 1, JSON.stringify(charges));
      const [c] = charges;
      assert.ok(c.cost_micros > 0, JSON.stringify(c));
      assert.ok(c.cost_micros <= c.held_micros, `charged ${c.cost_micros} > held ${c.held_micros}: ${JSON.stringify(c)}`);
      assert.equal((await daemon.call('GET', '/v1/budgets/team/max')).json.locked, false, 'no overrun');
    });
  }
}
