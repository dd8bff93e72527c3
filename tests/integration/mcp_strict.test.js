// The MCP gateway items of issue 14: a tool the server never listed is refused without a
// charge (stdio and HTTP, with or without a listing first); `tollgate mcp` takes the
// server's command without a literal `--`; a 401 from /mcp/{name} says how to
// authenticate (WWW-Authenticate: Bearer, with the protected-resource metadata); SIGHUP
// re-reads the `mcp:` section; and a session's GET stream is resumable with Last-Event-ID.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./mcp_http_helpers.js');

const tools = `  tools:
    "echo": {cost: "0.25", class: low}
    "*": "0.05"
`;

test('stdio: `tollgate mcp` without `--`; an unlisted tool is refused and costs nothing', async () => {
  const dir = h.tempDir('mcp-unlisted');
  const g = await h.startGateway({
    dir, budget: 'acme/agent', server: h.servers.everything, taps: true, noDashes: true,
    config: `budgets:\n  - {path: acme, limit: "100.00"}\n  - {path: acme/agent, limit: "10.00"}\nmcp:\n${tools}`,
  });
  try {
    // No tools/list first: the gateway asks the server itself, and the agent never sees it.
    const unknown = await g.client.callTool({ name: 'no-such-tool', arguments: {} });
    assert.equal(unknown.isError, true);
    assert.equal(unknown._meta['tollgate/refusal'].reason, 'unlisted');
    assert.match(h.text(unknown), /does not list a tool of that name.*nothing was charged/);
    assert.equal(h.text(await g.client.callTool({ name: 'echo', arguments: { message: 'hi' } })), 'Echo: hi');
    const again = await g.client.callTool({ name: 'no-such-tool', arguments: {} });
    assert.equal(again._meta['tollgate/refusal'].reason, 'unlisted');
    const agentSaw = h.readTap(path.join(dir, 'agent.tap')).filter((e) => e.dir === 'out');
    assert.ok(!agentSaw.some((e) => e.line.includes('tollgate/tools-list')), 'the own listing stays inside');
    const serverSaw = h.readTap(path.join(dir, 'server.tap')).filter((e) => e.dir === 'in').map((e) => JSON.parse(e.line));
    assert.ok(!serverSaw.some((m) => m.method === 'tools/call' && m.params.name === 'no-such-tool'), 'never relayed');
    assert.equal(serverSaw.filter((m) => m.method === 'tools/list').length, 1, 'one listing by the gateway');
  } finally {
    await g.client.close();
  }
  const charges = h.sql(path.join(dir, 'ledger.db'), 'select tool, cost_micros from charges order by id');
  assert.deepEqual(charges, [{ tool: 'echo', cost_micros: 250000 }], 'only the call that ran is charged');
});

const httpConfig = (dir, extra = '') => `
budgets:
  - {path: acme, limit: "100.00"}
  - {path: acme/agent, limit: "10.00"}
keys:
  - {name: agent, sha256: "${h.sha('agent-key')}", role: agent, scope: acme/agent}
mcp:
${tools}  servers:
${h.serverEntry('everything', h.servers.everything, 'acme/agent', '', path.join(dir, 'server.tap'))}${extra}`;

test('HTTP: an unlisted tool is refused without a charge, listed or not', async () => {
  const dir = h.tempDir('mcp-http-unlisted');
  const daemon = await h.startServe(dir, httpConfig(dir));
  try {
    const a = await h.connect(daemon.base, 'everything', { key: 'agent-key' });
    const refused = await a.client.callTool({ name: 'no-such-tool', arguments: {} });
    assert.equal(refused._meta['tollgate/refusal'].reason, 'unlisted');
    assert.ok((await a.client.listTools()).tools.some((t) => t.name === 'echo'));
    const listed = await a.client.callTool({ name: 'also-missing', arguments: {} });
    assert.equal(listed._meta['tollgate/refusal'].reason, 'unlisted');
    assert.equal(h.text(await a.client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } })).includes('3'), true);
    const rows = await h.until(() => {
      const r = h.sql(daemon.database, 'select tool, cost_micros from charges order by id');
      return r.length >= 1 && r;
    }, 5000, 'the charge on disk');
    assert.deepEqual(rows, [{ tool: 'get-sum', cost_micros: 50000 }]);
    const budget = await daemon.call('GET', '/v1/budgets/acme/agent');
    assert.equal(budget.json.spent_micros, 50000);
    assert.equal(budget.json.held_micros, 0);
    await a.client.close();
  } finally {
    await daemon.stop();
  }
});

