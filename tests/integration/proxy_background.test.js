// Responses background runs through `tollgate serve` (docs/proxy.md, "Background runs"),
// with the official `openai` SDK against the fake upstream, which runs them the way
// OpenAI documents (queued -> in_progress -> completed, usage on the final object).
// The hold stays open while the run goes on; a retrieve or cancel that shows the run
// ended settles it from the usage reported (the held worst case when none came); a run
// nobody polls is charged its hold at proxy.background_deadline_ms. Only the key that
// started a run, or an admin's, may retrieve or cancel it. Also: OpenAI built-in tool
// fees are charged from the answer's output items, plain and streamed, and chat's
// web_search_options its per-call search fee.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { OpenAI } = require('openai');
const { sha, tempDir, startDaemon, eventually } = require('./daemon_helpers.js');
const { startFakeLlm } = require('../upstream/fake_llm.js');
const { proxyConfig, stopClean } = require('./proxy_helpers.js');

const AGENT = 'background-agent';
const SIBLING = 'background-sibling';
const ADMIN = 'background-admin';
let fake, daemon, quick, dir, configFile;

function config(extra, ledger) {
  return proxyConfig(dir, ledger, {
    fake,
    budgets: ['{path: team, limit: "1000.00"}'],
    keys: [
      `{name: bot, role: agent, scope: team, sha256: ${sha(AGENT)}}`,
      `{name: sibling, role: agent, scope: team, sha256: ${sha(SIBLING)}}`,
      `{name: ops, role: admin, sha256: ${sha(ADMIN)}}`,
    ],
    extra,
  });
}

const client = (d, key = AGENT) => new OpenAI({ apiKey: key, baseURL: `${d.base}/v1`, maxRetries: 0 });
const budget = async (d) => (await d.call('GET', '/v1/budgets/team')).json;
const charges = async (d) => (await d.call('GET', '/v1/charges?budget=team&limit=1000')).json.charges;
// gpt-4o-mini: $0.15 / $0.60 per million tokens, rounded up once.
const miniCost = (input, output) => Math.ceil((input * 150000 + output * 600000) / 1e6);
const final = (r) => !['queued', 'in_progress'].includes(r.status);

async function poll(openai, id) {
  let r;
  do {
    r = await openai.responses.retrieve(id);
  } while (!final(r) && await new Promise((resolve) => setTimeout(() => resolve(true), 20)));
  return r;
}

// The charge of one response: the charges list grows by exactly one for it.
async function chargeAfter(d, before) {
  const found = await eventually(async () => {
    const list = await charges(d);
    return list.length > before ? list : null;
  }, 10000);
  assert.ok(found, 'a charge was made');
  assert.equal(found.length, before + 1, JSON.stringify(found));
  return found[found.length - 1];
}

test.before(async () => {
  fake = await startFakeLlm({ port: 0 });
  dir = tempDir('background');
  daemon = await startDaemon(config('', 'main'));
  quick = await startDaemon(config('proxy: {background_deadline_ms: 1500}', 'quick'));
});

test.after(async () => {
  await stopClean(daemon, quick);
  await fake.close();
});

const HEADERS = { 'x-fake-input-tokens': '20', 'x-fake-output-tokens': '30' };

test('background: queued at once, held while it runs, charged its usage when a retrieve shows it completed', async () => {
  const openai = client(daemon);
  const before = (await charges(daemon)).length;
  const created = await openai.responses.create({ model: 'gpt-4o-mini', input: 'write', max_output_tokens: 100, background: true },
    { headers: HEADERS });
  assert.equal(created.status, 'queued');
  assert.equal(created.background, true);
  const open = await budget(daemon);
  assert.ok(open.held_micros > 0, 'the hold stays open while the run goes on');
  assert.equal((await charges(daemon)).length, before, 'nothing charged yet');
  const done = await poll(openai, created.id);
  assert.equal(done.status, 'completed');
  assert.equal(done.usage.output_tokens, 30);
  assert.ok(done.output_text.length > 0);
  const c = await chargeAfter(daemon, before);
  assert.equal(c.cost_micros, miniCost(20, 30));
  assert.ok(c.cost_micros <= c.held_micros);
  assert.equal((await budget(daemon)).held_micros, 0);
  // Retrieving a settled run again changes nothing.
  assert.equal((await openai.responses.retrieve(created.id)).status, 'completed');
  assert.equal((await charges(daemon)).length, before + 1);
});

