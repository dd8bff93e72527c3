// Per-request attribution, cost in the response and the spend log (docs/proxy.md,
// "Attribution", "Cost in the response", "Spend log"), through the daemon with the official
// `openai` and `@anthropic-ai/sdk` clients against the fake upstream.
//
// The promise tried hardest: an agent key never reaches a budget outside its scope. Each
// attack (a sibling's path, the parent, a path that only shares the scope's prefix, "..",
// encoded slashes, empty segments, an over-long path, two copies of the header, a budget
// made from a template by another key, a user that is not one segment) must be refused
// before anything is held, sent upstream or made in the ledger.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { OpenAI } = require('openai');
const { Anthropic } = require('@anthropic-ai/sdk');
const { sha, tempDir, startDaemon, eventually, cli, sql } = require('./daemon_helpers.js');
const { startFakeLlm } = require('../upstream/fake_llm.js');
const { proxyConfig, stopClean } = require('./proxy_helpers.js');

const SUPPORT = 'support-secret';
const SALES = 'sales-secret';
let fake, daemon, dir, db, openai, anthropic, sales;

test.before(async () => {
  fake = await startFakeLlm({ port: 0 });
  dir = tempDir('attribution');
  db = path.join(dir, 'tollgate.db');
  daemon = await startDaemon(proxyConfig(dir, 'tollgate', {
    fake,
    budgets: [
      '{path: acme, limit: "1000.00"}',
      '{path: acme/support, limit: "100.00", template: {limit: "1.00"}, children_max: 4}',
      '{path: acme/sales, limit: "100.00", template: {limit: "1.00"}, children_max: 4}',
      '{path: acme/supportx, limit: "100.00"}',
      '{path: acme/support/deep, limit: "5.00"}',
    ],
    keys: [
      `{name: support-bot, role: agent, scope: acme/support, sha256: ${sha(SUPPORT)}}`,
      `{name: sales-bot, role: agent, scope: acme/sales, sha256: ${sha(SALES)}}`,
    ],
    extra: 'proxy: {user_budgets: true}',
  }));
  openai = new OpenAI({ apiKey: SUPPORT, baseURL: `${daemon.base}/v1`, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: SUPPORT, baseURL: daemon.base, maxRetries: 0 });
  sales = new OpenAI({ apiKey: SALES, baseURL: `${daemon.base}/v1`, maxRetries: 0 });
});

test.after(async () => {
  await stopClean(daemon);
  await fake.close();
});

