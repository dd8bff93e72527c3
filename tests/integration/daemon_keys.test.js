// Keys and roles on a real daemon: keys made, listed, revoked and rotated over the API and
// with `tollgate keys` (admin only, the secret shown once, only hashes on disk), a change
// holding at once on open keep-alive connections and event streams, keys kept across a
// restart, config keys still read; a key's highest class (policy may lower, never raise
// past it); idempotency keys scoped per API key; /metrics behind a key, or open to
// loopback scrapers when the config says so.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { sha, tempDir, startDaemon, cli, sql, eventually, connect } = require('./daemon_helpers');
const { SseClient } = require('./sse_client.js');

const ADMIN = 'admin-secret';
const YAML_AGENT = 'yaml-agent-secret';
const TRUSTED = 'trusted-agent-secret';
const OTHER_AGENT = 'other-agent-secret';
const TRUSTED_KEY = `  - {name: trusted, role: agent, scope: team/a, class_max: critical, sha256: ${sha(TRUSTED)}}\n`;

function writeConfig(dir, { keys = '', extra = '' } = {}) {
  const db = path.join(dir, 'ledger.db');
  const file = path.join(dir, 'tollgate.yaml');
  fs.writeFileSync(file, `port: 0
store: {kind: sqlite, path: ${db}}
budgets:
  - {path: team, limit: "1000.00"}
  - {path: team/a, limit: "100.00", revoke_at: "80.00"}
  - {path: team/b, limit: "100.00", revoke_at: "80.00"}
policy:
  default: normal
  rules:
    - {tool: "refund_*", class: critical}
    - {tool: "send_email", class: high}
    - {tool: "web_search", class: low}
keys:
  - {name: yaml-agent, role: agent, scope: team/a, sha256: ${sha(YAML_AGENT)}}
  - {name: other-agent, role: agent, scope: team/a, sha256: ${sha(OTHER_AGENT)}}
${keys}${extra}`);
  return { db, file };
}

test('keys over the API: admin only, secret once, hashes only, at once on every connection', async (t) => {
  const dir = tempDir('keys-api');
  const { db, file } = writeConfig(dir);
  let d = await startDaemon(file, { admin: ADMIN });
  t.after(() => d.stop('SIGKILL'));
  const made = await d.call('POST', '/v1/keys', { name: 'bot', role: 'agent', scope: 'team/a' });
  assert.equal(made.status, 200, made.text);
  const secret = made.json.secret;
  assert.match(secret, /^tg_[0-9a-f]{48}$/);
  assert.equal(made.json.class_max, 'normal', 'an agent key lifts no work past normal by default');
  // Only the hash is on disk, and no other table holds the secret.
  const rows = sql(db, 'SELECT name, sha256, role, scope, class_max FROM api_keys');
  assert.deepEqual(rows, [{ name: 'bot', sha256: sha(secret), role: 'agent', scope: 'team/a', class_max: 'normal' }]);
  assert.equal(fs.readFileSync(db).includes(Buffer.from(secret)), false, 'the secret is nowhere in the file');
  // The new key works at once, inside its scope only.
  assert.equal((await d.call('POST', '/v1/holds', { budget: 'team/a', amount: '1' }, secret)).status, 200);
  assert.equal((await d.call('POST', '/v1/holds', { budget: 'team/b', amount: '1' }, secret)).status, 403);
  // Only an admin manages keys; a name is taken once; a config key's name is the file's.
  for (const key of [secret, YAML_AGENT]) {
    assert.equal((await d.call('POST', '/v1/keys', { name: 'x', role: 'admin' }, key)).status, 403);
    assert.equal((await d.call('GET', '/v1/keys', undefined, key)).status, 403);
  }
  assert.equal((await d.call('POST', '/v1/keys', { name: 'bot', role: 'read' })).json.error.code, 'exists');
  const clash = await d.call('DELETE', '/v1/keys/yaml-agent');
  assert.equal(clash.status, 409);
  assert.match(clash.json.error.message, /tollgate\.yaml line \d+.*tollgate reload/);
  for (const bad of [{ name: '..', role: 'agent' }, { name: 'a b', role: 'agent' }, { name: 'x', role: 'root' },
    { name: 'x', role: 'agent', scope: 'team/../b' }, { name: 'x', role: 'agent', class_max: 'auto' }]) {
    assert.equal((await d.call('POST', '/v1/keys', bad)).status, 400, JSON.stringify(bad));
  }
  // The list: every key the daemon takes, never a secret.
  const list = await d.call('GET', '/v1/keys');
  assert.deepEqual(list.json.keys.map((k) => [k.name, k.source]).sort(),
    [['TOLLGATE_ADMIN_KEY', 'env'], ['bot', 'ledger'], ['other-agent', 'config'], ['yaml-agent', 'config']]);
  assert.equal(list.text.includes(secret), false);
  // Rotate on an open keep-alive connection: the old secret fails on its very next request.
  const kept = await connect(d.port, secret);
  assert.equal((await kept.ask('GET', '/v1/budgets/team/a')).status, 200);
  const stream = await new SseClient(d.base, '/v1/events/stream', { Authorization: `Bearer ${secret}` }).opened;
  assert.equal(stream.status, 200);
  const rotated = await d.call('POST', '/v1/keys/bot/rotate');
  assert.equal(rotated.status, 200);
  assert.notEqual(rotated.json.secret, secret);
  assert.equal((await kept.ask('GET', '/v1/budgets/team/a')).status, 401, 'the old secret, same connection');
  assert.equal((await kept.ask('GET', '/v1/budgets/team/a', { as: rotated.json.secret })).status, 200);
  assert.ok(await eventually(() => stream.ended, 3000), 'the old secret\'s event stream ended');
  assert.deepEqual(stream.others.map((e) => [e.event, e.data.reason]), [['closed', 'key_changed']]);
  // Kept across a restart; revoke holds at once, on the open connection too.
  await d.stop();
  d = await startDaemon(file, { admin: ADMIN });
  const again = await connect(d.port, rotated.json.secret);
  assert.equal((await again.ask('GET', '/v1/budgets/team/a')).status, 200, 'the key survived the restart');
  assert.equal((await d.call('DELETE', '/v1/keys/bot')).status, 200);
  assert.equal((await again.ask('GET', '/v1/budgets/team/a')).status, 401, 'revoked, same connection');
  assert.equal((await d.call('DELETE', '/v1/keys/bot')).status, 404);
  assert.deepEqual(sql(db, 'SELECT count(*) AS n FROM api_keys'), [{ n: 0 }]);
  kept.socket.destroy();
  again.socket.destroy();
  stream.close();
});

