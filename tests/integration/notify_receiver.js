// A webhook receiver on loopback for the notification tests and bench/notify:
// node's own http server, recording every request with its receipt time
// (process.hrtime, CLOCK_MONOTONIC like the C side), checking the HMAC
// signature the way docs/notifications.md tells receivers to, and able to go
// down (close every connection) and come back up on the same port.
'use strict';
const http = require('node:http');
const crypto = require('node:crypto');

// The check a receiver makes: HMAC-SHA256(secret, "v1:" + timestamp + ":" + body) in hex,
// compared in constant time, and a timestamp within five minutes of now.
function verify(secret, headers, body) {
  const timestamp = headers['x-tollgate-timestamp'];
  const signature = headers['x-tollgate-signature'] || '';
  if (!timestamp || Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false;
  const expected = 'v1=' + crypto.createHmac('sha256', secret).update(`v1:${timestamp}:`).update(body).digest('hex');
  const a = Buffer.from(signature), b = Buffer.from(expected);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

class Receiver {
  constructor({ secret = null, delayMs = 0, port = 0 } = {}) {
    this.secret = secret;
    this.delayMs = delayMs;
    this.port = port;
    this.requests = [];   // {url, headers, text, json, receivedNs, valid}
    this.answer = 200;    // status to answer with; 503 to refuse while "up"
    this.refused = 0;     // requests answered with a status other than 200
    this.server = null;
  }

  start() {
    this.server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const receivedNs = process.hrtime.bigint();
        const raw = Buffer.concat(chunks);
        const text = raw.toString('utf8');
        let json = null;
        try { json = JSON.parse(text); } catch { json = null; }
        const valid = this.secret === null ? null : verify(this.secret, req.headers, raw);
        const reply = () => {
          if (this.answer !== 200) {
            this.refused++;
            res.writeHead(this.answer, { 'Retry-After': '0' }).end('busy');
            return;
          }
          this.requests.push({ url: req.url, headers: req.headers, text, json, receivedNs, valid });
          res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
        };
        if (this.delayMs > 0) setTimeout(reply, this.delayMs); else reply();
      });
    });
    this.server.keepAliveTimeout = 60000;
    return new Promise((resolve) => {
      this.server.listen(this.port, '127.0.0.1', () => {
        this.port = this.server.address().port;
        resolve(`http://127.0.0.1:${this.port}/hook`);
      });
    });
  }

  // Down: stop listening and drop every open connection, so the sender sees refusals.
  stop() {
    return new Promise((resolve) => {
      if (!this.server) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
      this.server = null;
    });
  }

  // Every event object received, in arrival order, each with its request's receipt time.
  events() {
    const out = [];
    for (const r of this.requests) {
      for (const e of (r.json && r.json.events) || []) out.push({ ...e, receivedNs: r.receivedNs });
    }
    return out;
  }
}

// Checks what a receiver got against the outbox (the events table, from `notify_driver dump`):
// every event arrived, as itself or inside a refusal summary of its budget ([id, last_id]);
// each budget's items arrived in id order (a repeat of an id already seen is a duplicate and
// is skipped); and a repeated id always names the same event. Returns counts, throws on a miss.
function checkDelivery(dump, items) {
  const byId = new Map();
  let duplicates = 0;
  for (const item of items) {
    const seen = byId.get(item.id);
    if (seen) {
      duplicates++;
      if (seen.kind !== item.kind || seen.budget !== item.budget) {
        throw new Error(`id ${item.id} arrived as two different events`);
      }
    } else {
      byId.set(item.id, item);
    }
  }
  const summaries = items.filter((i) => i.kind === 'denied' && i.last_id > i.id);
  for (const event of dump) {
    if (byId.has(event.id)) continue;
    const covered = event.kind === 'denied' && summaries.some(
      (s) => s.budget === event.budget && s.id <= event.id && event.id <= s.last_id);
    if (!covered) throw new Error(`event ${event.id} (${event.kind} on ${event.budget}) never arrived`);
  }
  const last = new Map();
  const firstSeen = new Set();
  for (const item of items) {
    if (firstSeen.has(item.id)) continue;
    firstSeen.add(item.id);
    const before = last.get(item.budget) || 0;
    if (item.id <= before) throw new Error(`budget ${item.budget}: ${item.id} arrived after ${before}`);
    last.set(item.budget, item.last_id || item.id);
  }
  return { events: dump.length, items: items.length, duplicates };
}

// Polls `condition` every 10 ms until it holds; throws after `timeoutMs` naming `what`.
// Tests wait for what they need to see, never for a fixed time: on a loaded machine
// the driver and the sender run late, and a fixed sleep then tests the wrong moment.
async function waitFor(condition, what, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

module.exports = { Receiver, verify, checkDelivery, waitFor };

// Runs tests/integration/notify_driver (TG_NOTIFY_DRIVER) and resolves with its exit code
// and output; `child` is there to kill it, `stderr()` reads what it has printed so far.
function runDriver(args) {
  const { spawn } = require('node:child_process');
  const binary = process.env.TG_NOTIFY_DRIVER || 'build/notify_driver';
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout.on('data', (c) => { stdout += c; });
  child.stderr.on('data', (c) => { stderr += c; });
  const done = new Promise((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done, stderr: () => stderr };
}

// The events table as the driver dumps it.
async function dumpEvents(db) {
  const { code, stdout, stderr } = await runDriver(['--db', db, 'dump']).done;
  if (code !== 0) throw new Error(`dump failed: ${stderr}`);
  return stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

module.exports.runDriver = runDriver;
module.exports.dumpEvents = dumpEvents;
