// Every answer is settled, and a stream that fits its hold is never cut (docs/proxy.md,
// "How each call is settled"): a JSON body to a stream request is charged its usage; an
// error that reports usage is charged it; a client that leaves before any usage came is
// charged the held worst case; a hold that expired mid-call is charged by a forced
// record; streams that end at their cap reach it on both wires (Anthropic with a tool
// and with a PDF too); a stream silent for 60 s survives under the default idle timeout
// (>= 600 s), and a configured shorter idle timeout is its own setting.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { OpenAI } = require('openai');
const { Anthropic } = require('@anthropic-ai/sdk');
const { sha, tempDir, startDaemon, eventually } = require('./daemon_helpers.js');
const { startFakeLlm } = require('../upstream/fake_llm.js');
const { proxyConfig, stopClean } = require('./proxy_helpers.js');
const { pdf } = require('./proxy_shapes.js');

const AGENT = 'settle-agent';
let fake, daemon, quick, openai, anthropic, lastCharge = 0;

function start(extra) {
  return startDaemon(proxyConfig(tempDir('settle'), 'tollgate', {
    fake,
    budgets: ['{path: team, limit: "1000.00"}'],
    keys: [`{name: bot, role: agent, scope: team, sha256: ${sha(AGENT)}}`],
    extra,
  }));
}

test.before(async () => {
  fake = await startFakeLlm({ port: 0 });
  daemon = await start(''); // every proxy default: timeout_ms 1 h, stream idle 600 s
  quick = await start('proxy: {stream_idle_timeout_ms: 2000}\nlimits: {max_hold_ttl_ms: 1000, default_hold_ttl_ms: 1000}');
  openai = new OpenAI({ apiKey: AGENT, baseURL: `${daemon.base}/v1`, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: AGENT, baseURL: daemon.base, maxRetries: 0 });
});

test.after(async () => {
  await stopClean(daemon, quick);
  await fake.close();
});

// The next charge on `d` once its holds are settled.
async function nextCharge(d = daemon) {
  await eventually(async () => (await d.call('GET', '/v1/budgets/team')).json.held_micros === 0, 10000);
  const found = await eventually(async () => {
    const r = await d.call('GET', `/v1/charges?budget=team&after=${d === daemon ? lastCharge : 0}`);
    return r.status === 200 && r.json.charges.length > 0 ? r.json.charges : null;
  }, 10000);
  assert.ok(found, 'a charge was made');
  if (d === daemon) {
    lastCharge = found[found.length - 1].id;
  }
  return found[found.length - 1];
}

// gpt-4o-mini: $0.15 / $0.60 per million tokens, rounded up once.
const miniCost = (input, output) => Math.ceil((input * 150000 + output * 600000) / 1e6);

test('a JSON body to a stream request is charged its reported usage', async () => {
  const r = await fetch(`${daemon.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${AGENT}`, 'content-type': 'application/json', 'x-fake-json-to-stream': '1',
      'x-fake-input-tokens': '1000', 'x-fake-output-tokens': '500' },
    body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 800, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /application\/json/);
  const body = await r.json();
  assert.equal(body.usage.completion_tokens, 500);
  const c = await nextCharge();
  assert.equal(c.cost_micros, miniCost(1000, 500));
  assert.ok(c.cost_micros <= c.held_micros);
});

test('an error that reports partial usage is charged that usage', async () => {
  await assert.rejects(openai.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] },
    { headers: { 'x-fake-error-usage': '1', 'x-fake-input-tokens': '2000' } }), (e) => e.status === 500);
  const c = await nextCharge();
  assert.equal(c.cost_micros, miniCost(2000, 7));
});

test('a client that leaves a stream before any usage came is charged the held worst case', async () => {
  const controller = new AbortController();
  const stream = await openai.chat.completions.create({
    model: 'gpt-4o-mini', max_tokens: 400, stream: true, messages: [{ role: 'user', content: 'go' }],
  }, { headers: { 'x-fake-output-tokens': '400', 'x-fake-delay-ms': '20' }, signal: controller.signal });
  let chunks = 0;
  try {
    for await (const chunk of stream) {
      void chunk;
      if (++chunks === 5) controller.abort();
    }
  } catch { /* the SDK raises its abort */ }
  assert.ok(await eventually(() => fake.requests[fake.requests.length - 1].disconnected, 5000), 'upstream aborted');
  const c = await nextCharge();
  assert.equal(c.cost_micros, c.held_micros, 'no usage came: the whole hold');
});

