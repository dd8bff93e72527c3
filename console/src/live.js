// The live feed: the daemon's event stream (GET /v1/events/stream, server-sent events),
// read with fetch so the Authorization header goes along, resumed with Last-Event-ID after
// a drop; and new charges and holds, which are ledger rows rather than events, polled by
// id (`after`, an index range: cheap) every POLL_MS while the tab is visible. Either way
// a change shows within a second.
import { api, session } from './api.js';

const POLL_MS = 400;
const RETRY_MS = 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Splits SSE text into complete messages; returns [messages, rest].
export function parseSse(text) {
  const messages = [];
  const blocks = text.split(/\r?\n\r?\n/);
  const rest = blocks.pop();
  for (const block of blocks) {
    const message = { id: null, event: 'message', data: '' };
    for (const line of block.split(/\r?\n/)) {
      if (!line || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') message.id = value;
      else if (field === 'event') message.event = value;
      else if (field === 'data') message.data += (message.data ? '\n' : '') + value;
    }
    if (message.data || message.id) messages.push(message);
  }
  return [messages, rest];
}

export function startLive({ onEvent, onCharges, onHolds, onStatus }) {
  const controller = new AbortController();
  let stopped = false;
  let lastEventId = null;

  async function stream() {
    while (!stopped) {
      try {
        const headers = { Authorization: `Bearer ${session.key}`, Accept: 'text/event-stream' };
        if (lastEventId !== null) headers['Last-Event-ID'] = lastEventId;
        const res = await fetch('/v1/events/stream', { headers, signal: controller.signal });
        if (res.status === 501 || res.status === 401 || res.status === 403) {
          onStatus(res.status === 501 ? 'no event stream (memory store)' : 'event stream refused');
          return;
        }
        if (res.status !== 200) throw new Error(`status ${res.status}`);
        onStatus('live');
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          const [messages, rest] = parseSse(buffer);
          buffer = rest;
          for (const m of messages) {
            if (m.id !== null) lastEventId = m.id;
            if (m.event === 'closed') { onStatus('signed out: the key changed'); return; }
            let data = null;
            try { data = JSON.parse(m.data); } catch { continue; }
            if (m.event !== 'reset') onEvent(data);
          }
        }
        throw new Error('the stream ended');
      } catch (e) {
        if (stopped) return;
        onStatus('reconnecting…');
        await sleep(RETRY_MS);
      }
    }
  }

  // Polls `url` for rows with ids above the newest seen; the first read finds that id.
  async function poll(url, field, deliver) {
    let after = null;
    while (!stopped) {
      try {
        if (after === null) {
          after = 0;
          for (;;) {
            const page = await api('GET', `${url}?after=${after}&limit=1000`);
            after = page.next;
            if ((page[field] || []).length < 1000) break;
          }
        } else if (!document.hidden) {
          const page = await api('GET', `${url}?after=${after}&limit=1000`);
          if ((page[field] || []).length) {
            after = page.next;
            deliver(page[field]);
          }
        }
      } catch (e) {
        if (e.status === 501 || e.status === 403 || e.status === 401) return; /* no history kept */
        after = after === 0 ? null : after;
      }
      await sleep(POLL_MS);
    }
  }

  stream();
  poll('/v1/charges', 'charges', onCharges);
  poll('/v1/holds', 'holds', onHolds);
  return () => { stopped = true; controller.abort(); };
}
