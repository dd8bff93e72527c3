// Tollgate client: one method per route of docs/api.md, holds around work
// (gate.run), metered tools (gate.tool). Money is integer micros. Bodies use the API's
// own field names. Every hold, commit, release and charge carries an idempotency key:
// the caller's, or one made here for the call and reused on each of its retries.
import { Hold, Metered, reportedCost, runUnderHold } from './hold.js';
import { eventStream } from './sse.js';
import { Transport } from './transport.js';
import { Watcher } from './watch.js';

export { ApiError, Refused, Revoked, TollgateError, Unavailable } from './errors.js';
export { Hold, Metered, reportedCost };

const key = (given) => given ?? `tg-${crypto.randomUUID()}`;
const clean = (o) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null));
const budgetPath = (p) => {
  if (!p) throw new TypeError('a budget path is required');
  return p.split('/').map(encodeURIComponent).join('/');
};

export class Tollgate {
  constructor({ url, key: apiKey, budget, retryForMs, timeoutMs, onRetry } = {}) {
    const env = globalThis.process?.env ?? {};
    this.transport = new Transport({
      url: url ?? env.TOLLGATE_URL ?? 'http://127.0.0.1:8420', key: apiKey ?? env.TOLLGATE_KEY, retryForMs, timeoutMs, onRetry,
    });
    this.budget = budget;
    this.watcher = new Watcher(this);
  }

  call(method, path, body, query, raw) { return this.transport.request(method, path, body, query, raw); }

  // -- holds and charges
  reserve(body) { return this.call('POST', '/v1/holds', clean({ ...body, idempotency_key: key(body.idempotency_key) })); }
  getHold(id) { return this.call('GET', `/v1/holds/${Number(id)}`); }
  commit(id, body = {}) { return this.call('POST', `/v1/holds/${Number(id)}/commit`, clean({ ...body, idempotency_key: key(body.idempotency_key) })); }
  release(id, body = {}) { return this.call('POST', `/v1/holds/${Number(id)}/release`, clean({ ...body, idempotency_key: key(body.idempotency_key) })); }
  record(body) { return this.call('POST', '/v1/charges', clean({ ...body, idempotency_key: key(body.idempotency_key) })); }
  batch(operations) {
    return this.call('POST', '/v1/batch', {
      operations: operations.map((op) => ({ ...op, body: { ...(op.body ?? {}), idempotency_key: key(op.body?.idempotency_key) } })),
    });
  }
  charges(query) { return this.call('GET', '/v1/charges', undefined, query); }
  async allCharges(budget, query = {}) {
    const rows = [];
    for (let after; ;) {
      const page = await this.charges({ ...query, budget, after, limit: 1000 });
      rows.push(...page.charges);
      if (!page.charges.length || page.next === null || page.next === after) return rows;
      after = page.next;
    }
  }

  // -- budgets
  budgets(prefix) { return this.call('GET', '/v1/budgets', undefined, { prefix }); }
  getBudget(path) { return this.call('GET', `/v1/budgets/${budgetPath(path)}`); }
  putBudget(path, spec = {}) { return this.call('PUT', `/v1/budgets/${budgetPath(path)}`, spec); }
  patchBudget(path, spec = {}) { return this.call('PATCH', `/v1/budgets/${budgetPath(path)}`, spec); }
  deleteBudget(path) { return this.call('DELETE', `/v1/budgets/${budgetPath(path)}`); }
  freeze(path) { return this.call('POST', `/v1/budgets/${budgetPath(path)}/freeze`, {}); }
  unfreeze(path) { return this.call('POST', `/v1/budgets/${budgetPath(path)}/unfreeze`, {}); }
  history(path) { return this.call('GET', `/v1/budgets/${budgetPath(path)}/history`); }

  // -- events
  events(query = {}) { return this.call('GET', '/v1/events', undefined, query); }
  stream(options = {}) { return eventStream(this.transport, options); }
  failedNotifications(query = {}) { return this.call('GET', '/v1/notify/failed', undefined, query); }

  // -- keys, reload, health
  createKey(body) { return this.call('POST', '/v1/keys', body); }
  keys() { return this.call('GET', '/v1/keys'); }
  rotateKey(name) { return this.call('POST', `/v1/keys/${encodeURIComponent(name)}/rotate`, {}); }
  deleteKey(name) { return this.call('DELETE', `/v1/keys/${encodeURIComponent(name)}`); }
  reload() { return this.call('POST', '/v1/admin/reload', {}); }
  healthz() { return this.call('GET', '/healthz'); }
  metrics() { return this.call('GET', '/metrics', undefined, undefined, true); }

  // -- work under holds
  run(fn, options) { return runUnderHold(this, fn, { budget: this.budget, ...options }); }

  // A metered version of fn: each call holds `price` (micros, or a function of the
  // arguments), commits the cost the result reports (or the price), releases on throw.
  tool(fn, { price, budget, cls, name, ...rest }) {
    const tool = name ?? fn.name;
    const self = this;
    return async function metered(...args) {
      const amount = typeof price === 'function' ? price(...args) : price;
      return runUnderHold(self, (hold) => fn.call(this, ...args, hold),
        { ...rest, budget: budget ?? self.budget, amount_micros: amount, tool, cls });
    };
  }

  close() { this.watcher.close(); }
}

export { budgetGuard } from './guard.js';
