// Malformed HTTP framing gets a JSON error with the right status, never libevent's HTML
// page: a bad chunk size is 400 (not 413), two different Content-Length headers are
// refused, a NUL inside the Authorization value is refused (not cut, with the key before
// it taken), unknown methods and versions, folded or colon-less header lines, bodies
// past the limit from their Content-Length alone. Requests before a bad one on the same
// connection are answered first. A request's headers and body each have a deadline: a
// client sending a byte at a time is answered 408 and closed, and counted until then.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { sha, tempDir, startDaemon, eventually } = require('./daemon_helpers');

const dir = tempDir('http');
const configFile = path.join(dir, 'tollgate.yaml');
const AGENT = 'agent-secret';
fs.writeFileSync(configFile, `port: 0
store: {kind: memory}
limits: {body_size_max_bytes: 4096, header_size_max_bytes: 2048, header_timeout_s: 1, body_timeout_s: 1}
budgets:
  - {path: team, limit: "100.00"}
keys:
  - {name: bot, role: agent, scope: team, sha256: ${sha(AGENT)}}
`);

let d;
before(async () => { d = await startDaemon(configFile); });
after(() => d.stop('SIGKILL'));

// Sends raw bytes on a fresh connection; resolves with everything the daemon sent back
// once it closes (or after `wait` ms), and whether it closed.
function raw(bytes, { wait = 3000, chunks = null, gap = 0 } = {}) {
  return new Promise((resolve) => {
    const socket = net.connect(d.port, '127.0.0.1');
    let text = '';
    let closed = false;
    const timer = setTimeout(() => { socket.destroy(); resolve({ text, closed }); }, wait);
    socket.on('data', (c) => { text += c.toString('latin1'); });
    socket.on('error', () => {});
    socket.on('close', () => { closed = true; clearTimeout(timer); resolve({ text, closed }); });
    socket.on('connect', async () => {
      for (const piece of chunks || [bytes]) {
        if (socket.destroyed) break;
        socket.write(Buffer.from(piece, 'latin1'));
        if (gap) await new Promise((r) => setTimeout(r, gap));
      }
    });
  });
}

// The answers in `text`, parsed by Content-Length: [{status, head, json}].
function answers(text) {
  const out = [];
  let rest = text;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const head = rest.slice(0, end);
    const length = Number((head.match(/content-length: *(\d+)/i) || [0, 0])[1]);
    const body = rest.slice(end + 4, end + 4 + length);
    rest = rest.slice(end + 4 + length);
    let json = null;
    try { json = JSON.parse(body); } catch { /* not JSON */ }
    out.push({ status: Number(head.split(' ')[1]), head, json, body });
  }
  return out;
}

async function refusedWith(bytes, status, code) {
  const r = await raw(bytes);
  const all = answers(r.text);
  assert.equal(all.length, 1, `${JSON.stringify(bytes.slice(0, 60))}: ${r.text}`);
  const [a] = all;
  assert.equal(a.status, status, `${JSON.stringify(bytes.slice(0, 60))}: ${r.text}`);
  assert.match(a.head, /content-type: application\/json/i);
  assert.match(a.head, /connection: close/i);
  assert.equal(a.json.error.code, code, r.text);
  assert.equal(typeof a.json.error.message, 'string');
  assert.doesNotMatch(r.text, /<html|<HTML|<!DOCTYPE/);
  assert.ok(r.closed, 'the connection is closed after the error');
  return a.json.error.message;
}

const GET = 'GET /v1/budgets/team HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer admin-secret\r\n';

