// over_budget: switch with an ordered list of cheaper models (docs/proxy.md, "Over
// budget"): through the official `openai` SDK against tests/upstream/fake_llm.js. The
// list is tried in order and the first model whose worst case fits is called; the
// charge is exactly usage x that model's price and never more than its hold; the
// response says which model ran (x-tollgate-model); when none fits the call gets the
// usual refusal and nothing goes upstream; a listed model without a price stops the
// daemon at start; Azure (the path's deployment runs) never switches.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const OpenAI = require('openai');
const { AzureOpenAI } = OpenAI;
const { binary, sha, tempDir, startDaemon, eventually } = require('./daemon_helpers.js');
const { startFakeLlm } = require('../upstream/fake_llm.js');
const { proxyConfig, stopClean } = require('./proxy_helpers.js');

// Made-up models with round prices (micros per million tokens), so which one was
// called shows in the charge. With max_tokens 1000 the output alone holds 40000, 20000,
// 4000 and 400 micros; every budget below is 10000 micros.
const PRICES = {
  'f-big': [10000000, 40000000],
  'f-mid': [5000000, 20000000],
  'f-small': [1000000, 4000000],
  'f-tiny': [100000, 400000],
};
const OVERRIDES = Object.entries(PRICES)
  .map(([m, [i, o]]) => `    - {provider: openai, model: ${m}, input_mtok: ${i}, output_mtok: ${o}}`)
  .join('\n');

function cost(model, input, output) {
  const [i, o] = PRICES[model];
  return Number((BigInt(input) * BigInt(i) + BigInt(output) * BigInt(o) + 999999n) / 1000000n);
}

let fake;
test.before(async () => {
  fake = await startFakeLlm({ port: 0, deployments: { 'prod-big': 'f-big' } });
});
test.after(async () => {
  await fake.close();
});

// A daemon whose proxy switches to `list` (YAML: a scalar or a flow sequence).
async function daemonWith(name, list) {
  const dir = tempDir(`fallback-${name}`);
  const file = proxyConfig(dir, name, {
    fake,
    budgets: ['{path: t, limit: "0.010"}'],
    keys: [`{name: bot, role: agent, scope: t, sha256: ${sha('fb-agent')}}`],
    extra: `proxy:\n  over_budget: switch\n  min_output_tokens: 100\n  switch_model: ${list}\n  price_overrides:\n${OVERRIDES}\n`,
  });
  const d = await startDaemon(file);
  d.file = file;
  return d;
}

// Sends SIGHUP and waits until the daemon has logged `pattern` once more than before.
async function reload(d, pattern) {
  const seen = (d.stderr().match(new RegExp(pattern.source, 'g')) || []).length;
  d.child.kill('SIGHUP');
  const done = await eventually(() => (d.stderr().match(new RegExp(pattern.source, 'g')) || []).length > seen, 5000);
  assert.ok(done, `no ${pattern} after SIGHUP: ${d.stderr()}`);
}

const client = (d) => new OpenAI({ baseURL: `${d.base}/v1`, apiKey: 'fb-agent', maxRetries: 0 });
const ASK = { model: 'f-big', max_tokens: 1000, messages: [{ role: 'user', content: 'hi' }] };

async function onlyCharge(d) {
  await eventually(async () => (await d.call('GET', '/v1/budgets/t')).json.held_micros === 0, 5000);
  const found = await eventually(async () => {
    const r = await d.call('GET', '/v1/charges?budget=t');
    return r.status === 200 && r.json.charges.length > 0 ? r.json.charges : null;
  }, 5000);
  assert.ok(found, 'charged');
  assert.equal(found.length, 1, JSON.stringify(found));
  return found[0];
}