const chat = (extra = {}) => ({ model: 'gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }], ...extra });

// Every charge so far (the admin reads the whole ledger), once no hold is open.
async function allCharges(query = '') {
  await eventually(async () => (await daemon.call('GET', '/v1/budgets/acme')).json.held_micros === 0, 10000);
  const r = await daemon.call('GET', `/v1/charges?limit=1000${query}`);
  assert.equal(r.status, 200, r.text);
  return r.json.charges;
}

// The charge a call with this upstream request id made, once it is durable.
async function chargeOf(requestId) {
  const found = await eventually(async () => (await allCharges()).find((c) => c.request_id === requestId), 10000);
  assert.ok(found, `a charge for ${requestId}`);
  return found;
}

async function budgetPaths() {
  const r = await daemon.call('GET', '/v1/budgets?limit=1000');
  return r.json.budgets.map((b) => b.path).sort();
}

test('x-tollgate-budget charges a child made from the scope\'s template, and the headers tell the cost', async () => {
  const { data, response } = await openai.chat.completions.create(chat(), {
    headers: { 'x-tollgate-budget': 'acme/support/customer-42', 'x-tollgate-tags': 'nightly, eval', 'x-fake-output-tokens': '20' },
  }).withResponse();
  assert.equal(data.usage.completion_tokens, 20);
  assert.equal(response.headers.get('x-tollgate-budget'), 'acme/support/customer-42');
  const hold = Number(response.headers.get('x-tollgate-hold-micros'));
  const costHeader = Number(response.headers.get('x-tollgate-cost-micros'));
  const remaining = Number(response.headers.get('x-tollgate-remaining-micros'));
  const expected = Math.ceil((data.usage.prompt_tokens * 150000 + 20 * 600000) / 1e6);
  assert.equal(costHeader, expected);
  assert.ok(hold >= costHeader && hold > 0, `hold ${hold} cost ${costHeader}`);
  // The child's limit ($1, from the template) is the tightest on the path.
  assert.equal(remaining, 1000000 - expected);
  const child = (await daemon.call('GET', '/v1/budgets/acme/support/customer-42')).json;
  assert.equal(child.limit_micros, 1000000);
  assert.equal(child.spent_micros, expected);
  const c = await chargeOf(response.headers.get('x-request-id'));
  assert.equal(c.budget, 'acme/support/customer-42');
  assert.equal(c.cost_micros, expected);
  assert.deepEqual(c.tags, ['nightly', 'eval']);
  assert.equal(c.key, 'support-bot');
  assert.equal(c.provider, 'openai');
  assert.equal(c.outcome, 'ok');
  assert.equal(c.status, 200);
  assert.ok(c.latency_ms >= 0);
  // Tollgate's headers are its own: the provider never sees them.
  const sent = fake.requests[fake.requests.length - 1];
  assert.equal(sent.headers['x-tollgate-budget'], undefined);
  assert.equal(sent.headers['x-tollgate-tags'], undefined);
});

test('no header selects a budget outside the key\'s scope, and nothing is held, sent or made', async () => {
  const before = { paths: await budgetPaths(), sent: fake.requests.length, charges: (await allCharges()).length };
  const long = `acme/support/${'x'.repeat(300)}`;
  const attacks = [
    ['acme', 403, 'budget_forbidden'],                  // the parent
    ['acme/sales', 403, 'budget_forbidden'],            // a sibling
    ['acme/sales/customer-1', 403, 'budget_forbidden'], // under a sibling (its template would make it)
    ['acme/supportx', 403, 'budget_forbidden'],         // shares the prefix only
    ['other/tree', 403, 'budget_forbidden'],
    ['acme/support/../sales', 400, 'invalid_budget'],
    ['acme/support/..', 400, 'invalid_budget'],
    ['acme/support/./x', 400, 'invalid_budget'],
    ['acme%2Fsales', 400, 'invalid_budget'],
    ['acme/support%2F..%2Fsales', 400, 'invalid_budget'],
    ['acme/support//x', 400, 'invalid_budget'],
    ['acme/support/', 400, 'invalid_budget'],
    ['/acme/support/x', 400, 'invalid_budget'],
    [long, 400, 'invalid_budget'],
    ['acme/support/a/b/c/d/e/f/g', 400, 'invalid_budget'],
    ['', 400, 'invalid_budget'],
  ];
  for (const [budget, status, code] of attacks) {
    const r = await fetch(`${daemon.base}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SUPPORT}`, 'content-type': 'application/json', 'x-tollgate-budget': budget },
      body: JSON.stringify(chat()),
    });
    const body = await r.json();
    assert.equal(r.status, status, `${budget}: ${JSON.stringify(body)}`);
    assert.equal(body.error.code, code, budget);
  }
  // The SDK raises the refusal as the provider's own error class.
  await assert.rejects(openai.chat.completions.create(chat(), { headers: { 'x-tollgate-budget': 'acme/sales' } }),
    (e) => e instanceof OpenAI.PermissionDeniedError && e.status === 403);
  await assert.rejects(anthropic.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] },
    { headers: { 'x-tollgate-budget': 'acme/sales/c9' } }), (e) => e instanceof Anthropic.PermissionDeniedError);
  // Two copies: one in scope, one outside. Neither is chosen.
  const twice = await fetch(`${daemon.base}/v1/chat/completions`, {
    method: 'POST',
    headers: [['authorization', `Bearer ${SUPPORT}`], ['content-type', 'application/json'],
      ['x-tollgate-budget', 'acme/support/ok'], ['x-tollgate-budget', 'acme/sales/x']],
    body: JSON.stringify(chat()),
  });
  assert.equal(twice.status, 400);
  // A user that is not one segment, with user budgets on.
  for (const user of ['../sales', 'a/b', '..', 'u@example.com', 'x'.repeat(70)]) {
    await assert.rejects(openai.chat.completions.create(chat({ user })), (e) => e.status === 400, user);
  }
  assert.equal(fake.requests.length, before.sent, 'nothing reached the upstream');
  assert.deepEqual(await budgetPaths(), before.paths, 'no budget was made');
  assert.equal((await allCharges()).length, before.charges, 'nothing was charged');
  const sales = (await daemon.call('GET', '/v1/budgets/acme/sales')).json;
  assert.equal(sales.spent_micros, 0);
  assert.equal(sales.held_micros, 0);
});