test('background: a sibling key cannot retrieve or cancel the run; an admin key can', async () => {
  const openai = client(daemon);
  const sibling = client(daemon, SIBLING);
  const before = (await charges(daemon)).length;
  const created = await openai.responses.create({ model: 'gpt-4o-mini', input: 'write', max_output_tokens: 100, background: true },
    { headers: { ...HEADERS, 'x-fake-queue-ms': '0', 'x-fake-run-ms': '600000' } });
  const held = (await budget(daemon)).held_micros;
  await assert.rejects(sibling.responses.retrieve(created.id), (e) => e.status === 404);
  await assert.rejects(sibling.responses.cancel(created.id), (e) => e.status === 404);
  await assert.rejects(sibling.responses.retrieve('resp_made_up'), (e) => e.status === 404);
  assert.equal(fake.requests.filter((r) => r.path.startsWith(`/v1/responses/${created.id}`)).length, 0,
    'the sibling never reached the upstream');
  assert.equal((await budget(daemon)).held_micros, held, 'the run is still open');
  const admin = client(daemon, ADMIN);
  assert.ok(await eventually(async () => (await admin.responses.retrieve(created.id)).status === 'in_progress', 5000));
  const cancelled = await admin.responses.cancel(created.id);
  assert.equal(cancelled.status, 'cancelled');
  const c = await chargeAfter(daemon, before);
  assert.equal(c.cost_micros, miniCost(20, cancelled.usage.output_tokens), 'the usage the cancel reported');
  assert.equal((await budget(daemon)).held_micros, 0);
});

test('background: cancelling twice settles once', async () => {
  const openai = client(daemon);
  const before = (await charges(daemon)).length;
  const created = await openai.responses.create({ model: 'gpt-4o-mini', input: 'write', max_output_tokens: 100, background: true },
    { headers: { ...HEADERS, 'x-fake-queue-ms': '0', 'x-fake-run-ms': '600000' } });
  await eventually(async () => (await openai.responses.retrieve(created.id)).status === 'in_progress', 5000);
  const [first, second] = [await openai.responses.cancel(created.id), await openai.responses.cancel(created.id)];
  assert.equal(first.status, 'cancelled');
  assert.equal(second.status, 'cancelled');
  assert.ok(first.usage, 'a run cancelled in progress reports what it used');
  const c = await chargeAfter(daemon, before);
  assert.equal(c.cost_micros, miniCost(20, first.usage.output_tokens));
  // Both cancels at once, on another run: still one charge.
  const other = await openai.responses.create({ model: 'gpt-4o-mini', input: 'write', max_output_tokens: 100, background: true },
    { headers: { ...HEADERS, 'x-fake-run-ms': '600000' } });
  await Promise.all([openai.responses.cancel(other.id), openai.responses.cancel(other.id)]);
  await chargeAfter(daemon, before + 1);
  assert.equal((await budget(daemon)).held_micros, 0);
});

test('background: cancelled while queued, no usage came: charged the held worst case', async () => {
  const openai = client(daemon);
  const before = (await charges(daemon)).length;
  const created = await openai.responses.create({ model: 'gpt-4o-mini', input: 'write', max_output_tokens: 100, background: true },
    { headers: { ...HEADERS, 'x-fake-queue-ms': '600000' } });
  const cancelled = await openai.responses.cancel(created.id);
  assert.equal(cancelled.status, 'cancelled');
  assert.equal(cancelled.usage, null);
  const c = await chargeAfter(daemon, before);
  assert.equal(c.cost_micros, c.held_micros);
});

test('background: the upstream fails the run: its usage when reported, else the held worst case', async () => {
  const openai = client(daemon);
  let before = (await charges(daemon)).length;
  const failed = await openai.responses.create({ model: 'gpt-4o-mini', input: 'write', max_output_tokens: 100, background: true },
    { headers: { ...HEADERS, 'x-fake-run-fail': '1', 'x-fake-run-ms': '100' } });
  const end = await poll(openai, failed.id);
  assert.equal(end.status, 'failed');
  assert.equal(end.error.code, 'server_error');
  let c = await chargeAfter(daemon, before);
  assert.equal(c.cost_micros, c.held_micros, 'no usage: the held worst case');
  before += 1;
  const partly = await openai.responses.create({ model: 'gpt-4o-mini', input: 'write', max_output_tokens: 100, background: true },
    { headers: { ...HEADERS, 'x-fake-run-fail': '1', 'x-fake-run-fail-usage': '1', 'x-fake-run-ms': '100' } });
  assert.equal((await poll(openai, partly.id)).status, 'failed');
  c = await chargeAfter(daemon, before);
  assert.equal(c.cost_micros, miniCost(20, 30));
});