test('tollgate keys create|list|rotate|revoke talk to the daemon; --config works on the file', async (t) => {
  const dir = tempDir('keys-cli');
  const { file } = writeConfig(dir);
  const d = await startDaemon(file, { admin: ADMIN });
  t.after(() => d.stop('SIGKILL'));
  const env = { TOLLGATE_URL: d.base, TOLLGATE_KEY: ADMIN };
  const help = await cli(['keys', 'create', '--help'], env);
  assert.equal(help.status, 0, 'keys create --help is help, not a usage error');
  assert.match(help.stdout, /usage: tollgate keys create/);
  const made = await cli(['keys', 'create', 'cli-bot', '--role', 'agent', '--scope', 'team/b', '--json'], env);
  assert.equal(made.status, 0, made.stderr);
  const secret = JSON.parse(made.stdout).secret;
  assert.equal((await d.call('POST', '/v1/holds', { budget: 'team/b', amount: '1' }, secret)).status, 200);
  const listed = await cli(['keys', 'list'], env);
  assert.equal(listed.status, 0);
  assert.match(listed.stdout, /^cli-bot\s+agent\s+normal\s+team\/b\s+ledger\s+[0-9a-f]{12}$/m);
  assert.match(listed.stdout, /^yaml-agent\s+agent\s+normal\s+team\/a\s+config/m);
  assert.equal(listed.stdout.includes(secret), false);
  const rotated = await cli(['keys', 'rotate', 'cli-bot'], env);
  assert.equal(rotated.status, 0, rotated.stderr);
  const fresh = rotated.stdout.match(/^secret: (tg_[0-9a-f]{48})$/m)[1];
  assert.equal((await d.call('GET', '/v1/budgets/team/b', undefined, secret)).status, 401);
  assert.equal((await d.call('GET', '/v1/budgets/team/b', undefined, fresh)).status, 200);
  assert.equal((await cli(['keys', 'revoke', 'cli-bot'], env)).status, 0);
  assert.equal((await d.call('GET', '/v1/budgets/team/b', undefined, fresh)).status, 401);
  // Errors: a config key is the file's (4), an unknown option (2, the closest one named).
  const yaml = await cli(['keys', 'revoke', 'yaml-agent'], env);
  assert.equal(yaml.status, 4);
  assert.match(yaml.stderr, /tollgate reload/);
  const typo = await cli(['keys', 'create', 'x', '--role', 'agent', '--scpoe', 'team'], env);
  assert.equal(typo.status, 2);
  assert.match(typo.stderr, /unknown option '--scpoe' \(did you mean --scope\?\)/);
  assert.equal((await cli(['keys', 'list', 'extra'], env)).status, 2);
  assert.equal((await cli(['keys', 'create', 'x', '--role', 'agent'], { ...env, TOLLGATE_KEY: YAML_AGENT })).status, 4);
  // The file: list it, revoke from it, and `tollgate reload` applies it at once.
  const fromFile = await cli(['keys', 'list', '--config', file, '--json']);
  assert.deepEqual(JSON.parse(fromFile.stdout).map((k) => k.name), ['yaml-agent', 'other-agent']);
  const removed = await cli(['keys', 'revoke', 'yaml-agent', '--config', file]);
  assert.equal(removed.status, 0, removed.stderr);
  assert.match(removed.stdout, /now run `tollgate reload`/);
  assert.doesNotMatch(removed.stdout, /kill -HUP/);
  assert.equal((await d.call('GET', '/v1/budgets/team/a', undefined, YAML_AGENT)).status, 200, 'until the reload');
  const reload = await cli(['reload'], env);
  assert.equal(reload.status, 0, reload.stderr);
  assert.equal((await d.call('GET', '/v1/budgets/team/a', undefined, YAML_AGENT)).status, 401);
  const yamlEntry = await cli(['keys', 'create', 'later', '--role', 'read', '--print-yaml']);
  assert.match(yamlEntry.stdout, /^ {2}- \{name: later, role: read, scope: "", sha256: [0-9a-f]{64}\}$/m);
});

