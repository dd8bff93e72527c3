// Shared by the daemon's integration tests: start `tollgate serve` on a free loopback
// port with a config written to a temp folder, call its JSON API, run the CLI, read
// the SQLite file with the sqlite3 command. Node's built-ins only.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const binary = process.env.TG_BINARY || 'build/tollgate';
const sha = (s) => crypto.createHash('sha256').update(s).digest('hex');

function tempDir(name) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `tollgate-${name}-`));
}

// Starts the daemon; resolves once it prints its address. `extra.port` pins a port.
async function startDaemon(configFile, { admin = 'admin-secret', args = [], env = {} } = {}) {
  const child = spawn(binary, ['serve', '--config', configFile, ...args], {
    env: { ...process.env, TOLLGATE_ADMIN_KEY: admin, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c) => { stderr += c; });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  const base = await new Promise((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (chunk) => {
      text += chunk;
      const m = text.match(/listening on (http:\/\/[0-9.]+:\d+)/);
      if (m) resolve(m[1]);
    });
    child.on('exit', () => reject(new Error(`daemon exited before listening: ${stderr}`)));
  });
  const call = async (method, url, body, key = admin, raw) => {
    const headers = key ? { Authorization: `Bearer ${key}` } : {};
    const send = () => fetch(base + url, {
      method, headers,
      body: raw !== undefined ? raw : body === undefined ? undefined : JSON.stringify(body),
    });
    let res;
    try {
      res = await send();
    } catch (e) {
      // The daemon closes a keep-alive connection idle past request_timeout_s; a request
      // sent on it as it closes is lost. Browsers and HTTP clients send an idempotent
      // request again on a new connection then (RFC 9110 9.2.2): so does this helper, for
      // GET only, and only for a connection closed under it.
      const code = e.cause && e.cause.code;
      if (method !== 'GET' || !['UND_ERR_SOCKET', 'ECONNRESET'].includes(code)) throw e;
      res = await send();
    }
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, json, text, headers: res.headers };
  };
  const stop = async (signal = 'SIGTERM') => {
    if (child.exitCode === null) child.kill(signal);
    return exited;
  };
  return { child, base, port: Number(base.split(':').pop()), call, stop, exited, stderr: () => stderr };
}

// Runs the tollgate command asynchronously (so the daemon's pipes keep flowing).
function cli(args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(binary, args, { env: { ...process.env, ...env } });
    let stdout = '', stderr = '';
    child.stdout.on('data', (c) => { stdout += c; });
    child.stderr.on('data', (c) => { stderr += c; });
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

// Rows of a query on the SQLite file, through the sqlite3 command (JSON mode).
function sql(db, query) {
  const r = spawnSync('sqlite3', ['-json', db, query], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sqlite3: ${r.stderr}`);
  return r.stdout.trim() ? JSON.parse(r.stdout) : [];
}

// Polls fn until it returns a truthy value (or gives up after `ms`).
async function eventually(fn, ms = 2000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 10));
  }
}

// Polls fn like eventually, but gives up only when `progress()` (a count that grows while
// the awaited work goes on, e.g. events received) has not moved for `stallMs`: a slow
// build (TSan) on a busy machine may need minutes, a stuck one fails within stallMs.
async function eventuallyWhileMoving(fn, progress, stallMs = 10000) {
  let last = progress();
  let movedAt = Date.now();
  for (;;) {
    const value = await fn();
    if (value) return value;
    const now = progress();
    if (now !== last) {
      last = now;
      movedAt = Date.now();
    } else if (Date.now() - movedAt > stallMs) {
      return value;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

// A keep-alive HTTP/1.1 connection with one request at a time, answers parsed by
// Content-Length: enough to hold connections open and see exactly what is sent.
function connect(port, key = 'admin-secret') {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let buffer = '';
    let waiting = null;
    const closed = new Promise((r) => socket.on('close', r));
    const tryParse = () => {
      const end = buffer.indexOf('\r\n\r\n');
      if (!waiting || end < 0) return;
      const head = buffer.slice(0, end);
      const length = Number((head.match(/content-length: *(\d+)/i) || [0, 0])[1]);
      if (buffer.length < end + 4 + length) return;
      const body = buffer.slice(end + 4, end + 4 + length);
      buffer = buffer.slice(end + 4 + length);
      const status = Number(head.split(' ')[1]);
      const resolveAnswer = waiting;
      waiting = null;
      let json = null;
      try { json = JSON.parse(body); } catch { /* not JSON */ }
      resolveAnswer({ status, head, body, json });
    };
    socket.on('data', (chunk) => { buffer += chunk; tryParse(); });
    socket.on('error', () => {});
    socket.on('connect', () => resolve({
      socket, closed,
      ask(method, url, { headers = {}, body = '', as = key } = {}) {
        return new Promise((r) => {
          waiting = r;
          const lines = [`${method} ${url} HTTP/1.1`, 'Host: x', ...(as ? [`Authorization: Bearer ${as}`] : []),
            `Content-Length: ${Buffer.byteLength(body)}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
          socket.write(`${lines.join('\r\n')}\r\n\r\n${body}`);
        });
      },
    }));
    socket.on('error', reject);
  });
}

module.exports = { binary, sha, tempDir, startDaemon, cli, sql, eventually, eventuallyWhileMoving, connect };