test('background: a run nobody polls is charged its hold at background_deadline_ms', async () => {
  const openai = client(quick);
  const created = await openai.responses.create({ model: 'gpt-4o-mini', input: 'write', max_output_tokens: 100, background: true },
    { headers: HEADERS });
  assert.ok((await budget(quick)).held_micros > 0);
  const c = await chargeAfter(quick, 0);
  assert.equal(c.cost_micros, c.held_micros);
  assert.equal((await budget(quick)).held_micros, 0);
  // Its owner may still read it; nothing more is charged.
  assert.equal((await openai.responses.retrieve(created.id)).status, 'completed');
  assert.equal((await charges(quick)).length, 1);
});

test('background: a retrieve as a stream is refused (not supported), and the run stays open', async () => {
  const openai = client(daemon);
  const before = (await charges(daemon)).length;
  const created = await openai.responses.create({ model: 'gpt-4o-mini', input: 'write', max_output_tokens: 100, background: true },
    { headers: { ...HEADERS, 'x-fake-run-ms': '600000' } });
  const r = await fetch(`${daemon.base}/v1/responses/${created.id}?stream=true`, { headers: { authorization: `Bearer ${AGENT}` } });
  assert.equal(r.status, 400);
  assert.match((await r.json()).error.message, /stream/);
  await openai.responses.cancel(created.id);
  await chargeAfter(daemon, before);
});

test('background: a daemon restarted while a run is open charges its hold on the way down; after it the id is unknown to agent keys', async () => {
  const file = config('', 'restart');
  let d = await startDaemon(file);
  const created = await client(d).responses.create({ model: 'gpt-4o-mini', input: 'write', max_output_tokens: 100, background: true },
    { headers: { ...HEADERS, 'x-fake-run-ms': '600000' } });
  const held = (await budget(d)).held_micros;
  assert.ok(held > 0);
  assert.equal(await d.stop(), 0, d.stderr());
  d = await startDaemon(file);
  try {
    const after = await budget(d);
    assert.equal(after.held_micros, 0, 'no hold left open');
    assert.equal(after.spent_micros, held, 'the run was charged its hold');
    const list = await charges(d);
    assert.equal(list.length, 1);
    await assert.rejects(client(d).responses.retrieve(created.id), (e) => e.status === 404);
    assert.equal((await client(d, ADMIN).responses.retrieve(created.id)).status, 'in_progress');
    assert.equal((await charges(d)).length, 1, 'an admin retrieve charges nothing more');
  } finally {
    assert.equal(await d.stop(), 0, d.stderr());
  }
});

// ---- Built-in tool fees (issue 13: charged, not only held) -----------------------------------

for (const stream of [false, true]) {
  test(`built-in tool fees are charged from the output items${stream ? ', streamed' : ''}`, async () => {
    const openai = client(daemon);
    const before = (await charges(daemon)).length;
    const body = { model: 'gpt-4o-mini', input: 'search', max_output_tokens: 50, max_tool_calls: 5, stream,
      tools: [{ type: 'web_search' }, { type: 'file_search', vector_store_ids: ['vs_1'] }, { type: 'code_interpreter', container: { type: 'auto' } }] };
    const result = await openai.responses.create(body, { headers: { ...HEADERS, 'x-fake-tool-calls': '4' } });
    if (stream) {
      for await (const event of result) { void event; }
    }
    const entry = fake.requests.filter((r) => r.path === '/v1/responses').pop();
    // 4 calls over 3 tools: 2 web searches, 1 file search, 1 code interpreter container.
    assert.equal(entry.toolFeesMicros, 2 * 25000 + 2500 + 30000);
    const c = await chargeAfter(daemon, before);
    assert.equal(c.cost_micros, miniCost(20, 30) + entry.toolFeesMicros);
    assert.ok(c.cost_micros <= c.held_micros);
  });
}

for (const stream of [false, true]) {
  test(`chat web_search_options is charged its per-call search fee${stream ? ', streamed' : ''}`, async () => {
    const openai = client(daemon);
    const before = (await charges(daemon)).length;
    const result = await openai.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 50, stream,
      web_search_options: {}, messages: [{ role: 'user', content: 'news' }] }, { headers: HEADERS });
    if (stream) {
      for await (const chunk of result) { void chunk; }
    }
    const entry = fake.requests.filter((r) => r.path === '/v1/chat/completions').pop();
    assert.equal(entry.toolFeesMicros, 30000);
    const c = await chargeAfter(daemon, before);
    assert.equal(c.cost_micros, miniCost(20, 30) + 30000);
    assert.ok(c.cost_micros <= c.held_micros);
  });
}
