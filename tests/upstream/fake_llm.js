#!/usr/bin/env node
// fake_llm: a local stand-in for the OpenAI, Anthropic and Gemini APIs, for Tollgate's proxy
// tests and benchmarks. It speaks both wire formats as the official SDKs expect them
// (tests/upstream/fake_llm.test.js proves it with the real `openai` and
// `@anthropic-ai/sdk` packages): response headers, JSON bodies, SSE framing and event
// order, usage fields (cached, cache-write and reasoning tokens), errors in each
// provider's shape, slow and broken streams. Node built-ins only.
//
// Routes: POST /v1/chat/completions, /v1/completions, /v1/responses, /v1/embeddings,
// GET /v1/models, GET /v1/responses/{id}, POST /v1/responses/{id}/cancel; POST /v1/messages, /v1/messages/count_tokens;
// POST /v1beta/models/{model}:generateContent, :streamGenerateContent (alt=sse),
// :countTokens (Gemini, also under /v1/; key in x-goog-api-key). Azure OpenAI:
// POST /openai/deployments/{deployment}/chat/completions (/completions, /embeddings) with
// ?api-version= and an api-key header, the model the deployment's (options.deployments:
// deployment -> model), errors {error: {code, message}}. OpenRouter: POST
// /api/v1/chat/completions; with usage: {include: true} its usage reports cost (see
// withCost; x-fake-cost: N or none). Test helpers:
// GET /_fake/requests (what it received, newest last), DELETE /_fake/requests.
//
// Behaviour per request, from headers (forwarded by the proxy) or, for clients that
// cannot set headers, from special model names:
//   x-fake-output-tokens: N    tokens to generate (default 12), one word each; a
//                              smaller max_tokens / max_output_tokens truncates
//   x-fake-input-tokens: N     prompt tokens to report (default: request text / 4)
//   x-fake-cached-tokens: N    of those, read from cache (OpenAI cached_tokens,
//                              Anthropic cache_read_input_tokens)
//   x-fake-cache-write-tokens: N  Anthropic cache_creation_input_tokens
//   x-fake-reasoning-tokens: N extra hidden reasoning tokens (OpenAI; Gemini
//                              thoughtsTokenCount)
//   x-fake-tool-use-tokens: N  Gemini toolUsePromptTokenCount
//   x-fake-usage: none         report no usage at all
//   x-fake-delay-ms: N         wait N ms before each streamed event (slow streams)
//   x-fake-first-byte-ms: N    wait N ms before answering
//   x-fake-error: STATUS       answer with the provider's error for STATUS
//   x-fake-error-after: N      streams: send an error event after N text events
//   x-fake-drop-after: N       streams: cut the connection after N text events
//   x-fake-hang: 1             never answer (timeouts)
//   x-fake-bill: max           bill the most the provider's published rules allow for
//                              this request (maxBill below): every text byte a token,
//                              images and PDFs by the published formulas, the tool-use
//                              system prompt, server-tool uses to max_uses, cache writes,
//                              stored state, and the full output cap per sampling
//   x-fake-ignore-cap: 1       generate past max_tokens (a provider breaking its cap)
//   x-fake-silent-ms: N        streams: fall silent N ms after x-fake-silent-after (default
//                              1) text events, then go on
//   x-fake-json-to-stream: 1   answer a stream request with one JSON body
//   x-fake-error-usage: 1      an error status whose body still reports usage
//   x-fake-text: TEXT          generate TEXT (repeated) in pieces of three characters, one
//                              piece per event, instead of the one-token words
//   x-fake-cost: N | none      OpenRouter: the usage.cost to report (USD), or none
//   x-fake-tool-calls: N       Responses: N built-in tool calls (web_search_call, ...) in
//                              the output, over the built-in tools offered; the fees they
//                              bill are logged as the request's toolFeesMicros
//   background: true           Responses: a background run (see "Background runs" below;
//                              x-fake-queue-ms, x-fake-run-ms, x-fake-run-fail,
//                              x-fake-run-fail-usage)
//   models "fake-error-STATUS", "fake-hang", "fake-slow" (100 ms per event),
//   "fake-no-usage", "fake-unknown" (404 model not found)
//
// Use: const { startFakeLlm } = require('./fake_llm.js');
//      const fake = await startFakeLlm({ port: 0 }); fake.url; fake.requests; await fake.close();
// or:  node tests/upstream/fake_llm.js [--port N] [--host H] [--api-key KEY] [--deployments NAME=MODEL,...]
//            [--openrouter-prices JSON]
//      (prints "fake_llm listening on http://HOST:PORT" once ready).
'use strict';

const http = require('node:http');
const crypto = require('node:crypto');

const WORDS = ['Hello', ' from', ' the', ' fake', ' upstream', ',', ' counting', ' tokens', ' one',
    ' by', ' one', '.'];
const BODY_SIZE_MAX = 32 * 1024 * 1024;

function randomId(prefix, size = 24) {
    return prefix + crypto.randomBytes(size).toString('hex').slice(0, size);
}

function intHeader(req, name, fallback) {
    const value = req.headers[name];
    if (value === undefined) {
        return fallback;
    }
    const n = Number.parseInt(value, 10);
    return Number.isFinite(n) && n >= 0 ? n : fallback;
}

// All per-request knobs in one place: headers first, then the model name.
function behaviour(req, body) {
    const model = typeof body.model === 'string' ? body.model : '';
    const b = {
        outputTokens: intHeader(req, 'x-fake-output-tokens', 12),
        inputTokens: intHeader(req, 'x-fake-input-tokens', null),
        cachedTokens: intHeader(req, 'x-fake-cached-tokens', 0),
        cacheWriteTokens: intHeader(req, 'x-fake-cache-write-tokens', 0),
        reasoningTokens: intHeader(req, 'x-fake-reasoning-tokens', 0),
        toolUseTokens: intHeader(req, 'x-fake-tool-use-tokens', 0),
        usage: req.headers['x-fake-usage'] !== 'none' && model !== 'fake-no-usage',
        delayMs: intHeader(req, 'x-fake-delay-ms', model === 'fake-slow' ? 100 : 0),
        firstByteMs: intHeader(req, 'x-fake-first-byte-ms', 0),
        error: intHeader(req, 'x-fake-error', null),
        errorAfter: intHeader(req, 'x-fake-error-after', null),
        dropAfter: intHeader(req, 'x-fake-drop-after', null),
        hang: req.headers['x-fake-hang'] === '1' || model === 'fake-hang',
        ignoreCap: req.headers['x-fake-ignore-cap'] === '1',
        bill: req.headers['x-fake-bill'] || 'count',
        silentMs: intHeader(req, 'x-fake-silent-ms', 0),
        silentAfter: intHeader(req, 'x-fake-silent-after', 1),
        jsonToStream: req.headers['x-fake-json-to-stream'] === '1',
        errorUsage: req.headers['x-fake-error-usage'] === '1',
        toolCalls: intHeader(req, 'x-fake-tool-calls', 0),
        text: typeof req.headers['x-fake-text'] === 'string' && req.headers['x-fake-text'] ? req.headers['x-fake-text'] : null,
    };
    const m = /^fake-error-(\d{3})$/.exec(model);
    if (m && b.error === null) {
        b.error = Number(m[1]);
    }
    if (model === 'fake-unknown' && b.error === null) {
        b.error = 404;
    }
    return b;
}