test('HTTP: a 401 says how to authenticate (WWW-Authenticate and the resource metadata)', async () => {
  const dir = h.tempDir('mcp-http-401');
  const daemon = await h.startServe(dir, httpConfig(dir));
  const init = { jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } };
  const post = (headers) => fetch(`${daemon.base}/mcp/everything`, { method: 'POST', body: JSON.stringify(init),
    headers: { Accept: 'application/json, text/event-stream', ...headers } });
  try {
    let r = await post({});
    assert.equal(r.status, 401);
    const challenge = r.headers.get('www-authenticate');
    assert.match(challenge, /^Bearer realm="tollgate", error_description="send Authorization: Bearer/);
    assert.doesNotMatch(challenge, /error="/, 'no error code when no key was sent (RFC 6750)');
    const metadataUrl = challenge.match(/resource_metadata="([^"]+)"/)[1];
    assert.equal(metadataUrl, `${daemon.base}/.well-known/oauth-protected-resource/mcp/everything`);
    assert.match((await r.json()).error.message, /Authorization: Bearer/);
    r = await post({ Authorization: 'Bearer not-a-key' });
    assert.equal(r.status, 401);
    assert.match(r.headers.get('www-authenticate'), /error="invalid_token", error_description="unknown key/);
    // The metadata needs no key, and names the resource the client dialed.
    r = await fetch(metadataUrl);
    assert.equal(r.status, 200);
    const metadata = await r.json();
    assert.equal(metadata.resource, `${daemon.base}/mcp/everything`);
    assert.deepEqual(metadata.bearer_methods_supported, ['header']);
    assert.equal(metadata.authorization_servers, undefined, 'keys are not issued by OAuth');
    r = await fetch(`${daemon.base}/.well-known/oauth-protected-resource/mcp/nope`);
    assert.equal(r.status, 404);
    // The right key still works, and a 403 (scope) is not a 401.
    r = await post({ Authorization: 'Bearer agent-key' });
    assert.equal(r.status, 200);
  } finally {
    await daemon.stop();
  }
});

test('HTTP: SIGHUP re-reads mcp: prices, new servers, removed servers', async () => {
  const dir = h.tempDir('mcp-http-reload');
  const daemon = await h.startServe(dir, httpConfig(dir));
  try {
    const a = await h.connect(daemon.base, 'everything', { key: 'agent-key' });
    await a.client.callTool({ name: 'echo', arguments: { message: 'old price' } });
    assert.equal((await daemon.call('GET', '/v1/budgets/acme/agent')).json.spent_micros, 250000);
    // echo costs 0.50 now, and a second server is served.
    const second = h.serverEntry('second', h.servers.everything, 'acme/agent');
    fs.writeFileSync(daemon.configFile, fs.readFileSync(daemon.configFile, 'utf8')
      .replace('"echo": {cost: "0.25"', '"echo": {cost: "0.50"') + second);
    daemon.child.kill('SIGHUP');
    await h.until(() => /reloaded/.test(daemon.stderr()), 5000, 'the reload');
    await a.client.callTool({ name: 'echo', arguments: { message: 'new price' } });
    assert.equal((await daemon.call('GET', '/v1/budgets/acme/agent')).json.spent_micros, 750000,
      'the open session is charged the new price');
    const b = await h.connect(daemon.base, 'second', { key: 'agent-key' });
    assert.equal(h.text(await b.client.callTool({ name: 'echo', arguments: { message: 'x' } })), 'Echo: x');
    // A bad mcp: section refuses the whole reload.
    const good = fs.readFileSync(daemon.configFile, 'utf8');
    fs.writeFileSync(daemon.configFile, good.replace('sessions_max', 'sessions_maks') + '  bogus_key: 1\n');
    daemon.child.kill('SIGHUP');
    await h.until(() => /reload refused/.test(daemon.stderr()), 5000, 'the refusal');
    assert.equal(h.text(await b.client.callTool({ name: 'echo', arguments: { message: 'y' } })), 'Echo: y');
    // 'second' leaves the file: its session ends and its route is gone.
    fs.writeFileSync(daemon.configFile, good.replace(second, ''));
    daemon.child.kill('SIGHUP');
    await h.until(() => (daemon.stderr().match(/reloaded/g) || []).length >= 2, 5000, 'the second reload');
    await assert.rejects(b.client.callTool({ name: 'echo', arguments: { message: 'z' } }), /no MCP server of that name/);
    const r = await fetch(`${daemon.base}/mcp/second`, { method: 'POST', body: '{}',
      headers: { Authorization: 'Bearer agent-key' } });
    assert.equal(r.status, 404);
    assert.equal(h.text(await a.client.callTool({ name: 'echo', arguments: { message: 'still' } })), 'Echo: still');
    await a.client.close();
  } finally {
    await daemon.stop();
  }
});

// Reads SSE events from a fetch response as they come: {events, done}.
function readEvents(response) {
  const events = [];
  let buffer = '';
  const reader = response.body.getReader();
  const done = (async () => {
    for (;;) {
      let chunk;
      try { chunk = await reader.read(); } catch { return; }
      if (chunk.done) return;
      buffer += Buffer.from(chunk.value).toString('utf8');
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const id = block.match(/^id: (\d+)$/m);
        const data = block.match(/^data: (.*)$/m);
        if (data) events.push({ id: id ? Number(id[1]) : null, message: JSON.parse(data[1]) });
      }
    }
  })();
  return { events, done, cancel: () => reader.cancel().catch(() => {}) };
}

