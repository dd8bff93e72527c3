// The upstream connections' sockets (src/proxy/runtime/proxy_sockets.c): a kept
// connection's socket stays watched between calls ("parked"). That is only safe while
// the daemon sees every close: a closed socket's number still counted as watched would
// leave the next connection given that number (a client's) unread, and a freed watch
// would be used after its free. Each case makes the daemon close or lose upstream
// sockets between calls, then sends calls on new client connections (which take the
// freed numbers) and requires every one answered and charged: a client left unread
// fails the test by its timeout. (Without close_socket's unwatch both cases fail.)
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { sha, tempDir, startDaemon, eventually } = require('./daemon_helpers.js');
const { proxyConfig, stopClean } = require('./proxy_helpers.js');

const AGENT = 'agent-secret';
const CALL_TIMEOUT_MS = 10000; // a client left unread waits for ever: this ends it as a failure

// An OpenAI-shaped upstream that counts its connections. closeEach: answers with
// `Connection: close` (curl closes the socket as the transfer ends); idleMs: closes a
// kept connection idle that long (its socket is parked in the daemon then).
async function startUpstream({ closeEach = false, idleMs = 5000 } = {}) {
  let opened = 0;
  let closed = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const model = JSON.parse(body).model;
      const answer = JSON.stringify({
        id: `chatcmpl-${opened}-${closed}`, object: 'chat.completion', model,
        choices: [{ index: 0, message: { role: 'assistant', content: 'Hello' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 9, completion_tokens: 5, total_tokens: 14 },
      });
      const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) };
      if (closeEach) headers.connection = 'close';
      res.writeHead(200, headers);
      res.end(answer);
    });
  });
  server.keepAliveTimeout = idleMs;
  server.on('connection', (socket) => {
    opened++;
    socket.on('close', () => { closed++; });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    counts: () => ({ opened, closed }),
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}

// One call on a new client connection (no keep-alive): the client's socket is a new one,
// so it takes the lowest free descriptor number in the daemon, a closed upstream's.
function call(daemon) {
  const body = JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 16,
    messages: [{ role: 'user', content: 'Say hello' }] });
  return new Promise((resolve, reject) => {
    const req = http.request(`${daemon.base}/v1/chat/completions`, {
      method: 'POST', agent: false,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${AGENT}`, connection: 'close' },
    }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.setTimeout(CALL_TIMEOUT_MS, () => req.destroy(new Error('no answer: a client socket left unread?')));
    req.on('error', reject);
    req.end(body);
  });
}

async function start(upstream, name) {
  const dir = tempDir(`proxy-sockets-${name}`);
  const file = proxyConfig(dir, name, { fake: upstream, store: 'memory',
    budgets: ['{path: team, limit: "100.00"}'],
    keys: [`{name: bot, role: agent, scope: team, sha256: ${sha(AGENT)}}`] });
  return startDaemon(file);
}

// Every answer the upstream's, each charged its own cost, the budget's spend their sum.
async function checkCharged(daemon, answers) {
  let sum = 0;
  for (const a of answers) {
    assert.equal(a.status, 200, a.text);
    assert.match(JSON.parse(a.text).id, /^chatcmpl-/);
    const cost = Number(a.headers['x-tollgate-cost-micros']);
    assert.ok(cost > 0, `charged: ${JSON.stringify(a.headers)}`);
    sum += cost;
  }
  const budget = await eventually(async () => {
    const b = (await daemon.call('GET', '/v1/budgets/team')).json;
    return b.spent_micros === sum ? b : null;
  });
  assert.ok(budget, `the budget's spend is the calls' costs (${sum})`);
}

test('an upstream that closes every connection: each socket closed by curl is unwatched first', async () => {
  const upstream = await startUpstream({ closeEach: true });
  const daemon = await start(upstream, 'close-each');
  try {
    const answers = [];
    for (let i = 0; i < 40; i++) answers.push(await call(daemon));
    // Many at once: sockets opened and closed while others are in flight.
    answers.push(...await Promise.all(Array.from({ length: 40 }, () => call(daemon))));
    await checkCharged(daemon, answers);
    assert.ok(upstream.counts().opened >= 80, `one connection a call: ${JSON.stringify(upstream.counts())}`);
  } finally {
    await stopClean(daemon);
    await upstream.close();
  }
});

test('an upstream that closes idle kept connections: a parked socket that hangs up is dropped', async () => {
  const upstream = await startUpstream({ idleMs: 50 });
  const daemon = await start(upstream, 'idle-close');
  try {
    const answers = [];
    for (let round = 0; round < 8; round++) {
      // A few calls share the kept connection (its socket parked between them)...
      for (let i = 0; i < 3; i++) answers.push(await call(daemon));
      // ...then the upstream hangs up on it while it idles, parked.
      const closedBefore = upstream.counts().closed;
      assert.ok(await eventually(() => upstream.counts().closed > closedBefore, 5000),
        'the upstream closed the idle connection');
      // The daemon is still answering (not spinning on the hung-up socket), on a new
      // connection whose client sockets take the freed numbers.
      answers.push(...await Promise.all(Array.from({ length: 4 }, () => call(daemon))));
    }
    await checkCharged(daemon, answers);
    assert.ok(upstream.counts().opened >= 8, `a new connection after each hang-up: ${JSON.stringify(upstream.counts())}`);
  } finally {
    await stopClean(daemon);
    await upstream.close();
  }
});
