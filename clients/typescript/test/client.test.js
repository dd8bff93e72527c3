// The TypeScript client against a real daemon: every route, refusal advice, and the
// hold-commit-release contract (success, throw, refusal, revocation mid-call, kill -9).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError, Metered, Refused, Revoked, Tollgate } from '../src/index.js';
import { daemon, waitFor, ADMIN } from './helpers.js';

const started = [];
after(() => Promise.all(started.map((d) => d.stop())));
async function fresh() { const d = await daemon(); started.push(d); return [d, d.client()]; }
const state = async (gate, path) => { const b = await gate.getBudget(path); return [b.spent_micros, b.held_micros]; };
const rejects = async (p, cls, check = () => {}) => { try { await p; } catch (e) { assert.ok(e instanceof cls, String(e)); check(e); return e; } assert.fail('did not throw'); };

test('every route has a method', async () => {
  const [d, gate] = await fresh();
  assert.equal((await gate.healthz()).status, 'ok');
  assert.match(await gate.metrics(), /tollgate_requests_total/);
  await gate.putBudget('t/new', { limit_micros: 5000000, window: 'day' });
  await gate.patchBudget('t/new', { limit: '6.00' });
  assert.equal((await gate.getBudget('t/new')).limit_micros, 6000000);
  assert.ok((await gate.budgets('t/')).budgets.some((b) => b.path === 't/new'));
  await gate.freeze('t/new');
  await rejects(gate.reserve({ budget: 't/new', amount_micros: 1 }), Refused, (e) => assert.equal(e.reason, 'frozen'));
  await gate.unfreeze('t/new');
  assert.equal(typeof await gate.history('t/new'), 'object');
  await rejects(gate.putBudget('t/history'), ApiError, (e) => assert.equal(e.code, 'reserved_name'));
  await gate.deleteBudget('t/new');
  await rejects(gate.getBudget('t/new'), ApiError, (e) => assert.equal(e.status, 404));

  const h = await gate.reserve({ budget: 't/a', amount_micros: 300000, tool: 'web_search' });
  assert.equal(h.class, 'low');
  assert.equal((await gate.getHold(h.hold_id)).cancel_requested, false);
  assert.equal((await gate.commit(h.hold_id, { actual_micros: 250000 })).charged_micros, 250000);
  const h2 = await gate.reserve({ budget: 't/a', amount: '0.10' });
  await gate.release(h2.hold_id);
  await gate.record({ budget: 't/a', cost_micros: 5, tool: 'lookup' });
  const b = await gate.batch([{ op: 'hold', body: { budget: 't/a', amount_micros: 7 } }, { op: 'charge', body: { budget: 't/a', cost_micros: 3 } }]);
  assert.deepEqual(b.results.map((r) => r.status), [200, 200]);
  assert.deepEqual((await gate.allCharges('t')).map((r) => r.cost_micros).sort((x, y) => x - y), [3, 5, 250000]);
  const page = await gate.events({ since: 0, limit: 1000 });
  assert.ok(Array.isArray(page.events) && 'next' in page);
  assert.ok(Array.isArray((await gate.failedNotifications()).failed));

  const made = await gate.createKey({ name: 'bot', role: 'agent', scope: 't/a' });
  const bot = new Tollgate({ url: d.base, key: made.secret, retryForMs: 500 });
  assert.ok((await bot.reserve({ budget: 't/a', amount_micros: 1 })).granted);
  assert.ok((await gate.keys()).keys.some((k) => k.name === 'bot'));
  const rotated = (await gate.rotateKey('bot')).secret;
  await rejects(bot.reserve({ budget: 't/a', amount_micros: 1 }), ApiError, (e) => assert.equal(e.status, 401));
  assert.ok((await new Tollgate({ url: d.base, key: rotated }).reserve({ budget: 't/a', amount_micros: 1 })).granted);
  await gate.deleteKey('bot');
  assert.equal((await gate.reload()).applied, true);
  assert.throws(() => new Tollgate({ url: 'ftp://x' }), TypeError);
});

test('a refusal carries its advice; bad input is a clear error; keys replay', async () => {
  const [, gate] = await fresh();
  await rejects(gate.reserve({ budget: 't/b', amount_micros: 11000000 }), Refused, (e) => {
    assert.equal(e.reason, 'ceiling'); assert.equal(e.budget, 't/b'); assert.equal(e.maxAmountMicros, 10000000);
  });
  await rejects(gate.reserve({ budget: 't/a', amount_micros: -5 }), ApiError, (e) => assert.equal(e.code, 'invalid_field'));
  const a = await gate.reserve({ budget: 't/a', amount_micros: 1000, idempotency_key: 'same' });
  const b = await gate.reserve({ budget: 't/a', amount_micros: 1000, idempotency_key: 'same' });
  assert.equal(a.hold_id, b.hold_id); assert.equal(b.replayed, true);
});