test('a budget another key made from its template stays that key\'s', async () => {
  const { response } = await sales.chat.completions.create(chat(), { headers: { 'x-tollgate-budget': 'acme/sales/c1' } }).withResponse();
  assert.equal(response.headers.get('x-tollgate-budget'), 'acme/sales/c1');
  await chargeOf(response.headers.get('x-request-id'));
  const spent = (await daemon.call('GET', '/v1/budgets/acme/sales/c1')).json.spent_micros;
  const sent = fake.requests.length;
  await assert.rejects(openai.chat.completions.create(chat(), { headers: { 'x-tollgate-budget': 'acme/sales/c1' } }), (e) => e.status === 403);
  await assert.rejects(openai.chat.completions.create(chat({ user: 'c1' }), { headers: { 'x-tollgate-budget': 'acme/sales/c1' } }), (e) => e.status === 403);
  assert.equal(fake.requests.length, sent);
  assert.equal((await daemon.call('GET', '/v1/budgets/acme/sales/c1')).json.spent_micros, spent);
  // The sales key cannot reach support's children either, nor read support's charges.
  await assert.rejects(sales.chat.completions.create(chat(), { headers: { 'x-tollgate-budget': 'acme/support/customer-42' } }), (e) => e.status === 403);
  const read = await fetch(`${daemon.base}/v1/charges?budget=acme/support`, { headers: { authorization: `Bearer ${SALES}` } });
  assert.equal(read.status, 403);
});

test('the request\'s user selects its own child, on both wires; children_max is a 403', async () => {
  const { response } = await openai.chat.completions.create(chat({ user: 'u-7' })).withResponse();
  assert.equal(response.headers.get('x-tollgate-budget'), 'acme/support/u-7');
  const c = await chargeOf(response.headers.get('x-request-id'));
  assert.equal(c.budget, 'acme/support/u-7');
  assert.equal(c.user, 'u-7');
  const message = await anthropic.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 20, metadata: { user_id: 'a-9' }, messages: [{ role: 'user', content: 'hi' }] }).withResponse();
  assert.equal(message.response.headers.get('x-tollgate-budget'), 'acme/support/a-9');
  const a = await chargeOf(message.response.headers.get('request-id'));
  assert.equal(a.user, 'a-9');
  assert.equal(a.provider, 'anthropic');
  // The header still wins over the user (the user is logged all the same).
  const both = await openai.chat.completions.create(chat({ user: 'u-8' }), { headers: { 'x-tollgate-budget': 'acme/support/deep' } }).withResponse();
  assert.equal(both.response.headers.get('x-tollgate-budget'), 'acme/support/deep');
  // customer-42, deep, u-7, a-9: four children, the most. A fifth is refused and not made.
  const sent = fake.requests.length;
  await assert.rejects(openai.chat.completions.create(chat({ user: 'u-99' })),
    (e) => e instanceof OpenAI.PermissionDeniedError && e.error?.code === 'children_max');
  assert.equal(fake.requests.length, sent);
  assert.ok(!(await budgetPaths()).includes('acme/support/u-99'));
});

