// Upstream fallbacks (docs/proxy.md, "Upstream fallbacks"): an upstream that fails before
// any byte of an answer reached the client hands the call to the next upstream of its
// `fallbacks:` list, through the official `openai` SDK changed only in base URL and key.
// The primary here is a closed port, a server answering 503 or one that never answers;
// the fallback is tests/upstream/fake_llm.js. Each test tries to break one promise: the
// answer is the fallback's and charged exactly once at the fallback's price; a failure
// everywhere is the provider's error with nothing charged; a fallback too dear for the
// budget is a clean refusal that never holds more than the limit; a stream that broke
// mid-way is not sent again; timeout_ms bounds every attempt together; a fallback on
// another wire stops the daemon at start.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const OpenAI = require('openai');
const { AzureOpenAI } = OpenAI;
const { binary, sha, tempDir, startDaemon, eventually } = require('./daemon_helpers.js');
const { startFakeLlm } = require('../upstream/fake_llm.js');
const { stopClean } = require('./proxy_helpers.js');

// One made-up model priced differently on each upstream (micros per million tokens), so
// the charge shows which upstream's price was used.
const PRICES = {
  openai: [1000000, 4000000],
  backup: [2000000, 8000000],
  spare: [3000000, 12000000],
  cheap: [500000, 2000000],
  azure: [1500000, 6000000],
  dear: [200000000, 800000000],
};
const OVERRIDES = Object.entries(PRICES)
  .map(([p, [i, o]]) => `    - {provider: ${p}, model: fo-model, input_mtok: ${i}, output_mtok: ${o}}`)
  .join('\n');

function cost(provider, input, output) {
  const [i, o] = PRICES[provider];
  return Number((BigInt(input) * BigInt(i) + BigInt(output) * BigInt(o) + 999999n) / 1000000n);
}

// A server answering every request with `status` in OpenAI's error shape; counts them.
async function errorServer(status) {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      server.hits++;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'overloaded', type: 'server_error', code: null } }));
    });
  });
  server.hits = 0;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  server.url = `http://127.0.0.1:${server.address().port}`;
  return server;
}

// A server that reads the request and never answers (its sockets closed at the end).
async function stallServer() {
  const sockets = new Set();
  const server = http.createServer((req) => {
    req.resume();
    req.on('end', () => { server.hits++; });
  });
  server.hits = 0;
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  server.url = `http://127.0.0.1:${server.address().port}`;
  server.shut = () => { for (const s of sockets) s.destroy(); return new Promise((r) => server.close(r)); };
  return server;
}

// A loopback port nothing listens on: connections to it are refused.
async function closedPortUrl() {
  const server = http.createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return `http://127.0.0.1:${port}`;
}

let fake; // the fallback that answers
let fake2; // a second fake, for the stream test's primary
test.before(async () => {
  fake = await startFakeLlm({ port: 0 });
  fake2 = await startFakeLlm({ port: 0 });
});
test.after(async () => {
  await fake.close();
  await fake2.close();
});

// Writes a config: `openai` at primaryUrl with `fallbacks`, named OpenAI-wire upstreams.
function configFile(name, { primaryUrl, fallbacks = '[backup]', primaryExtra = '', limit = '1.00',
  upstreams = {}, proxy = '' }) {
  const dir = tempDir(`upfb-${name}`);
  const file = path.join(dir, `${name}.yaml`);
  const named = { backup: fake.url, ...upstreams };
  fs.writeFileSync(file, `
port: 0
store: {kind: sqlite, path: ${path.join(dir, `${name}.db`)}, durability: relaxed}
budgets:
  - {path: t, limit: "${limit}"}
keys:
  - {name: bot, role: agent, scope: t, sha256: ${sha('fo-agent')}}
upstreams:
  openai: {base_url: "${primaryUrl}", api_key: sk-primary, fallbacks: ${fallbacks}${primaryExtra}}
${Object.entries(named).map(([n, url]) => `  ${n}: {wire: openai, base_url: "${url}", api_key: sk-${n}}`).join('\n')}
proxy:
  connect_timeout_ms: 2000
${proxy}  price_overrides:
${OVERRIDES}
`);
  return file;
}

