// MCP over Streamable HTTP in `tollgate serve`: the official SDK client
// (StreamableHTTPClientTransport) talks to /mcp/everything, and the daemon
// relays to a server-everything it spawned for the session, behind a wiretap.
// Every message the agent sent must reach the server unchanged and every
// message the server sent must reach the agent unchanged (compared as the SDK
// parsed them; a raw POST below shows a JSON reply is the server's very bytes).
// Then the HTTP surface itself: session ids, 202, the error codes, DELETE,
// sessions_max.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const h = require('./mcp_http_helpers.js');

const config = (dir, extra = '') => `
budgets:
  - {path: acme, limit: "100.00"}
  - {path: acme/agent, limit: "50.00"}
keys:
  - {name: agent-7, sha256: ${h.sha('agent-key')}, role: agent, scope: acme/agent}
  - {name: other, sha256: ${h.sha('other-key')}, role: agent, scope: acme/other}
mcp:
${extra}  tools:
    "echo": {cost: "0.01", class: low}
    "*": {cost: "0.02"}
  servers:
${h.serverEntry('everything', h.servers.everything, 'acme/agent', '', path.join(dir, 'server.tap'))}
`;

// key order as the server wrote it does not matter once parsed: sort keys for set comparison
const canon = (v) => (Array.isArray(v) ? v.map(canon) : v && typeof v === 'object'
  ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])])) : v);
const key = (m) => JSON.stringify(canon(m));
const sorted = (list) => list.map(key).sort();

test('server-everything over HTTP: requests, progress, sampling, elicitation, roots, cancellation relayed intact', async () => {
  const dir = h.tempDir('http-relay');
  const daemon = await h.startServe(dir, config(dir));
  try {
    const a = await h.connect(daemon.base, 'everything', { key: 'agent-key', roots: [{ uri: 'file:///tmp', name: 'tmp' }] });
    const c = a.client;
    await h.streamOpen(a);
    const tools = await c.listTools();
    assert.ok(tools.tools.some((t) => t.name === 'trigger-long-running-operation'));
    assert.equal(h.text(await c.callTool({ name: 'echo', arguments: { message: 'hello, ünïcode ✓' } })), 'Echo: hello, ünïcode ✓');
    assert.match(h.text(await c.callTool({ name: 'get-sum', arguments: { a: 2, b: 40 } })), /42/);
    const image = await c.callTool({ name: 'get-tiny-image', arguments: {} });
    assert.ok(image.content.some((x) => x.type === 'image'));
    const progress = [];
    const long = await c.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 0.6, steps: 3 } },
      undefined, { onprogress: (p) => progress.push(p.progress) });
    assert.match(h.text(long), /completed/);
    assert.deepEqual(progress.slice(0, 2), [1, 2], 'progress on the POST stream');
    // server -> client requests go out on the GET stream; the answers come back as POSTs
    assert.match(h.text(await c.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'hi', maxTokens: 5 } })),
      /sampled by the test agent/);
    assert.match(h.text(await c.callTool({ name: 'trigger-elicitation-request', arguments: {} })), /Ada/);
    assert.match(h.text(await c.callTool({ name: 'get-roots-list', arguments: {} })), /file:\/\/\/tmp/);
    const resources = await c.listResources();
    assert.ok((await c.readResource({ uri: resources.resources[0].uri })).contents.length > 0);
    assert.ok((await c.listPrompts()).prompts.some((p) => p.name === 'simple-prompt'));
    assert.ok((await c.getPrompt({ name: 'args-prompt', arguments: { city: 'Taipei' } })).messages.length > 0);
    await c.setLoggingLevel('debug');
    await c.ping();
    // the agent cancels a call itself: relayed to the server
    const abort = new AbortController();
    const cancelled = c.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 5, steps: 5 } },
      undefined, { signal: abort.signal });
    // abort only once the server has the call, so the cancellation is the server's to handle
    await h.until(() => h.readTap(path.join(dir, 'server.tap')).some((e) => e.dir === 'in' &&
      JSON.parse(e.line).params?.arguments?.duration === 5), 10000, 'the call to reach the server');
    abort.abort('changed my mind');
    await assert.rejects(cancelled);

    // Messages still travel (the cancellation to the server, the server's late ones to the
    // agent): the comparison below is retried until both sides' traffic agrees, and its
    // last failure is the test's failure.
    const compare = () => {
      const tap = h.readTap(path.join(dir, 'server.tap'));
      // Tollgate's own tools/list (it checks a tool the agent's listing did not name, when the
      // server said its list changed: server-everything adds tools after initialize) is not the
      // agent's: it never reaches the agent, and is left out of the byte-for-byte comparison.
      const own = (m) => typeof m.id === 'string' && m.id.startsWith('tollgate/tools-list/');
      const all = tap.map((e) => ({ dir: e.dir, m: JSON.parse(e.line) }));
      assert.ok(all.filter((e) => e.dir === 'in' && own(e.m)).every((e) => e.m.method === 'tools/list'));
      assert.ok(!a.received.some(own), 'the agent never sees Tollgate\'s own listing');
      const toServer = all.filter((e) => e.dir === 'in' && !own(e.m)).map((e) => e.m);
      const fromServer = all.filter((e) => e.dir === 'out' && !own(e.m)).map((e) => e.m);
      // The agent's answers to the server's requests (roots/list here) are POSTed while its
      // next call may be on its way on another connection: which the daemon reads first is the
      // network's. So: the agent's requests and notifications in order, its answers as a set.
      const sent = a.sent.map((m) => JSON.parse(JSON.stringify(m)));
      const answer = (m) => m.method === undefined;
      assert.deepEqual(toServer.filter((m) => !answer(m)), sent.filter((m) => !answer(m)),
        'agent -> server: every request and notification, in order, unchanged');
      assert.deepEqual(sorted(toServer.filter(answer)), sorted(sent.filter(answer)),
        'agent -> server: every answer, unchanged');
      assert.ok(toServer.some((m) => m.method === 'notifications/cancelled'));
      // Server -> agent travels on several HTTP streams (POST replies, the GET stream), so
      // the order between them is the network's: compare as sets of whole messages.
      const progressCount = fromServer.filter((m) => m.method === 'notifications/progress').length;
      assert.ok(progressCount >= 3);
      const cancelledId = toServer.find((m) => m.method === 'notifications/cancelled').params.requestId;
      // a progress or result for the call the agent cancelled may be dropped by the SDK
      // client itself after the abort: leave those out of the comparison
      const late = (m) => (m.id === cancelledId && 'result' in m) ||
        (m.method === 'notifications/progress' && !a.received.some((r) => key(r) === key(m)) &&
         toServer.some((s) => s.id === cancelledId && s.params?._meta?.progressToken === m.params.progressToken));
      assert.deepEqual(sorted(a.received), sorted(fromServer.filter((m) => !late(m))),
        'server -> agent: every message unchanged');
    };
    const end = Date.now() + 10000;
    for (;;) {
      try {
        compare();
        break;
      } catch (e) {
        if (Date.now() > end) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    await c.close();
  } finally {
    await daemon.stop();
  }
});