test('a hold that expired mid-call is charged by a forced record', async () => {
  const client = new OpenAI({ apiKey: AGENT, baseURL: `${quick.base}/v1`, maxRetries: 0 });
  const answer = await client.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] },
    { headers: { 'x-fake-first-byte-ms': '1600', 'x-fake-input-tokens': '3000', 'x-fake-output-tokens': '20' } });
  assert.equal(answer.usage.completion_tokens, 20);
  const c = await nextCharge(quick);
  assert.equal(c.hold_id, 0, 'a record, not a commit');
  assert.equal(c.cost_micros, miniCost(3000, 20));
});

test('an OpenAI stream that ends at its cap reaches it', async () => {
  const stream = await openai.chat.completions.create({
    model: 'gpt-4o-mini', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'go' }],
  }, { headers: { 'x-fake-output-tokens': '300' } });
  let words = 0, finish = null;
  for await (const chunk of stream) {
    if (chunk.choices[0] && chunk.choices[0].delta.content) words++;
    if (chunk.choices[0] && chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
  }
  assert.equal(words, 100);
  assert.equal(finish, 'length');
  await nextCharge();
});

test('a Responses stream that ends at its cap reaches it', async () => {
  const stream = await openai.responses.create({ model: 'gpt-4o-mini', max_output_tokens: 100, stream: true, input: 'go' },
    { headers: { 'x-fake-output-tokens': '300' } });
  let words = 0, last = null;
  for await (const event of stream) {
    if (event.type === 'response.output_text.delta') words++;
    last = event;
  }
  assert.equal(words, 100);
  assert.equal(last.type, 'response.incomplete');
  await nextCharge();
});

for (const [name, extra] of [
  ['with a tool', { tools: [{ name: 'lookup', description: 'Look up', input_schema: { type: 'object', properties: {} } }] }],
  ['with a PDF', { messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: pdf(10) } }, { type: 'text', text: 'go' }] }] }],
]) {
  test(`an Anthropic stream ${name} that ends at its cap reaches it`, async () => {
    const stream = anthropic.messages.stream({ model: 'claude-sonnet-4-0', max_tokens: 100, messages: [{ role: 'user', content: 'go' }], ...extra },
      { headers: { 'x-fake-output-tokens': '300' } });
    const final = await stream.finalMessage();
    assert.equal(final.stop_reason, 'max_tokens');
    assert.equal(final.usage.output_tokens, 100);
    assert.ok(final.content[0].text.length > 100, final.content[0].text);
    const c = await nextCharge();
    assert.ok(c.cost_micros <= c.held_micros);
  });
}

test('a stream silent for 60 s survives under the default idle timeout', { timeout: 180000 }, async () => {
  const stream = await openai.chat.completions.create({
    model: 'gpt-4o-mini', max_tokens: 20, stream: true, messages: [{ role: 'user', content: 'think' }],
  }, { headers: { 'x-fake-output-tokens': '20', 'x-fake-silent-ms': '60000', 'x-fake-silent-after': '2' }, timeout: 170000 });
  const started = Date.now();
  let words = 0;
  for await (const chunk of stream) {
    if (chunk.choices[0] && chunk.choices[0].delta.content) words++;
  }
  assert.equal(words, 20);
  assert.ok(Date.now() - started >= 59000, 'the silence happened');
  const c = await nextCharge();
  assert.ok(c.cost_micros < c.held_micros, 'charged the reported usage, not the hold');
});

test('stream_idle_timeout_ms is its own setting: a shorter one ends a silent stream, charged its worst case', async () => {
  const client = new OpenAI({ apiKey: AGENT, baseURL: `${quick.base}/v1`, maxRetries: 0 });
  const count = async () => (await quick.call('GET', '/v1/charges?budget=team&limit=1000')).json.charges;
  const before = (await count()).length;
  const stream = await client.chat.completions.create({
    model: 'gpt-4o-mini', max_tokens: 20, stream: true, messages: [{ role: 'user', content: 'think' }],
  }, { headers: { 'x-fake-output-tokens': '20', 'x-fake-silent-ms': '8000', 'x-fake-silent-after': '2' } });
  await assert.rejects((async () => { for await (const c of stream) void c; })(), /timed out|timeout|broke off/i);
  const charges = await eventually(async () => {
    const all = await count();
    return all.length > before ? all : null;
  }, 10000);
  assert.ok(charges, 'charged');
  // No usage came: the worst case (here by a forced record, since this daemon's holds
  // last 1 s), at least the whole output cap.
  assert.ok(charges[charges.length - 1].cost_micros >= miniCost(0, 20));
});