const client = (d) => new OpenAI({ baseURL: `${d.base}/v1`, apiKey: 'fo-agent', maxRetries: 0 });
const ASK = { model: 'fo-model', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] };
const USAGE = { 'x-fake-input-tokens': '300', 'x-fake-output-tokens': '50' };

async function settled(d) {
  const ok = await eventually(async () => (await d.call('GET', '/v1/budgets/t')).json.held_micros === 0, 5000);
  assert.ok(ok, 'every hold settled');
  return (await d.call('GET', '/v1/budgets/t')).json;
}

async function charges(d, count) {
  const found = await eventually(async () => {
    const r = await d.call('GET', '/v1/charges?budget=t');
    return r.status === 200 && r.json.charges.length >= count ? r.json.charges : null;
  }, 5000);
  return found || (await d.call('GET', '/v1/charges?budget=t')).json.charges;
}

// The answer came from backup, charged once, exactly at backup's price.
async function answeredByBackup(d, { data, response }) {
  assert.equal(response.headers.get('x-tollgate-upstream'), 'backup');
  assert.equal(data.choices[0].message.role, 'assistant');
  const b = await settled(d);
  const list = await charges(d, 1);
  assert.equal(list.length, 1, JSON.stringify(list));
  assert.equal(list[0].provider, 'backup', 'the spend log names the upstream that answered');
  assert.equal(list[0].outcome, 'ok');
  assert.equal(list[0].cost_micros, cost('backup', 300, 50), JSON.stringify(list[0]));
  assert.ok(list[0].cost_micros <= list[0].held_micros);
  assert.equal(b.spent_micros, cost('backup', 300, 50));
  assert.equal(response.headers.get('x-tollgate-cost-micros'), String(cost('backup', 300, 50)));
}

test('a refused connection: the fallback answers, charged exactly once at its price', async () => {
  const d = await startDaemon(configFile('refused', { primaryUrl: await closedPortUrl() }));
  try {
    const before = fake.requests.length;
    const r = await client(d).chat.completions.create(ASK, { headers: USAGE }).withResponse();
    assert.equal(fake.requests.length, before + 1, 'one call reached the fallback');
    const sent = fake.requests[fake.requests.length - 1];
    assert.equal(sent.headers.authorization, 'Bearer sk-backup', "the fallback's own key");
    assert.equal(sent.body.model, 'fo-model', 'the same model');
    await answeredByBackup(d, r);
  } finally {
    await stopClean(d);
  }
});

test('a 503 (and a 429, and a 529): the fallback answers; the failed attempt is logged, not charged', async () => {
  for (const status of [503, 429, 529]) {
    const primary = await errorServer(status);
    const d = await startDaemon(configFile(`s${status}`, { primaryUrl: primary.url }));
    try {
      const r = await client(d).chat.completions.create(ASK, { headers: USAGE }).withResponse();
      assert.equal(primary.hits, 1, 'the primary was tried once');
      await answeredByBackup(d, r);
      assert.match(d.stderr(), new RegExp(`openai failed \\(.*status ${status}\\): the call goes to backup`));
    } finally {
      await stopClean(d);
      primary.close();
    }
  }
});

test('a status not in fallback_on_status is the call\'s answer: no fallback', async () => {
  const primary = await errorServer(503);
  const d = await startDaemon(configFile('notlisted', { primaryUrl: primary.url,
    proxy: '  fallback_on_status: [500]\n' }));
  try {
    const before = fake.requests.length;
    await assert.rejects(client(d).chat.completions.create(ASK), (e) => e.status === 503);
    assert.equal(fake.requests.length, before, 'the fallback was not called');
    const b = await settled(d);
    assert.equal(b.spent_micros, 0);
  } finally {
    await stopClean(d);
    primary.close();
  }
});

test('a stream asked of a primary that answers 503: the fallback streams it, charged at its price', async () => {
  const primary = await errorServer(503);
  const d = await startDaemon(configFile('stream503', { primaryUrl: primary.url }));
  try {
    const { data: stream, response } = await client(d).chat.completions
      .create({ ...ASK, stream: true }, { headers: USAGE }).withResponse();
    assert.equal(response.headers.get('x-tollgate-upstream'), 'backup');
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content || '';
    assert.ok(text.length > 0);
    await settled(d);
    const list = await charges(d, 1);
    assert.equal(list.length, 1, JSON.stringify(list));
    assert.equal(list[0].cost_micros, cost('backup', 300, 50));
    assert.equal(list[0].provider, 'backup');
  } finally {
    await stopClean(d);
    primary.close();
  }
});

