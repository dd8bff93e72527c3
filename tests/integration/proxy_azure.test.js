// Azure OpenAI through the proxy (src/proxy/provider_azure.c; docs/proxy.md, "Azure
// OpenAI"): the official `openai` package's AzureOpenAI client, changed only in its
// endpoint and key, against tests/upstream/fake_llm.js speaking Azure's wire (deployment
// paths, api-version, the api-key header, Azure's error shape). A deployment is priced as
// the model the config maps it to, whatever the body's model says; every charge is exactly
// usage x that model's price, streamed or not; a fake that bills the most it could is never
// charged more than was held; a refusal comes in Azure's shape and is not retried.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { AzureOpenAI } = require('openai');
const { binary, sha, tempDir, startDaemon, eventually } = require('./daemon_helpers.js');
const { startFakeLlm } = require('../upstream/fake_llm.js');
const { stopClean } = require('./proxy_helpers.js');

const AGENT = 'azure-agent';
const VERSION = '2024-10-21';
const prices = JSON.parse(fs.readFileSync(path.join(path.dirname(binary), 'prices.json'), 'utf8'));
// The price data's azure provider, then openai (azure's own fallback in the data).
function price(model) {
  for (const id of ['azure', 'openai']) {
    const m = prices.providers.find((p) => p.id === id).models.find((x) => x.id === model);
    if (m) return m.prices[0];
  }
  throw new Error(`no price for ${model}`);
}
const GPT4O = price('gpt-4o');
const MINI = price('gpt-4o-mini');
const EMBED = price('text-embedding-3-small');

function cost(p, input, output) {
  return Number((BigInt(input) * BigInt(p.input_mtok) + BigInt(output) * BigInt(p.output_mtok || 0) + 999999n) / 1000000n);
}

let fake, daemon;
const lastSeen = {};

const DEPLOYMENTS = { 'prod-4o': 'gpt-4o', cheap: 'gpt-4o-mini', embed: 'text-embedding-3-small', 'gpt-4o-mini': 'gpt-4o-mini', mystery: 'gpt-4o' };

test.before(async () => {
  fake = await startFakeLlm({ port: 0, apiKey: 'az-upstream', deployments: DEPLOYMENTS });
  const dir = tempDir('azure');
  const file = path.join(dir, 'tollgate.yaml');
  fs.writeFileSync(file, `
port: 0
store: {kind: sqlite, path: ${path.join(dir, 'tollgate.db')}, durability: relaxed}
budgets:
  - {path: team, limit: "1000.00"}
  - {path: team/a, limit: "100.00"}
  - {path: team/max, limit: "100.00"}
  - {path: team/small, limit: "0.0005"}
  - {path: team/cut, limit: "1.00", revoke_at: "0.50"}
keys:
  - {name: bot, role: agent, scope: team/a, sha256: ${sha(AGENT)}}
  - {name: max, role: agent, scope: team/max, sha256: ${sha('azure-max')}}
  - {name: small, role: agent, scope: team/small, sha256: ${sha('azure-small')}}
  - {name: cut, role: agent, scope: team/cut, sha256: ${sha('azure-cut')}}
upstreams:
  azure:
    wire: azure
    base_url: "${fake.url}"
    api_key: az-upstream
    deployments: {prod-4o: gpt-4o, cheap: gpt-4o-mini, embed: text-embedding-3-small}
  second: {wire: azure, base_url: "${fake.url}", api_key: az-upstream, deployments: {mystery: gpt-4o}}
proxy:
  timeout_ms: 60000
`);
  daemon = await startDaemon(file);
});

test.after(async () => {
  await stopClean(daemon);
  await fake.close();
});

const client = (key, options = {}) => new AzureOpenAI({ endpoint: daemon.base, apiKey: key, apiVersion: VERSION, maxRetries: 0, ...options });

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

const USAGE = { 'x-fake-input-tokens': '1000', 'x-fake-output-tokens': '20' };

test('chat on a deployment: charged exactly usage x the mapped model; the Azure key and path upstream', async () => {
  const r = await client(AGENT).chat.completions.create({
    model: 'prod-4o', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }],
  }, { headers: USAGE });
  assert.equal(r.usage.prompt_tokens, 1000);
  assert.equal(r.model, 'gpt-4o', 'the fake ran what the deployment runs');
  const [c] = await newCharges('team/a');
  assert.equal(c.cost_micros, cost(GPT4O, 1000, 20), JSON.stringify(c));
  const sent = fake.requests[fake.requests.length - 1];
  assert.equal(sent.path, '/openai/deployments/prod-4o/chat/completions');
  assert.equal(sent.headers['api-key'], 'az-upstream', 'the provider key, not the agent key');
  assert.equal(sent.headers.authorization, undefined);
  assert.ok(!Object.values(sent.headers).includes(AGENT), 'the agent key never goes upstream');
});

