// The LLM proxy's Gemini provider (src/proxy/provider_gemini.c) through `tollgate serve`,
// driven by the official @google/genai SDK changed only in its base URL and key, against
// tests/upstream/fake_llm.js speaking Gemini's published wire. Every charge must be exactly
// the upstream's usageMetadata times the price in prices.json ("google" provider), streamed
// or not; a fake that bills the most Gemini's rules allow (x-fake-bill: max) must never be
// charged more than was held; a revoked stream ends like Gemini's own MAX_TOKENS stop; a
// refusal comes in Google's error shape.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { GoogleGenAI } = require('@google/genai');
const { binary, sha, tempDir, startDaemon, eventually } = require('./daemon_helpers.js');
const { startFakeLlm } = require('../upstream/fake_llm.js');
const { stopClean } = require('./proxy_helpers.js');

const AGENT = 'gemini-agent';
const SMALL = 'gemini-small';
const CUT = 'gemini-cut';
const prices = JSON.parse(fs.readFileSync(path.join(path.dirname(binary), 'prices.json'), 'utf8'));
const FLASH = prices.providers.find((p) => p.id === 'google').models.find((m) => m.id === 'gemini-2.5-flash').prices[0];

// Input (cached part at its own price), output: micros per million, rounded up once.
function cost(p, input, output, cached = 0) {
  const micros = BigInt(input - cached) * BigInt(p.input_mtok) + BigInt(cached) * BigInt(p.cache_read_mtok) +
    BigInt(output) * BigInt(p.output_mtok);
  return Number((micros + 999999n) / 1000000n);
}

let fake, daemon, dir;
const lastSeen = {};

const client = (key) => new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: daemon.base } });
const headers = (h) => ({ httpOptions: { headers: h } });

