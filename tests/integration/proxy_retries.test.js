// Budget refusals are final for every SDK (docs/proxy.md, "Which SDK retries what"): each
// official client, left at its default retries (or given retries where it has none by
// default), sends a refused call exactly ONCE. Requests are counted at the daemon (its
// refusal decisions in /metrics; nothing reaches the fake upstream). The Vercel AI SDK and
// @google/genai retry any 429, so they get 402; openai and @anthropic-ai/sdk keep their
// 429 (RateLimitError) and obey x-should-retry: false. A control with refusal_status: 429
// shows the AI SDK retrying, so the count would catch a retry.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const OpenAI = require('openai');
const Anthropic = require('@anthropic-ai/sdk');
const { GoogleGenAI } = require('@google/genai');
const { generateText } = require('ai');
const { createOpenAI } = require('@ai-sdk/openai');
const { createAnthropic } = require('@ai-sdk/anthropic');
const { createGoogleGenerativeAI } = require('@ai-sdk/google');
const { sha, tempDir, startDaemon } = require('./daemon_helpers.js');
const { startFakeLlm } = require('../upstream/fake_llm.js');
const { stopClean } = require('./proxy_helpers.js');

const KEY = 'retry-agent';
let fake;
test.before(async () => {
  fake = await startFakeLlm({ port: 0 });
});
test.after(async () => {
  await fake.close();
});

// A daemon whose only budget refuses anything (a micro, no window: no retry can pass).
async function refusing(name, proxy = '') {
  const dir = tempDir(`retries-${name}`);
  const file = path.join(dir, 'tollgate.yaml');
  fs.writeFileSync(file, `
port: 0
store: {kind: memory}
budgets:
  - {path: t, limit: "0.000001"}
keys:
  - {name: bot, role: agent, scope: t, sha256: ${sha(KEY)}}
upstreams:
  openai: {base_url: "${fake.url}", api_key: sk-up}
  anthropic: {base_url: "${fake.url}", api_key: sk-ant-up}
  gemini: {base_url: "${fake.url}", api_key: gk-up}
proxy:
  timeout_ms: 60000
${proxy}`);
  return startDaemon(file);
}

// Refusal decisions so far, from the daemon's own counters.
async function refusals(d) {
  const r = await d.call('GET', '/metrics');
  assert.equal(r.status, 200);
  let total = 0;
  for (const m of r.text.matchAll(/^tollgate_decisions_total\{outcome="refused"[^}]*\} (\d+)$/gm)) total += Number(m[1]);
  return total;
}

// Runs `call` (which must be refused) and returns [the error, requests the daemon saw].
async function once(d, call) {
  const before = await refusals(d);
  const sent = fake.requests.length;
  let error;
  await assert.rejects(call(), (e) => { error = e; return true; });
  assert.equal(fake.requests.length, sent, 'nothing went upstream');
  return [error, (await refusals(d)) - before];
}

const PROMPT = 'hi';
const status = (e) => e.statusCode ?? e.status ?? (e.lastError && e.lastError.statusCode);

test('every SDK sends a refused call exactly once, in the status it treats as final', async () => {
  const d = await refusing('auto');
  try {
    const v1 = `${d.base}/v1`;
    const cases = {
      'ai + @ai-sdk/openai': () => generateText({ model: createOpenAI({ baseURL: v1, apiKey: KEY }).chat('gpt-4o-mini'), prompt: PROMPT, maxOutputTokens: 100 }),
      'ai + @ai-sdk/anthropic': () => generateText({ model: createAnthropic({ baseURL: v1, apiKey: KEY })('claude-3-5-haiku-latest'), prompt: PROMPT, maxOutputTokens: 100 }),
      'ai + @ai-sdk/google': () => generateText({ model: createGoogleGenerativeAI({ baseURL: `${d.base}/v1beta`, apiKey: KEY })('gemini-2.0-flash'), prompt: PROMPT, maxOutputTokens: 100 }),
      '@google/genai with retryOptions': () => new GoogleGenAI({ apiKey: KEY, httpOptions: { baseUrl: d.base, retryOptions: { attempts: 3, initialDelay: 0.01 } } })
        .models.generateContent({ model: 'gemini-2.0-flash', contents: PROMPT, config: { maxOutputTokens: 100 } }),
      openai: () => new OpenAI({ baseURL: v1, apiKey: KEY }).chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 100, messages: [{ role: 'user', content: PROMPT }] }),
      '@anthropic-ai/sdk': () => new Anthropic({ baseURL: d.base, apiKey: KEY }).messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 100, messages: [{ role: 'user', content: PROMPT }] }),
    };
    const expected = { openai: 429, '@anthropic-ai/sdk': 429 };
    for (const [name, call] of Object.entries(cases)) {
      const [error, count] = await once(d, call);
      assert.equal(count, 1, `${name}: requests the daemon refused`);
      assert.equal(status(error), expected[name] ?? 402, `${name}: ${error}`);
    }
    // The 429 SDKs keep their rate-limit exception type.
    const [e] = await once(d, cases.openai);
    assert.ok(e instanceof OpenAI.RateLimitError, String(e));
    const [a] = await once(d, cases['@anthropic-ai/sdk']);
    assert.ok(a instanceof Anthropic.RateLimitError, String(a));
  } finally {
    await stopClean(d);
  }
});

