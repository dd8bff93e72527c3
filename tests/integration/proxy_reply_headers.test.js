// A proxied reply's headers (src/proxy/runtime/proxy_headers.c): the upstream's lines and
// Tollgate's own go to libevent as one pre-formatted entry, past evhttp_add_header's own
// check. So the daemon checks each line itself: this upstream speaks raw HTTP and sends
// what an honest upstream would (repeated names, an empty value, its own spelling of
// Content-Type) and what a hostile one would (a bare CR inside a value, which curl
// passes on, a folded line, which main passed on as a continuation of the line before,
// a name with a space; a NUL or a line without a colon curl refuses itself, as a weird
// server reply), on plain answers and streams, and past
// the 64 KiB the daemon keeps of them. The client reads the raw bytes: every good line
// arrives once and in order, no bad line arrives at all, Tollgate's headers are always
// there, and Content-Type and Date come exactly once each.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { sha, tempDir, startDaemon } = require('./daemon_helpers.js');
const { proxyConfig, stopClean } = require('./proxy_helpers.js');

const AGENT = 'agent-secret';

const GOOD = [
  ['x-request-id', 'req_abc123'],
  ['set-cookie', 'a=1; Path=/'],
  ['set-cookie', 'b=2; Path=/'],
  ['x-empty', ''],
  ['openai-processing-ms', '7'],
  ['x-tab', 'one\ttwo'],
];
// Lines a header callback sees that must never reach the client as they are.
const BAD = [
  'x-evil: a\rInjected-One: 1',
  ' folded-continuation: Injected-Three',
  'bad name: Injected-Four',
];

function answer(stream) {
  if (stream) {
    const chunk = (o) => `data: ${JSON.stringify(o)}\n\n`;
    return chunk({ id: 'c1', object: 'chat.completion.chunk', model: 'gpt-4o-mini',
      choices: [{ index: 0, delta: { content: 'Hi' }, finish_reason: null }] }) +
      chunk({ id: 'c1', object: 'chat.completion.chunk', model: 'gpt-4o-mini',
        choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }) +
      chunk({ id: 'c1', object: 'chat.completion.chunk', model: 'gpt-4o-mini', choices: [],
        usage: { prompt_tokens: 9, completion_tokens: 1, total_tokens: 10 } }) +
      'data: [DONE]\n\n';
  }
  return JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion', model: 'gpt-4o-mini',
    choices: [{ index: 0, message: { role: 'assistant', content: 'Hi' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 9, completion_tokens: 1, total_tokens: 10 } });
}

// A raw HTTP/1.1 upstream: each request answered with the lines given (and `padding`
// bytes of extra headers), the body whole with its length.
async function startUpstream({ padding = 0 } = {}) {
  const server = net.createServer((socket) => {
    let text = '';
    socket.on('data', (c) => {
      text += c.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number((/content-length: *(\d+)/i.exec(text.slice(0, end)) || [0, 0])[1]);
      if (text.length < end + 4 + length) return;
      const stream = JSON.parse(text.slice(end + 4, end + 4 + length)).stream === true;
      text = text.slice(end + 4 + length);
      const body = answer(stream);
      const lines = ['HTTP/1.1 200 OK',
        `Content-Type: ${stream ? 'text/event-stream' : 'application/json; charset=utf-8'}`,
        ...GOOD.map(([n, v]) => `${n}: ${v}`), ...BAD];
      for (let i = 0; padding > 0 && i * 100 < padding; i++) lines.push(`x-pad-${i}: ${'p'.repeat(90)}`);
      lines.push(`Content-Length: ${Buffer.byteLength(body)}`, '', body);
      socket.write(lines.join('\r\n'), 'latin1');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

// One call, the reply's head read raw: [name, value] pairs in order, and the body.
function call(daemon, stream) {
  const body = JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 16, stream,
    messages: [{ role: 'user', content: 'Say hi' }] });
  const url = new URL(daemon.base);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname, () => {
      socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n` +
        `Authorization: Bearer ${AGENT}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
    let raw = Buffer.alloc(0);
    socket.on('data', (c) => { raw = Buffer.concat([raw, c]); });
    socket.on('end', () => {
      const text = raw.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const lines = text.slice(0, end).split('\r\n');
      resolve({ status: lines[0], headers: lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]),
        head: text.slice(0, end), body: text.slice(end + 4) });
    });
    socket.setTimeout(10000, () => socket.destroy(new Error('no answer')));
    socket.on('error', reject);
  });
}