// Prompt tokens the fake reports: a deterministic count of the request's text.
function countInputTokens(body) {
    let bytes = 0;
    const walk = (v) => {
        if (typeof v === 'string') {
            bytes += Buffer.byteLength(v);
        } else if (Array.isArray(v)) {
            v.forEach(walk);
        } else if (v && typeof v === 'object') {
            Object.values(v).forEach(walk);
        }
    };
    for (const key of ['messages', 'system', 'input', 'prompt', 'instructions', 'tools', 'contents',
        'systemInstruction']) {
        walk(body[key]);
    }
    return Math.max(1, Math.ceil(bytes / 4));
}

function tokensOut(b, cap) {
    const limit = typeof cap === 'number' && cap >= 0 && !b.ignoreCap ? cap : Infinity;
    const count = Math.min(b.outputTokens, limit);
    const words = [];
    for (let i = 0; i < count; i++) {
        // x-fake-text: that text in pieces of three characters instead of the words.
        words.push(b.text ? b.text.slice(3 * (i % Math.ceil(b.text.length / 3)), 3 * (i % Math.ceil(b.text.length / 3)) + 3)
            : WORDS[i % WORDS.length]);
    }
    return { words, truncated: b.outputTokens > limit };
}


// ---- Billing the maximum (x-fake-bill: max) ---------------------------------------------------
// Written from the providers' published rules, independently of Tollgate's bound: what a
// provider may bill for this request at most. Text: one token per UTF-8 byte (a byte-level
// BPE never makes more tokens than bytes). Images: OpenAI's tiles (gpt-4o: 85 + 170 per
// tile; gpt-4o-mini: 2833 + 5667) or Anthropic's width x height / 750 with the long edge
// at most 1568 px; the formula's maximum when the size is unknown. PDFs: pages x 3000
// (the top of Anthropic's published 1,500-3,000 per page). Tools: Anthropic's tool-use
// system prompt and fixed tool overheads. Server tools: max_uses (or max_tool_calls)
// uses, each adding 10,000 tokens of results and re-reading the context, with a new
// sampling (its own max_tokens) per use on Anthropic. Cache writes: all input written.
// Output: the whole cap (times n), half of it reasoning on OpenAI.

const TOOL_PROMPTS = [['claude-3-5-haiku', 264, 340], ['claude-3-haiku', 264, 340], ['claude-3-opus', 530, 281],
    ['claude-3-5-sonnet', 294, 261], ['claude', 346, 313]];
const RESULT_TOKENS_PER_USE = 10000;

function pngSize(base64) {
    const data = base64.replace(/^data:[^,]*,/, '');
    const bytes = Buffer.from(data.slice(0, 64), 'base64');
    if (bytes.length >= 24 && bytes.toString('latin1', 1, 4) === 'PNG') {
        return [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
    }
    return null;
}

function openaiImage(model, url, detail) {
    const [base, tile] = /^gpt-4o-mini/.test(model) ? [2833, 5667] : [85, 170];
    if (detail === 'low') {
        return base;
    }
    const size = typeof url === 'string' ? pngSize(url) : null;
    if (!size) {
        return base + tile * 8;
    }
    let [w, h] = size;
    if (Math.max(w, h) > 2048) {
        const f = 2048 / Math.max(w, h);
        w = Math.floor(w * f); h = Math.floor(h * f);
    }
    if (Math.min(w, h) > 768) {
        const f = 768 / Math.min(w, h);
        w = Math.floor(w * f); h = Math.floor(h * f);
    }
    return base + tile * Math.ceil(w / 512) * Math.ceil(h / 512);
}

function claudeImage(source) {
    const size = source && source.type === 'base64' ? pngSize(source.data) : null;
    if (!size) {
        return Math.ceil(1568 * 1568 / 750);
    }
    let [w, h] = size;
    if (Math.max(w, h) > 1568) {
        const f = 1568 / Math.max(w, h);
        w = Math.floor(w * f); h = Math.floor(h * f);
    }
    return Math.ceil(w * h / 750);
}

function pdfPages(base64) {
    const text = Buffer.from(base64.replace(/^data:[^,]*,/, ''), 'base64').toString('latin1');
    return (text.match(/\/Type\s*\/Page(?![a-zA-Z])/g) || []).length;
}

// Text bytes of a JSON value, with media parts billed by their formulas.
function maxTokensOf(value, model, wire) {
    let tokens = 0;
    const walk = (v) => {
        if (typeof v === 'string') {
            tokens += Buffer.byteLength(v);
        } else if (typeof v === 'number') {
            tokens += String(v).length;
        } else if (Array.isArray(v)) {
            v.forEach(walk);
        } else if (v && typeof v === 'object') {
            if (v.type === 'image_url') {
                tokens += openaiImage(model, v.image_url && v.image_url.url, v.image_url && v.image_url.detail);
            } else if (v.type === 'input_image') {
                tokens += openaiImage(model, v.image_url, v.detail);
            } else if (v.type === 'image' && wire === 'anthropic') {
                tokens += claudeImage(v.source);
            } else if (v.type === 'document' && v.source && v.source.type === 'base64') {
                tokens += pdfPages(v.source.data) * 3000;
            } else if (v.type === 'file' && v.file && v.file.file_data) {
                tokens += pdfPages(v.file.file_data) * 3000;
            } else if (v.type === 'input_file' && v.file_data) {
                tokens += pdfPages(v.file_data) * 3000;
            } else {
                for (const [k, item] of Object.entries(v)) {
                    if (k !== 'cache_control') {
                        tokens += Buffer.byteLength(k);
                        walk(item);
                    }
                }
            }
        }
    };
    walk(value);
    return tokens;
}

function maxBill(ctx) {
    const body = ctx.body;
    const model = String(body.model || '');
    const anthropic = ctx.wire === 'anthropic';
    const fields = anthropic ? ['system', 'messages', 'tools', 'tool_choice']
        : ['messages', 'tools', 'functions', 'tool_choice', 'response_format', 'input', 'instructions', 'text'];
    let input = 3;
    for (const f of fields) {
        input += maxTokensOf(body[f], model, ctx.wire);
    }
    const items = Array.isArray(body.messages) ? body.messages.length : Array.isArray(body.input) ? body.input.length : 1;
    input += 4 * items;
    const tools = Array.isArray(body.tools) ? body.tools : [];
    let uses = 0;
    let searches = 0;
    if (anthropic && tools.length > 0) {
        const row = TOOL_PROMPTS.find(([prefix]) => model.startsWith(prefix));
        const forced = body.tool_choice && (body.tool_choice.type === 'any' || body.tool_choice.type === 'tool');
        input += row ? (forced ? row[2] : row[1]) : 0;
    }
    for (const t of tools) {
        const type = String(t.type || '');
        if (type.startsWith('bash_')) input += 245;
        if (type.startsWith('text_editor_')) input += 700;
        if (type.startsWith('web_search_') || type.startsWith('web_fetch_')) {
            uses += t.max_uses || 0;
            if (type.startsWith('web_search_')) searches += t.max_uses || 0;
        }
        if (!anthropic && /^(web_search|file_search|mcp|code_interpreter)/.test(type)) {
            uses = Math.max(uses, body.max_tool_calls || 0);
        }
    }
    if (body.web_search_options) {
        uses += 1;
    }
    for (const id of [body.previous_response_id, body.conversation && (body.conversation.id || body.conversation)]) {
        if (typeof id === 'string' && ctx.state.stored.has(id)) {
            input += ctx.state.stored.get(id);
        }
    }
    const n = Number.isInteger(body.n) && body.n > 0 ? body.n : 1;
    const cap = body.max_completion_tokens ?? body.max_tokens ?? body.max_output_tokens ?? 16;
    const rounds = anthropic ? 1 + uses : 1;
    const total = input * (1 + uses) + uses * RESULT_TOKENS_PER_USE;
    const text = JSON.stringify(body);
    const cached = anthropic && text.includes('"cache_control"');
    return {
        cap,
        input: total,
        cacheWrite: cached ? total : 0,
        cacheWrite1h: cached && text.includes('"ttl":"1h"') ? total : 0,
        output: cap * n * rounds,
        reasoning: anthropic ? 0 : Math.floor(cap * n / 2),
        searches,
    };
}

// ---- Provider-shaped errors ------------------------------------------------------------

const OPENAI_ERRORS = {
    400: ['invalid_request_error', null], 401: ['invalid_request_error', 'invalid_api_key'],
    403: ['invalid_request_error', 'unsupported_country_region_territory'],
    404: ['invalid_request_error', 'model_not_found'], 429: ['requests', 'rate_limit_exceeded'],
    500: ['server_error', null], 503: ['server_error', null],
};
const ANTHROPIC_ERRORS = {
    400: 'invalid_request_error', 401: 'authentication_error', 402: 'billing_error',
    403: 'permission_error', 404: 'not_found_error', 413: 'request_too_large',
    429: 'rate_limit_error', 500: 'api_error', 504: 'timeout_error', 529: 'overloaded_error',
};

function openaiError(status, message, code) {
    const [type, defaultCode] = OPENAI_ERRORS[status] || [status >= 500 ? 'server_error' : 'invalid_request_error', null];
    return { error: { message, type, param: null, code: code === undefined ? defaultCode : code } };
}

function anthropicError(status, message, requestId) {
    const type = ANTHROPIC_ERRORS[status] || (status >= 500 ? 'api_error' : 'invalid_request_error');
    return { type: 'error', error: { type, message }, request_id: requestId };
}

// ---- Responses and headers ---------------------------------------------------------------

function commonHeaders(wire, requestId) {
    if (wire === 'gemini') {
        return { 'x-goog-request-id': requestId, 'server-timing': 'gfet4t7; dur=1', vary: 'Origin, X-Origin, Referer' };
    }
    if (wire === 'anthropic') {
        return {
            'request-id': requestId,
            'anthropic-organization-id': '00000000-0000-4000-8000-000000000000',
            'anthropic-ratelimit-requests-limit': '4000',
            'anthropic-ratelimit-requests-remaining': '3999',
        };
    }
    return {
        'x-request-id': requestId,
        'openai-organization': 'fake-org',
        'openai-processing-ms': '1',
        'openai-version': '2020-10-01',
        'x-ratelimit-limit-requests': '10000',
        'x-ratelimit-remaining-requests': '9999',
    };
}

function sendJson(ctx, status, payload, extra = {}) {
    const text = JSON.stringify(payload);
    ctx.res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
        ...commonHeaders(ctx.wire, ctx.requestId),
        ...extra,
    });
    ctx.res.end(text);
}

