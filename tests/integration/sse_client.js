// A server-sent event client for the daemon's tests (GET /v1/events/stream), on node's http:
// events with an id as {id, event, data} in `events`, those without one in `others`,
// comments counted.
'use strict';
const http = require('node:http');

class SseClient {
  constructor(base, url, headers = {}) {
    this.events = [];
    this.others = [];
    this.comments = [];
    this.ended = false;
    this.status = null;
    this.buffer = '';
    this.opened = new Promise((resolve, reject) => {
      this.request = http.get(base + url, { headers, agent: false }, (res) => {
        this.status = res.statusCode;
        this.headers = res.headers;
        res.setEncoding('utf8');
        res.on('data', (chunk) => this.feed(chunk));
        res.on('end', () => { this.ended = true; });
        res.on('error', () => { this.ended = true; });
        resolve(this);
      });
      this.request.on('error', (e) => { this.ended = true; reject(e); });
    });
  }

  feed(chunk) {
    this.buffer += chunk;
    let at;
    while ((at = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, at);
      this.buffer = this.buffer.slice(at + 2);
      const event = {};
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) this.comments.push(line);
        else if (line.startsWith('id: ')) event.id = Number(line.slice(4));
        else if (line.startsWith('event: ')) event.event = line.slice(7);
        else if (line.startsWith('data: ')) event.data = JSON.parse(line.slice(6));
      }
      if (event.id !== undefined) this.events.push(event);
      else if (event.event !== undefined) this.others.push(event); // e.g. `closed`: no id
    }
  }

  ids() { return this.events.map((e) => e.id); }
  close() { this.request.destroy(); }
}

module.exports = { SseClient };
