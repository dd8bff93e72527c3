// The LLM proxy in `tollgate serve`: the official OpenAI and Anthropic SDKs pointed
// at the daemon, tests/upstream/fake_llm.js as the provider. Charges are read back
// through GET /v1/charges and compared with the upstream's usage times the price in
// prices.json (beside the binary, where the build puts it).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { OpenAI } = require('openai');
const { Anthropic } = require('@anthropic-ai/sdk');
const { binary, sha, tempDir, startDaemon, eventually } = require('./daemon_helpers.js');
const { startFakeLlm } = require('../upstream/fake_llm.js');

const AGENT = 'agent-secret';
const SMALL = 'small-secret';
const prices = JSON.parse(fs.readFileSync(path.join(path.dirname(binary), 'prices.json'), 'utf8'));

function price(provider, id) {
  const models = prices.providers.find((p) => p.id === provider).models;
  return models.find((m) => m.id === id).prices[0];
}

// The cost the proxy must charge: tokens times micros per million, rounded up once.
function cost(p, input, output, cached = 0) {
  const micros = BigInt(input - cached) * BigInt(p.input_mtok) +
    BigInt(cached) * BigInt(p.cache_read_mtok || p.input_mtok) + BigInt(output) * BigInt(p.output_mtok || 0);
  return Number((micros + 999999n) / 1000000n);
}

let fake, daemon, openai, anthropic, dir;

async function start(extra = '') {
  dir = tempDir('proxy');
  const configFile = path.join(dir, 'tollgate.yaml');
  fs.writeFileSync(configFile, `
port: 0
store: {kind: memory}
budgets:
  - {path: team, limit: "1000.00"}
  - {path: team/a, limit: "100.00"}
  - {path: team/small, limit: "0.0005"}
  - {path: team/cut, limit: "1.00", revoke_at: "0.50"}
keys:
  - {name: bot, role: agent, scope: team/a, sha256: ${sha(AGENT)}}
  - {name: small, role: agent, scope: team/small, sha256: ${sha(SMALL)}}
  - {name: cut, role: agent, scope: team/cut, sha256: ${sha('cut-secret')}}
upstreams:
  openai: {base_url: "${fake.url}", api_key: sk-upstream}
  anthropic: {base_url: "${fake.url}", api_key: sk-ant-upstream}
proxy:
  timeout_ms: 1500
${extra}
`);
  return startDaemon(configFile);
}

async function charges(budget) {
  const r = await daemon.call('GET', `/v1/charges?budget=${budget}`);
  assert.equal(r.status, 200, r.text);
  return r.json.charges;
}

async function spent(budget) {
  const r = await daemon.call('GET', `/v1/budgets/${budget}`);
  return r.json;
}

test.before(async () => {
  fake = await startFakeLlm({ port: 0 });
  daemon = await start();
  openai = new OpenAI({ apiKey: AGENT, baseURL: `${daemon.base}/v1`, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: AGENT, baseURL: daemon.base, maxRetries: 0 });
});

test.after(async () => {
  const code = await daemon.stop();
  await fake.close();
  // Under ASan+UBSan a report (leaks included) fails the run here.
  assert.doesNotMatch(daemon.stderr(), /AddressSanitizer|runtime error|LeakSanitizer/, daemon.stderr());
  assert.equal(code, 0, daemon.stderr());
});

test('OpenAI chat, not streamed: the upstream usage times the price is charged', async () => {
  const before = (await spent('team/a')).spent_micros;
  const r = await openai.chat.completions.create({
    model: 'gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content: 'Say hello' }],
  }, { headers: { 'x-fake-output-tokens': '20', 'x-fake-input-tokens': '1000' } });
  assert.equal(r.usage.prompt_tokens, 1000);
  assert.equal(r.usage.completion_tokens, 20);
  assert.match(r.choices[0].message.content, /Hello/);
  const expected = cost(price('openai', 'gpt-4o-mini'), 1000, 20);
  const after = await eventually(async () => {
    const b = await spent('team/a');
    return b.spent_micros !== before ? b : null;
  });
  assert.equal(after.spent_micros - before, expected);
  assert.equal(after.held_micros, 0);
  const last = fake.requests[fake.requests.length - 1];
  assert.equal(last.headers.authorization, 'Bearer sk-upstream', 'the provider key, not the agent key');
});

test('OpenAI chat, streamed: events pass through and the reported usage is charged', async () => {
  const before = (await spent('team/a')).spent_micros;
  const stream = await openai.chat.completions.create({
    model: 'gpt-4o-mini', max_tokens: 50, stream: true,
    messages: [{ role: 'user', content: 'Say hello' }],
  }, { headers: { 'x-fake-output-tokens': '30', 'x-fake-input-tokens': '500' } });
  let text = '';
  let usageSeen = false;
  for await (const chunk of stream) {
    if (chunk.usage) usageSeen = true;
    text += chunk.choices[0]?.delta?.content || '';
  }
  assert.ok(!usageSeen, 'the usage chunk the proxy asked for is hidden from a client that did not');
  assert.ok(text.length > 0);
  const expected = cost(price('openai', 'gpt-4o-mini'), 500, 30);
  const after = await eventually(async () => {
    const b = await spent('team/a');
    return b.spent_micros !== before ? b : null;
  });
  assert.equal(after.spent_micros - before, expected);
  assert.equal(after.held_micros, 0);
});