test('a key\'s highest class: policy may lower an agent\'s work, never raise it past class_max', async (t) => {
  const dir = tempDir('keys-class');
  const { file } = writeConfig(dir, { keys: TRUSTED_KEY });
  const d = await startDaemon(file, { admin: ADMIN });
  t.after(() => d.stop('SIGKILL'));
  const classOf = async (tool, key) => {
    const r = await d.call('POST', '/v1/holds', { budget: 'team/a', amount: '0.01', tool }, key);
    assert.equal(r.status, 200, r.text);
    return r.json.class;
  };
  // The agent names the tool, so a critical rule matching it is the agent's own choice.
  assert.equal(await classOf('refund_order', YAML_AGENT), 'normal');
  assert.equal(await classOf('send_email', YAML_AGENT), 'normal');
  assert.equal(await classOf('web_search', YAML_AGENT), 'low', 'lowering still applies');
  assert.equal(await classOf('refund_order', TRUSTED), 'critical', 'class_max: critical in the file');
  assert.equal(await classOf('refund_order', ADMIN), 'critical');
  // Past the revocation threshold, the capped agent is refused where critical work goes on.
  assert.equal((await d.call('POST', '/v1/charges', { budget: 'team/a', cost: '85', force: true })).status, 200);
  const capped = await d.call('POST', '/v1/holds', { budget: 'team/a', amount: '1', tool: 'refund_order' }, YAML_AGENT);
  assert.equal(capped.status, 402);
  assert.equal(capped.json.refusal.reason, 'revoked');
  assert.equal((await d.call('POST', '/v1/holds', { budget: 'team/a', amount: '1', tool: 'refund_order' }, TRUSTED)).status, 200);
  // The same for a key made over the API, and for charges.
  const made = await d.call('POST', '/v1/keys', { name: 'high-bot', role: 'agent', scope: 'team/a', class_max: 'high' });
  assert.equal(await classOf('refund_order', made.json.secret), 'high');
  const charged = await d.call('POST', '/v1/charges', { budget: 'team/a', cost: '1', tool: 'refund_order' }, YAML_AGENT);
  assert.equal(charged.status, 402, 'a capped charge is refused like a capped hold');
});