test('HTTP: the GET stream is resumable with Last-Event-ID; nothing lost, nothing twice', async () => {
  const dir = h.tempDir('mcp-http-resume');
  const daemon = await h.startServe(dir, httpConfig(dir));
  const url = `${daemon.base}/mcp/everything`;
  const base = { Authorization: 'Bearer agent-key', Accept: 'application/json, text/event-stream' };
  const post = async (body, session) => fetch(url, { method: 'POST', body: JSON.stringify(body),
    headers: { ...base, ...(session ? { 'Mcp-Session-Id': session } : {}) } });
  const open = (session, last) => {
    const controller = new AbortController();
    const response = fetch(url, { signal: controller.signal,
      headers: { ...base, Accept: 'text/event-stream', 'Mcp-Session-Id': session, ...(last !== undefined ? { 'Last-Event-ID': String(last) } : {}) } });
    return { response, abort: () => controller.abort() };
  };
  // Freezing the budget withdraws every tool, unfreezing lists them again: one
  // notifications/tools/list_changed on the GET stream each time.
  const toggle = async (verb) => assert.equal((await daemon.call('POST', `/v1/budgets/acme/agent/${verb}`)).status, 200);
  try {
    let r = await post({ jsonrpc: '2.0', id: 1, method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } });
    const session = r.headers.get('mcp-session-id');
    await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, session);
    r = await post({ jsonrpc: '2.0', id: 2, method: 'tools/list' }, session);
    assert.equal(r.status, 200);
    await r.text();

    // Ids are the session's: every GET-stream message has one (the server may send its own
    // list_changed too, so the test reads ids, not counts).
    const consecutive = (events, after) => events.every((e, i) => e.id === after + 1 + i);
    const first = open(session);
    const a = readEvents(await first.response);
    await toggle('freeze');
    await h.until(() => a.events.some((e) => e.message.method === 'notifications/tools/list_changed'), 5000,
      'the first list_changed');
    assert.ok(a.events.length > 0 && consecutive(a.events, 0), JSON.stringify(a.events));
    const seen = a.events[a.events.length - 1].id;
    first.abort();
    a.cancel();
    // While no stream is open (or the daemon writes into the dead one): two more messages.
    // The daemon logs each list_changed as it queues it for the stream.
    const queued = () => (daemon.stderr().match(/: list_changed$/gm) || []).length;
    const before = queued();
    await toggle('unfreeze');
    await toggle('freeze');
    await h.until(() => queued() >= before + 2, 5000, 'two list_changed queued while no stream is open');

    const second = open(session, seen);
    const b = readEvents(await second.response);
    await h.until(() => b.events.length >= 2, 5000, 'the replayed messages');
    // The replay is written at once when the stream opens: one live message after it is the
    // sign that it is complete, so a message sent twice would be in b.events by then.
    await toggle('unfreeze');
    await h.until(() => b.events.length >= 3, 5000, 'a live message after the replay');
    assert.ok(consecutive(b.events, seen), `everything after ${seen}, once: ${JSON.stringify(b.events)}`);
    const newest = b.events[b.events.length - 1].id;
    second.abort();
    b.cancel();

    // Resuming from the newest id: only what comes later.
    const third = open(session, newest);
    const c = readEvents(await third.response);
    await toggle('freeze');
    await h.until(() => c.events.length >= 1, 5000, 'a new message');
    assert.ok(consecutive(c.events, newest), JSON.stringify(c.events));
    third.abort();
    c.cancel();

    // An id this session never sent is refused with what to do.
    r = await fetch(url, { headers: { ...base, Accept: 'text/event-stream', 'Mcp-Session-Id': session, 'Last-Event-ID': String(newest + 50) } });
    assert.equal(r.status, 400);
    assert.match((await r.json()).error.message, /Last-Event-ID must be the id of a message this session's stream sent/);
    r = await fetch(url, { headers: { ...base, Accept: 'text/event-stream', 'Mcp-Session-Id': session, 'Last-Event-ID': 'abc' } });
    assert.equal(r.status, 400);
    await r.text();
  } finally {
    await daemon.stop();
  }
});
