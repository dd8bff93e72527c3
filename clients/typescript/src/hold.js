// A hold for the length of some work: held before it, committed at the actual cost
// after, released if the work throws or its hold is revoked. The hold's idempotency keys
// are made once, so every retry of its hold, commit or release is the same request.
import { Revoked } from './errors.js';

export class Metered {
  // Return `new Metered(value, costMicros)` from a tool to report its actual cost.
  constructor(value, costMicros) { this.value = value; this.cost_micros = costMicros; }
}

// The actual cost a tool's result reports: Metered, or an object with integer cost_micros.
export function reportedCost(result) {
  const cost = result && typeof result === 'object' ? result.cost_micros : undefined;
  return Number.isSafeInteger(cost) ? cost : null;
}

export class Hold {
  constructor(gate, { budget, amount_micros, amount, tool, model, tokens, cls, ttl_ms, idempotency_key, watch = true, price_by_model = false }) {
    const base = idempotency_key ?? `tg-${crypto.randomUUID()}`;
    Object.assign(this, { gate, budget, amount_micros, amount, tool, model, tokens, cls, ttl_ms, watch, price_by_model });
    this.keys = { hold: base, commit: `${base}:c`, release: `${base}:r` };
    this.id = null;
    this.actual_micros = null;
    this.tokens_in = undefined;
    this.tokens_out = undefined;
    this.controller = new AbortController();
    this.signal = this.controller.signal; // aborted (reason: Revoked) when the hold is revoked
    this.charge = null;
  }

  get cancelled() { return this.signal.aborted; }

  check() { if (this.signal.aborted) throw this.signal.reason; }

  cancel() { if (!this.signal.aborted) this.controller.abort(new Revoked(this.id, this.budget)); }

  async open() {
    this.answer = await this.gate.reserve({
      budget: this.budget, amount_micros: this.amount_micros, amount: this.amount, tokens: this.tokens,
      tool: this.tool, model: this.model, class: this.cls, ttl_ms: this.ttl_ms, idempotency_key: this.keys.hold,
    });
    this.id = this.answer.hold_id;
    if (this.watch) await this.gate.watcher.add(this);
    return this;
  }

  async commit({ actual_micros, model } = {}) {
    this.gate.watcher.remove(this);
    if (actual_micros === undefined && model === undefined) {
      if (this.actual_micros !== null) actual_micros = this.actual_micros;
      else if (this.model && this.tokens_in !== undefined && this.price_by_model) model = this.model;
      else actual_micros = this.amount_micros;
    }
    // A hold made with `amount` (decimal text) commits that text when nothing else is said.
    const actual = actual_micros === undefined && model === undefined ? this.amount : undefined;
    this.charge = await this.gate.commit(this.id, {
      actual_micros, actual, model, tokens_in: this.tokens_in, tokens_out: this.tokens_out, idempotency_key: this.keys.commit,
    });
    return this.charge;
  }

  async release() {
    this.gate.watcher.remove(this);
    return this.gate.release(this.id, { idempotency_key: this.keys.release });
  }
}

// Runs fn(hold) under a hold. A revocation aborts hold.signal and, if fn is still
// running, ends run() with Revoked at once (fn should stop on the signal).
export async function runUnderHold(gate, fn, options) {
  const hold = new Hold(gate, options);
  await hold.open();
  let result;
  try {
    const revoked = new Promise((_, reject) => {
      if (hold.signal.aborted) reject(hold.signal.reason);
      hold.signal.addEventListener('abort', () => reject(hold.signal.reason), { once: true });
    });
    revoked.catch(() => {});
    result = await Promise.race([Promise.resolve().then(() => fn(hold)), revoked]);
    hold.check();
  } catch (e) {
    await hold.release().catch(() => {}); // the hold expires at its TTL; the work's error matters more
    throw e;
  }
  const cost = reportedCost(result);
  if (cost !== null) hold.actual_micros = cost;
  await hold.commit();
  return result instanceof Metered ? result.value : result;
}