test('HTTP surface: session ids, 202, errors as JSON-RPC, GET stream, DELETE, sessions_max', async () => {
  const dir = h.tempDir('http-surface');
  const daemon = await h.startServe(dir, config(dir, '  sessions_max: 1\n'));
  const url = `${daemon.base}/mcp/everything`;
  const post = (body, headers = {}) => fetch(url, {
    method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { Authorization: 'Bearer agent-key', 'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream', ...headers },
  });
  const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };
  try {
    // keys: none, unknown, out of scope
    let r = await fetch(url, { method: 'POST', body: JSON.stringify(init) });
    assert.equal(r.status, 401);
    assert.equal((await r.json()).error.code, -32600);
    assert.equal((await post(init, { Authorization: 'Bearer nope' })).status, 401);
    assert.equal((await post(init, { Authorization: 'Bearer other-key' })).status, 403);
    assert.equal((await post(init, { Authorization: `Bearer ${h.ADMIN}` })).status !== 401, true);
    // the admin's session above is the one sessions_max allows: end it first
    r = await post(init);
    assert.equal(r.status, 503, 'sessions_max: 1 is taken by the admin session');
    assert.equal((await r.json()).error.code, -32000);
    await h.until(() => /started/.test(daemon.stderr()), 5000, 'first session');
    const first = daemon.stderr().match(/mcp session ([0-9a-f]{8})/)[1];
    void first;
    // unknown server, missing and unknown session ids, wrong method
    assert.equal((await fetch(`${daemon.base}/mcp/nope`, { method: 'POST', body: '{}' })).status, 404);
    r = await post({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    assert.equal(r.status, 400);
    assert.deepEqual((await r.json()).id, 2);
    r = await post({ jsonrpc: '2.0', id: 3, method: 'tools/list' }, { 'Mcp-Session-Id': 'f'.repeat(32) });
    assert.equal(r.status, 404);
    assert.equal((await post('{"jsonrpc":"2.0",', { 'Mcp-Session-Id': 'f'.repeat(32) })).status, 400);
    assert.equal((await post('[{"jsonrpc":"2.0","id":1,"method":"ping"}]')).status, 400);
    r = await fetch(url, { method: 'PUT', headers: { Authorization: 'Bearer agent-key' } });
    assert.equal(r.status, 405);
    assert.equal(r.headers.get('allow'), 'GET, POST, DELETE');
  } finally {
    await daemon.stop();
  }
  // A fresh daemon: a whole session by hand.
  const dir2 = h.tempDir('http-surface2');
  const daemon2 = await h.startServe(dir2, config(dir2, '  sessions_max: 1\n  message_size_max_bytes: 65536\n'));
  const url2 = `${daemon2.base}/mcp/everything`;
  const post2 = (body, headers = {}) => fetch(url2, {
    method: 'POST', body: JSON.stringify(body),
    headers: { Authorization: 'Bearer agent-key', Accept: 'application/json, text/event-stream', ...headers },
  });
  try {
    let r = await post2(init);
    assert.equal(r.status, 200);
    const session = r.headers.get('mcp-session-id');
    assert.match(session, /^[0-9a-f]{32}$/);
    assert.equal(r.headers.get('content-type'), 'application/json');
    assert.equal((await r.json()).result.serverInfo.name.length > 0, true);
    r = await post2({ jsonrpc: '2.0', method: 'notifications/initialized' }, { 'Mcp-Session-Id': session });
    assert.equal(r.status, 202);
    assert.equal(await r.text(), '');
    // the JSON reply to a call is the server's own line, byte for byte
    r = await post2({ jsonrpc: '2.0', id: 'raw-1', method: 'tools/call', params: { name: 'echo', arguments: { message: 'bytes ✓' } } },
      { 'Mcp-Session-Id': session });
    const body = await r.text();
    const tap = h.readTap(path.join(dir2, 'server.tap'));
    assert.equal(body, tap.filter((e) => e.dir === 'out').map((e) => e.line).find((l) => l.includes('"raw-1"')));
    // bad bytes and oversized messages are answered in JSON-RPC shape, never relayed
    const raw = (body) => fetch(url2, { method: 'POST', body,
      headers: { Authorization: 'Bearer agent-key', Accept: 'application/json, text/event-stream', 'Mcp-Session-Id': session } });
    r = await raw(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]));
    assert.equal(r.status, 400);
    assert.equal((await r.json()).error.code, -32700);
    r = await raw(JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'echo', arguments: { message: 'x'.repeat(70000) } } }));
    assert.equal(r.status, 413);
    r = await raw(JSON.stringify({ jsonrpc: '2.0', id: 'y'.repeat(300), method: 'ping' }));
    assert.equal(r.status, 400);
    // a session answers only the key that made it; a page from another origin is refused
    r = await post2({ jsonrpc: '2.0', id: 5, method: 'ping' }, { 'Mcp-Session-Id': session, Authorization: `Bearer ${h.ADMIN}` });
    assert.equal(r.status, 404);
    r = await post2({ jsonrpc: '2.0', id: 6, method: 'ping' }, { 'Mcp-Session-Id': session, Origin: 'http://evil.example' });
    assert.equal(r.status, 403);
    r = await post2({ jsonrpc: '2.0', id: 7, method: 'ping' }, { 'Mcp-Session-Id': session, Origin: daemon2.base });
    assert.equal(r.status, 200);
    // progress turns the reply into an SSE stream; each data: line is the server's line
    r = await post2({ jsonrpc: '2.0', id: 'raw-2', method: 'tools/call', params: { name: 'trigger-long-running-operation',
      arguments: { duration: 0.3, steps: 3 }, _meta: { progressToken: 'tok-2' } } }, { 'Mcp-Session-Id': session });
    assert.equal(r.headers.get('content-type'), 'text/event-stream');
    const data = (await r.text()).split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6));
    const serverLines = h.readTap(path.join(dir2, 'server.tap')).filter((e) => e.dir === 'out').map((e) => e.line)
      .filter((l) => l.includes('"tok-2"') || l.includes('"raw-2"'));
    assert.equal(data.length, 4, '3 progress notifications and the result');
    assert.deepEqual(data, serverLines);
    // the same id twice at once is refused on the second POST
    const slow = post2({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'trigger-long-running-operation', arguments: { duration: 3, steps: 1 } } },
      { 'Mcp-Session-Id': session });
    // the first is in flight once the daemon relayed it to the server
    await h.until(() => h.readTap(path.join(dir2, 'server.tap')).some((e) => e.dir === 'in' && JSON.parse(e.line).id === 9),
      10000, 'the first call to reach the server');
    r = await post2({ jsonrpc: '2.0', id: 9, method: 'ping' }, { 'Mcp-Session-Id': session });
    assert.match((await r.json()).error.message, /already in flight/);
    assert.equal((await slow).status, 200);
    // a second session is over sessions_max: 1
    r = await post2(init);
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('retry-after'), '5');
    // GET without Accept: text/event-stream
    r = await fetch(url2, { headers: { Authorization: 'Bearer agent-key', Accept: 'application/json', 'Mcp-Session-Id': session } });
    assert.equal(r.status, 406);
    // DELETE ends it; the id is then unknown, and a new session fits again
    r = await fetch(url2, { method: 'DELETE', headers: { Authorization: 'Bearer agent-key', 'Mcp-Session-Id': session } });
    assert.equal(r.status, 200);
    r = await post2({ jsonrpc: '2.0', id: 4, method: 'ping' }, { 'Mcp-Session-Id': session });
    assert.equal(r.status, 404);
    r = await post2(init);
    assert.equal(r.status, 200);
  } finally {
    await daemon2.stop();
  }
});