test('streamed: the final usage chunk is charged exactly', async () => {
  const stream = await client(AGENT).chat.completions.create({
    model: 'prod-4o', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'hi' }],
  }, { headers: { 'x-fake-input-tokens': '500', 'x-fake-output-tokens': '30' } });
  let text = '';
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content || '';
  }
  assert.match(text, /Hello/);
  const [c] = await newCharges('team/a');
  assert.equal(c.cost_micros, cost(GPT4O, 500, 30), JSON.stringify(c));
  const sent = fake.requests[fake.requests.length - 1];
  assert.equal(sent.body.stream_options.include_usage, true, 'usage asked for');
});

test('the deployment decides the price, not the body\'s model (a cheap name on an expensive deployment)', async () => {
  // The client's deployment option puts prod-4o in the path; the body claims the mini.
  const r = await client(AGENT, { deployment: 'prod-4o' }).chat.completions.create({
    model: 'gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }],
  }, { headers: USAGE });
  assert.equal(r.model, 'gpt-4o');
  const [c] = await newCharges('team/a');
  assert.equal(c.cost_micros, cost(GPT4O, 1000, 20), 'gpt-4o\'s price, not the body\'s mini');
  assert.equal(c.model, 'gpt-4o');
  // And the other way: the cheap deployment is charged its own (mini) price.
  await client(AGENT).chat.completions.create({ model: 'cheap', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }, { headers: USAGE });
  const [m] = await newCharges('team/a');
  assert.equal(m.cost_micros, cost(MINI, 1000, 20));
});

test('embeddings on a deployment; a named Azure upstream under /p/NAME', async () => {
  const r = await client(AGENT).embeddings.create({ model: 'embed', input: 'hello there' }, { headers: { 'x-fake-input-tokens': '700' } });
  assert.equal(r.usage.prompt_tokens, 700);
  const [c] = await newCharges('team/a');
  assert.equal(c.cost_micros, cost(EMBED, 700, 0));
  const second = new AzureOpenAI({ endpoint: `${daemon.base}/p/second`, apiKey: AGENT, apiVersion: VERSION, maxRetries: 0 });
  await second.chat.completions.create({ model: 'mystery', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }, { headers: USAGE });
  const [s] = await newCharges('team/a');
  assert.equal(s.cost_micros, cost(GPT4O, 1000, 20), 'mystery is gpt-4o by that upstream\'s mapping');
  assert.equal(fake.requests[fake.requests.length - 1].path, '/openai/deployments/mystery/chat/completions');
});

test('an unmapped deployment is priced by its own name, or refused as not priced (never free)', async () => {
  await client(AGENT).chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }, { headers: USAGE });
  const [c] = await newCharges('team/a');
  assert.equal(c.cost_micros, cost(MINI, 1000, 20));
  const count = fake.requests.length;
  await assert.rejects(client(AGENT).chat.completions.create({ model: 'mystery', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
    (e) => e.status === 400 && e.code === 'model_not_priced');
  assert.equal(fake.requests.length, count, 'not forwarded');
});

test('a refusal comes in Azure\'s error shape, 429 with x-should-retry: false, and is not retried', async () => {
  const count = fake.requests.length;
  let calls = 0;
  const counting = (url, init) => { calls++; return fetch(url, init); };
  // The SDK's own retries (2 by default) must not fire on a closed budget.
  await assert.rejects(client('azure-small', { maxRetries: 2, fetch: counting }).chat.completions.create({
    model: 'prod-4o', max_tokens: 4000, messages: [{ role: 'user', content: 'hi' }],
  }), (e) => {
    assert.equal(e.status, 429);
    assert.equal(e.error.code, 'budget_exceeded');
    assert.equal(e.error.type, undefined, 'Azure\'s shape: code and message');
    assert.equal(e.error.budget, 'team/small');
    assert.match(e.error.message, /^Tollgate: budget team\/small refused/);
    assert.equal(e.headers.get('x-should-retry'), 'false');
    return true;
  });
  assert.equal(calls, 1, 'the SDK did not retry');
  assert.equal(fake.requests.length, count, 'never forwarded');
});

