// fake_llm.test.js: proves the fake upstream speaks each provider's wire format the way
// the official SDKs (`openai`, `@anthropic-ai/sdk`, pinned in package-lock.json) parse it:
// non-streamed and streamed calls on every route, usage fields, truncation at an output
// cap, errors in each provider's shape, mid-stream failures, slow streams, and the
// request log the proxy's integration tests read.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { OpenAI } = require('openai');
const { Anthropic } = require('@anthropic-ai/sdk');
const { startFakeLlm } = require('./fake_llm.js');

let fake;
let openai;
let anthropic;

test.before(async () => {
    fake = await startFakeLlm({ port: 0 });
    openai = new OpenAI({ apiKey: 'sk-test', baseURL: `${fake.url}/v1`, maxRetries: 0 });
    anthropic = new Anthropic({ apiKey: 'sk-ant-test', baseURL: fake.url, maxRetries: 0 });
});

test.after(async () => {
    await fake.close();
});

const headers = (h) => ({ headers: h });

test('openai chat, not streamed: message, finish reason and usage details', async () => {
    const reply = await openai.chat.completions.create({
        model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }],
    }, headers({ 'x-fake-output-tokens': '5', 'x-fake-input-tokens': '40', 'x-fake-cached-tokens': '32', 'x-fake-reasoning-tokens': '3' }));
    assert.equal(reply.object, 'chat.completion');
    assert.equal(reply.choices[0].message.content, 'Hello from the fake upstream');
    assert.equal(reply.choices[0].finish_reason, 'stop');
    assert.equal(reply.usage.prompt_tokens, 40);
    assert.equal(reply.usage.prompt_tokens_details.cached_tokens, 32);
    assert.equal(reply.usage.completion_tokens, 8);
    assert.equal(reply.usage.completion_tokens_details.reasoning_tokens, 3);
});

test('openai chat, streamed with the SDK helper: chunks, usage chunk, final message', async () => {
    const stream = openai.chat.completions.stream({
        model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream_options: { include_usage: true },
    }, headers({ 'x-fake-output-tokens': '4', 'x-fake-input-tokens': '9' }));
    let text = '';
    stream.on('content', (delta) => {
        text += delta;
    });
    const final = await stream.finalChatCompletion();
    assert.equal(text, 'Hello from the fake');
    assert.equal(final.choices[0].message.content, 'Hello from the fake');
    assert.equal(final.choices[0].message.role, 'assistant');
    assert.equal(final.usage.prompt_tokens, 9);
    assert.equal(final.usage.completion_tokens, 4);
});

test('openai chat: n choices, a cap truncates with finish_reason length', async () => {
    const chunks = [];
    const stream = await openai.chat.completions.create({
        model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], n: 2, max_completion_tokens: 3, stream: true,
    });
    for await (const chunk of stream) {
        chunks.push(chunk);
    }
    const finishes = chunks.flatMap((c) => c.choices.filter((ch) => ch.finish_reason).map((ch) => [ch.index, ch.finish_reason]));
    assert.deepEqual(finishes, [[0, 'length'], [1, 'length']]);
    assert.ok(chunks.every((c) => !('usage' in c)), 'no usage fields when the client did not ask');
});

test('openai responses, not streamed and streamed to a final response', async () => {
    const reply = await openai.responses.create({ model: 'gpt-4.1', input: 'hi' }, headers({ 'x-fake-output-tokens': '3' }));
    assert.equal(reply.status, 'completed');
    assert.equal(reply.output_text, 'Hello from the');
    assert.equal(reply.usage.output_tokens, 3);
    assert.equal(typeof reply.usage.input_tokens_details.cached_tokens, 'number');
    const stream = openai.responses.stream({ model: 'gpt-4.1', input: 'hi', max_output_tokens: 2 }, headers({ 'x-fake-output-tokens': '6' }));
    const types = [];
    stream.on('event', (e) => types.push(e.type));
    const final = await stream.finalResponse();
    assert.equal(final.status, 'incomplete');
    assert.equal(final.incomplete_details.reason, 'max_output_tokens');
    assert.equal(final.output_text, 'Hello from');
    assert.equal(types[0], 'response.created');
    assert.equal(types.at(-1), 'response.incomplete');
});