test('tags are bounded and checked', async () => {
  const many = Array.from({ length: 17 }, (_, i) => `t${i}`).join(',');
  for (const tags of [many, 'a b', 'a;b', 'x'.repeat(64), 'a,%2C', 'a,b\\c']) {
    const r = await fetch(`${daemon.base}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SUPPORT}`, 'content-type': 'application/json', 'x-tollgate-tags': tags },
      body: JSON.stringify(chat()),
    });
    const text = await r.text();
    assert.equal(r.status, 400, `${tags}: ${text}`);
    assert.equal(JSON.parse(text).error.code, 'invalid_tags');
  }
  const sixteen = Array.from({ length: 16 }, (_, i) => `t${i}`).join(',');
  const { response } = await openai.chat.completions.create(chat(), { headers: { 'x-tollgate-tags': `${sixteen},t0` } }).withResponse();
  const c = await chargeOf(response.headers.get('x-request-id'));
  assert.equal(c.tags.length, 16);
});

// Reads a raw event stream and returns its text.
async function rawStream(route, body, headers = {}) {
  const r = await fetch(`${daemon.base}${route}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${SUPPORT}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  assert.equal(r.status, 200);
  return { text: await r.text(), headers: r.headers };
}

function comment(text) {
  const m = /\n: tollgate hold_micros=(\d+) cost_micros=(\d+) remaining_micros=(\d+|none) budget=(\S+)\n\n$/.exec(text);
  assert.ok(m, `a final cost comment: ${JSON.stringify(text.slice(-300))}`);
  return { hold: Number(m[1]), cost: Number(m[2]), remaining: m[3], budget: m[4] };
}

test('a stream ends with a cost comment after its last event, which both SDKs skip', async () => {
  // Raw, on each wire: the comment comes last and names the charged cost.
  const chatStream = await rawStream('/v1/chat/completions', chat({ stream: true }), { 'x-tollgate-budget': 'acme/support/deep', 'x-fake-output-tokens': '30' });
  const ending = comment(chatStream.text);
  assert.ok(chatStream.text.indexOf('data: [DONE]') < chatStream.text.indexOf(': tollgate'));
  assert.equal(ending.budget, 'acme/support/deep');
  assert.equal(Number(chatStream.headers.get('x-tollgate-hold-micros')), ending.hold);
  assert.equal(chatStream.headers.get('x-tollgate-cost-micros'), null, 'a stream\'s cost is not known when its headers go');
  const charged = await chargeOf(chatStream.headers.get('x-request-id'));
  assert.equal(ending.cost, charged.cost_micros);
  assert.ok(ending.cost <= ending.hold);
  const budget = (await daemon.call('GET', '/v1/budgets/acme/support/deep')).json;
  assert.equal(Number(ending.remaining), 5000000 - budget.spent_micros);
  const messages = await rawStream('/v1/messages', { model: 'claude-3-5-haiku-latest', max_tokens: 40, stream: true, messages: [{ role: 'user', content: 'hi' }] });
  assert.ok(messages.text.indexOf('event: message_stop') < messages.text.indexOf(': tollgate'));
  assert.equal(comment(messages.text).cost, (await chargeOf(messages.headers.get('request-id'))).cost_micros);
  const responses = await rawStream('/v1/responses', { model: 'gpt-4o-mini', max_output_tokens: 40, stream: true, input: 'hi' });
  assert.equal(comment(responses.text).cost, (await chargeOf(responses.headers.get('x-request-id'))).cost_micros);

  // The SDKs: every event as before, nothing extra, and their final helpers work.
  const stream = await openai.chat.completions.create(chat({ stream: true }), { headers: { 'x-fake-output-tokens': '12' } });
  let text = '';
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    text += chunk.choices[0]?.delta?.content || '';
  }
  assert.ok(chunks > 0 && text.length > 0);
  const helper = openai.chat.completions.stream(chat({ stream: true }));
  const final = await helper.finalChatCompletion();
  assert.ok(final.choices[0].message.content.length > 0);
  const events = [];
  const anthropicStream = anthropic.messages.stream({ model: 'claude-3-5-haiku-latest', max_tokens: 40, messages: [{ role: 'user', content: 'hi' }] });
  anthropicStream.on('streamEvent', (e) => events.push(e.type));
  const msg = await anthropicStream.finalMessage();
  assert.equal(msg.stop_reason, 'end_turn');
  assert.equal(events[events.length - 1], 'message_stop');
  const responseStream = openai.responses.stream({ model: 'gpt-4o-mini', max_output_tokens: 40, input: 'hi' });
  const done = await responseStream.finalResponse();
  assert.equal(done.status, 'completed');
  const raw = await anthropic.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 40, stream: true, messages: [{ role: 'user', content: 'hi' }] });
  const types = [];
  for await (const e of raw) types.push(e.type);
  assert.equal(types[types.length - 1], 'message_stop');
});

test('a stream cut by revocation still ends with its cost, and is charged that', async () => {
  const made = await daemon.call('PUT', '/v1/budgets/acme/support/cutme', { limit: '1.00', revoke_at: '0.50' });
  assert.ok(made.status < 300, made.text);
  const r = await fetch(`${daemon.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${SUPPORT}`, 'content-type': 'application/json', 'x-tollgate-budget': 'acme/support/cutme',
      'x-fake-output-tokens': '400', 'x-fake-delay-ms': '20' },
    body: JSON.stringify(chat({ stream: true, max_tokens: 500 })),
  });
  const reader = r.body.getReader();
  const first = await reader.read();
  assert.ok(!first.done);
  // Spending past revoke_at revokes the normal class: the hold is asked to stop.
  const spent = await daemon.call('POST', '/v1/charges', { budget: 'acme/support/cutme', cost: '0.60', force: true });
  assert.ok(spent.status < 300, spent.text);
  let text = new TextDecoder().decode(first.value);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  assert.match(text, /"finish_reason":"length"/);
  const ending = comment(text);
  const c = await chargeOf(r.headers.get('x-request-id'));
  assert.equal(ending.cost, c.cost_micros);
  assert.equal(c.outcome, 'cut');
});

test('GET /v1/charges filters by model, key, user, tag and time, and pages', async () => {
  await openai.chat.completions.create(chat({ model: 'gpt-4o', user: 'u-7' }), {
    headers: { 'x-tollgate-tags': 'eval', 'x-fake-input-tokens': '10', 'x-fake-cached-tokens': '4' },
  });
  const o3 = await openai.responses.create({ model: 'o3-mini', max_output_tokens: 200, input: 'hi' },
    { headers: { 'x-fake-reasoning-tokens': '64', 'x-fake-output-tokens': '100' } }).withResponse();
  await chargeOf(o3.response.headers.get('x-request-id')); // durable, and everything before it

  const all = await allCharges();
  const byKey = await allCharges('&key=support-bot');
  assert.ok(byKey.length > 0 && byKey.every((c) => c.key === 'support-bot'));
  assert.equal(byKey.length + (await allCharges('&key=sales-bot')).length, all.filter((c) => c.key !== null).length);
  const gpt4o = await allCharges('&model=gpt-4o');
  assert.ok(gpt4o.length >= 1 && gpt4o.every((c) => c.model === 'gpt-4o'));
  assert.equal(gpt4o[gpt4o.length - 1].tokens_cached, 4);
  const reasoning = (await allCharges('&model=o3-mini')).pop();
  assert.equal(reasoning.tokens_reasoning, 64);
  const users = await allCharges('&user=u-7');
  assert.ok(users.length >= 2 && users.every((c) => c.user === 'u-7'));
  const evalTagged = await allCharges('&tag=eval');
  assert.ok(evalTagged.length >= 2 && evalTagged.every((c) => c.tags.includes('eval')));
  assert.equal((await allCharges('&tag=eva')).length, 0, 'a tag matches whole');
  assert.equal((await allCharges('&provider=anthropic')).every((c) => c.provider === 'anthropic'), true);
  const last = all[all.length - 1];
  assert.deepEqual((await allCharges(`&since=${last.time_ms}`)).map((c) => c.id).includes(last.id), true);
  assert.equal((await allCharges(`&until=${all[0].time_ms}`)).length, 0);
  // Pages of one, filtered, come out in id order with nothing skipped.
  const paged = [];
  let after = 0;
  for (;;) {
    const r = await daemon.call('GET', `/v1/charges?key=support-bot&limit=1&after=${after}`);
    if (r.json.charges.length === 0) break;
    paged.push(r.json.charges[0].id);
    after = r.json.next;
  }
  assert.deepEqual(paged, byKey.map((c) => c.id));
  // Bad filters are a clear 400.
  for (const query of [`tag=${'x'.repeat(100)}`, 'tag=nightly,eval', `user=${'u'.repeat(200)}`, 'model=%zz']) {
    const bad = await daemon.call('GET', `/v1/charges?${query}`);
    assert.equal(bad.status, 400, query);
    assert.equal(bad.json.error.code, 'invalid_query');
  }
  // An agent reads its own scope's log only, whatever the filter says.
  const mine = await fetch(`${daemon.base}/v1/charges?key=sales-bot`, { headers: { authorization: `Bearer ${SUPPORT}` } });
  assert.equal((await mine.json()).charges.length, 0);
});

test('the outcome says how a call was settled: no usage, counted, an upstream error', async () => {
  const plain = await openai.chat.completions.create(chat(), { headers: { 'x-fake-usage': 'none' } }).withResponse();
  const a = await chargeOf(plain.response.headers.get('x-request-id'));
  assert.equal(a.outcome, 'no_usage');
  assert.equal(a.cost_micros, a.held_micros);
  assert.equal(Number(plain.response.headers.get('x-tollgate-cost-micros')), a.held_micros);
  const counted = await rawStream('/v1/chat/completions', chat({ stream: true }), { 'x-fake-usage': 'none' });
  const b = await chargeOf(counted.headers.get('x-request-id'));
  assert.equal(b.outcome, 'counted');
  assert.equal(comment(counted.text).cost, b.cost_micros);
  const unknown = await rawStream('/v1/responses', { model: 'o3-mini', max_output_tokens: 40, stream: true, input: 'hi' }, { 'x-fake-usage': 'none' });
  const c = await chargeOf(unknown.headers.get('x-request-id'));
  assert.equal(c.outcome, 'no_usage');
  assert.equal(c.cost_micros, c.held_micros);
  const failed = await openai.chat.completions.create(chat(), { headers: { 'x-fake-error': '500', 'x-fake-error-usage': '1' } }).withResponse().catch((e) => e);
  assert.equal(failed.status, 500);
  // Charged what its body reports, or released (then only the calls table has it).
  const id = failed.headers.get('x-request-id');
  const [d] = await eventually(() => {
    const rows = sql(db, `SELECT outcome, status, cost_micros FROM calls WHERE request_id = '${id}'`);
    return rows.length ? rows : null;
  }, 10000);
  assert.equal(d.outcome, 'upstream_error');
  assert.equal(d.status, 500);
  assert.equal(Number(failed.headers.get('x-tollgate-cost-micros')), d.cost_micros);
});

test('refused calls are in the calls table too, with their outcome', async () => {
  await daemon.call('PUT', '/v1/budgets/acme/support/tiny', { limit: '0.000001' });
  await assert.rejects(openai.chat.completions.create(chat(), { headers: { 'x-tollgate-budget': 'acme/support/tiny' } }), (e) => e.status === 429);
  // Refusals ride with the next write: make one.
  await openai.chat.completions.create(chat());
  const rows = await eventually(() => {
    const found = sql(db, "SELECT outcome, status, budget, charge_id FROM calls WHERE budget = 'acme/support/tiny'");
    return found.length > 0 ? found : null;
  }, 10000);
  assert.deepEqual(rows[0], { outcome: 'refused', status: 429, budget: 'acme/support/tiny', charge_id: 0 });
});

test('a background run settled by its retrieve is logged with its create\'s key, user and tags', async () => {
  const created = await openai.responses.create({ model: 'gpt-4o-mini', max_output_tokens: 40, input: 'hi', background: true, user: 'u-7' },
    { headers: { 'x-tollgate-tags': 'batch' } });
  assert.ok(['queued', 'in_progress'].includes(created.status), created.status);
  const done = await eventually(async () => {
    const r = await openai.responses.retrieve(created.id);
    return r.status === 'completed' ? r : null;
  }, 10000);
  assert.ok(done);
  const c = await eventually(async () => (await allCharges('&tag=batch')).find((x) => x.outcome === 'background_ended'), 10000);
  assert.ok(c, 'the settlement is in the spend log');
  assert.equal(c.request_id, created.id);
  assert.equal(c.key, 'support-bot');
  assert.equal(c.user, 'u-7');
  assert.equal(c.budget, 'acme/support/u-7');
  assert.equal(c.tokens_out, done.usage.output_tokens);
});

test('tollgate report --by model|user|tag|key, and the log as CSV and JSON lines', async () => {
  const env = { TOLLGATE_URL: daemon.base, TOLLGATE_KEY: 'admin-secret' };
  const all = await allCharges();
  const proxied = all.filter((c) => c.key !== null);
  for (const by of ['model', 'user', 'tag', 'key']) {
    const fromDaemon = await cli(['report', '--by', by, '--format', 'json'], env);
    assert.equal(fromDaemon.status, 0, fromDaemon.stderr);
    const fromFile = await cli(['report', '--by', by, '--format', 'json', '--db', db]);
    assert.equal(fromFile.status, 0, `${by}: ${fromFile.stderr}`);
    const a = JSON.parse(fromDaemon.stdout);
    assert.deepEqual(JSON.parse(fromFile.stdout), a, by);
    assert.equal(a.total.charges, all.length, 'each charge once in the total');
    assert.equal(a.total.cost_micros, all.reduce((s, c) => s + c.cost_micros, 0));
    const want = new Map();
    for (const c of all) {
      const keys = by === 'tag' ? (c.tags.length ? c.tags : ['']) : [c[by] ?? ''];
      for (const k of keys) want.set(k, (want.get(k) || 0) + c.cost_micros);
    }
    assert.deepEqual(new Map(a.rows.map((r) => [r.key, r.cost_micros])), want, by);
  }
  const jsonl = await cli(['report', '--by', 'user', '--format', 'jsonl'], env);
  const lines = jsonl.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines[lines.length - 1].total, true);
  const csv = await cli(['report', '--log', '--format', 'csv', '--key-name', 'support-bot'], env);
  assert.equal(csv.status, 0, csv.stderr);
  const csvLines = csv.stdout.trim().split('\n');
  assert.equal(csvLines[0], 'id,time_ms,budget,model,provider,key,user,tags,request_id,tokens_in,tokens_out,tokens_cached,tokens_reasoning,cost_micros,held_micros,latency_ms,status,outcome');
  assert.equal(csvLines.length - 1, proxied.filter((c) => c.key === 'support-bot').length);
  const log = await cli(['report', '--log', '--format', 'jsonl', '--db', db, '--tag', 'eval']);
  assert.equal(log.status, 0, log.stderr);
  const logged = log.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(logged.length >= 2 && logged.every((c) => c.tags.includes('eval') && c.request_id));
  assert.deepEqual(logged.map((c) => c.id), all.filter((c) => c.tags.includes('eval')).map((c) => c.id));
  assert.equal((await cli(['report', '--log'], env)).status, 2, '--log needs csv or jsonl');
  assert.equal((await cli(['report', '--by', 'colour'], env)).status, 2);
});