test.before(async () => {
  fake = await startFakeLlm({ port: 0, apiKey: 'gk-upstream' });
  dir = tempDir('gemini');
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
  - {name: max, role: agent, scope: team/max, sha256: ${sha('gemini-max')}}
  - {name: small, role: agent, scope: team/small, sha256: ${sha(SMALL)}}
  - {name: cut, role: agent, scope: team/cut, sha256: ${sha(CUT)}}
upstreams:
  gemini: {base_url: "${fake.url}", api_key: gk-upstream}
proxy:
  timeout_ms: 60000 # the whole call: a 4,096-token stream took over 5 s at load 10 on 2 cores
`);
  daemon = await startDaemon(file);
});

test.after(async () => {
  await stopClean(daemon);
  await fake.close();
});

// The charges of a budget made since the last look, once no hold is open.
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

const USAGE = {
  'x-fake-input-tokens': '1000', 'x-fake-cached-tokens': '200', 'x-fake-output-tokens': '20',
  'x-fake-reasoning-tokens': '30', 'x-fake-tool-use-tokens': '50',
};
// promptTokenCount (cached included) + toolUsePromptTokenCount in, candidates + thoughts out.
const EXPECTED = cost(FLASH, 1000 + 50, 20 + 30, 200);

test('generateContent: charged exactly usageMetadata times the price; the provider key upstream', async () => {
  const r = await client(AGENT).models.generateContent({
    model: 'gemini-2.5-flash', contents: 'Say hello', config: { maxOutputTokens: 100, ...headers(USAGE) },
  });
  assert.match(r.text, /^Hello from the fake upstream/);
  assert.equal(r.usageMetadata.thoughtsTokenCount, 30);
  const [c] = await newCharges('team/a');
  assert.equal(c.cost_micros, EXPECTED, JSON.stringify(c));
  assert.equal(c.model, 'gemini-2.5-flash');
  assert.ok(c.held_micros >= c.cost_micros);
  const sent = fake.requests[fake.requests.length - 1];
  assert.equal(sent.headers['x-goog-api-key'], 'gk-upstream', 'the provider key, not the agent key');
  assert.equal(sent.path, '/v1beta/models/gemini-2.5-flash:generateContent');
});

test('streamGenerateContent (alt=sse): chunks pass through; the final usageMetadata is charged exactly', async () => {
  const stream = await client(AGENT).models.generateContentStream({
    model: 'gemini-2.5-flash', contents: 'Say hello', config: { maxOutputTokens: 100, ...headers(USAGE) },
  });
  let text = '';
  let last;
  for await (const chunk of stream) {
    text += chunk.text || '';
    last = chunk;
  }
  assert.match(text, /^Hello from the fake upstream/);
  assert.equal(last.candidates[0].finishReason, 'STOP');
  const [c] = await newCharges('team/a');
  assert.equal(c.cost_micros, EXPECTED, JSON.stringify(c));
});

test('countTokens is passed through and free; a call without maxOutputTokens is given one', async () => {
  const before = (await daemon.call('GET', '/v1/budgets/team/a')).json.spent_micros;
  const count = await client(AGENT).models.countTokens({ model: 'gemini-2.5-flash', contents: 'twelve bytes' });
  assert.equal(count.totalTokens, 4);
  assert.equal((await daemon.call('GET', '/v1/budgets/team/a')).json.spent_micros, before);
  await client(AGENT).models.generateContent({ model: 'gemini-2.5-flash', contents: 'hi' });
  const sent = fake.requests[fake.requests.length - 1].body;
  assert.equal(sent.generationConfig.maxOutputTokens, 4096);
  const [c] = await newCharges('team/a');
  assert.ok(c.held_micros < 1000000, `held ${c.held_micros}: not the whole context window`);
});

test('a refusal comes in Google\'s error shape (402 to @google/genai, which retries 429s), never forwarded', async () => {
  const count = fake.requests.length;
  await assert.rejects(client(SMALL).models.generateContent({
    model: 'gemini-2.5-flash', contents: 'hi', config: { maxOutputTokens: 4000 },
  }), (e) => {
    // Final: @google/genai retries any 429 when given retryOptions (docs/proxy.md, "Which
    // SDK retries what"), so it gets 402; other clients get 429 RESOURCE_EXHAUSTED below.
    assert.equal(e.status, 402);
    const body = JSON.parse(e.message);
    assert.equal(body.error.code, 402);
    assert.equal(body.error.status, 'FAILED_PRECONDITION');
    const info = body.error.details[0];
    assert.equal(info['@type'], 'type.googleapis.com/google.rpc.ErrorInfo');
    assert.equal(info.reason, 'budget_exceeded');
    assert.equal(info.metadata.budget, 'team/small');
    assert.match(info.metadata.needed_micros, /^\d+$/);
    return true;
  });
  const plain = await fetch(`${daemon.base}/v1beta/models/gemini-2.5-flash:generateContent`, {
    method: 'POST', headers: { 'x-goog-api-key': SMALL, 'content-type': 'application/json' },
    body: JSON.stringify({ contents: [{ parts: [{ text: 'hi' }] }], generationConfig: { maxOutputTokens: 4000 } }),
  });
  assert.equal(plain.status, 429);
  const plainBody = await plain.json();
  assert.equal(plainBody.error.status, 'RESOURCE_EXHAUSTED');
  assert.equal(plainBody.error.details[0].reason, 'budget_exceeded');
  assert.equal(fake.requests.length, count, 'never forwarded');
  await assert.rejects(client(AGENT).models.generateContent({ model: 'gemini-no-such', contents: 'hi' }),
    (e) => e.status === 400 && JSON.parse(e.message).error.details[0].reason === 'model_not_priced');
  const r = await fetch(`${daemon.base}/v1beta/models/gemini-2.5-flash:streamGenerateContent`, {
    method: 'POST', headers: { 'x-goog-api-key': AGENT, 'content-type': 'application/json' },
    body: JSON.stringify({ contents: 'hi' }),
  });
  assert.equal(r.status, 400, 'a stream without alt=sse is refused');
  assert.equal((await r.json()).error.status, 'INVALID_ARGUMENT');
});

test('a stream is cut cleanly when its class is revoked mid-way: MAX_TOKENS, and the SDK ends normally', async () => {
  const stream = await client(CUT).models.generateContentStream({
    model: 'gemini-2.5-flash', contents: 'go',
    config: { maxOutputTokens: 200, ...headers({ 'x-fake-output-tokens': '200', 'x-fake-delay-ms': '20', 'x-fake-input-tokens': '10' }) },
  });
  let chunks = 0;
  let finish = null;
  for await (const chunk of stream) {
    chunks++;
    finish = chunk.candidates?.[0]?.finishReason || finish;
    if (chunks === 5) {
      const r = await daemon.call('POST', '/v1/charges', { budget: 'team/cut', cost: '0.60', force: true });
      assert.equal(r.status, 200, r.text);
    }
  }
  assert.equal(finish, 'MAX_TOKENS', 'ended like an output limit');
  assert.ok(chunks < 150, `cut after ${chunks} chunks`);
  assert.ok(await eventually(() => fake.requests[fake.requests.length - 1].disconnected), 'upstream aborted');
  const b = await eventually(async () => {
    const s = (await daemon.call('GET', '/v1/budgets/team/cut')).json;
    return s.held_micros === 0 && s.spent_micros > 600000 ? s : null;
  });
  assert.ok(b, 'what was streamed was charged');
});

// A 1 x 1 PNG: Gemini bills an image by its tiles, which Tollgate bounds by the context window.
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
const MAX_SHAPES = {
  'text': { contents: 'Tell me a story', config: { maxOutputTokens: 300 } },
  'no cap (the proxy gives one)': { contents: 'Tell me a story', config: {} },
  'thinking budget': { contents: 'Think', config: { maxOutputTokens: 300, thinkingConfig: { thinkingBudget: 2000 } } },
  'dynamic thinking, two candidates': { contents: 'Think', config: { maxOutputTokens: 200, candidateCount: 2, thinkingConfig: { thinkingBudget: -1 } } },
  'system instruction and a tool': {
    contents: [{ role: 'user', parts: [{ text: 'weather?' }] }],
    config: {
      maxOutputTokens: 100, systemInstruction: 'You are terse.',
      tools: [{ functionDeclarations: [{ name: 'weather', description: 'the weather', parameters: { type: 'OBJECT', properties: { city: { type: 'STRING' } } } }] }],
    },
  },
  'an inline image': { contents: [{ role: 'user', parts: [{ text: 'what is it?' }, { inlineData: { mimeType: 'image/png', data: PNG } }] }], config: { maxOutputTokens: 50 } },
};

for (const stream of [false, true]) {
  for (const [name, shape] of Object.entries(MAX_SHAPES)) {
    test(`the fake bills the most it could (${name}${stream ? ', streamed' : ''}): charged <= held`, async () => {
      const ai = client('gemini-max');
      const request = { model: 'gemini-2.5-flash', contents: shape.contents, config: { ...shape.config, ...headers({ 'x-fake-bill': 'max' }) } };
      if (stream) {
        for await (const chunk of await ai.models.generateContentStream(request)) {
          assert.ok(chunk);
        }
      } else {
        await ai.models.generateContent(request);
      }
      const charges = await newCharges('team/max');
      assert.equal(charges.length, 1, JSON.stringify(charges));
      const [c] = charges;
      if (process.env.TG_BOUNDS_VERBOSE) console.log(`gemini ${name}${stream ? ' streamed' : ''}: charged ${c.cost_micros} held ${c.held_micros}`);
      assert.ok(c.cost_micros > 0, JSON.stringify(c));
      assert.ok(c.cost_micros <= c.held_micros, `charged ${c.cost_micros} > held ${c.held_micros}: ${JSON.stringify(c)}`);
      assert.equal((await daemon.call('GET', '/v1/budgets/team/max')).json.locked, false, 'no overrun');
    });
  }
}

test('grounding tools are refused as unbounded, in Google\'s shape, and nothing is held', async () => {
  await assert.rejects(client(AGENT).models.generateContent({
    model: 'gemini-2.5-flash', contents: 'news?', config: { maxOutputTokens: 50, tools: [{ googleSearch: {} }] },
  }), (e) => e.status === 400 && /googleSearch/.test(JSON.parse(e.message).error.message));
  assert.equal((await daemon.call('GET', '/v1/budgets/team/a')).json.held_micros, 0);
});