test('idempotency keys are scoped per API key: one agent can neither squat nor read another\'s', async (t) => {
  const dir = tempDir('keys-idem');
  const { file } = writeConfig(dir);
  const d = await startDaemon(file, { admin: ADMIN });
  t.after(() => d.stop('SIGKILL'));
  const other = OTHER_AGENT;
  const first = await d.call('POST', '/v1/holds', { budget: 'team/a', amount: '2', idempotency_key: 'req-1' }, YAML_AGENT);
  assert.equal(first.status, 200);
  // The other agent with the same key and the same body: its own hold, not a replay of A's.
  const theirs = await d.call('POST', '/v1/holds', { budget: 'team/a', amount: '2', idempotency_key: 'req-1' }, other);
  assert.equal(theirs.status, 200);
  assert.equal(theirs.json.replayed, false);
  assert.notEqual(theirs.json.hold_id, first.json.hold_id);
  // With other arguments: no conflict either (the key is not taken for it).
  const different = await d.call('POST', '/v1/holds', { budget: 'team/a', amount: '3', idempotency_key: 'req-2' }, other);
  const squat = await d.call('POST', '/v1/holds', { budget: 'team/a', amount: '5', idempotency_key: 'req-2' }, YAML_AGENT);
  assert.equal(different.status, 200);
  assert.equal(squat.status, 200, 'B used req-2 first; A may still use it');
  // Each one's own repeat is a replay of its own answer.
  const replay = await d.call('POST', '/v1/holds', { budget: 'team/a', amount: '2', idempotency_key: 'req-1' }, YAML_AGENT);
  assert.equal(replay.json.replayed, true);
  assert.equal(replay.json.hold_id, first.json.hold_id);
  // A commit keyed by B cannot replay A's commit answer either.
  const commit = await d.call('POST', `/v1/holds/${first.json.hold_id}/commit`, { actual: '1', idempotency_key: 'c-1' }, YAML_AGENT);
  assert.equal(commit.status, 200);
  const stolen = await d.call('POST', `/v1/holds/${first.json.hold_id}/commit`, { actual: '1', idempotency_key: 'c-1' }, other);
  assert.equal(stolen.status, 404, 'not A\'s answer: the hold is closed, and B has no answer of its own');
  // The room the prefix takes is said, not silently cut.
  const long = await d.call('POST', '/v1/holds', { budget: 'team/a', amount: '1', idempotency_key: 'k'.repeat(111) }, other);
  assert.equal(long.status, 400);
});

test('/metrics open to loopback scrapers only when the config says so', async (t) => {
  const dir = tempDir('keys-metrics');
  const { file } = writeConfig(dir, { extra: 'metrics: {open_on_loopback: true}\n' });
  const d = await startDaemon(file, { admin: ADMIN });
  t.after(() => d.stop('SIGKILL'));
  const open = await d.call('GET', '/metrics', undefined, null);
  assert.equal(open.status, 200);
  assert.match(open.text, /^tollgate_budgets 3$/m);
  // The rest of the API is not opened by it.
  assert.equal((await d.call('GET', '/v1/budgets', undefined, null)).status, 401);
});

test('a secret used many times (cached) is refused right after rotate, revoke or reload, on the proxy too', async (t) => {
  // The keyring keeps recently found secrets so that a keep-alive agent is not hashed
  // on every request; every key change builds a new keyring, and with it a new cache.
  const { startFakeLlm } = require('../upstream/fake_llm.js');
  const fake = await startFakeLlm({ port: 0 });
  t.after(() => fake.close());
  const dir = tempDir('keys-cache');
  const upstream = `upstreams:\n  openai: {base_url: "${fake.url}", api_key: sk-upstream}\n`;
  const { file } = writeConfig(dir, { keys: TRUSTED_KEY, extra: upstream });
  const d = await startDaemon(file, { admin: ADMIN });
  t.after(() => d.stop('SIGKILL'));
  const body = JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
  const chat = (conn, as) => conn.ask('POST', '/v1/chat/completions', { as, body, headers: { 'Content-Type': 'application/json' } });
  const made = await d.call('POST', '/v1/keys', { name: 'bot', role: 'agent', scope: 'team/a' });
  assert.equal(made.status, 200, made.text);
  const conn = await connect(d.port, made.json.secret);
  for (let i = 0; i < 5; i++) {
    assert.equal((await chat(conn)).status, 200);
  }
  // Rotated: the old secret fails on its very next request, the new one works.
  const rotated = await d.call('POST', '/v1/keys/bot/rotate');
  assert.equal(rotated.status, 200);
  assert.equal((await chat(conn)).status, 401, 'the old secret, just after the rotation');
  for (let i = 0; i < 3; i++) {
    assert.equal((await chat(conn, rotated.json.secret)).status, 200);
  }
  // Revoked: refused at once.
  assert.equal((await d.call('DELETE', '/v1/keys/bot')).status, 200);
  assert.equal((await chat(conn, rotated.json.secret)).status, 401, 'revoked');
  // A config key removed from the file: refused right after the reload, on the proxy and
  // the API alike; a key still in the file keeps working.
  for (let i = 0; i < 3; i++) {
    assert.equal((await chat(conn, TRUSTED)).status, 200);
    assert.equal((await chat(conn, YAML_AGENT)).status, 200);
  }
  writeConfig(dir, { extra: upstream });
  const reload = await d.call('POST', '/v1/admin/reload');
  assert.equal(reload.status, 200, reload.text);
  assert.equal((await chat(conn, TRUSTED)).status, 401, 'removed from the file, just after the reload');
  assert.equal((await conn.ask('GET', '/v1/budgets/team/a', { as: TRUSTED })).status, 401);
  assert.equal((await chat(conn, YAML_AGENT)).status, 200);
  conn.socket.destroy();
});