test('a stall past answer_timeout_ms: the fallback answers; the stalled request is charged its worst case (docs rule)', async () => {
  const primary = await stallServer();
  const d = await startDaemon(configFile('stall', { primaryUrl: primary.url,
    primaryExtra: ', answer_timeout_ms: 300' }));
  try {
    const r = await client(d).chat.completions.create(ASK, { headers: USAGE }).withResponse();
    assert.equal(primary.hits, 1);
    assert.equal(r.response.headers.get('x-tollgate-upstream'), 'backup');
    await settled(d);
    const list = await charges(d, 2);
    assert.equal(list.length, 2, JSON.stringify(list));
    const stalled = list.find((c) => c.provider === 'openai');
    const answered = list.find((c) => c.provider === 'backup');
    // The request reached the primary, which may bill it: its worst case, once.
    assert.equal(stalled.outcome, 'upstream_timeout');
    assert.equal(stalled.cost_micros, stalled.held_micros);
    assert.equal(answered.outcome, 'ok');
    assert.equal(answered.cost_micros, cost('backup', 300, 50), 'the answer at its own price, once');
  } finally {
    await stopClean(d);
    await primary.shut();
  }
});

test('every upstream fails: the last one\'s error reaches the client, nothing is charged', async () => {
  const second = await errorServer(502);
  const third = await errorServer(503);
  const d = await startDaemon(configFile('allfail', { primaryUrl: await closedPortUrl(),
    fallbacks: '[backup, spare]', upstreams: { backup: second.url, spare: third.url } }));
  try {
    await assert.rejects(
      client(d).chat.completions.create(ASK).withResponse(),
      (e) => e.status === 503 && e.headers.get('x-tollgate-upstream') === 'spare');
    assert.equal(second.hits, 1);
    assert.equal(third.hits, 1);
    const b = await settled(d);
    assert.equal(b.spent_micros, 0);
    const list = (await d.call('GET', '/v1/charges?budget=t')).json.charges;
    assert.equal(list.length, 0, JSON.stringify(list));
  } finally {
    await stopClean(d);
    second.close();
    third.close();
  }
});

test('a fallback dearer than the budget allows: a clean refusal, never held past the limit, never sent', async () => {
  const primary = await errorServer(503);
  const dear = await errorServer(200); // must never be reached
  // 10000 micros: fo-model's worst case fits at openai's price (~420) but not at dear's (~80000).
  const d = await startDaemon(configFile('dear', { primaryUrl: primary.url, limit: '0.010',
    fallbacks: '[dear]', upstreams: { dear: dear.url } }));
  try {
    let peak = 0;
    let polling = true;
    const poll = (async () => {
      while (polling) {
        const b = (await d.call('GET', '/v1/budgets/t')).json;
        peak = Math.max(peak, b.held_micros + b.spent_micros);
      }
    })();
    await assert.rejects(client(d).chat.completions.create(ASK),
      (e) => e.status === 429 && e.error.code === 'budget_exceeded');
    polling = false;
    await poll;
    assert.equal(primary.hits, 1);
    assert.equal(dear.hits, 0, 'the dear fallback was never called');
    assert.ok(peak <= 10000, `held ${peak}`);
    const b = await settled(d);
    assert.equal(b.spent_micros, 0);
  } finally {
    await stopClean(d);
    primary.close();
    dear.close();
  }
});

