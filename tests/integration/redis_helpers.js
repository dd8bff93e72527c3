// Shared by the daemon's Redis tests: a redis-server of the test's own on a free loopback
// port (nothing depends on a Redis already running), a minimal RESP client to talk to it,
// and a plain HTTP POST without retries (a lost answer must be seen as lost). Readiness
// is polled for, never slept for. Node's built-ins only.
'use strict';
const { execFile, spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const { tempDir, eventually } = require('./daemon_helpers');

const redisBinary = process.env.TG_REDIS_SERVER && !/NOTFOUND/.test(process.env.TG_REDIS_SERVER)
  ? process.env.TG_REDIS_SERVER : 'redis-server';

// A cluster node listens on its port + 10000 too (the cluster bus), so its port must be
// at most this; the kernel's ephemeral range (often up to 60999) gives higher ones at times.
const PORT_MAX = 55535;

async function freePort() {
  for (;;) {
    const port = await anyFreePort();
    if (port <= PORT_MAX) return port;
  }
}

function anyFreePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// One command over a fresh connection; resolves with the first reply line (status,
// error, integer) or bulk text, or null when the server does not answer within `ms`.
function command(port, args, ms = 1000) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    const done = (value) => { clearTimeout(timer); socket.destroy(); resolve(value); };
    const timer = setTimeout(() => done(null), ms);
    socket.on('error', () => done(null));
    socket.on('connect', () => {
      socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join('')}`);
    });
    socket.on('data', (chunk) => {
      text += chunk;
      const line = text.indexOf('\r\n');
      if (line < 0) return;
      if (text[0] !== '$') return done(text.slice(0, line));
      const length = Number(text.slice(1, line));
      if (length < 0) return done(null);
      if (text.length >= line + 2 + length) done(text.slice(line + 2, line + 2 + length));
    });
  });
}

// Starts redis-server with `args` (e.g. ['--appendonly', 'yes']) and `conf` lines written to
// its config file first (ACL `user` lines, which the command line cannot carry); resolves
// once it answers, rejects as soon as it exits. `kill()` is SIGKILL; `restart()` starts it
// again on the same port and directory (so an AOF is replayed).
async function startRedis(args = [], { auth, conf = [] } = {}) {
  const dir = tempDir('redis');
  const port = await freePort();
  const file = path.join(dir, 'redis.conf');
  fs.writeFileSync(file, conf.map((l) => `${l}\n`).join(''));
  const argv = [file, '--port', String(port), '--bind', '127.0.0.1', '--save', '',
    '--appendonly', 'no', '--dir', dir, ...args];
  const ping = auth ? ['AUTH', ...auth] : ['PING'];
  const server = {
    port, dir,
    url: `redis://127.0.0.1:${port}`,
    pause: () => server.child.kill('SIGSTOP'),
    resume: () => server.child.kill('SIGCONT'),
    command: (a, ms) => command(port, a, ms),
    kill: async () => {
      if (server.child.exitCode === null) { server.child.kill('SIGCONT'); server.child.kill('SIGKILL'); }
      await server.exited;
    },
    restart: async () => {
      const child = spawn(redisBinary, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (c) => { output += c; });
      child.stderr.on('data', (c) => { output += c; });
      server.child = child;
      server.exited = new Promise((resolve) => child.on('exit', resolve));
      const up = await eventually(async () => child.exitCode !== null ||
        /^\+(PONG|OK)/.test(await command(port, ping, 300) || ''), 20000);
      if (!up || child.exitCode !== null) throw new Error(`redis-server did not start: ${output}`);
    },
    stop: async () => {
      await server.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  await server.restart();
  return server;
}

// A POST that resolves {status, json} or {status: 0, error} when the connection fails: the
// caller decides what a lost answer means (retry with the same idempotency key).
function post(agent, port, url, body, key) {
  return new Promise((resolve) => {
    const data = JSON.stringify(body);
    const req = http.request({ port, host: '127.0.0.1', path: url, method: 'POST', agent,
      headers: { Authorization: `Bearer ${key}`, 'Content-Length': Buffer.byteLength(data) } }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => {
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON: asserted by the caller */ }
        resolve({ status: res.statusCode, json, text });
      });
      res.on('error', (error) => resolve({ status: 0, error }));
    });
    req.on('error', (error) => resolve({ status: 0, error }));
    req.end(data);
  });
}

function writeConfig(dir, name, text) {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

// The ledger-wide event stream the collectors fill (docs/multi-node.md, "Events"), and its
// kinds in the order of their numbers there (field `k`).
const EVENTS_STREAM = 'tg:{roots}:events';
const EVENT_KINDS = ['threshold_crossed', 'revoked', 'reinstated', 'denied', 'overrun',
  'hold_expired', 'window_rolled', 'budget_changed'];
const redisCli = process.env.TG_REDIS_CLI || 'redis-cli';

// A Lua script's answer as JSON (cjson inside Redis), read with redis-cli.
function redisJson(port, script, ...keys) {
  return new Promise((resolve, reject) => {
    execFile(redisCli, ['-h', '127.0.0.1', '-p', String(port), 'EVAL', script, String(keys.length),
      ...keys], { maxBuffer: 64 << 20 }, (error, stdout) => {
      if (error) return reject(error);
      resolve(JSON.parse(stdout));
    });
  });
}

// The ledger-wide stream (the truth every notification sink is owed): id -> {kind, budget,
// time_ms}.
async function ledgerEvents(port) {
  const entries = await redisJson(port,
    "local e = redis.call('XRANGE', KEYS[1], '-', '+') if #e == 0 then return '[]' end " +
    'return cjson.encode(e)', EVENTS_STREAM);
  const out = new Map();
  for (const [id, kv] of entries) {
    const f = {};
    for (let i = 0; i < kv.length; i += 2) f[kv[i]] = kv[i + 1];
    out.set(Number(id.split('-')[0]), { kind: EVENT_KINDS[Number(f.k)], budget: f.b, time_ms: Number(f.t) });
  }
  return out;
}

module.exports = { startRedis, freePort, post, writeConfig, redisBinary, redisCli, redisJson,
  ledgerEvents, EVENTS_STREAM, EVENT_KINDS };
