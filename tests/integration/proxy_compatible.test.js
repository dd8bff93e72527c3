// OpenAI-compatible upstreams configured by name (docs/proxy.md, "OpenAI-compatible
// upstreams"): the official `openai` SDK pointed at /p/NAME/v1 on the daemon, the fake
// upstream standing in for Groq (priced from the price data's groq provider) and for a
// local server at price 0. Each call goes to its own upstream with its own key and the
// route's path without /p/NAME; charges are exactly usage x that provider's price (0 for
// the free one); an unknown name is not served; a non-OpenAI route under /p/ is not either.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { OpenAI } = require('openai');
const { binary, sha, tempDir, startDaemon, eventually } = require('./daemon_helpers.js');
const { startFakeLlm } = require('../upstream/fake_llm.js');
const { stopClean } = require('./proxy_helpers.js');

const AGENT = 'compatible-agent';
const prices = JSON.parse(fs.readFileSync(path.join(path.dirname(binary), 'prices.json'), 'utf8'));
const GROQ = prices.providers.find((p) => p.id === 'groq').models.find((m) => m.id === 'llama-3.1-8b-instant').prices[0];

let fake, local, daemon;
let lastCharge = 0;

test.before(async () => {
  fake = await startFakeLlm({ port: 0, apiKey: 'gsk-upstream' });
  local = await startFakeLlm({ port: 0 });
  const dir = tempDir('compatible');
  const file = path.join(dir, 'tollgate.yaml');
  fs.writeFileSync(file, `
port: 0
store: {kind: sqlite, path: ${path.join(dir, 'tollgate.db')}, durability: relaxed}
budgets:
  - {path: team, limit: "100.00"}
keys:
  - {name: bot, role: agent, scope: team, sha256: ${sha(AGENT)}}
upstreams:
  groq: {wire: openai, base_url: "${fake.url}/openai", api_key: gsk-upstream}
  ollama: {wire: openai, base_url: "${local.url}", prices: free}
`);
  daemon = await startDaemon(file);
});

test.after(async () => {
  await stopClean(daemon);
  await fake.close();
  await local.close();
});

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

function cost(p, input, output) {
  return Number((BigInt(input) * BigInt(p.input_mtok) + BigInt(output) * BigInt(p.output_mtok) + 999999n) / 1000000n);
}

test('a named upstream (groq): the route after its base URL path, with its key', async () => {
  // The fake serves /v1/... only: the base URL's /openai part must reach it as Groq's does.
  const groq = new OpenAI({ apiKey: AGENT, baseURL: `${daemon.base}/p/groq/v1`, maxRetries: 0 });
  await assert.rejects(groq.chat.completions.create({
    model: 'llama-3.1-8b-instant', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }],
  }), (e) => e.status === 404);
  const sent = fake.requests[fake.requests.length - 1];
  assert.equal(sent.path, '/openai/v1/chat/completions', 'the route without /p/groq, after the base URL');
  assert.equal(sent.headers.authorization, 'Bearer gsk-upstream');
  const budget = await eventually(async () => {
    const b = (await daemon.call('GET', '/v1/budgets/team')).json;
    return b.held_micros === 0 ? b : null;
  });
  assert.equal(budget.spent_micros, 0, 'an upstream error releases the hold');
});

test('a named upstream: charged exactly usage x its provider\'s price, streamed and not', async () => {
  // Served at the root this time: a second upstream whose base URL is the fake itself.
  const dir = tempDir('compatible2');
  const file = path.join(dir, 'tollgate.yaml');
  fs.writeFileSync(file, `
port: 0
store: {kind: sqlite, path: ${path.join(dir, 'tollgate.db')}, durability: relaxed}
budgets:
  - {path: team, limit: "100.00"}
keys:
  - {name: bot, role: agent, scope: team, sha256: ${sha(AGENT)}}
upstreams:
  groq: {wire: openai, base_url: "${fake.url}", api_key: gsk-upstream}
`);
  const d = await startDaemon(file);
  try {
    const groq = new OpenAI({ apiKey: AGENT, baseURL: `${d.base}/p/groq/v1`, maxRetries: 0 });
    const r = await groq.chat.completions.create({
      model: 'llama-3.1-8b-instant', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }],
    }, { headers: { 'x-fake-input-tokens': '1000', 'x-fake-output-tokens': '20' } });
    assert.equal(r.usage.prompt_tokens, 1000);
    const stream = await groq.chat.completions.create({
      model: 'llama-3.1-8b-instant', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'hi' }],
    }, { headers: { 'x-fake-input-tokens': '500', 'x-fake-output-tokens': '30' } });
    for await (const chunk of stream) {
      assert.ok(chunk);
    }
    const sent = fake.requests[fake.requests.length - 1];
    assert.equal(sent.path, '/v1/chat/completions');
    assert.equal(sent.headers.authorization, 'Bearer gsk-upstream', 'its key, not the agent\'s');
    const charges = await eventually(async () => {
      const c = await d.call('GET', '/v1/charges?budget=team');
      return c.json.charges.length === 2 ? c.json.charges : null;
    }, 5000);
    assert.ok(charges, 'both calls charged');
    assert.deepEqual(charges.map((c) => c.cost_micros), [cost(GROQ, 1000, 20), cost(GROQ, 500, 30)]);
    // A model the groq price data does not have is refused, never counted free.
    await assert.rejects(groq.chat.completions.create({
      model: 'gpt-4o', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }],
    }), (e) => e.status === 400 && /model_not_priced/.test(e.code || e.error?.code || ''));
  } finally {
    await stopClean(d);
  }
});

test('prices: free (a local server): metered and charged 0, whatever the model', async () => {
  const ollama = new OpenAI({ apiKey: AGENT, baseURL: `${daemon.base}/p/ollama/v1`, maxRetries: 0 });
  const before = (await daemon.call('GET', '/v1/budgets/team')).json;
  const r = await ollama.chat.completions.create({
    model: 'llama3.2:3b', messages: [{ role: 'user', content: 'hi' }],
  }, { headers: { 'x-fake-output-tokens': '7' } });
  assert.match(r.choices[0].message.content, /Hello/);
  const sent = local.requests[local.requests.length - 1];
  assert.equal(sent.path, '/v1/chat/completions');
  assert.equal(sent.body.max_completion_tokens, 4096, 'given a cap like any call');
  const charges = await newCharges();
  assert.equal(charges[charges.length - 1].cost_micros, 0);
  assert.equal(charges[charges.length - 1].model, 'llama3.2:3b');
  const after = (await daemon.call('GET', '/v1/budgets/team')).json;
  assert.equal(after.spent_micros, before.spent_micros);
});

test('an unknown name, or a route that is not OpenAI\'s, is not served under /p/', async () => {
  for (const [url, body] of [
    ['/p/nope/v1/chat/completions', { model: 'x', messages: [] }],
    ['/p/groq/v1/messages', { model: 'claude-3-5-haiku-latest', max_tokens: 5, messages: [] }],
    ['/p/groq/v1beta/models/gemini-2.5-flash:generateContent', { contents: 'hi' }],
  ]) {
    const r = await fetch(`${daemon.base}${url}`, {
      method: 'POST', headers: { authorization: `Bearer ${AGENT}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.equal(r.status, 404, url);
  }
});
