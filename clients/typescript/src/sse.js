// The event stream (GET /v1/events/stream) as an async iterator of events, over fetch.
// A dropped connection is reopened with Last-Event-ID = the last id received: the daemon
// sends every event after it, so nothing is missed or repeated.
import { ApiError } from './errors.js';
import { answer } from './transport.js';

export async function* eventStream(transport, { since, kinds, budgets, severity, signal, reconnect = true, onOpen } = {}) {
  const query = new URLSearchParams();
  if (kinds) query.set('kinds', kinds.join(','));
  if (budgets) query.set('budgets', budgets.join(','));
  if (severity) query.set('severity', severity);
  let last = since;
  let delay = 50;
  while (!signal?.aborted) {
    let res;
    try {
      const headers = transport.headers({ Accept: 'text/event-stream' });
      if (last !== undefined && last !== null) headers['Last-Event-ID'] = String(last);
      res = await fetch(`${transport.base}/v1/events/stream${query.size ? `?${query}` : ''}`, { headers, signal });
    } catch (e) {
      if (signal?.aborted || !reconnect) return;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 1000);
      continue;
    }
    if (res.status !== 200) {
      const text = await res.text();
      if (res.status >= 500 && res.status !== 501 && reconnect) { await new Promise((r) => setTimeout(r, delay)); continue; }
      answer(res.status, text);
      throw new ApiError(res.status, 'stream', text);
    }
    delay = 50;
    onOpen?.();
    const decoder = new TextDecoder();
    let buffer = '', kind = 'message', data = [], id = null;
    try {
      for await (const chunk of res.body) {
        buffer += decoder.decode(chunk, { stream: true });
        const lines = buffer.split('\n');
        buffer = lines.pop();
        for (const raw of lines) {
          const line = raw.replace(/\r$/, '');
          if (line === '') {
            if (data.length) {
              if (id !== null) last = id;
              yield { id, kind, data: JSON.parse(data.join('\n')) };
              if (kind === 'closed') return;
            }
            kind = 'message'; data = []; id = null;
          } else if (!line.startsWith(':')) {
            const at = line.indexOf(':');
            const name = at < 0 ? line : line.slice(0, at);
            let value = at < 0 ? '' : line.slice(at + 1);
            if (value.startsWith(' ')) value = value.slice(1);
            if (name === 'event') kind = value;
            else if (name === 'data') data.push(value);
            else if (name === 'id') id = Number(value);
          }
        }
      }
    } catch (e) {
      if (signal?.aborted) return;
      if (!reconnect) throw e;
    }
    if (!reconnect) return;
  }
}