// ---- Streams without usage (issue 13: count streamed output exactly where a tokenizer exists) ----
// Tollgate asks OpenAI upstreams for usage; one that sends none anyway has its output
// counted with the model's tokenizer (tiktoken's encoding, checked here against
// @dqbd/tiktoken), plus 8 tokens of framing per output item. Where the text is not
// the whole output (a reasoning model) or no tokenizer exists (Anthropic), the held
// worst case is charged.
const { get_encoding } = require('@dqbd/tiktoken');
const o200k = get_encoding('o200k_base');
const TEXT = 'Tokenizers merge: unbelievably, counterintuitive words split; 12345 numbers too.';

test('an OpenAI chat stream without usage is charged its output counted exactly', async () => {
  const stream = await openai.chat.completions.create({
    model: 'gpt-4o-mini', max_tokens: 200, stream: true, messages: [{ role: 'user', content: 'hi' }],
  }, { headers: { 'x-fake-usage': 'none', 'x-fake-output-tokens': '37', 'x-fake-text': TEXT } });
  let text = '';
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content || '';
  }
  const tokens = o200k.encode(text).length;
  assert.notEqual(tokens, 37, 'not one token per event: the count is the tokenizer\'s');
  assert.notEqual(tokens, Math.ceil(Buffer.byteLength(text) / 4), 'nor one per four bytes');
  const c = await nextCharge();
  assert.equal(c.tokens_out, tokens + 8);
  assert.ok(c.cost_micros < c.held_micros, `charged ${c.cost_micros}, held ${c.held_micros}`);
});

test('a Responses stream without usage is charged its output counted exactly', async () => {
  const stream = await openai.responses.create({ model: 'gpt-4o-mini', input: 'hi', max_output_tokens: 200, stream: true },
    { headers: { 'x-fake-usage': 'none', 'x-fake-output-tokens': '25', 'x-fake-text': TEXT } });
  let text = '';
  for await (const event of stream) {
    if (event.type === 'response.output_text.delta') text += event.delta;
  }
  const c = await nextCharge();
  assert.equal(c.tokens_out, o200k.encode(text).length + 8);
  assert.ok(c.cost_micros < c.held_micros);
});

test('streams without usage where the text is not the whole output: the held worst case', async () => {
  // A reasoning model (its hidden reasoning is billed), a stream that broke off. (Anthropic
  // streams always report usage in message_start and message_delta: its running totals.)
  const reasoning = await openai.chat.completions.create({
    model: 'o4-mini', max_completion_tokens: 200, stream: true, messages: [{ role: 'user', content: 'hi' }],
  }, { headers: { 'x-fake-usage': 'none' } });
  for await (const chunk of reasoning) { void chunk; }
  let c = await nextCharge();
  assert.equal(c.cost_micros, c.held_micros);
  const broken = await openai.chat.completions.create({
    model: 'gpt-4o-mini', max_tokens: 200, stream: true, messages: [{ role: 'user', content: 'hi' }],
  }, { headers: { 'x-fake-usage': 'none', 'x-fake-error-after': '3' } });
  await assert.rejects((async () => { for await (const chunk of broken) { void chunk; } })());
  c = await nextCharge();
  assert.equal(c.cost_micros, c.held_micros);
});

test('an Anthropic stream whose usage has output_tokens alone is charged the held input, not 0', async () => {
  // With x-fake-usage: none, message_start carries no usage and message_delta only
  // {output_tokens: 0}: nothing reported the input, so its held bound is charged.
  const body = { model: 'claude-sonnet-4-0', max_tokens: 100, messages: [{ role: 'user', content: 'a few words to count' }] };
  const reported = anthropic.messages.stream(body);
  await reported.finalMessage();
  const real = await nextCharge();
  assert.ok(real.tokens_in > 0);
  // (Read raw: the Anthropic SDK cannot accumulate a message_start without usage.)
  const r = await fetch(`${daemon.base}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': AGENT, 'anthropic-version': '2023-06-01', 'content-type': 'application/json', 'x-fake-usage': 'none' },
    body: JSON.stringify({ ...body, stream: true }),
  });
  assert.equal(r.status, 200);
  const text = await r.text();
  assert.match(text, /"usage":\{"output_tokens":0\}/, 'the delta reported output alone');
  assert.match(text, /event: message_stop/);
  const c = await nextCharge();
  assert.ok(c.tokens_in >= real.tokens_in, `input ${c.tokens_in} charged, the upstream counted ${real.tokens_in}`);
  assert.equal(c.tokens_out, 0);
  // claude-sonnet-4-0: $3 per million input tokens; the held input is charged, and at
  // least the unused output cap (100 tokens at $15 per million) is released (the hold
  // also priced the input as a possible cache write).
  assert.equal(c.cost_micros, c.tokens_in * 3);
  assert.ok(c.held_micros - c.cost_micros >= 100 * 15, `held ${c.held_micros}, charged ${c.cost_micros}`);
});
