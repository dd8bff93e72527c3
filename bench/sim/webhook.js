// A webhook receiver for the daemon's notify sink (docs/notifications.md): records
// every event of every message with the time it arrived, to measure notification
// latency end to end (event time -> POST received).
'use strict';
const http = require('node:http');
const { performance } = require('node:perf_hooks');

// Resolves to {url, received: [{id, kind, budget, class, time_ms, received_ms, urgency}], close}.
function startReceiver() {
  const received = [];
  const server = http.createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c) => { text += c; });
    req.on('end', () => {
      const at = performance.timeOrigin + performance.now();
      try {
        const body = JSON.parse(text);
        for (const e of body.events || []) {
          received.push({ id: e.id, kind: e.kind, budget: e.budget, class: e.class, time_ms: e.time_ms,
            received_ms: at, urgency: body.urgency });
        }
      } catch { /* a body that is not JSON is counted as nothing */ }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{}');
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const url = `http://127.0.0.1:${server.address().port}/hook`;
      resolve({ url, received, close: () => new Promise((r) => server.close(r)) });
    });
  });
}

module.exports = { startReceiver };