test('Responses and embeddings routes are metered', async () => {
  const before = (await spent('team/a')).spent_micros;
  const r = await openai.responses.create({ model: 'gpt-4o-mini', input: 'hi', max_output_tokens: 40 },
    { headers: { 'x-fake-output-tokens': '10', 'x-fake-input-tokens': '100' } });
  assert.equal(r.usage.output_tokens, 10);
  const e = await openai.embeddings.create({ model: 'text-embedding-3-small', input: 'hello world' },
    { headers: { 'x-fake-input-tokens': '1000000' } });
  assert.ok(e.data.length > 0);
  const p = price('openai', 'text-embedding-3-small');
  const expected = cost(price('openai', 'gpt-4o-mini'), 100, 10) + cost(p, 1000000, 0);
  const after = await eventually(async () => {
    const b = await spent('team/a');
    return b.spent_micros - before === expected ? b : null;
  });
  assert.ok(after, 'charged both calls');
  const models = await openai.models.list();
  assert.ok(models.data.length > 0, 'GET /v1/models passes through');
});

test('Anthropic messages, streamed and not, charged at the reported usage', async () => {
  const p = price('anthropic', 'claude-3-5-haiku-latest');
  const before = (await spent('team/a')).spent_micros;
  const m = await anthropic.messages.create({
    model: 'claude-3-5-haiku-latest', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }],
  }, { headers: { 'x-fake-output-tokens': '12', 'x-fake-input-tokens': '300' } });
  assert.equal(m.usage.output_tokens, 12);
  const stream = anthropic.messages.stream({
    model: 'claude-3-5-haiku-latest', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }],
  }, { headers: { 'x-fake-output-tokens': '25', 'x-fake-input-tokens': '200' } });
  const final = await stream.finalMessage();
  assert.equal(final.usage.output_tokens, 25);
  const expected = cost(p, 300, 12) + cost(p, 200, 25);
  const after = await eventually(async () => {
    const b = await spent('team/a');
    return b.spent_micros - before === expected ? b : null;
  });
  assert.ok(after, `charged ${expected}`);
  const count = await anthropic.messages.countTokens({
    model: 'claude-3-5-haiku-latest', messages: [{ role: 'user', content: 'hi' }],
  });
  assert.ok(count.input_tokens > 0, 'count_tokens passes through, free');
});

