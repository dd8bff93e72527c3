// cut_stream.test.js: Tollgate's clean stream endings (src/proxy/stream_end.c), fed to
// the official SDKs. A stream from the fake upstream is cut after a few events by the
// C helper cut_stream (built by CMake; its path in TG_CUT_STREAM), which appends the
// ending the proxy writes when a hold runs out; the SDK stream helpers must then finish
// normally with a truncated message, as at a provider's own output limit.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { execFileSync } = require('node:child_process');
const { OpenAI } = require('openai');
const { Anthropic } = require('@anthropic-ai/sdk');
const { startFakeLlm } = require('./fake_llm.js');

const CUT = process.env.TG_CUT_STREAM;
const skip = CUT ? false : 'TG_CUT_STREAM (the cut_stream helper) is not set';

let fake;
let replay; // serves the cut stream it is given to the SDK under test
let nextBody = '';

test.before(async () => {
    fake = await startFakeLlm({ port: 0 });
    replay = http.createServer((req, res) => {
        req.resume();
        req.on('end', () => {
            res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'x-request-id': 'req_cut', 'request-id': 'req_cut' });
            res.end(nextBody);
        });
    });
    await new Promise((resolve) => replay.listen(0, '127.0.0.1', resolve));
});

test.after(async () => {
    await fake.close();
    await new Promise((resolve) => replay.close(resolve));
});

const replayUrl = () => `http://127.0.0.1:${replay.address().port}`;

// The upstream's raw stream for `path` and `body`, cut after `keep` events.
async function cutStream(route, path, body, keep, clientWantsUsage) {
    const res = await fetch(`${fake.url}${path}`, {
        method: 'POST', headers: { 'content-type': 'application/json', 'x-fake-output-tokens': '10' }, body: JSON.stringify(body),
    });
    const upstream = await res.text();
    return execFileSync(CUT, [route, String(keep), clientWantsUsage ? '1' : '0'], { input: upstream }).toString();
}

test('openai chat: the SDK ends with finish_reason length, the usage chunk hidden', { skip }, async () => {
    // The proxy asked for usage; the client did not, so it must never see choices: [].
    nextBody = await cutStream('chat', '/v1/chat/completions', { model: 'gpt-4o', messages: [], stream: true, stream_options: { include_usage: true } }, 4, false);
    const client = new OpenAI({ apiKey: 'k', baseURL: `${replayUrl()}/v1`, maxRetries: 0 });
    const stream = client.chat.completions.stream({ model: 'gpt-4o', messages: [] });
    const chunks = [];
    stream.on('chunk', (chunk) => chunks.push(chunk));
    const final = await stream.finalChatCompletion();
    assert.equal(final.choices[0].finish_reason, 'length');
    assert.equal(final.choices[0].message.content, 'Hello from the');
    assert.ok(chunks.every((c) => c.choices.length > 0));
});

test('openai chat: a client that asked for usage gets Tollgate estimate', { skip }, async () => {
    nextBody = await cutStream('chat', '/v1/chat/completions', { model: 'gpt-4o', messages: [], stream: true, stream_options: { include_usage: true } }, 3, true);
    const client = new OpenAI({ apiKey: 'k', baseURL: `${replayUrl()}/v1`, maxRetries: 0 });
    const final = await client.chat.completions.stream({ model: 'gpt-4o', messages: [], stream_options: { include_usage: true } }).finalChatCompletion();
    assert.equal(final.choices[0].finish_reason, 'length');
    assert.equal(final.usage.completion_tokens, 3); // estimated: "Hello from" is 10 bytes, 4 per token
    assert.equal(final.usage.prompt_tokens, 10);
});

test('openai chat: cut before anything arrived still gives an assistant message', { skip }, async () => {
    nextBody = await cutStream('chat', '/v1/chat/completions', { model: 'gpt-4o', messages: [], stream: true }, 0, false);
    const client = new OpenAI({ apiKey: 'k', baseURL: `${replayUrl()}/v1`, maxRetries: 0 });
    const final = await client.chat.completions.stream({ model: 'gpt-4o', messages: [] }).finalChatCompletion();
    assert.equal(final.choices[0].message.role, 'assistant');
    assert.equal(final.choices[0].finish_reason, 'length');
});

test('openai completions: chunks end with finish_reason length and [DONE]', { skip }, async () => {
    nextBody = await cutStream('completions', '/v1/completions', { model: 'gpt-3.5-turbo-instruct', prompt: 'x', stream: true }, 3, false);
    const client = new OpenAI({ apiKey: 'k', baseURL: `${replayUrl()}/v1`, maxRetries: 0 });
    const stream = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'x', stream: true });
    let text = '';
    let finish = null;
    for await (const chunk of stream) {
        text += chunk.choices[0].text;
        finish = chunk.choices[0].finish_reason || finish;
    }
    assert.equal(text, 'Hello from the');
    assert.equal(finish, 'length');
});

test('openai responses: the SDK final response is incomplete with the text so far', { skip }, async () => {
    nextBody = await cutStream('responses', '/v1/responses', { model: 'gpt-4.1', input: 'hi', stream: true }, 7, false);
    const client = new OpenAI({ apiKey: 'k', baseURL: `${replayUrl()}/v1`, maxRetries: 0 });
    const final = await client.responses.stream({ model: 'gpt-4.1', input: 'hi' }).finalResponse();
    assert.equal(final.status, 'incomplete');
    assert.equal(final.incomplete_details.reason, 'max_output_tokens');
    assert.equal(final.output_text, 'Hello from the');
    assert.equal(final.output[0].status, 'incomplete');
    nextBody = await cutStream('responses', '/v1/responses', { model: 'gpt-4.1', input: 'hi', stream: true }, 0, false);
    const empty = await client.responses.stream({ model: 'gpt-4.1', input: 'hi' }).finalResponse();
    assert.equal(empty.status, 'incomplete');
});

test('anthropic messages: the SDK final message stops at max_tokens', { skip }, async () => {
    nextBody = await cutStream('messages', '/v1/messages', { model: 'claude-sonnet-4-0', max_tokens: 100, messages: [], stream: true }, 6, false);
    const client = new Anthropic({ apiKey: 'k', baseURL: replayUrl(), maxRetries: 0 });
    const final = await client.messages.stream({ model: 'claude-sonnet-4-0', max_tokens: 100, messages: [] }).finalMessage();
    assert.equal(final.stop_reason, 'max_tokens');
    assert.equal(final.content[0].text, 'Hello from the');
    assert.equal(final.usage.output_tokens, 4); // estimated: 14 bytes of text, 4 per token
    nextBody = await cutStream('messages', '/v1/messages', { model: 'claude-sonnet-4-0', max_tokens: 100, messages: [], stream: true }, 0, false);
    const empty = await client.messages.stream({ model: 'claude-sonnet-4-0', max_tokens: 100, messages: [] }).finalMessage();
    assert.equal(empty.stop_reason, 'max_tokens');
    assert.equal(empty.role, 'assistant');
});