test('openai embeddings (the SDK asks for base64 and decodes it), completions, models', async () => {
    const emb = await openai.embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'] });
    assert.equal(emb.data.length, 2);
    assert.equal(emb.data[1].embedding.length, 8);
    assert.ok(Math.abs(emb.data[1].embedding[1] - 0.04) < 1e-6);
    assert.equal(emb.usage.prompt_tokens, 1);
    const floats = await openai.embeddings.create({ model: 'text-embedding-3-small', input: 'a', encoding_format: 'float', dimensions: 3 });
    assert.deepEqual(floats.data[0].embedding, [0.01, 0.02, 0.03]);
    const completion = await openai.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'x', max_tokens: 2 });
    assert.equal(completion.choices[0].text, 'Hello from');
    assert.equal(completion.choices[0].finish_reason, 'length');
    const streamed = await openai.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'x', max_tokens: 2, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage = null;
    for await (const chunk of streamed) {
        text += chunk.choices.map((c) => c.text).join('');
        usage = chunk.usage || usage;
    }
    assert.equal(text, 'Hello from');
    assert.equal(usage.completion_tokens, 2);
    const models = [];
    for await (const model of openai.models.list()) {
        models.push(model.id);
    }
    assert.ok(models.includes('gpt-4o'));
});

test('anthropic messages, not streamed: content, stop reason, cache usage', async () => {
    const reply = await anthropic.messages.create({
        model: 'claude-sonnet-4-0', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }],
    }, headers({ 'x-fake-output-tokens': '2', 'x-fake-input-tokens': '7', 'x-fake-cached-tokens': '100', 'x-fake-cache-write-tokens': '50' }));
    assert.equal(reply.type, 'message');
    assert.equal(reply.content[0].text, 'Hello from');
    assert.equal(reply.stop_reason, 'end_turn');
    assert.deepEqual([reply.usage.input_tokens, reply.usage.cache_read_input_tokens, reply.usage.cache_creation_input_tokens, reply.usage.output_tokens], [7, 100, 50, 2]);
});

test('anthropic messages, streamed with the SDK helper to a final message', async () => {
    const stream = anthropic.messages.stream({
        model: 'claude-sonnet-4-0', max_tokens: 3, messages: [{ role: 'user', content: 'hi' }],
    }, headers({ 'x-fake-output-tokens': '8', 'x-fake-input-tokens': '11' }));
    let text = '';
    stream.on('text', (delta) => {
        text += delta;
    });
    const final = await stream.finalMessage();
    assert.equal(text, 'Hello from the');
    assert.equal(final.stop_reason, 'max_tokens');
    assert.equal(final.usage.input_tokens, 11);
    assert.equal(final.usage.output_tokens, 3);
    const count = await anthropic.messages.countTokens({ model: 'claude-sonnet-4-0', messages: [{ role: 'user', content: 'hello world!' }] });
    assert.equal(count.input_tokens, 4); /* "user" + "hello world!": 16 bytes / 4 */
});