test('a stream that broke mid-way is not sent to the fallback', async () => {
  const d = await startDaemon(configFile('midway', { primaryUrl: fake2.url }));
  try {
    const before = fake.requests.length;
    const stream = await client(d).chat.completions.create({ ...ASK, stream: true },
      { headers: { 'x-fake-drop-after': '2', 'x-fake-delay-ms': '30' } });
    let chunks = 0;
    await assert.rejects((async () => { for await (const chunk of stream) { void chunk; chunks++; } })());
    assert.ok(chunks >= 1, 'part of the stream reached the client');
    assert.equal(fake.requests.length, before, 'the fallback was never called');
    await settled(d);
    const list = await charges(d, 1);
    assert.equal(list.length, 1, JSON.stringify(list));
    assert.equal(list[0].provider, 'openai');
  } finally {
    await stopClean(d);
  }
});

test('timeout_ms bounds every attempt together: a stalled fallback gets only what is left', async () => {
  const primary = await stallServer();
  const second = await stallServer();
  const d = await startDaemon(configFile('total', { primaryUrl: primary.url,
    primaryExtra: ', answer_timeout_ms: 500', upstreams: { backup: second.url },
    proxy: '  timeout_ms: 1500\n' }));
  try {
    const started = Date.now();
    await assert.rejects(client(d).chat.completions.create(ASK), (e) => e.status === 504);
    const took = Date.now() - started;
    assert.equal(primary.hits, 1);
    assert.equal(second.hits, 1);
    // Not a speed check: a second full timeout_ms would make it at least 2000 ms.
    assert.ok(took < 2000 + 1000, `took ${took} ms`);
  } finally {
    await stopClean(d);
    await primary.shut();
    await second.shut();
  }
});

test('a fallback that does not price the model is passed over; a cheaper one keeps the hold and is charged its own price', async () => {
  const primary = await errorServer(500);
  // `unpriced` has no price for fo-model (its price id is its own name): never called.
  const d = await startDaemon(configFile('passover', { primaryUrl: primary.url,
    fallbacks: '[unpriced, cheap]', upstreams: { unpriced: fake.url, cheap: fake.url } }));
  try {
    const before = fake.requests.length;
    const r = await client(d).chat.completions.create(ASK, { headers: USAGE }).withResponse();
    assert.equal(r.response.headers.get('x-tollgate-upstream'), 'cheap');
    assert.equal(fake.requests.length, before + 1, 'only the priced fallback was called');
    assert.equal(fake.requests[fake.requests.length - 1].headers.authorization, 'Bearer sk-cheap');
    await settled(d);
    const list = await charges(d, 1);
    assert.equal(list.length, 1, JSON.stringify(list));
    assert.equal(list[0].provider, 'cheap');
    assert.equal(list[0].cost_micros, cost('cheap', 300, 50));
    assert.match(d.stderr(), /fallback unpriced has no price for fo-model: passed over/);
  } finally {
    await stopClean(d);
    primary.close();
  }
});

test('30 calls at once on a failing primary: the budget is never held or spent past its limit', async () => {
  const primary = await errorServer(503);
  // backup's worst case for ASK is ~820 micros: 4000 micros fit a few at once, not 30.
  const d = await startDaemon(configFile('concurrent', { primaryUrl: primary.url, limit: '0.004' }));
  try {
    let peak = 0;
    let polling = true;
    const poll = (async () => {
      while (polling) {
        const b = (await d.call('GET', '/v1/budgets/t')).json;
        peak = Math.max(peak, b.held_micros + b.spent_micros);
      }
    })();
    const results = await Promise.allSettled(Array.from({ length: 30 }, () =>
      client(d).chat.completions.create(ASK, { headers: { ...USAGE, 'x-fake-delay-ms': '20' } })));
    polling = false;
    await poll;
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    const refused = results.filter((r) => r.status === 'rejected' && r.reason.status === 429).length;
    assert.equal(ok + refused, 30, JSON.stringify(results.filter((r) => r.status === 'rejected')
      .map((r) => r.reason.status)));
    assert.ok(ok >= 1, 'some answered');
    assert.ok(peak <= 4000, `held + spent peaked at ${peak}`);
    const b = await settled(d);
    assert.ok(b.spent_micros <= 4000);
    assert.equal(b.spent_micros, ok * cost('backup', 300, 50), 'each answer charged once at its price');
  } finally {
    await stopClean(d);
    primary.close();
  }
});