test('malformed framing: a JSON error with the right status, then the connection closes', async () => {
  assert.match(await refusedWith('POST /v1/holds HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
    400, 'bad_chunk'), /chunk size/);
  assert.match(await refusedWith('POST /v1/holds HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}',
    400, 'bad_request'), /two Content-Length headers/);
  assert.match(await refusedWith('GET /v1/budgets/team HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer admin-secret\0junk\r\n\r\n',
    400, 'bad_request'), /NUL byte in the value of header 'authorization'/);
  await refusedWith('FROB / HTTP/1.1\r\nHost: x\r\n\r\n', 501, 'not_implemented');
  await refusedWith('TRACE / HTTP/1.1\r\nHost: x\r\n\r\n', 405, 'method_not_allowed');
  await refusedWith('GET / HTTP/2.0\r\nHost: x\r\n\r\n', 505, 'version_not_supported');
  await refusedWith('GET /healthz\r\n\r\n', 400, 'bad_request');
  await refusedWith('GET http://x/healthz HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'bad_request');
  await refusedWith(`${GET}X-Folded: a\r\n b\r\n\r\n`, 400, 'bad_request');
  await refusedWith(`${GET}NoColonHere\r\n\r\n`, 400, 'bad_request');
  await refusedWith(`${GET}Bad Name: v\r\n\r\n`, 400, 'bad_request');
  await refusedWith('POST /v1/holds HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n', 400, 'bad_request');
  await refusedWith('POST /v1/holds HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n', 501, 'not_implemented');
  await refusedWith('POST /v1/holds HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 2\r\n\r\n{}', 417, 'expectation_failed');
  await refusedWith('POST /v1/holds HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2;ext=1\r\n{}\r\n0\r\n\r\n', 400, 'bad_chunk');
  // Past the limits: refused from the Content-Length or the running count, in JSON, at any
  // size (libevent's own caps, at twice the limit, are never reached).
  await refusedWith('POST /v1/holds HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n', 413, 'body_too_large');
  await refusedWith(`POST /v1/holds HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${'1000\r\n'}${'x'.repeat(4096)}\r\n1\r\nx\r\n`, 413, 'body_too_large');
  await refusedWith(`${GET}X-Pad: ${'p'.repeat(100000)}\r\n\r\n`, 431, 'headers_too_large');
  await refusedWith(`GET /${'a'.repeat(5000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 414, 'uri_too_long');
});

test('a NUL in the key is never the key before it', async () => {
  // Before, the value was cut at the NUL and "admin-secret" let in.
  const r = await raw(`GET /v1/keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer admin-secret\0\r\n\r\n`);
  assert.equal(answers(r.text)[0].status, 400);
});

test('good requests pass: chunked, Expect: 100-continue, pipelined, and a bad one last', async () => {
  const body = JSON.stringify({ budget: 'team', amount: '1' });
  const chunked = await raw(`POST /v1/holds HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${AGENT}\r\nTransfer-Encoding: chunked\r\n\r\n` +
    `5\r\n${body.slice(0, 5)}\r\n${(body.length - 5).toString(16)}\r\n${body.slice(5)}\r\n0\r\n\r\n`, { wait: 1500 });
  assert.equal(answers(chunked.text)[0].status, 200, chunked.text);
  // Expect: the headers alone, a 100 Continue, then the body.
  const expect = await new Promise((resolve) => {
    const socket = net.connect(d.port, '127.0.0.1');
    let text = '';
    socket.on('data', (c) => {
      text += c;
      if (/^HTTP\/1\.1 100 Continue\r\n\r\n$/.test(text)) socket.write(body);
      if (/\r\n\r\n\{.*\}\n$/s.test(text.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, ''))) { socket.destroy(); resolve(text); }
    });
    socket.write(`POST /v1/holds HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${AGENT}\r\nExpect: 100-continue\r\nContent-Length: ${body.length}\r\n\r\n`);
  });
  assert.match(expect, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK/);
  // Two good requests and a bad one in one write: two answers, then the error, then closed.
  const r = await raw(`${GET}\r\n${GET}\r\nGET /v1/budgets/team HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n`);
  const all = answers(r.text);
  assert.deepEqual(all.map((a) => a.status), [200, 200, 400], r.text);
  assert.equal(all[0].json.path, 'team');
  assert.ok(r.closed);
});

test('deadlines: a client sending its headers or body a byte at a time is answered 408 and closed', async () => {
  const metric = async (name) => Number(((await d.call('GET', '/metrics')).text.match(new RegExp(`^${name} (\\d+)$`, 'm')) || [])[1]);
  const before = await metric('tollgate_requests_timed_out_total');
  const open = await metric('tollgate_connections_open'); // this test's own, to /metrics
  // A byte every 200 ms never leaves the connection idle, but the headers take too long.
  const header = 'GET /v1/budgets/team HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(40);
  const slowHead = raw('', { chunks: header.split(''), gap: 100, wait: 6000 });
  const headCounted = await eventually(async () => (await metric('tollgate_connections_open')) > open, 2000);
  assert.ok(headCounted, 'the slow client is counted while it is connected');
  const head = await slowHead;
  const [a] = answers(head.text);
  assert.equal(a.status, 408, head.text);
  assert.equal(a.json.error.code, 'request_timeout');
  assert.match(a.json.error.message, /header_timeout_s \(1 s\)/);
  assert.ok(head.closed);
  // The body: headers at once, then the body a byte at a time.
  const start = `POST /v1/holds HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${AGENT}\r\nContent-Length: 200\r\n\r\n`;
  const slowBody = await raw('', { chunks: [start, ...'x'.repeat(200).split('')], gap: 50, wait: 6000 });
  const [b] = answers(slowBody.text);
  assert.equal(b.status, 408, slowBody.text);
  assert.match(b.json.error.message, /body_timeout_s/);
  assert.equal(await metric('tollgate_requests_timed_out_total'), before + 2);
  // Gone from the count once closed.
  assert.ok(await eventually(async () => (await metric('tollgate_connections_open')) === open, 3000));
});
