// The proxy's price overrides (`proxy.price_overrides` in the daemon's YAML) and their
// reload on SIGHUP: an override changes what a call is charged, a model the table lacks
// can be added, SIGHUP applies a changed override to the next call while a call in flight
// keeps the prices it was held with, and a broken price file on reload keeps the old
// prices. The price table is a copy of the build's prices.json in a temp folder, so the
// test can break it.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { OpenAI } = require('openai');
const { binary, sha, tempDir, startDaemon, eventually } = require('./daemon_helpers.js');
const { startFakeLlm } = require('../upstream/fake_llm.js');

const AGENT = 'agent-secret';
let fake, daemon, openai, dir, configFile, pricesFile;

// Micros for `input` and `output` tokens at micros-per-million prices, rounded up once.
const cost = (input, output, inputMtok, outputMtok) =>
  Number((BigInt(input) * BigInt(inputMtok) + BigInt(output) * BigInt(outputMtok) + 999999n) / 1000000n);

function writeConfig(inputMtok, extra = '') {
  fs.writeFileSync(configFile, `
port: 0
store: {kind: memory}
budgets:
  - {path: team, limit: "1000.00"}
keys:
  - {name: bot, role: agent, scope: team, sha256: ${sha(AGENT)}}
upstreams:
  openai: {base_url: "${fake.url}", api_key: sk-upstream}
proxy:
  prices_file: ${pricesFile}
  price_overrides:
    - {provider: openai, model: gpt-4o-mini, input_mtok: ${inputMtok}, output_mtok: 2000000}
    - {provider: openai, model: acme-local-model, input_mtok: 3000000, output_mtok: 5000000,
       context_window: 32000}
${extra}
`);
}

async function spentAfter(before) {
  return eventually(async () => {
    const r = await daemon.call('GET', '/v1/budgets/team');
    return r.json.spent_micros !== before && r.json.held_micros === 0 ? r.json.spent_micros : null;
  });
}

async function spent() {
  return (await daemon.call('GET', '/v1/budgets/team')).json.spent_micros;
}

// One plain call of `model` with the fake upstream reporting 1000 input, 20 output tokens.
async function call(model) {
  const before = await spent();
  const r = await openai.chat.completions.create({
    model, max_tokens: 50, messages: [{ role: 'user', content: 'Say hello' }],
  }, { headers: { 'x-fake-output-tokens': '20', 'x-fake-input-tokens': '1000' } });
  assert.equal(r.usage.prompt_tokens, 1000);
  return (await spentAfter(before)) - before;
}

// Sends SIGHUP and waits until the daemon has logged `pattern` once more than before.
async function reload(pattern) {
  const seen = (daemon.stderr().match(new RegExp(pattern.source, 'g')) || []).length;
  daemon.child.kill('SIGHUP');
  const done = await eventually(() => (daemon.stderr().match(new RegExp(pattern.source, 'g')) || []).length > seen, 5000);
  assert.ok(done, `no ${pattern} after SIGHUP: ${daemon.stderr()}`);
}

test.before(async () => {
  fake = await startFakeLlm({ port: 0 });
  dir = tempDir('proxy-prices');
  configFile = path.join(dir, 'tollgate.yaml');
  pricesFile = path.join(dir, 'prices.json');
  fs.copyFileSync(path.join(path.dirname(binary), 'prices.json'), pricesFile);
  writeConfig(1000000);
  daemon = await startDaemon(configFile);
  openai = new OpenAI({ apiKey: AGENT, baseURL: `${daemon.base}/v1`, maxRetries: 0 });
});

test.after(async () => {
  const code = await daemon.stop();
  await fake.close();
  assert.doesNotMatch(daemon.stderr(), /AddressSanitizer|runtime error|LeakSanitizer/, daemon.stderr());
  assert.equal(code, 0, daemon.stderr());
});

test('an override replaces the table price, and can add a model the table lacks', async () => {
  assert.ok(await eventually(() => /2 price overrides/.test(daemon.stderr())), daemon.stderr());
  assert.equal(await call('gpt-4o-mini'), cost(1000, 20, 1000000, 2000000));
  assert.equal(await call('gpt-4o-mini-2024-07-18'), cost(1000, 20, 1000000, 2000000),
    'an override of a table id covers its dated aliases');
  assert.equal(await call('acme-local-model'), cost(1000, 20, 3000000, 5000000));
});

test('SIGHUP applies a changed override to the next call; a call in flight keeps its prices', async () => {
  const before = await spent();
  // A slow stream held at the current prices (1 $/M input), still running during the reload.
  const stream = await openai.chat.completions.create({
    model: 'gpt-4o-mini', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'hi' }],
  }, { headers: { 'x-fake-output-tokens': '10', 'x-fake-input-tokens': '1000', 'x-fake-delay-ms': '60' } });
  const iterator = stream[Symbol.asyncIterator]();
  await iterator.next(); // the call is admitted and streaming
  writeConfig(4000000);
  await reload(/proxy: reloaded/);
  for (let r = await iterator.next(); !r.done; r = await iterator.next()) { /* drain */ }
  assert.equal((await spentAfter(before)) - before, cost(1000, 10, 1000000, 2000000),
    'the call in flight is charged at the prices it was held with');
  assert.equal(await call('gpt-4o-mini'), cost(1000, 20, 4000000, 2000000), 'the next call: the new price');
});

test('a broken price file on reload keeps the old prices and says so', async () => {
  const good = fs.readFileSync(pricesFile);
  fs.writeFileSync(pricesFile, '{"format":"tollgate-prices/1","providers":[{"id":"openai","models":[');
  writeConfig(9000000);
  await reload(/proxy keeps its old prices/);
  assert.match(daemon.stderr(), /proxy keeps its old prices and settings: .*price table/);
  assert.equal(await call('gpt-4o-mini'), cost(1000, 20, 4000000, 2000000), 'the old override still applies');
  assert.equal(await call('acme-local-model'), cost(1000, 20, 3000000, 5000000));
  fs.writeFileSync(pricesFile, good);
  await reload(/proxy: reloaded/);
  assert.equal(await call('gpt-4o-mini'), cost(1000, 20, 9000000, 2000000), 'a fixed file reloads');
});

test('a bad override on reload keeps the old prices; at start it stops the daemon', async () => {
  writeConfig(9000000, '    - {provider: openai, model: gpt-4o, input_mtok: -5}');
  // The reload reads the whole file first: a bad override refuses all of it (the good
  // change of gpt-4o-mini's price included), and the old prices stay.
  await reload(/reload refused, keeping the old config: .*input_mtok must be a whole number/);
  assert.equal(await call('gpt-4o-mini'), cost(1000, 20, 9000000, 2000000));
  const other = path.join(dir, 'bad.yaml');
  fs.writeFileSync(other, fs.readFileSync(configFile, 'utf8').replace('input_mtok: -5', 'input_mtok: 5, wings: 2'));
  const started = spawnSync(binary, ['serve', '--config', other, '--port', '0'], { encoding: 'utf8', timeout: 10000 });
  assert.notEqual(started.status, 0);
  assert.match(started.stderr, /price_overrides: unknown key .*wings/);
});