test('run: success commits the actual cost, a throw releases, a refusal runs nothing', async () => {
  const [, gate] = await fresh();
  const value = await gate.run(async (hold) => {
    assert.deepEqual(await state(gate, 't/a'), [0, 500000]);
    hold.actual_micros = 123456;
    return 'done';
  }, { budget: 't/a', amount_micros: 500000, tool: 'web_search' });
  assert.equal(value, 'done');
  assert.deepEqual(await state(gate, 't/a'), [123456, 0]);
  await rejects(gate.run(() => { throw new RangeError('tool failed'); }, { budget: 't/a', amount_micros: 400000 }), RangeError);
  assert.deepEqual(await state(gate, 't/a'), [123456, 0]);
  let ran = false;
  await rejects(gate.run(() => { ran = true; }, { budget: 't/b', amount_micros: 20000000 }), Refused);
  assert.equal(ran, false);
  assert.equal((await gate.allCharges('t')).length, 1);
  await gate.run(() => 'ok', { budget: 't/a', amount: '0.25' }); // decimal text: committed as held
  assert.deepEqual(await state(gate, 't/a'), [373456, 0]);
});

test('tool: price held, reported cost committed, class from the policy', async () => {
  const [, gate] = await fresh();
  const search = gate.tool(async (q) => new Metered(`results for ${q}`, 250000), { price: 1000000, budget: 't/a', name: 'search' });
  const refund = gate.tool(async (amount) => ({ refunded: amount, cost_micros: amount }), { price: (amount) => amount, budget: 't/a', name: 'refund_customer' });
  const broken = gate.tool(async () => { throw new Error('down'); }, { price: 2000000, budget: 't/a' });
  assert.equal(await search('cats'), 'results for cats');
  assert.deepEqual(await refund(300000), { refunded: 300000, cost_micros: 300000 });
  await rejects(broken(), Error);
  const rows = Object.fromEntries((await gate.allCharges('t')).map((r) => [r.tool, r]));
  assert.deepEqual(Object.keys(rows).sort(), ['refund_customer', 'search']);
  assert.equal(rows.search.cost_micros, 250000);
  assert.equal(rows.refund_customer.class, 'critical');
  assert.deepEqual(await state(gate, 't/a'), [550000, 0]);
});

test('revocation mid-call aborts the hold signal and ends run with Revoked', async () => {
  const [d, gate] = await fresh();
  const other = d.client();
  let signalled = 0;
  const started = Date.now();
  await rejects(gate.run(async (hold) => {
    hold.signal.addEventListener('abort', () => { signalled = Date.now(); });
    await other.record({ budget: 't/a', cost_micros: 60000000, force: true });
    await new Promise(() => {}); // the work: never ends by itself
  }, { budget: 't/a', amount_micros: 1000000, tool: 'web_search' }), Revoked);
  assert.ok(signalled > 0);
  console.log(`revocation reached the work after ${signalled - started} ms`);
  assert.deepEqual(await state(gate, 't/a'), [60000000, 0]);
  await rejects(gate.reserve({ budget: 't/a', amount_micros: 1, tool: 'web_search' }), Refused, (e) => assert.equal(e.reason, 'revoked'));
});

test('without an event stream (memory store) the open holds are polled for revocation', async () => {
  const d = await daemon({ store: 'memory' });
  started.push(d);
  const gate = d.client();
  const other = d.client();
  await rejects(gate.run(async (hold) => {
    await other.record({ budget: 't/a', cost_micros: 60000000, force: true });
    await new Promise((_, reject) => hold.signal.addEventListener('abort', () => reject(hold.signal.reason)));
  }, { budget: 't/a', amount_micros: 1000, tool: 'web_search' }), Revoked);
  assert.equal(gate.watcher.polling, true);
  assert.deepEqual(await state(gate, 't/a'), [60000000, 0]);
  gate.close();
});

test('the event stream resumes from an id', async () => {
  const [, gate] = await fresh();
  const first = (await gate.events({ since: 0 })).next;
  await gate.freeze('t/b');
  await gate.unfreeze('t/b');
  const seen = [];
  const controller = new AbortController();
  for await (const ev of gate.stream({ since: first, signal: controller.signal })) {
    seen.push(ev.data.detail);
    if (ev.data.detail === 'unfrozen') { controller.abort(); break; }
  }
  assert.deepEqual(seen.slice(-2), ['frozen', 'unfrozen']);
});

test('kill -9 of the daemon while clients retry charges each action once', async () => {
  const d = await daemon();
  started.push(d);
  const agents = 4, each = 30;
  let done = 0;
  const agent = async (n) => {
    const gate = d.client({ retryForMs: 30000 });
    for (let i = 0; i < each; i++) {
      await gate.run((hold) => { hold.actual_micros = 1000 + n * 100 + i; }, { budget: 't', amount_micros: 2000, tool: 'web_search' });
      done++;
    }
    gate.close();
  };
  const work = Promise.all(Array.from({ length: agents }, (_, n) => agent(n)));
  for (const killAt of [20, 60]) {
    await waitFor(() => done >= killAt, `${killAt} actions`, 60000);
    await d.stop('SIGKILL');
    await d.restart();
  }
  await work;
  const gate = d.client();
  const rows = await gate.allCharges('t');
  const expected = [];
  for (let n = 0; n < agents; n++) for (let i = 0; i < each; i++) expected.push(1000 + n * 100 + i);
  assert.deepEqual(rows.map((r) => r.cost_micros).sort((x, y) => x - y), expected.sort((x, y) => x - y));
  assert.equal(new Set(rows.map((r) => r.hold_id)).size, rows.length);
  assert.deepEqual(await state(gate, 't'), [expected.reduce((s, x) => s + x, 0), 0]);
});

void ADMIN;