test('the agent key may come as x-api-key', async () => {
  const r = await fetch(`${daemon.base}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': AGENT, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude-3-5-haiku-latest', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(r.status, 200);
  const bad = await fetch(`${daemon.base}/v1/messages`, {
    method: 'POST', headers: { 'x-api-key': 'nope', 'content-type': 'application/json' }, body: '{}',
  });
  assert.equal(bad.status, 401);
});

test('an unknown model is refused, in the provider shape, and nothing is charged', async () => {
  await assert.rejects(openai.chat.completions.create({
    model: 'no-such-model-xyz', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }],
  }), (e) => e.status === 400 && /model_not_priced/.test(e.code || e.error?.code || ''));
  await assert.rejects(anthropic.messages.create({
    model: 'claude-no-such', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }],
  }), (e) => e.status === 400);
});

test('a call whose worst case does not fit is refused with a 429 the SDK raises', async () => {
  const small = new OpenAI({ apiKey: SMALL, baseURL: `${daemon.base}/v1`, maxRetries: 0 });
  const count = fake.requests.length;
  await assert.rejects(small.chat.completions.create({
    model: 'gpt-4o-mini', max_tokens: 4000, messages: [{ role: 'user', content: 'hi' }],
  }), (e) => e.status === 429 && e.error?.code === 'budget_exceeded' &&
    e.error?.budget === 'team/small');
  assert.equal(fake.requests.length, count, 'never forwarded');
  const ant = new Anthropic({ apiKey: SMALL, baseURL: daemon.base, maxRetries: 0 });
  await assert.rejects(ant.messages.create({
    model: 'claude-3-5-haiku-latest', max_tokens: 4000, messages: [{ role: 'user', content: 'hi' }],
  }), (e) => e.status === 429 && e.error?.error?.type === 'rate_limit_error');
});

test('parallel calls on a small budget: granted ones fit, the rest are refused', async () => {
  // team/small holds $0.0005: 30 calls of up to 400 output tokens ($0.00024 each).
  const small = new OpenAI({ apiKey: SMALL, baseURL: `${daemon.base}/v1`, maxRetries: 0 });
  const results = await Promise.allSettled(Array.from({ length: 30 }, () =>
    small.chat.completions.create({
      model: 'gpt-4o-mini', max_tokens: 400, messages: [{ role: 'user', content: 'go' }],
    }, { headers: { 'x-fake-output-tokens': '400', 'x-fake-input-tokens': '10', 'x-fake-first-byte-ms': '100' } })));
  const ok = results.filter((x) => x.status === 'fulfilled').length;
  const refused = results.filter((x) => x.status === 'rejected' && x.reason.status === 429).length;
  assert.equal(ok + refused, 30);
  assert.ok(ok >= 1 && refused >= 1, `${ok} granted, ${refused} refused`);
  const b = await eventually(async () => {
    const s = await spent('team/small');
    return s.held_micros === 0 ? s : null;
  });
  assert.ok(b.spent_micros <= 500, `spent ${b.spent_micros} of 500`);
});

test('a stream is cut cleanly when its class is revoked mid-way; the SDK ends normally', async () => {
  const cut = new OpenAI({ apiKey: 'cut-secret', baseURL: `${daemon.base}/v1`, maxRetries: 0 });
  const stream = await cut.chat.completions.create({
    model: 'gpt-4o-mini', max_tokens: 200, stream: true, messages: [{ role: 'user', content: 'go' }],
  }, { headers: { 'x-fake-output-tokens': '200', 'x-fake-delay-ms': '20', 'x-fake-input-tokens': '10' } });
  let chunks = 0;
  let finish = null;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
    if (chunks === 5) {
      // Spending past revoke_at revokes the normal class: the hold is asked to stop.
      const r = await daemon.call('POST', '/v1/charges', { budget: 'team/cut', cost: '0.60', force: true });
      assert.equal(r.status, 200, r.text);
    }
  }
  assert.equal(finish, 'length', 'ended like an output limit');
  assert.ok(chunks < 150, `cut after ${chunks} chunks`);
  const last = await eventually(() => fake.requests[fake.requests.length - 1].disconnected);
  assert.ok(last, 'the upstream transfer was aborted');
  const b = await eventually(async () => {
    const s = await spent('team/cut');
    return s.held_micros === 0 && s.spent_micros > 600000 ? s : null;
  });
  assert.ok(b, 'what was streamed was charged');
});

test('a stream is cut only when the upstream goes past the cap it was given', async () => {
  const stream = anthropic.messages.stream({
    model: 'claude-3-5-haiku-latest', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }],
  }, { headers: { 'x-fake-output-tokens': '200', 'x-fake-ignore-cap': '1', 'x-fake-delay-ms': '2' } });
  const final = await stream.finalMessage();
  assert.equal(final.stop_reason, 'max_tokens');
  assert.ok(fake.requests[fake.requests.length - 1].textEvents < 200);
});

test('a client that leaves mid-stream: the upstream is aborted and what was used charged', async () => {
  const before = (await spent('team/a')).spent_micros;
  const controller = new AbortController();
  const stream = await openai.chat.completions.create({
    model: 'gpt-4o-mini', max_tokens: 500, stream: true, messages: [{ role: 'user', content: 'go' }],
  }, { headers: { 'x-fake-output-tokens': '500', 'x-fake-delay-ms': '20' }, signal: controller.signal });
  let chunks = 0;
  try {
    for await (const chunk of stream) {
      void chunk;
      if (++chunks === 5) controller.abort();
    }
  } catch { /* the SDK may raise its abort */ }
  assert.ok(chunks >= 5 && chunks < 100, `left after ${chunks} chunks`);
  const gone = await eventually(() => fake.requests[fake.requests.length - 1].disconnected, 3000);
  assert.ok(gone, 'upstream aborted');
  const b = await eventually(async () => {
    const s = await spent('team/a');
    return s.held_micros === 0 && s.spent_micros > before ? s : null;
  }, 3000);
  assert.ok(b, 'hold settled with a partial charge');
});

test('upstream errors release the hold; a timeout or a broken stream is charged its hold', async () => {
  const before = (await spent('team/a')).spent_micros;
  await assert.rejects(openai.chat.completions.create({
    model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }],
  }, { headers: { 'x-fake-error': '500' } }), (e) => e.status === 500);
  await assert.rejects(anthropic.messages.create({
    model: 'claude-3-5-haiku-latest', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }],
  }, { headers: { 'x-fake-error': '529' } }), (e) => e.status === 529);
  const errors = await eventually(async () => {
    const s = await spent('team/a');
    return s.held_micros === 0 ? s : null;
  });
  assert.equal(errors.spent_micros, before, 'an error without usage bills nothing');
  await assert.rejects(openai.chat.completions.create({
    model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }],
  }, { headers: { 'x-fake-hang': '1' } }), (e) => e.status === 504);
  const stream = await openai.chat.completions.create({
    model: 'gpt-4o-mini', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'hi' }],
  }, { headers: { 'x-fake-error-after': '3', 'x-fake-output-tokens': '20' } });
  await assert.rejects((async () => { for await (const c of stream) void c; })());
  const b = await eventually(async () => {
    const s = await spent('team/a');
    return s.held_micros === 0 ? s : null;
  });
  assert.ok(b);
  // The timeout and the broken stream reported no usage: each is charged its held worst
  // case (the provider may have done the work), which for these small calls is < 1 cent.
  assert.ok(b.spent_micros > before, `charged ${b.spent_micros - before}`);
  assert.ok(b.spent_micros - before < 10000, `charged ${b.spent_micros - before}`);
});