test('the list is tried in order: the first that fits runs, is charged exactly at its price and named', async () => {
  // f-mid does not fit (20000 > 10000); f-small does and comes before f-tiny (which fits too).
  const d = await daemonWith('order', '[f-mid, f-small, f-tiny]');
  try {
    const before = fake.requests.length;
    const { data, response } = await client(d).chat.completions.create(ASK, {
      headers: { 'x-fake-input-tokens': '300', 'x-fake-output-tokens': '50' },
    }).withResponse();
    assert.equal(response.headers.get('x-tollgate-model'), 'f-small');
    assert.equal(response.headers.get('x-tollgate-plan'), 'switched model f-big to f-small');
    assert.equal(data.model, 'f-small', 'the fake ran the switched model');
    assert.equal(fake.requests.length, before + 1, 'one upstream call');
    const sent = fake.requests[fake.requests.length - 1];
    assert.equal(sent.body.model, 'f-small');
    assert.equal(sent.body.max_tokens, 1000, 'fits whole: the cap is not cut');
    const c = await onlyCharge(d);
    assert.equal(c.model, 'f-small');
    assert.equal(c.cost_micros, cost('f-small', 300, 50), JSON.stringify(c));
    assert.ok(c.cost_micros <= c.held_micros, JSON.stringify(c));
  } finally {
    await stopClean(d);
  }
});

test('reversed order: the cheapest listed first is the one called', async () => {
  const d = await daemonWith('reversed', '[f-tiny, f-small]');
  try {
    const { response } = await client(d).chat.completions.create(ASK).withResponse();
    assert.equal(response.headers.get('x-tollgate-model'), 'f-tiny');
    assert.equal((await onlyCharge(d)).model, 'f-tiny');
  } finally {
    await stopClean(d);
  }
});

test('the single form still works, and a model that fits as asked is not switched', async () => {
  const d = await daemonWith('single', 'f-small');
  try {
    const small = await client(d).chat.completions.create({ ...ASK, model: 'f-tiny' }).withResponse();
    assert.equal(small.response.headers.get('x-tollgate-model'), 'f-tiny');
    assert.equal(small.response.headers.get('x-tollgate-plan'), null, 'fits: no plan');
    const { response } = await client(d).chat.completions.create(ASK).withResponse();
    assert.equal(response.headers.get('x-tollgate-model'), 'f-small');
  } finally {
    await stopClean(d);
  }
});

test('none of the list fits: the usual refusal, nothing goes upstream, nothing charged', async () => {
  // A prompt whose input alone holds more than the budget on every listed model: no cap,
  // however low, makes either fit.
  const d = await daemonWith('none', '[f-mid, f-big]');
  try {
    const before = fake.requests.length;
    const text = 'x'.repeat(40000); // ~10000 tokens in: 50000 micros on f-mid before any output
    await assert.rejects(
      client(d).chat.completions.create({ ...ASK, messages: [{ role: 'user', content: text }] }),
      (e) => e.status === 429 && e.error.code === 'budget_exceeded');
    assert.equal(fake.requests.length, before, 'refused before the upstream');
    const b = (await d.call('GET', '/v1/budgets/t')).json;
    assert.equal(b.spent_micros, 0);
    assert.equal(b.held_micros, 0);
  } finally {
    await stopClean(d);
  }
});

test('a fake billing the most it may is never charged more than the switched hold', async () => {
  const d = await daemonWith('max', '[f-mid, f-small]');
  try {
    for (const stream of [false, true]) {
      const options = { headers: { 'x-fake-bill': 'max' } };
      if (stream) {
        const s = await client(d).chat.completions.create({ ...ASK, stream: true }, options);
        for await (const chunk of s) void chunk;
      } else {
        await client(d).chat.completions.create(ASK, options);
      }
    }
    await eventually(async () => (await d.call('GET', '/v1/budgets/t')).json.held_micros === 0, 20000);
    // The budget is read from memory, the charges from the file: the second commit may be
    // decided and not yet written when the hold reads 0, so wait for both rows.
    let charges = [];
    await eventually(async () => {
      charges = (await d.call('GET', '/v1/charges?budget=t')).json.charges;
      return charges.length >= 2;
    }, 20000);
    assert.equal(charges.length, 2, JSON.stringify(charges));
    for (const c of charges) {
      assert.equal(c.model, 'f-small');
      assert.ok(c.cost_micros > 0 && c.cost_micros <= c.held_micros, JSON.stringify(c));
    }
    assert.equal((await d.call('GET', '/v1/budgets/t')).json.locked, false, 'no overrun');
  } finally {
    await stopClean(d);
  }
});