// Azure OpenAI's errors: {error: {code, message}}, the code a string.
function azureError(status, message) {
    return { error: { code: status === 404 ? 'DeploymentNotFound' : String(status), message } };
}

function sendError(ctx, status, message) {
    const extra = status === 429 ? { 'retry-after': '1' } : {};
    const payload = ctx.wire === 'anthropic' ? anthropicError(status, message, ctx.requestId)
        : ctx.wire === 'gemini' ? geminiError(status, message)
            : ctx.wire === 'azure' ? azureError(status, message) : openaiError(status, message);
    sendJson(ctx, status, payload, extra);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Streams events with the configured delay; stops when the client goes away.
class EventStream {
    constructor(ctx) {
        this.ctx = ctx;
        this.textEvents = 0;
        ctx.res.writeHead(200, {
            'content-type': 'text/event-stream; charset=utf-8',
            'cache-control': 'no-cache',
            connection: 'keep-alive',
            ...commonHeaders(ctx.wire, ctx.requestId),
        });
    }

    get closed() {
        return this.ctx.res.destroyed || this.ctx.res.writableEnded || this.ctx.entry.disconnected;
    }

    async send(name, data, isText = false) {
        if (this.closed) {
            return false;
        }
        const b = this.ctx.b;
        if (b.delayMs > 0) {
            await sleep(b.delayMs);
            if (this.closed) {
                return false;
            }
        }
        if (isText && b.silentMs > 0 && this.textEvents === b.silentAfter && !this.silenced) {
            this.silenced = true;
            this.ctx.entry.silentFrom = Date.now();
            await sleep(b.silentMs);
            if (this.closed) {
                return false;
            }
        }
        if (isText && b.dropAfter !== null && this.textEvents >= b.dropAfter) {
            this.ctx.entry.dropped = true;
            this.ctx.res.socket.destroy();
            return false;
        }
        if (isText && b.errorAfter !== null && this.textEvents >= b.errorAfter) {
            this.sendError();
            return false;
        }
        const payload = typeof data === 'string' ? data : JSON.stringify(data);
        const end = this.ctx.wire === 'gemini' ? '\r\n\r\n' : '\n\n'; // Gemini frames with CRLF
        this.ctx.res.write(name ? `event: ${name}\ndata: ${payload}${end}` : `data: ${payload}${end}`);
        if (isText) {
            this.textEvents++;
            this.ctx.entry.textEvents = this.textEvents;
        }
        return true;
    }

    sendError() {
        const ctx = this.ctx;
        const message = 'The fake upstream failed mid-stream.';
        if (ctx.wire === 'anthropic') {
            ctx.res.write(`event: error\ndata: ${JSON.stringify(anthropicError(529, 'Overloaded', ctx.requestId))}\n\n`);
        } else if (ctx.wire === 'gemini') {
            ctx.res.write(`data: ${JSON.stringify(geminiError(500, message))}\r\n\r\n`);
        } else if (ctx.route === 'responses') {
            ctx.res.write(`event: error\ndata: ${JSON.stringify({ type: 'error', code: 'server_error', message, param: null, sequence_number: ctx.sequence++ })}\n\n`);
        } else {
            ctx.res.write(`data: ${JSON.stringify(openaiError(500, message))}\n\n`);
        }
        ctx.entry.erroredMidStream = true;
        ctx.res.end();
    }

    end(tail) {
        if (!this.closed) {
            this.ctx.res.end(tail);
            this.ctx.entry.completed = true;
        }
    }
}

// ---- OpenAI --------------------------------------------------------------------------------

// OpenRouter's usage accounting: with usage: {include: true} its usage carries cost, what
// the call billed in USD credits (a float), from the prices the fake was started with
// (options.openrouterPrices: model -> {input_mtok, output_mtok, cache_read_mtok} in micros,
// as prices.json has them), or as x-fake-cost says (a number, "none" for no cost).
function withCost(ctx, usage) {
    if (ctx.wire !== 'openrouter' || !(ctx.body.usage && ctx.body.usage.include === true)) {
        return usage;
    }
    const told = ctx.req.headers['x-fake-cost'];
    if (told === 'none') {
        return usage;
    }
    const p = (ctx.state.openrouterPrices || {})[ctx.body.model] || {};
    const cached = usage.prompt_tokens_details ? usage.prompt_tokens_details.cached_tokens : 0;
    const micros = (usage.prompt_tokens - cached) * (p.input_mtok || 0) + cached * (p.cache_read_mtok ?? p.input_mtok ?? 0)
        + usage.completion_tokens * (p.output_mtok || 0);
    const cost = told !== undefined ? Number(told) : micros / 1e12;
    return { ...usage, cost, is_byok: false, cost_details: { upstream_inference_cost: null } };
}

function chatUsage(ctx, completionTokens) {
    return withCost(ctx, chatUsageCounts(ctx, completionTokens));
}

function chatUsageCounts(ctx, completionTokens) {
    const b = ctx.b;
    if (ctx.max) {
        return {
            prompt_tokens: ctx.max.input, completion_tokens: ctx.max.output, total_tokens: ctx.max.input + ctx.max.output,
            prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
            completion_tokens_details: { reasoning_tokens: ctx.max.reasoning, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
        };
    }
    return {
        prompt_tokens: ctx.inputTokens,
        completion_tokens: completionTokens + b.reasoningTokens,
        total_tokens: ctx.inputTokens + completionTokens + b.reasoningTokens,
        prompt_tokens_details: { cached_tokens: Math.min(b.cachedTokens, ctx.inputTokens), audio_tokens: 0 },
        completion_tokens_details: {
            reasoning_tokens: b.reasoningTokens, audio_tokens: 0,
            accepted_prediction_tokens: 0, rejected_prediction_tokens: 0,
        },
    };
}

async function openaiChat(ctx) {
    const body = ctx.body;
    if (!Array.isArray(body.messages)) {
        return sendError(ctx, 400, "Missing required parameter: 'messages'.");
    }
    const n = Number.isInteger(body.n) && body.n > 0 ? body.n : 1;
    const cap = body.max_completion_tokens ?? body.max_tokens;
    // Search models search once per call with web_search_options, billed per call.
    ctx.entry.toolFeesMicros = body.web_search_options ? 30000 : 0;
    const { words, truncated } = tokensOut(ctx.b, cap);
    const finish = truncated ? 'length' : 'stop';
    const id = randomId('chatcmpl-');
    const created = Math.floor(Date.now() / 1000);
    const base = { id, created, model: body.model, system_fingerprint: 'fp_fake', service_tier: 'default' };
    if (!body.stream) {
        const choices = [];
        for (let i = 0; i < n; i++) {
            choices.push({
                index: i,
                message: { role: 'assistant', content: words.join(''), refusal: null, annotations: [] },
                logprobs: null, finish_reason: finish,
            });
        }
        const reply = { ...base, object: 'chat.completion', choices };
        if (ctx.b.usage) {
            reply.usage = chatUsage(ctx, words.length * n);
        }
        return sendJson(ctx, 200, reply);
    }
    const withUsage = ctx.b.usage && body.stream_options && body.stream_options.include_usage === true;
    const chunk = (choices) => ({ ...base, object: 'chat.completion.chunk', choices, ...(withUsage ? { usage: null } : {}) });
    const stream = new EventStream(ctx);
    for (let i = 0; i < n; i++) {
        if (!await stream.send(null, chunk([{ index: i, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null }]))) {
            return;
        }
    }
    for (const word of words) {
        for (let i = 0; i < n; i++) {
            if (!await stream.send(null, chunk([{ index: i, delta: { content: word }, logprobs: null, finish_reason: null }]), true)) {
                return;
            }
        }
    }
    for (let i = 0; i < n; i++) {
        if (!await stream.send(null, chunk([{ index: i, delta: {}, logprobs: null, finish_reason: finish }]))) {
            return;
        }
    }
    if (withUsage && !await stream.send(null, { ...base, object: 'chat.completion.chunk', choices: [], usage: chatUsage(ctx, words.length * n) })) {
        return;
    }
    if (await stream.send(null, '[DONE]')) {
        stream.end();
    }
}

async function openaiCompletions(ctx) {
    const body = ctx.body;
    if (body.prompt === undefined) {
        return sendError(ctx, 400, "Missing required parameter: 'prompt'.");
    }
    const n = Number.isInteger(body.n) && body.n > 0 ? body.n : 1;
    const { words, truncated } = tokensOut(ctx.b, body.max_tokens ?? 16);
    const finish = truncated ? 'length' : 'stop';
    const base = { id: randomId('cmpl-'), object: 'text_completion', created: Math.floor(Date.now() / 1000), model: body.model, system_fingerprint: 'fp_fake' };
    const usage = { prompt_tokens: ctx.inputTokens, completion_tokens: words.length * n, total_tokens: ctx.inputTokens + words.length * n };
    if (!body.stream) {
        const choices = [];
        for (let i = 0; i < n; i++) {
            choices.push({ text: words.join(''), index: i, logprobs: null, finish_reason: finish });
        }
        return sendJson(ctx, 200, { ...base, choices, ...(ctx.b.usage ? { usage } : {}) });
    }
    const withUsage = ctx.b.usage && body.stream_options && body.stream_options.include_usage === true;
    const stream = new EventStream(ctx);
    for (let w = 0; w <= words.length; w++) {
        for (let i = 0; i < n; i++) {
            const last = w === words.length;
            const choice = { text: last ? '' : words[w], index: i, logprobs: null, finish_reason: last ? finish : null };
            if (!await stream.send(null, { ...base, choices: [choice], ...(withUsage ? { usage: null } : {}) }, !last)) {
                return;
            }
        }
    }
    if (withUsage && !await stream.send(null, { ...base, choices: [], usage })) {
        return;
    }
    if (await stream.send(null, '[DONE]')) {
        stream.end();
    }
}

function responseObject(ctx, status, output, usage) {
    const body = ctx.body;
    return {
        id: ctx.responseId, object: 'response', created_at: ctx.created, status, background: body.background === true,
        error: status === 'failed' ? { code: 'server_error', message: 'The fake upstream failed the run.' } : null,
        incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
        instructions: body.instructions ?? null, max_output_tokens: body.max_output_tokens ?? null,
        model: body.model, output, parallel_tool_calls: true, previous_response_id: null,
        reasoning: { effort: null, summary: null }, store: true, temperature: 1,
        text: { format: { type: 'text' } }, tool_choice: 'auto', tools: [], top_p: 1,
        truncation: 'disabled', usage, user: null, metadata: {},
    };
}

function responsesUsage(ctx, outputTokens) {
    const b = ctx.b;
    if (ctx.max) {
        return {
            input_tokens: ctx.max.input, input_tokens_details: { cached_tokens: 0 },
            output_tokens: ctx.max.output, output_tokens_details: { reasoning_tokens: ctx.max.reasoning },
            total_tokens: ctx.max.input + ctx.max.output,
        };
    }
    return {
        input_tokens: ctx.inputTokens,
        input_tokens_details: { cached_tokens: Math.min(b.cachedTokens, ctx.inputTokens) },
        output_tokens: outputTokens + b.reasoningTokens,
        output_tokens_details: { reasoning_tokens: b.reasoningTokens },
        total_tokens: ctx.inputTokens + outputTokens + b.reasoningTokens,
    };
}

// Built-in tools' fees as OpenAI bills them per call (micros; web search at the dearest
// published rate), and code_interpreter per container (one per response here).
const TOOL_FEES = { web_search_call: 25000, file_search_call: 2500, code_interpreter_call: 30000 };
const TOOL_ITEMS = { web_search: 'web_search_call', web_search_preview: 'web_search_call',
    file_search: 'file_search_call', code_interpreter: 'code_interpreter_call' };

// The built-in tool calls the run made: x-fake-tool-calls (or, billing the maximum,
// max_tool_calls), spread over the built-in tools the request offers.
function toolCallItems(ctx) {
    const builtins = (Array.isArray(ctx.body.tools) ? ctx.body.tools : [])
        .map((t) => TOOL_ITEMS[String(t.type || '')]).filter(Boolean);
    if (builtins.length === 0) {
        return [];
    }
    const calls = ctx.max ? (ctx.body.max_tool_calls || 0) : ctx.b.toolCalls;
    const container = randomId('cntr_', 24);
    const items = [];
    for (let i = 0; i < calls; i++) {
        const type = builtins[i % builtins.length];
        const id = randomId(type.slice(0, 2) + '_', 24);
        if (type === 'web_search_call') {
            items.push({ id, type, status: 'completed', action: { type: 'search', query: 'fake query' } });
        } else if (type === 'file_search_call') {
            items.push({ id, type, status: 'completed', queries: ['fake query'], results: null });
        } else {
            items.push({ id, type, status: 'completed', container_id: container, code: 'print(1)', outputs: null });
        }
    }
    return items;
}

function toolFeesMicros(items) {
    let fee = 0;
    let container = false;
    for (const item of items) {
        if (item.type === 'code_interpreter_call') {
            container = true;
        } else {
            fee += TOOL_FEES[item.type] || 0;
        }
    }
    return fee + (container ? TOOL_FEES.code_interpreter_call : 0);
}

// Everything a Responses call produces, decided when it is created.
function responsesRun(ctx) {
    const body = ctx.body;
    const { words, truncated } = tokensOut(ctx.b, body.max_output_tokens);
    ctx.responseId = randomId('resp_', 32);
    ctx.created = Math.floor(Date.now() / 1000);
    const tools = toolCallItems(ctx);
    ctx.entry.toolFeesMicros = toolFeesMicros(tools);
    ctx.entry.responseId = ctx.responseId;
    const usage = ctx.b.usage ? responsesUsage(ctx, words.length) : null;
    if (usage) {
        const context = usage.input_tokens + usage.output_tokens;
        ctx.state.stored.set(ctx.responseId, context);
        const conversation = body.conversation && (body.conversation.id || body.conversation);
        if (typeof conversation === 'string') {
            ctx.state.stored.set(conversation, context);
        }
    }
    return { words, truncated, tools, usage, itemId: randomId('msg_', 32) };
}

const outputPart = (text) => ({ type: 'output_text', annotations: [], logprobs: [], text });
const messageItem = (run, itemStatus, content) => ({ id: run.itemId, type: 'message', status: itemStatus, content, role: 'assistant' });

function finalOutput(run) {
    return [...run.tools, messageItem(run, run.truncated ? 'incomplete' : 'completed', [outputPart(run.words.join(''))])];
}

// ---- Background runs (OpenAI "background mode") ------------------------------------------
// A create with background: true answers at once with status "queued"; the run is then
// "queued" for x-fake-queue-ms (default 50), "in_progress" until x-fake-run-ms (default
// 300) after the create, then final: "completed" (or "incomplete" at its cap) with its
// output and usage, or "failed" (x-fake-run-fail: 1; its usage only with
// x-fake-run-fail-usage: 1). GET /v1/responses/{id} retrieves it; POST .../cancel
// cancels a queued or in-progress run (status "cancelled"; usage reports the input and
// the output produced so far once it was in progress, none while queued) and returns a
// final one as it is, so cancelling twice is harmless.

function backgroundState(run, now) {
    if (run.cancelledAt !== undefined) {
        return 'cancelled';
    }
    const elapsed = now - run.startMs;
    if (elapsed < run.queueMs) {
        return 'queued';
    }
    if (elapsed < run.runMs) {
        return 'in_progress';
    }
    return run.fail ? 'failed' : run.truncated ? 'incomplete' : 'completed';
}

function backgroundObject(run, now) {
    const status = backgroundState(run, now);
    const ctx = run.ctx;
    if (status === 'queued' || status === 'in_progress') {
        return responseObject(ctx, status, [], null);
    }
    if (status === 'cancelled') {
        const usage = run.cancelledUsage;
        return responseObject(ctx, status, [], usage);
    }
    if (status === 'failed') {
        return responseObject(ctx, status, [], run.failUsage ? run.usage : null);
    }
    return responseObject(ctx, status, finalOutput(run), run.usage);
}

function startBackground(ctx, run) {
    Object.assign(run, {
        ctx, startMs: Date.now(), queueMs: intHeader(ctx.req, 'x-fake-queue-ms', 50),
        runMs: intHeader(ctx.req, 'x-fake-run-ms', 300), fail: ctx.req.headers['x-fake-run-fail'] === '1',
        failUsage: ctx.req.headers['x-fake-run-fail-usage'] === '1', retrieves: 0, cancels: 0,
    });
    ctx.state.runs.set(ctx.responseId, run);
    return sendJson(ctx, 200, backgroundObject(run, Date.now()));
}

function findRun(ctx) {
    const m = /^\/v1\/responses\/([A-Za-z0-9_-]+)/.exec(ctx.entry.path);
    const run = m && ctx.state.runs.get(m[1]);
    if (!run) {
        sendError(ctx, 404, `Response with id '${m ? m[1] : ''}' not found.`);
    }
    return run;
}

function openaiResponseRetrieve(ctx) {
    const run = findRun(ctx);
    if (run) {
        run.retrieves++;
        sendJson(ctx, 200, backgroundObject(run, Date.now()));
    }
}

function openaiResponseCancel(ctx) {
    const run = findRun(ctx);
    if (!run) {
        return;
    }
    run.cancels++;
    const now = Date.now();
    const state = backgroundState(run, now);
    if (state === 'queued' || state === 'in_progress') {
        run.cancelledAt = now;
        run.cancelledUsage = state === 'queued' ? null
            : responsesUsage(run.ctx, Math.min(run.words.length, 1 + Math.floor(run.words.length / 2)));
        if (run.ctx.max && run.cancelledUsage) {
            run.cancelledUsage.output_tokens = Math.floor(run.cancelledUsage.output_tokens / 2);
        }
    }
    sendJson(ctx, 200, backgroundObject(run, now));
}

async function openaiResponses(ctx) {
    const body = ctx.body;
    if (body.input === undefined) {
        return sendError(ctx, 400, "Missing required parameter: 'input'.");
    }
    if (body.background === true && body.store === false) {
        return sendError(ctx, 400, 'Background mode requires store=true.');
    }
    const run = responsesRun(ctx);
    if (body.background === true && !body.stream) {
        return startBackground(ctx, run);
    }
    const { words, truncated, usage, itemId } = run;
    const status = truncated ? 'incomplete' : 'completed';
    const part = outputPart;
    const item = (itemStatus, content) => messageItem(run, itemStatus, content);
    const text = words.join('');
    if (!body.stream) {
        return sendJson(ctx, 200, responseObject(ctx, status, finalOutput(run), usage));
    }
    ctx.sequence = 0;
    const stream = new EventStream(ctx);
    const send = (type, fields, isText = false) => stream.send(type, { type, sequence_number: ctx.sequence++, ...fields }, isText);
    const index = run.tools.length;
    const steps = [
        () => send('response.created', { response: responseObject(ctx, body.background ? 'queued' : 'in_progress', [], null) }),
        () => send('response.in_progress', { response: responseObject(ctx, 'in_progress', [], null) }),
    ];
    run.tools.forEach((tool, i) => {
        steps.push(
            () => send('response.output_item.added', { output_index: i, item: { ...tool, status: 'in_progress' } }),
            () => send('response.output_item.done', { output_index: i, item: tool }));
    });
    steps.push(
        () => send('response.output_item.added', { output_index: index, item: item('in_progress', []) }),
        () => send('response.content_part.added', { item_id: itemId, output_index: index, content_index: 0, part: part('') }),
    );
    for (const word of words) {
        steps.push(() => send('response.output_text.delta', { item_id: itemId, output_index: index, content_index: 0, delta: word, logprobs: [] }, true));
    }
    const doneItem = item(truncated ? 'incomplete' : 'completed', [part(text)]);
    steps.push(
        () => send('response.output_text.done', { item_id: itemId, output_index: index, content_index: 0, text, logprobs: [] }),
        () => send('response.content_part.done', { item_id: itemId, output_index: index, content_index: 0, part: part(text) }),
        () => send('response.output_item.done', { output_index: index, item: doneItem }),
        () => send(`response.${status}`, { response: responseObject(ctx, status, finalOutput(run), usage) }),
    );
    for (const step of steps) {
        if (!await step()) {
            return;
        }
    }
    stream.end();
}

function openaiEmbeddings(ctx) {
    const body = ctx.body;
    if (body.input === undefined) {
        return sendError(ctx, 400, "Missing required parameter: 'input'.");
    }
    const inputs = Array.isArray(body.input) && (body.input.length === 0 || typeof body.input[0] !== 'number') ? body.input : [body.input];
    const dimensions = Number.isInteger(body.dimensions) && body.dimensions > 0 ? body.dimensions : 8;
    const data = inputs.map((_, index) => {
        const vector = Array.from({ length: dimensions }, (__, d) => ((index + 1) * (d + 1)) / 100);
        let embedding = vector;
        if (body.encoding_format === 'base64') {
            // The SDKs ask for base64 by default: little-endian float32s.
            embedding = Buffer.from(new Float32Array(vector).buffer).toString('base64');
        }
        return { object: 'embedding', index, embedding };
    });
    const reply = { object: 'list', data, model: body.model };
    if (ctx.b.usage) {
        reply.usage = { prompt_tokens: ctx.inputTokens, total_tokens: ctx.inputTokens };
    }
    sendJson(ctx, 200, reply);
}

function openaiModels(ctx) {
    const created = 1715367049;
    const ids = ['gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'o3', 'text-embedding-3-small', 'gpt-3.5-turbo-instruct'];
    sendJson(ctx, 200, { object: 'list', data: ids.map((id) => ({ id, object: 'model', created, owned_by: 'system' })) });
}

// ---- Anthropic -----------------------------------------------------------------------------

function anthropicUsage(ctx, outputTokens) {
    const b = ctx.b;
    if (ctx.max) {
        const m = ctx.max;
        return {
            input_tokens: m.input - m.cacheWrite, cache_creation_input_tokens: m.cacheWrite, cache_read_input_tokens: 0,
            cache_creation: { ephemeral_5m_input_tokens: m.cacheWrite - m.cacheWrite1h, ephemeral_1h_input_tokens: m.cacheWrite1h },
            output_tokens: outputTokens === 1 ? 1 : m.output, server_tool_use: { web_search_requests: m.searches },
            service_tier: 'standard',
        };
    }
    const cacheRead = b.cachedTokens;
    const cacheWrite = b.cacheWriteTokens;
    return {
        input_tokens: ctx.inputTokens, // Anthropic: the uncached part only
        cache_creation_input_tokens: cacheWrite,
        cache_read_input_tokens: cacheRead,
        cache_creation: { ephemeral_5m_input_tokens: cacheWrite, ephemeral_1h_input_tokens: 0 },
        output_tokens: outputTokens,
        service_tier: 'standard',
    };
}

async function anthropicMessages(ctx) {
    const body = ctx.body;
    if (!Number.isInteger(body.max_tokens)) {
        return sendError(ctx, 400, 'max_tokens: Field required');
    }
    if (!Array.isArray(body.messages)) {
        return sendError(ctx, 400, 'messages: Field required');
    }
    const { words, truncated } = tokensOut(ctx.b, body.max_tokens);
    const stopReason = truncated ? 'max_tokens' : 'end_turn';
    const id = randomId('msg_01', 22);
    const message = (content, stop, usage) => ({
        id, type: 'message', role: 'assistant', model: body.model, content,
        stop_reason: stop, stop_sequence: null, ...(usage ? { usage } : {}),
    });
    if (!body.stream) {
        const usage = ctx.b.usage ? anthropicUsage(ctx, words.length) : null;
        return sendJson(ctx, 200, message([{ type: 'text', text: words.join('') }], stopReason, usage));
    }
    const stream = new EventStream(ctx);
    const startUsage = ctx.b.usage ? anthropicUsage(ctx, 1) : null;
    const steps = [
        () => stream.send('message_start', { type: 'message_start', message: message([], null, startUsage) }),
        () => stream.send('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
        () => stream.send('ping', { type: 'ping' }),
    ];
    for (const word of words) {
        steps.push(() => stream.send('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: word } }, true));
    }
    steps.push(
        () => stream.send('content_block_stop', { type: 'content_block_stop', index: 0 }),
        () => stream.send('message_delta', { type: 'message_delta', delta: { stop_reason: stopReason, stop_sequence: null }, usage: ctx.max ? anthropicUsage(ctx, ctx.max.output) : ctx.b.usage ? { output_tokens: words.length } : { output_tokens: 0 } }),
        () => stream.send('message_stop', { type: 'message_stop' }),
    );
    for (const step of steps) {
        if (!await step()) {
            return;
        }
    }
    stream.end();
}

function anthropicCountTokens(ctx) {
    if (!Array.isArray(ctx.body.messages)) {
        return sendError(ctx, 400, 'messages: Field required');
    }
    sendJson(ctx, 200, { input_tokens: ctx.inputTokens });
}

// ---- Gemini ---------------------------------------------------------------------------------
// As the Gemini API (generativelanguage) answers: GenerateContentResponse bodies with
// usageMetadata (promptTokenCount includes cached content; thoughtsTokenCount and
// toolUsePromptTokenCount are counted apart from candidatesTokenCount), streams as
// data-only SSE chunks separated by CRLF CRLF with running usage and finishReason on the
// last, errors as {error: {code, message, status}}.

const GEMINI_STATUS = {
    400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND',
    429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 503: 'UNAVAILABLE', 504: 'DEADLINE_EXCEEDED',
};
const GEMINI_THINKING_MAX = 24576; // the largest thinkingBudget of Gemini 2.5 Flash

function geminiError(status, message) {
    return { error: { code: status, message, status: GEMINI_STATUS[status] || (status >= 500 ? 'INTERNAL' : 'FAILED_PRECONDITION') } };
}

// An image's tokens by Gemini's published rule: 258 when both sides are at most 384 px,
// else 258 per 768 x 768 tile.
function geminiImage(inline) {
    const size = inline && typeof inline.data === 'string' ? pngSize(inline.data) : null;
    if (!size) {
        return 258;
    }
    const [w, h] = size;
    return w <= 384 && h <= 384 ? 258 : 258 * Math.ceil(w / 768) * Math.ceil(h / 768);
}

// The most Gemini's rules let it bill: every text byte a token, images by tiles, the
// whole output cap per candidate and the whole thinking budget besides.
function geminiMaxBill(ctx) {
    const body = ctx.body;
    let input = 3;
    const walk = (v) => {
        if (typeof v === 'string') {
            input += Buffer.byteLength(v);
        } else if (typeof v === 'number') {
            input += String(v).length;
        } else if (Array.isArray(v)) {
            v.forEach(walk);
        } else if (v && typeof v === 'object') {
            if (v.inlineData) {
                input += geminiImage(v.inlineData);
                return;
            }
            for (const [k, item] of Object.entries(v)) {
                input += Buffer.byteLength(k);
                walk(item);
            }
        }
    };
    for (const f of ['contents', 'systemInstruction', 'tools', 'toolConfig']) {
        walk(body[f]);
    }
    const config = body.generationConfig || {};
    const n = Number.isInteger(config.candidateCount) && config.candidateCount > 0 ? config.candidateCount : 1;
    const cap = Number.isInteger(config.maxOutputTokens) ? config.maxOutputTokens : 65536;
    const budget = config.thinkingConfig && Number.isInteger(config.thinkingConfig.thinkingBudget)
        && config.thinkingConfig.thinkingBudget >= 0 ? config.thinkingConfig.thinkingBudget : GEMINI_THINKING_MAX;
    return { cap, input, output: cap * n, thoughts: budget * n, n };
}

function geminiUsage(ctx, candidatesTokens, final = true) {
    if (ctx.max) {
        const m = ctx.max;
        return {
            promptTokenCount: m.input, candidatesTokenCount: final ? m.output : candidatesTokens,
            thoughtsTokenCount: m.thoughts, totalTokenCount: m.input + (final ? m.output : candidatesTokens) + m.thoughts,
            promptTokensDetails: [{ modality: 'TEXT', tokenCount: m.input }],
        };
    }
    const b = ctx.b;
    const usage = { promptTokenCount: ctx.inputTokens, candidatesTokenCount: candidatesTokens };
    if (b.cachedTokens > 0) {
        usage.cachedContentTokenCount = Math.min(b.cachedTokens, ctx.inputTokens);
    }
    if (b.toolUseTokens > 0) {
        usage.toolUsePromptTokenCount = b.toolUseTokens;
    }
    if (b.reasoningTokens > 0) {
        usage.thoughtsTokenCount = b.reasoningTokens;
    }
    usage.totalTokenCount = ctx.inputTokens + candidatesTokens + b.reasoningTokens + b.toolUseTokens;
    usage.promptTokensDetails = [{ modality: 'TEXT', tokenCount: ctx.inputTokens }];
    if (b.cachedTokens > 0) {
        usage.cacheTokensDetails = [{ modality: 'TEXT', tokenCount: usage.cachedContentTokenCount }];
    }
    return usage;
}

function geminiBadRequest(ctx) {
    const body = ctx.body;
    if (body.contents === undefined) {
        return '* GenerateContentRequest.contents: contents is not specified';
    }
    const config = body.generationConfig;
    if (config !== undefined && (config === null || typeof config !== 'object')) {
        return 'Invalid JSON payload received. Unknown name "generationConfig": Proto field is not repeating, cannot start list.';
    }
    return null;
}

async function geminiGenerate(ctx) {
    const bad = geminiBadRequest(ctx);
    if (bad) {
        return sendError(ctx, 400, bad);
    }
    const config = ctx.body.generationConfig || {};
    const n = Number.isInteger(config.candidateCount) && config.candidateCount > 0 ? config.candidateCount : 1;
    const { words, truncated } = tokensOut(ctx.b, config.maxOutputTokens);
    const finishReason = truncated ? 'MAX_TOKENS' : 'STOP';
    const responseId = randomId('', 22);
    const candidate = (i, text, finish) => ({
        content: { parts: [{ text }], role: 'model' },
        ...(finish ? { finishReason: finish } : {}),
        index: i,
    });
    const all = (text, finish) => Array.from({ length: n }, (_, i) => candidate(i, text, finish));
    if (ctx.route === 'gemini_generate') {
        const payload = { candidates: all(words.join(''), finishReason), modelVersion: ctx.model, responseId };
        if (ctx.b.usage) {
            payload.usageMetadata = geminiUsage(ctx, words.length * n);
        }
        return sendJson(ctx, 200, payload);
    }
    const stream = new EventStream(ctx);
    if (words.length === 0) {
        words.push('');
    }
    for (let i = 0; i < words.length; i++) {
        const last = i === words.length - 1;
        const chunk = { candidates: all(words[i], last ? finishReason : null) };
        if (ctx.b.usage) {
            chunk.usageMetadata = geminiUsage(ctx, (i + 1) * n, last);
        }
        chunk.modelVersion = ctx.model;
        chunk.responseId = responseId;
        if (!await stream.send(null, chunk, true)) {
            return;
        }
    }
    stream.end();
}

function geminiCountTokens(ctx) {
    const body = ctx.body.generateContentRequest || ctx.body;
    sendJson(ctx, 200, { totalTokens: countInputTokens(body), promptTokensDetails: [{ modality: 'TEXT', tokenCount: countInputTokens(body) }] });
}

// ---- Server --------------------------------------------------------------------------------

const ROUTES = {
    'POST /v1/chat/completions': ['openai', 'chat', openaiChat],
    'POST /v1/completions': ['openai', 'completions', openaiCompletions],
    'POST /v1/responses': ['openai', 'responses', openaiResponses],
    'GET /v1/responses/{id}': ['openai', 'retrieve', openaiResponseRetrieve],
    'POST /v1/responses/{id}/cancel': ['openai', 'cancel', openaiResponseCancel],
    'POST /v1/embeddings': ['openai', 'embeddings', openaiEmbeddings],
    'GET /v1/models': ['openai', 'models', openaiModels],
    'POST /v1/messages': ['anthropic', 'messages', anthropicMessages],
    'POST /v1/messages/count_tokens': ['anthropic', 'count_tokens', anthropicCountTokens],
    'POST /v1beta/models/{model}:generateContent': ['gemini', 'gemini_generate', geminiGenerate],
    'POST /v1beta/models/{model}:streamGenerateContent': ['gemini', 'gemini_stream', geminiGenerate],
    'POST /v1beta/models/{model}:countTokens': ['gemini', 'gemini_count', geminiCountTokens],
};

function readBody(req) {
    return new Promise((resolve, reject) => {
        const chunks = [];
        let size = 0;
        req.on('data', (chunk) => {
            size += chunk.length;
            if (size > BODY_SIZE_MAX) {
                reject(new Error('body too large'));
                req.destroy();
                return;
            }
            chunks.push(chunk);
        });
        req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        req.on('error', reject);
    });
}

function authorized(wire, req, apiKey) {
    if (!apiKey) {
        return true;
    }
    if (wire === 'gemini') {
        return req.headers['x-goog-api-key'] === apiKey || new URL(req.url, 'http://x').searchParams.get('key') === apiKey;
    }
    if (wire === 'azure') {
        return req.headers['api-key'] === apiKey; // Azure's key header; no Authorization
    }
    // Anthropic takes x-api-key; its newer SDKs send Authorization: Bearer instead.
    const bearer = req.headers.authorization === `Bearer ${apiKey}`;
    return wire === 'anthropic' ? bearer || req.headers['x-api-key'] === apiKey : bearer;
}

async function handle(state, req, res) {
    const path = req.url.split('?')[0];
    if (path === '/_fake/requests') {
        if (req.method === 'DELETE') {
            state.requests.length = 0;
        }
        const text = JSON.stringify(state.requests);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(req.method === 'DELETE' ? '[]' : text);
        return;
    }
    const gemini = /^\/(?:v1beta|v1)\/models\/([^/:]+):(\w+)$/.exec(path);
    // Azure OpenAI: /openai/deployments/{deployment}/chat/completions?api-version=...;
    // OpenRouter: /api/v1/chat/completions. Both OpenAI's wire on other paths.
    const azure = /^\/openai\/deployments\/([^/]+)(\/.*)$/.exec(path);
    const openrouter = /^\/api(\/v1\/.*)$/.exec(path);
    const pattern = gemini ? `/v1beta/models/{model}:${gemini[2]}`
        : azure ? `/v1${azure[2]}` : openrouter ? openrouter[1]
            : path.replace(/^\/v1\/responses\/[A-Za-z0-9_-]+/, '/v1/responses/{id}');
    const route = ROUTES[`${req.method} ${pattern}`];
    const wire = azure ? 'azure' : openrouter ? 'openrouter' : route ? route[0] : gemini ? 'gemini'
        : (path.startsWith('/v1/messages') ? 'anthropic' : 'openai');
    const raw = await readBody(req);
    const entry = {
        method: req.method, path, headers: req.headers, rawBody: raw, body: null,
        at_ms: Date.now(), textEvents: 0, completed: false, disconnected: false,
    };
    state.requests.push(entry);
    if (state.requests.length > state.requestsMax) {
        state.requests.shift();
    }
    const ctx = { req, res, wire, entry, requestId: randomId('req_'), route: route ? route[1] : null, body: {},
        model: gemini ? decodeURIComponent(gemini[1]) : null };
    res.on('close', () => {
        if (!res.writableEnded) {
            entry.disconnected = true;
        }
    });
    if (!route) {
        return sendError(ctx, 404, `Unknown request URL: ${req.method} ${path}`);
    }
    if (azure && !new URL(req.url, 'http://x').searchParams.get('api-version')) {
        return sendError(ctx, 404, 'Resource not found');
    }
    if (azure && !(state.deployments || {})[azure[1]]) {
        return sendError(ctx, 404, 'The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.');
    }
    if (!authorized(wire, req, state.apiKey)) {
        return sendError(ctx, 401, wire === 'azure' ? 'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.' : 'Incorrect API key provided.');
    }
    if (req.method === 'POST') {
        try {
            ctx.body = raw ? JSON.parse(raw) : {};
        } catch (e) {
            return sendError(ctx, 400, 'We could not parse the JSON body of your request.');
        }
        entry.body = ctx.body;
        if (azure) {
            // The deployment decides the model, whatever the body's model says.
            ctx.body = { ...ctx.body, model: state.deployments[azure[1]] };
        }
    }
    ctx.b = behaviour(req, wire === 'gemini' ? { ...ctx.body, model: ctx.model } : ctx.body);
    if (ctx.route === 'gemini_stream' && new URL(req.url, 'http://x').searchParams.get('alt') !== 'sse') {
        return sendError(ctx, 400, 'fake_llm streams Gemini only as server-sent events (alt=sse)');
    }
    if (ctx.b.hang) {
        return; // never answered: the socket stays open until the client or close() ends it
    }
    if (ctx.b.firstByteMs > 0) {
        await sleep(ctx.b.firstByteMs);
    }
    if (ctx.b.error !== null) {
        return sendError(ctx, ctx.b.error, ctx.b.error === 404
            ? `The model \`${ctx.body.model}\` does not exist or you do not have access to it.`
            : `The fake upstream answered ${ctx.b.error} as asked.`);
    }
    if (req.method === 'POST' && wire !== 'gemini' && route[2] !== openaiResponseCancel && path !== '/v1/messages/count_tokens' && typeof ctx.body.model !== 'string') {
        return sendError(ctx, 400, wire === 'anthropic' ? 'model: Field required' : "Missing required parameter: 'model'.");
    }
    ctx.inputTokens = ctx.b.inputTokens ?? countInputTokens(ctx.body);
    ctx.state = state;
    if (ctx.b.bill === 'max' && wire === 'gemini' && route[1] !== 'gemini_count') {
        ctx.max = geminiMaxBill(ctx);
        ctx.b.outputTokens = ctx.max.cap;
        ctx.inputTokens = ctx.max.input;
    } else if (ctx.b.bill === 'max' && req.method === 'POST' && route[1] !== 'cancel') {
        ctx.max = maxBill(ctx);
        ctx.b.outputTokens = ctx.max.cap;
        ctx.inputTokens = ctx.max.input;
    }
    if (ctx.b.jsonToStream && ctx.body.stream) {
        ctx.body = { ...ctx.body, stream: false }; // one JSON body to a stream request
    }
    if (ctx.b.errorUsage) {
        const payload = ctx.wire === 'anthropic' ? anthropicError(500, 'failed after some work', ctx.requestId)
            : openaiError(500, 'failed after some work');
        payload.usage = ctx.wire === 'anthropic' ? anthropicUsage(ctx, 7)
            : ctx.route === 'responses' ? responsesUsage(ctx, 7) : chatUsage(ctx, 7);
        return sendJson(ctx, 500, payload);
    }
    await route[2](ctx);
}

// Starts a fake upstream; resolves to { url, port, requests, close() }.
function startFakeLlm(options = {}) {
    const state = { requests: [], requestsMax: options.requestsMax || 10000, apiKey: options.apiKey || null,
        deployments: options.deployments || {}, openrouterPrices: options.openrouterPrices || {},
        stored: new Map(), runs: new Map() };
    const sockets = new Set();
    const server = http.createServer((req, res) => {
        handle(state, req, res).catch((e) => {
            if (!res.headersSent) {
                res.writeHead(500, { 'content-type': 'application/json' });
                res.end(JSON.stringify(openaiError(500, String(e && e.message))));
            } else {
                res.destroy();
            }
        });
    });
    server.keepAliveTimeout = 60000;
    server.on('connection', (socket) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
    });
    return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port || 0, options.host || '127.0.0.1', () => {
            const { address, port } = server.address();
            resolve({
                url: `http://${address}:${port}`,
                port,
                requests: state.requests,
                close: () => new Promise((done) => {
                    for (const socket of sockets) {
                        socket.destroy();
                    }
                    server.close(() => done());
                }),
            });
        });
    });
}

module.exports = { startFakeLlm };

if (require.main === module) {
    const args = process.argv.slice(2);
    const option = (name) => {
        const i = args.indexOf(name);
        return i >= 0 ? args[i + 1] : undefined;
    };
    // --deployments NAME=MODEL,...: the Azure deployments it serves.
    const deployments = Object.fromEntries((option('--deployments') || '').split(',').filter(Boolean).map((d) => d.split('=')));
    // --openrouter-prices JSON: options.openrouterPrices (model -> {input_mtok, output_mtok,
    // cache_read_mtok}), so that OpenRouter's usage.cost is what the call costs.
    const openrouterPrices = option('--openrouter-prices') ? JSON.parse(option('--openrouter-prices')) : undefined;
    startFakeLlm({ port: Number(option('--port') || 0), host: option('--host'), apiKey: option('--api-key'), deployments,
        openrouterPrices })
        .then((fake) => {
            console.log(`fake_llm listening on ${fake.url}`);
            const stop = () => fake.close().then(() => process.exit(0));
            process.on('SIGTERM', stop);
            process.on('SIGINT', stop);
        })
        .catch((e) => {
            console.error(`fake_llm: ${e.message}`);
            process.exit(1);
        });
}