test('@openai/agents: a refused run makes one request, even with the runner told to retry', async () => {
  const agents = require('@openai/agents');
  const d = await refusing('agents');
  try {
    agents.setDefaultOpenAIClient(new OpenAI({ baseURL: `${d.base}/v1`, apiKey: KEY }));
    agents.setTracingDisabled(true);
    const plain = new agents.Agent({ name: 'plain', model: 'gpt-4o-mini', modelSettings: { maxTokens: 100 } });
    // A policy that retries what the provider suggests or any 429: x-should-retry: false wins.
    const eager = new agents.Agent({
      name: 'eager', model: 'gpt-4o-mini',
      modelSettings: { maxTokens: 100, retry: { maxRetries: 2, policy: agents.retryPolicies.providerSuggested() } },
    });
    for (const agent of [plain, eager]) {
      const [error, count] = await once(d, () => agents.run(agent, PROMPT));
      assert.equal(count, 1, `${agent.name}: requests the daemon refused (${error})`);
      assert.equal(status(error), 429, String(error));
    }
  } finally {
    await stopClean(d);
  }
});

test('control: refusal_status: 429 for everyone, and the AI SDK retries (so the count sees retries)', async () => {
  const d = await refusing('control', '  refusal_status: 429\n');
  try {
    const model = createOpenAI({ baseURL: `${d.base}/v1`, apiKey: KEY }).chat('gpt-4o-mini');
    const [error, count] = await once(d, () => generateText({ model, prompt: PROMPT, maxOutputTokens: 100, maxRetries: 1 }));
    assert.equal(count, 2, 'sent, then retried once after its backoff');
    assert.equal(status(error), 429, String(error));
  } finally {
    await stopClean(d);
  }
});

test('refusal_status: 403 for everyone; a bad value stops the daemon', async () => {
  const d = await refusing('forbidden', '  refusal_status: 403\n');
  try {
    const [error, count] = await once(d, () => new OpenAI({ baseURL: `${d.base}/v1`, apiKey: KEY })
      .chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 100, messages: [{ role: 'user', content: PROMPT }] }));
    assert.equal(count, 1);
    assert.ok(error instanceof OpenAI.PermissionDeniedError, String(error));
    assert.equal(error.error.code, 'budget_exceeded');
  } finally {
    await stopClean(d);
  }
  const { spawnSync } = require('node:child_process');
  const { binary } = require('./daemon_helpers.js');
  for (const bad of ['418', '"402 "', 'yes', '[402]']) {
    const dir = tempDir('retries-bad');
    const file = path.join(dir, 'bad.yaml');
    fs.writeFileSync(file, `port: 0\nstore: {kind: memory}\nupstreams:\n  openai: {base_url: "${fake.url}"}\nproxy:\n  refusal_status: ${bad}\n`);
    const r = spawnSync(binary, ['serve', '--config', file], { encoding: 'utf8', timeout: 10000 });
    assert.notEqual(r.status, 0, bad);
    assert.match(r.stderr, /refusal_status must be auto, 429, 402 or 403/, `${bad}: ${r.stderr}`);
  }
});
