'use strict';
// Retry an async operation with exponential backoff and full jitter.
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function retry(fn, { attempts = 5, baseMs = 100, capMs = 10_000, signal } = {}) {
  let lastError;
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (signal?.aborted) throw new DOMException('aborted', 'AbortError');
    try {
      return await fn(attempt);
    } catch (err) {
      lastError = err;
      if (err?.status && err.status < 500 && err.status !== 429) throw err;
      const ceiling = Math.min(capMs, baseMs * 2 ** attempt);
      await sleep(Math.floor(Math.random() * ceiling));
    }
  }
  throw new AggregateError([lastError], `gave up after ${attempts} attempts`);
}

export class Meter {
  #counts = new Map();
  add(key, n = 1) { this.#counts.set(key, (this.#counts.get(key) ?? 0) + n); return this; }
  get top() { return [...this.#counts].sort(([, a], [, b]) => b - a).slice(0, 10); }
  toJSON() { return Object.fromEntries(this.#counts); }
}

const meter = new Meter();
retry(async (i) => { meter.add(`try:${i}`); if (i < 2) throw Object.assign(new Error('flaky'), { status: 503 }); return 'ok'; })
  .then((v) => console.log(v, JSON.stringify(meter), meter.top))
  .catch(console.error);