async function start(upstream, name) {
  const dir = tempDir(`proxy-reply-headers-${name}`);
  const file = proxyConfig(dir, name, { fake: upstream, store: 'memory',
    budgets: ['{path: team, limit: "100.00"}'],
    keys: [`{name: bot, role: agent, scope: team, sha256: ${sha(AGENT)}}`] });
  return startDaemon(file);
}

const named = (reply, name) => reply.headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);

function checkReply(reply, stream) {
  assert.equal(reply.status, 'HTTP/1.1 200 OK', reply.head + reply.body);
  // No bad line in any form: nothing injected, nothing folded into a neighbour.
  assert.doesNotMatch(reply.head, /Injected|x-evil|folded|bad name/i, reply.head);
  for (const [, value] of reply.headers) assert.doesNotMatch(value, /[\r\n\0]/);
  for (const [name] of reply.headers) assert.match(name, /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, reply.head);
  // Every good line once, in the upstream's order.
  const good = reply.headers.filter(([n]) => GOOD.some(([g]) => g === n));
  assert.deepEqual(good, GOOD, reply.head);
  assert.deepEqual(named(reply, 'content-type'), [stream ? 'text/event-stream' : 'application/json; charset=utf-8'], reply.head);
  assert.equal(named(reply, 'date').length, 1, reply.head);
  assert.match(named(reply, 'date')[0], /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/);
  const date = Date.parse(named(reply, 'date')[0]);
  assert.ok(Math.abs(date - Date.now()) < 5000, `the Date is now: ${named(reply, 'date')[0]}`);
  for (const name of ['x-tollgate-model', 'x-tollgate-upstream', 'x-tollgate-budget', 'x-tollgate-hold-micros', 'x-tollgate-remaining-micros']) {
    assert.equal(named(reply, name).length, 1, `${name} once: ${reply.head}`);
  }
  assert.deepEqual(named(reply, 'x-tollgate-budget'), ['team']);
  assert.ok(Number(named(reply, 'x-tollgate-hold-micros')[0]) > 0);
  if (stream) {
    assert.deepEqual(named(reply, 'transfer-encoding'), ['chunked'], reply.head);
    assert.deepEqual(named(reply, 'cache-control'), ['no-cache'], reply.head);
    assert.match(reply.body, /data: \[DONE\]/);
  } else {
    assert.deepEqual(named(reply, 'content-length'), [String(Buffer.byteLength(reply.body))], reply.head);
    assert.equal(JSON.parse(reply.body).id, 'chatcmpl-1');
    assert.ok(Number(named(reply, 'x-tollgate-cost-micros')[0]) > 0, reply.head);
  }
}

test('upstream headers pass whole and checked, plain and streamed; Tollgate adds its own once', async () => {
  const upstream = await startUpstream();
  const daemon = await start(upstream, 'lines');
  try {
    for (let i = 0; i < 3; i++) {
      checkReply(await call(daemon, false), false);
      checkReply(await call(daemon, true), true);
    }
  } finally {
    await stopClean(daemon);
    await upstream.close();
  }
});

test('past the 64 KiB of upstream headers kept, Tollgate\'s own headers are still sent', async () => {
  const upstream = await startUpstream({ padding: 80 * 1024 });
  const daemon = await start(upstream, 'full');
  try {
    for (const stream of [false, true]) {
      const reply = await call(daemon, stream);
      checkReply(reply, stream);
      const kept = reply.headers.filter(([n]) => n.startsWith('x-pad-')).length;
      assert.ok(kept > 100 && kept < 820, `some padding kept, not all: ${kept}`);
    }
  } finally {
    await stopClean(daemon);
    await upstream.close();
  }
});