test('bad requests answered in Azure\'s shape: no api-version, a wrong key, a path that is no route', async () => {
  const post = (url, headers) => fetch(`${daemon.base}${url}`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
  });
  let r = await post('/openai/deployments/prod-4o/chat/completions', { 'api-key': AGENT });
  assert.equal(r.status, 400);
  let body = await r.json();
  assert.match(body.error.message, /api-version/);
  assert.equal(body.error.type, undefined);
  r = await post(`/openai/deployments/prod-4o/chat/completions?x=api-version=1`, { 'api-key': AGENT });
  assert.equal(r.status, 400, 'api-version must be a parameter of its own');
  r = await post(`/openai/deployments/prod-4o/chat/completions?api-version=${VERSION}`, { 'api-key': 'wrong' });
  assert.equal(r.status, 401);
  for (const url of ['/openai/deployments/prod-4o/audio/speech', '/openai/deployments//chat/completions',
    '/openai/deployments/a%2Fb/chat/completions', '/p/nope/openai/deployments/prod-4o/chat/completions']) {
    r = await post(`${url}?api-version=${VERSION}`, { 'api-key': AGENT, authorization: `Bearer ${AGENT}` });
    assert.equal(r.status, 404, url);
  }
  // A body without a model is fine: the deployment names it.
  r = await post(`/openai/deployments/cheap/chat/completions?api-version=${VERSION}`, { 'api-key': AGENT, 'x-fake-input-tokens': '10', 'x-fake-output-tokens': '3' });
  assert.equal(r.status, 200, await r.text());
  const [c] = await newCharges('team/a');
  assert.equal(c.cost_micros, cost(MINI, 10, 3));
});


test('a stream is cut cleanly when its class is revoked mid-way: finish_reason length, the SDK ends normally', async () => {
  const stream = await client('azure-cut').chat.completions.create({
    model: 'prod-4o', max_tokens: 200, stream: true, messages: [{ role: 'user', content: 'go' }],
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

const MAX_SHAPES = {
  'chat': { model: 'prod-4o', max_tokens: 300, messages: [{ role: 'user', content: 'Tell me a story' }] },
  'no cap (the proxy gives one)': { model: 'cheap', messages: [{ role: 'user', content: 'Tell me a story' }] },
  'two choices and a tool': {
    model: 'prod-4o', max_tokens: 100, n: 2, messages: [{ role: 'system', content: 'terse' }, { role: 'user', content: 'weather?' }],
    tools: [{ type: 'function', function: { name: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
  },
};

for (const stream of [false, true]) {
  for (const [name, shape] of Object.entries(MAX_SHAPES)) {
    test(`the fake bills the most it could (${name}${stream ? ', streamed' : ''}): charged <= held`, async () => {
      const ai = client('azure-max');
      const request = { ...shape, stream };
      const r = await ai.chat.completions.create(request, { headers: { 'x-fake-bill': 'max' } });
      if (stream) {
        for await (const chunk of r) {
          assert.ok(chunk);
        }
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

test('over_budget: switch is not applied to a deployment (Azure runs the path\'s deployment)', async () => {
  const dir = tempDir('azure-switch');
  const file = path.join(dir, 'tollgate.yaml');
  fs.writeFileSync(file, `
port: 0
store: {kind: memory}
budgets:
  - {path: t, limit: "0.001"}
keys:
  - {name: bot, role: agent, scope: t, sha256: ${sha(AGENT)}}
upstreams:
  azure: {wire: azure, base_url: "${fake.url}", api_key: az-upstream, deployments: {prod-4o: gpt-4o}}
proxy:
  over_budget: switch
  switch_model: gpt-4o-mini
`);
  const d = await startDaemon(file);
  try {
    const count = fake.requests.length;
    const ai = new AzureOpenAI({ endpoint: d.base, apiKey: AGENT, apiVersion: VERSION, maxRetries: 0 });
    await assert.rejects(ai.chat.completions.create({ model: 'prod-4o', max_tokens: 4000, messages: [{ role: 'user', content: 'hi' }] }),
      (e) => e.status === 429 && e.error.code === 'budget_exceeded');
    assert.equal(fake.requests.length, count, 'refused, not sent at a cheaper price it would not run at');
  } finally {
    await stopClean(d);
  }
});

test('config: deployments only for wire: azure, and named as paths allow', async () => {
  const { spawnSync } = require('node:child_process');
  const dir = tempDir('azure-config');
  for (const [upstream, message] of [
    ['groq: {wire: openai, base_url: "http://x", deployments: {a: gpt-4o}}', /deployments are for wire: azure/],
    ['azure: {wire: azure, base_url: "http://x", deployments: {"a/b": gpt-4o}}', /a deployment is/],
    ['azure: {wire: azure, base_url: "http://x", deployments: [gpt-4o]}', /must map each deployment/],
    ['azure: {wire: azurre, base_url: "http://x"}', /must be openai, azure or openrouter/],
  ]) {
    const file = path.join(dir, 'bad.yaml');
    fs.writeFileSync(file, `port: 0\nstore: {kind: memory}\nupstreams:\n  ${upstream}\n`);
    const r = spawnSync(binary, ['serve', '--config', file], { encoding: 'utf8', timeout: 10000 });
    assert.notEqual(r.status, 0, upstream);
    assert.match(r.stderr, message, r.stderr);
  }
});