test('errors come back in each provider shape, as the SDK error classes', async () => {
    await assert.rejects(
        openai.chat.completions.create({ model: 'gpt-4o', messages: [] }, headers({ 'x-fake-error': '429' })),
        (e) => e instanceof OpenAI.RateLimitError && e.status === 429 && e.code === 'rate_limit_exceeded' && e.headers.get('x-request-id').startsWith('req_'));
    await assert.rejects(
        openai.chat.completions.create({ model: 'fake-unknown', messages: [] }),
        (e) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
    await assert.rejects(
        anthropic.messages.create({ model: 'fake-error-529', max_tokens: 5, messages: [] }),
        (e) => e.status === 529 && e.error.error.type === 'overloaded_error' && e.requestID.startsWith('req_'));
    await assert.rejects(
        anthropic.messages.create({ model: 'claude-sonnet-4-0', messages: [] }),
        (e) => e instanceof Anthropic.BadRequestError && /max_tokens/.test(e.message));
});

test('a stream that fails mid-way raises in the SDK', async () => {
    const stream = await openai.chat.completions.create({ model: 'gpt-4o', messages: [], stream: true }, headers({ 'x-fake-error-after': '2' }));
    await assert.rejects(async () => {
        for await (const chunk of stream) {
            void chunk;
        }
    }, (e) => e instanceof OpenAI.APIError && /mid-stream/.test(e.message));
    const astream = anthropic.messages.stream({ model: 'claude-sonnet-4-0', max_tokens: 50, messages: [] }, headers({ 'x-fake-error-after': '1' }));
    await assert.rejects(astream.finalMessage(), (e) => e.error && e.error.error.type === 'overloaded_error');
});

test('slow streams are slow, and the request log records what arrived', async () => {
    const started = Date.now();
    const reply = await anthropic.messages.create({ model: 'claude-sonnet-4-0', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'x' }] }, headers({ 'x-fake-delay-ms': '20', 'x-fake-output-tokens': '3' }));
    const events = [];
    for await (const event of reply) {
        events.push(event.type);
    }
    assert.ok(Date.now() - started >= 9 * 20 - 5, 'each event waited');
    assert.deepEqual(events, ['message_start', 'content_block_start', 'content_block_delta', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
    const last = fake.requests.at(-1);
    assert.equal(last.path, '/v1/messages');
    assert.equal(last.body.max_tokens, 50);
    const key = last.headers['x-api-key'] || last.headers.authorization;
    assert.match(key, /sk-ant-test/);
    assert.ok(last.headers['anthropic-version']);
    assert.equal(last.completed, true);
    assert.equal(last.textEvents, 3);
    const log = await (await fetch(`${fake.url}/_fake/requests`)).json();
    assert.equal(log.length, fake.requests.length);
});

test('a client that goes away is seen by the upstream', async () => {
    const controller = new AbortController();
    const stream = await openai.chat.completions.create({ model: 'gpt-4o', messages: [], stream: true }, { headers: { 'x-fake-delay-ms': '30', 'x-fake-output-tokens': '50' }, signal: controller.signal });
    let seen = 0;
    for await (const chunk of stream) {
        void chunk;
        if (++seen === 3) {
            controller.abort();
        }
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    const last = fake.requests.at(-1);
    assert.equal(last.disconnected, true);
    assert.equal(last.completed, false);
    assert.ok(last.textEvents < 50);
});

test('a key can be required, and a hanging request never answers', async () => {
    const strict = await startFakeLlm({ port: 0, apiKey: 'right' });
    try {
        const wrong = new OpenAI({ apiKey: 'wrong', baseURL: `${strict.url}/v1`, maxRetries: 0 });
        await assert.rejects(wrong.models.list(), (e) => e instanceof OpenAI.AuthenticationError);
        const right = new Anthropic({ apiKey: 'right', baseURL: strict.url, maxRetries: 0 });
        const reply = await right.messages.create({ model: 'claude-sonnet-4-0', max_tokens: 1, messages: [] });
        assert.equal(reply.stop_reason, 'max_tokens');
        const hung = new OpenAI({ apiKey: 'right', baseURL: `${strict.url}/v1`, maxRetries: 0, timeout: 200 });
        await assert.rejects(hung.chat.completions.create({ model: 'fake-hang', messages: [] }), (e) => e instanceof OpenAI.APIConnectionTimeoutError);
    } finally {
        await strict.close();
    }
});

// ---- Gemini, through the official @google/genai SDK (only the base URL and key changed) ----

const { GoogleGenAI } = require('@google/genai');
const gemini = () => new GoogleGenAI({ apiKey: 'gk-test', httpOptions: { baseUrl: fake.url } });
const geminiHeaders = (h) => ({ httpOptions: { headers: h } });

test('gemini generateContent: text, finish reason, usageMetadata with thoughts, cache and tool use', async () => {
    const reply = await gemini().models.generateContent({
        model: 'gemini-2.5-flash', contents: 'hi',
        config: geminiHeaders({ 'x-fake-output-tokens': '5', 'x-fake-input-tokens': '40', 'x-fake-cached-tokens': '32',
            'x-fake-reasoning-tokens': '3', 'x-fake-tool-use-tokens': '7' }),
    });
    assert.equal(reply.text, 'Hello from the fake upstream');
    assert.equal(reply.candidates[0].finishReason, 'STOP');
    assert.equal(reply.modelVersion, 'gemini-2.5-flash');
    const u = reply.usageMetadata;
    assert.equal(u.promptTokenCount, 40);
    assert.equal(u.cachedContentTokenCount, 32);
    assert.equal(u.candidatesTokenCount, 5);
    assert.equal(u.thoughtsTokenCount, 3);
    assert.equal(u.toolUsePromptTokenCount, 7);
    assert.equal(u.totalTokenCount, 40 + 5 + 3 + 7);
    const sent = fake.requests[fake.requests.length - 1];
    assert.equal(sent.path, '/v1beta/models/gemini-2.5-flash:generateContent');
    assert.equal(sent.headers['x-goog-api-key'], 'gk-test');
});

test('gemini streamGenerateContent (alt=sse): CRLF-framed chunks, running usage, MAX_TOKENS at the cap', async () => {
    const stream = await gemini().models.generateContentStream({
        model: 'gemini-2.5-flash', contents: 'hi',
        config: { maxOutputTokens: 3, candidateCount: 2, ...geminiHeaders({ 'x-fake-input-tokens': '9' }) },
    });
    const chunks = [];
    for await (const chunk of stream) {
        chunks.push(chunk);
    }
    assert.equal(chunks.length, 3);
    assert.equal(chunks.map((c) => c.candidates[1].content.parts[0].text).join(''), 'Hello from the');
    const last = chunks[chunks.length - 1];
    assert.equal(last.candidates[0].finishReason, 'MAX_TOKENS');
    assert.equal(chunks[0].candidates[0].finishReason, undefined);
    assert.equal(last.usageMetadata.promptTokenCount, 9);
    assert.equal(last.usageMetadata.candidatesTokenCount, 6); /* 3 per candidate */
    const sent = fake.requests[fake.requests.length - 1];
    assert.match(sent.path, /:streamGenerateContent$/);
    assert.equal(sent.rawBody.includes('"maxOutputTokens":3'), true);
});

test('gemini countTokens, errors in Google\'s shape, a mid-stream error the SDK raises', async () => {
    const count = await gemini().models.countTokens({ model: 'gemini-2.5-flash', contents: 'twelve bytes' });
    assert.equal(count.totalTokens, 4); /* "user" and "twelve bytes": 16 bytes, 4 per token */
    await assert.rejects(gemini().models.generateContent({
        model: 'gemini-2.5-flash', contents: 'hi', config: geminiHeaders({ 'x-fake-error': '429' }),
    }), (e) => e.status === 429 && JSON.parse(e.message).error.status === 'RESOURCE_EXHAUSTED');
    const stream = await gemini().models.generateContentStream({
        model: 'gemini-2.5-flash', contents: 'hi', config: geminiHeaders({ 'x-fake-error-after': '2' }),
    });
    await assert.rejects(async () => {
        for await (const chunk of stream) {
            assert.ok(chunk.text);
        }
    }, /fake upstream failed mid-stream|INTERNAL|500/);
});
