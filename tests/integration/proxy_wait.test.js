// Waiting in the LLM proxy (issue 18): with proxy.wait_ms (or an upstream's own wait_ms),
// a call refused now that could fit within the wait waits in the daemon as a waiting hold
// (docs/ledger.md, "Waiting holds") instead of failing, then goes upstream once the money
// frees, or is refused with the usual provider-shaped 429 at its deadline. A client that
// disconnects while waiting leaves nothing held. Driven by the official SDKs against the
// fake LLM; room is made and taken with the JSON API's holds.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { OpenAI } = require('openai');
const { Anthropic } = require('@anthropic-ai/sdk');
const { sha, tempDir, startDaemon, eventually: soon } = require('./daemon_helpers.js');

// Waits for fn() to be truthy and fails the test when it is not within ms.
async function eventually(fn, ms, what = 'condition') {
  const value = await soon(fn, ms);
  assert.ok(value, `timed out waiting for ${what}`);
  return value;
}
const { startFakeLlm } = require('../upstream/fake_llm.js');
const { stopClean } = require('./proxy_helpers.js');

const AGENT = 'wait-agent';
let fake, daemon, openai, anthropic;

test.before(async () => {
  fake = await startFakeLlm({ port: 0 });
  const dir = tempDir('proxy-wait');
  const file = path.join(dir, 'tollgate.yaml');
  // openai inherits proxy.wait_ms (300 ms); anthropic overrides it (20 s)
  fs.writeFileSync(file, `
port: 0
store: {kind: sqlite, path: ${path.join(dir, 'tollgate.db')}, durability: relaxed}
budgets:
  - {path: team, limit: "0.010000"}
keys:
  - {name: bot, role: agent, scope: team, sha256: ${sha(AGENT)}}
upstreams:
  openai: {base_url: "${fake.url}", api_key: sk-upstream}
  anthropic: {base_url: "${fake.url}", api_key: sk-ant-upstream, wait_ms: 20000}
proxy: {wait_ms: 300}
`);
  daemon = await startDaemon(file);
  openai = new OpenAI({ apiKey: AGENT, baseURL: `${daemon.base}/v1`, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: AGENT, baseURL: daemon.base, maxRetries: 0 });
});

test.after(async () => {
  await stopClean(daemon);
  await fake.close();
});

const budget = async () => (await daemon.call('GET', '/v1/budgets/team')).json;
const waiting = async () => (await daemon.call('GET', '/v1/holds?state=waiting')).json;

// An API hold that leaves `free` micros of the 10000 limit (after what is spent).
async function block(free) {
  const b = await budget();
  const amount = 10000 - b.spent_micros - b.held_micros - free;
  const r = await daemon.call('POST', '/v1/holds', { budget: 'team', amount_micros: amount, ttl_ms: 600000 });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.json.hold_id;
}
const release = async (id) => assert.equal((await daemon.call('POST', `/v1/holds/${id}/release`, {})).status, 200);

const ask = (signal) => anthropic.messages.create({
  model: 'claude-sonnet-4-0', max_tokens: 64, messages: [{ role: 'user', content: 'hello there' }],
}, { signal, headers: { 'x-fake-output-tokens': '5' } });

test('a call that cannot fit now waits, then runs once the money frees (upstream wait_ms)', async () => {
  const blocker = await block(0);
  const call = ask();
  const listed = await eventually(async () => { const w = await waiting(); return w.count === 1 && w; }, 10000);
  assert.equal(listed.waiting[0].budget, 'team');
  assert.ok(listed.waiting[0].amount_micros > 0);
  await release(blocker);
  const answer = await call;
  assert.equal(answer.type, 'message');
  assert.ok(answer.usage.output_tokens > 0);
  await eventually(async () => (await budget()).held_micros === 0, 10000);
  assert.ok((await budget()).spent_micros > 0, 'the call was charged');
});

test('past proxy.wait_ms the usual 429 refusal, with what to do next', async () => {
  const blocker = await block(0);
  const before = await budget();
  const refused = await openai.chat.completions.create({
    model: 'gpt-4o-mini', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }],
  }).catch((e) => e);
  assert.equal(refused.status, 429, String(refused));
  const details = refused.error; // OpenAI's shape: the refusal's fields beside message and code
  assert.equal(details.budget, 'team');
  assert.equal(details.reason, 'ceiling');
  assert.ok(details.next && 'wait_ms' in details.next, JSON.stringify(details));
  assert.equal((await waiting()).count, 0);
  await release(blocker);
  assert.equal((await budget()).spent_micros, before.spent_micros, 'nothing charged for a refused call');
});

test('a call that could never fit is refused at once, never queued', async () => {
  // gpt-4o's output alone (2000 tokens at $10 per million: 0.02) is twice the limit
  const huge = await openai.chat.completions.create({
    model: 'gpt-4o', max_tokens: 2000, messages: [{ role: 'user', content: 'x' }],
  }).catch((e) => e);
  assert.equal(huge.status, 429, String(huge));
  assert.equal((await waiting()).count, 0);
});

test('a client that disconnects while waiting leaves nothing held', async () => {
  const blocker = await block(0);
  const spent = (await budget()).spent_micros;
  const sent = fake.requests.length;
  const abort = new AbortController();
  const call = ask(abort.signal).catch((e) => e);
  await eventually(async () => (await waiting()).count === 1, 10000, 'the call waits');
  abort.abort();
  assert.ok((await call) instanceof Error);
  await eventually(async () => (await waiting()).count === 0, 10000, 'the waiter dropped as the client left');
  await release(blocker);
  // the room freed goes to nobody: nothing held, nothing charged, the whole rest fits a hold
  await eventually(async () => (await budget()).held_micros === 0, 10000, 'nothing held');
  assert.equal((await budget()).spent_micros, spent);
  const all = await block(0);
  await release(all);
  assert.equal(fake.requests.length, sent, 'the call never went upstream');
});

test('a bad wait_ms is a clear config error, at start', () => {
  const { spawnSync } = require('node:child_process');
  const { binary } = require('./daemon_helpers.js');
  for (const [where, text] of [['proxy: {wait_ms: 600001}', 'proxy.wait_ms'],
    ['proxy: {wait_ms: soon}', 'proxy.wait_ms'],
    ['upstreams:\n  openai: {base_url: "http://127.0.0.1:1", wait_ms: -5}', 'upstreams: wait_ms']]) {
    const dir = tempDir('proxy-wait-bad');
    const file = path.join(dir, 'bad.yaml');
    fs.writeFileSync(file, `port: 0\nstore: {kind: memory}\n${where}\n`);
    const run = spawnSync(binary, ['serve', '--config', file], { encoding: 'utf8', timeout: 10000,
      env: { ...process.env, TOLLGATE_ADMIN_KEY: 'x' } });
    assert.notEqual(run.status, 0, where);
    assert.match(run.stderr, new RegExp(`${text}.*0\\.\\.600000`), run.stderr);
  }
});
