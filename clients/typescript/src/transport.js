// HTTP to the daemon over fetch. A request that gets no answer (refused, reset, the
// daemon killed) or a 5xx that may pass (500, 502, 503, 504) is sent again, unchanged,
// until retryForMs has passed: the idempotency key inside the unchanged body makes a
// retry of a hold, commit, release or charge the daemon already applied a replay.
import { ApiError, Refused, Unavailable } from './errors.js';

const TRANSIENT = new Set([500, 502, 503, 504]);

export function answer(status, text) {
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (status === 402) throw new Refused(body?.refusal ?? {});
  if (status >= 400) {
    const err = body?.error ?? {};
    throw new ApiError(status, err.code ?? `http_${status}`, err.message ?? String(text).slice(0, 200), body);
  }
  return body;
}

export class Transport {
  constructor({ url, key, retryForMs = 30000, timeoutMs = 30000, onRetry } = {}) {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new TypeError(`url must be http(s)://host:port, not ${url}`);
    }
    this.base = url.replace(/\/+$/, '');
    Object.assign(this, { key, retryForMs, timeoutMs, onRetry });
  }

  headers(extra = {}) {
    return { Accept: 'application/json', ...(this.key ? { Authorization: `Bearer ${this.key}` } : {}), ...extra };
  }

  async request(method, path, body, query, raw = false) {
    if (query) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null) q.set(k, String(v));
      if (q.size) path += `?${q}`;
    }
    const data = body === undefined ? undefined : JSON.stringify(body);
    const headers = this.headers(data === undefined ? {} : { 'Content-Type': 'application/json' });
    const deadline = Date.now() + this.retryForMs;
    let delay = 50;
    for (let attempt = 1; ; attempt++) {
      let error, res, text;
      try {
        res = await fetch(this.base + path, { method, headers, body: data, signal: AbortSignal.timeout(this.timeoutMs) });
        text = await res.text();
      } catch (e) {
        error = e; // no answer: send it again
      }
      if (res && text !== undefined) {
        if (!TRANSIENT.has(res.status)) return raw && res.status < 400 ? text : answer(res.status, text);
        try { answer(res.status, text); } catch (e) { error = e; }
      }
      if (Date.now() + delay > deadline) {
        if (error instanceof ApiError) throw error;
        throw new Unavailable(`tollgate at ${this.base} unreachable: ${error?.cause?.code ?? error?.message}`, error);
      }
      this.onRetry?.(attempt, error);
      await new Promise((r) => setTimeout(r, delay * (0.5 + Math.random() / 2)));
      delay = Math.min(delay * 2, 1000);
    }
  }
}