test('Azure to Azure: the same deployment on the fallback resource answers (AzureOpenAI client)', async () => {
  const azureFake = await startFakeLlm({ port: 0, deployments: { prod: 'fo-model', other: 'gpt-4o' } });
  const primary = await errorServer(503);
  const dir = tempDir('upfb-azure');
  const file = path.join(dir, 'azure.yaml');
  fs.writeFileSync(file, `
port: 0
store: {kind: sqlite, path: ${path.join(dir, 'azure.db')}, durability: relaxed}
budgets:
  - {path: t, limit: "1.00"}
keys:
  - {name: bot, role: agent, scope: t, sha256: ${sha('fo-agent')}}
upstreams:
  azure: {wire: azure, base_url: "${primary.url}", api_key: k1, fallbacks: [azure-odd, azure-west],
          deployments: {prod: fo-model}}
  azure-odd: {wire: azure, base_url: "${azureFake.url}", api_key: k2, deployments: {prod: gpt-4o}}
  azure-west: {wire: azure, base_url: "${azureFake.url}", api_key: k3, deployments: {prod: fo-model}}
proxy:
  price_overrides:
${OVERRIDES}
`);
  const d = await startDaemon(file);
  try {
    const az = new AzureOpenAI({ endpoint: d.base, apiKey: 'fo-agent', apiVersion: '2024-10-21',
      deployment: 'prod', maxRetries: 0 });
    const r = await az.chat.completions.create(ASK, { headers: USAGE }).withResponse();
    // azure-odd maps prod to another model: passed over, never called.
    assert.equal(r.response.headers.get('x-tollgate-upstream'), 'azure-west');
    assert.equal(primary.hits, 1);
    assert.equal(azureFake.requests.length, 1);
    assert.equal(azureFake.requests[0].headers['api-key'], 'k3');
    await settled(d);
    const list = await charges(d, 1);
    assert.equal(list.length, 1, JSON.stringify(list));
    assert.equal(list[0].provider, 'azure-west');
    assert.equal(list[0].cost_micros, cost('azure', 300, 50));
  } finally {
    await stopClean(d);
    primary.close();
    await azureFake.close();
  }
});

test('config: a fallback on another wire, unknown, itself, twice, too many, or a bad status stops the daemon', async () => {
  const closed = await closedPortUrl();
  const cases = [
    ['[az]', { az: 'x' }, /upstreams: openai: fallback az speaks wire azure, not openai/],
    ['[nowhere]', {}, /fallback nowhere is not an upstream of this config/],
    ['[openai]', {}, /fallback openai is the upstream itself/],
    ['[backup, backup]', {}, /fallback backup is listed twice/],
    ['[backup, b2, b3, b4, b5]', {}, /fallbacks must be a list of 1 to 4 upstream names/],
    ['[]', {}, /fallbacks must be a list of 1 to 4/],
  ];
  for (const [list, extra, message] of cases) {
    const file = configFile('bad', { primaryUrl: closed, fallbacks: list });
    if (extra.az) {
      fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('upstreams:\n',
        'upstreams:\n  az: {wire: azure, base_url: "http://127.0.0.1:1", api_key: k}\n'));
    }
    const r = spawnSync(binary, ['serve', '--config', file], { encoding: 'utf8', timeout: 10000 });
    assert.notEqual(r.status, 0, list);
    assert.match(r.stderr, message, `${list}: ${r.stderr}`);
  }
  const status = configFile('badstatus', { primaryUrl: closed, proxy: '  fallback_on_status: [200]\n' });
  const r = spawnSync(binary, ['serve', '--config', status], { encoding: 'utf8', timeout: 10000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /fallback_on_status: each status is a whole number in 400..599/);
  // Anthropic's own upstream cannot fall back to an OpenAI-wire one.
  const anth = configFile('anth', { primaryUrl: closed });
  fs.writeFileSync(anth, fs.readFileSync(anth, 'utf8').replace('upstreams:\n',
    `upstreams:\n  anthropic: {base_url: "${closed}", api_key: k, fallbacks: [backup]}\n`));
  const a = spawnSync(binary, ['serve', '--config', anth], { encoding: 'utf8', timeout: 10000 });
  assert.notEqual(a.status, 0);
  assert.match(a.stderr, /upstreams: anthropic: fallback backup speaks wire openai, not anthropic/);
});