test('SIGHUP: a list with an unpriced model keeps the old list; a good one applies to the next call', async () => {
  const d = await daemonWith('reload', '[f-mid, f-small]');
  try {
    const fs = require('node:fs');
    const text = fs.readFileSync(d.file, 'utf8');
    fs.writeFileSync(d.file, text.replace('[f-mid, f-small]', '[f-tiny, no-such-model]'));
    await reload(d, /no-such-model has no price/);
    let r = await client(d).chat.completions.create(ASK).withResponse();
    assert.equal(r.response.headers.get('x-tollgate-model'), 'f-small', 'the old list still in force');
    fs.writeFileSync(d.file, text.replace('[f-mid, f-small]', '[f-tiny]'));
    await reload(d, /proxy: reloaded/);
    r = await client(d).chat.completions.create(ASK).withResponse();
    assert.equal(r.response.headers.get('x-tollgate-model'), 'f-tiny');
  } finally {
    await stopClean(d);
  }
});

test('config: a listed model without a price, an empty name or too long a list stops the daemon', () => {
  const dir = tempDir('fallback-config');
  for (const [list, message] of [
    ['[f-small, no-such-model]', /switch_model: no-such-model has no price/],
    ['no-such-model', /switch_model: no-such-model has no price/],
    ['[f-small, ""]', /cannot be empty/],
    ['[]', /a list of 1 to 8 models/],
    [`[${Array(9).fill('f-small').join(', ')}]`, /a list of 1 to 8 models/],
    ['{a: b}', /must be text/],
  ]) {
    const file = proxyConfig(dir, 'bad', {
      fake,
      store: 'memory',
      budgets: ['{path: t, limit: "1"}'],
      keys: [`{name: bot, role: agent, scope: t, sha256: ${sha('x')}}`],
      extra: `proxy:\n  over_budget: switch\n  switch_model: ${list}\n  price_overrides:\n${OVERRIDES}\n`,
    });
    const r = spawnSync(binary, ['serve', '--config', file], { encoding: 'utf8', timeout: 10000 });
    assert.notEqual(r.status, 0, list);
    assert.match(r.stderr, message, `${list}: ${r.stderr}`);
  }
});

test('Azure: the path\'s deployment runs, so a list is not applied either', async () => {
  const dir = tempDir('fallback-azure');
  const file = require('node:path').join(dir, 'azure.yaml');
  const azureOverrides = OVERRIDES.replaceAll('provider: openai', 'provider: azure');
  require('node:fs').writeFileSync(file, `
port: 0
store: {kind: memory}
budgets:
  - {path: t, limit: "0.010"}
keys:
  - {name: bot, role: agent, scope: t, sha256: ${sha('fb-agent')}}
upstreams:
  azure: {wire: azure, base_url: "${fake.url}", api_key: k, deployments: {prod-big: f-big}}
proxy:
  over_budget: switch
  min_output_tokens: 100
  switch_model: [f-small, f-tiny]
  price_overrides:
${azureOverrides}
`);
  const d = await startDaemon(file);
  try {
    const before = fake.requests.length;
    const ai = new AzureOpenAI({ endpoint: d.base, apiKey: 'fb-agent', apiVersion: '2024-10-21', maxRetries: 0 });
    await assert.rejects(ai.chat.completions.create({ ...ASK, model: 'prod-big' }),
      (e) => e.status === 429 && e.error.code === 'budget_exceeded');
    assert.equal(fake.requests.length, before, 'refused, not sent');
  } finally {
    await stopClean(d);
  }
});
