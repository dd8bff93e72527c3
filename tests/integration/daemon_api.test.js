// Integration test of `tollgate serve`: starts the real daemon on a free loopback
// port (port 0; the daemon prints the one the kernel chose) and drives every
// endpoint, role and error over HTTP. Node's built-in test runner and fetch only.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const binary = process.env.TG_BINARY || 'build/tollgate';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-api-'));
const sha = (s) => crypto.createHash('sha256').update(s).digest('hex');
const ADMIN = 'admin-secret', AGENT = 'agent-secret', READER = 'read-secret', SCRAPER = 'metrics-secret';
const configFile = path.join(dir, 'tollgate.yaml');

function writeConfig(teamLimit) {
  fs.writeFileSync(configFile, `port: 0
store: {kind: memory}
limits: {body_size_max_bytes: 4096}
budgets:
  - {path: team, limit: "${teamLimit}"}
  - {path: team/a, limit: "10.00", revoke_at: "8.00", alerts: ["0.5"]}
  - {path: team/b, limit: "10.00"}
policy:
  default: normal
  rules:
    - {tool: "refund_*", class: critical}
keys:
  - {name: bot, role: agent, scope: team/a, sha256: ${sha(AGENT)}}
  - {name: dash, role: read, sha256: ${sha(READER)}}
  - {name: prometheus, role: metrics, sha256: ${sha(SCRAPER)}}
`);
}

let daemon, base, exited;
before(async () => {
  writeConfig('100.00');
  daemon = spawn(binary, ['serve', '--config', configFile], {
    env: { ...process.env, TOLLGATE_ADMIN_KEY: ADMIN }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  exited = new Promise((resolve) => daemon.on('exit', (code) => resolve(code)));
  base = await new Promise((resolve, reject) => {
    let text = '';
    daemon.stdout.on('data', (chunk) => {
      text += chunk;
      const m = text.match(/listening on (http:\/\/[0-9.]+:\d+)/);
      if (m) resolve(m[1]);
    });
    daemon.on('exit', () => reject(new Error('daemon exited before listening')));
  });
});
after(() => { if (daemon.exitCode === null) daemon.kill('SIGKILL'); });

async function call(method, url, body, key = ADMIN, raw) {
  const headers = key ? { Authorization: `Bearer ${key}` } : {};
  const res = await fetch(base + url, {
    method, headers, body: raw !== undefined ? raw : body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text, headers: res.headers };
}

test('healthz needs no key; metrics need an admin, read or metrics key', async () => {
  const h = await call('GET', '/healthz', undefined, null);
  assert.equal(h.status, 200);
  assert.equal(h.json.status, 'ok');
  // /metrics names every budget and its spend: not for anyone who can reach the port.
  const anonymous = await call('GET', '/metrics', undefined, null);
  assert.equal(anonymous.status, 401);
  assert.equal(anonymous.json.error.code, 'unauthorized');
  assert.doesNotMatch(anonymous.text, /tollgate_budget_spent_micros/);
  assert.equal((await call('GET', '/metrics', undefined, 'no-such-key')).status, 401);
  assert.equal((await call('GET', '/metrics', undefined, AGENT)).status, 403, 'an agent key may not');
  for (const key of [ADMIN, READER, SCRAPER]) {
    const m = await call('GET', '/metrics', undefined, key);
    assert.equal(m.status, 200);
    assert.match(m.text, /tollgate_decisions_total\{outcome="granted"\}/);
    assert.match(m.text, /tollgate_budget_spent_micros\{budget="team\/a"\}/);
  }
  // A metrics key reads /metrics and nothing else.
  for (const url of ['/v1/budgets/team', '/v1/events?since=0', '/v1/events/stream']) {
    const r = await call('GET', url, undefined, SCRAPER);
    assert.equal(r.status, 403, url);
    assert.equal(r.json.error.code, 'forbidden', url);
  }
});

test('hold, read, commit, release, charge', async () => {
  const h = await call('POST', '/v1/holds', { budget: 'team/a', amount_micros: 2000000, tool: 'x', idempotency_key: 'k1' });
  assert.equal(h.status, 200);
  assert.equal(h.json.granted, true);
  const again = await call('POST', '/v1/holds', { budget: 'team/a', amount_micros: 2000000, tool: 'x', idempotency_key: 'k1' });
  assert.equal(again.json.hold_id, h.json.hold_id);
  assert.equal(again.json.replayed, true);
  const g = await call('GET', `/v1/holds/${h.json.hold_id}`);
  assert.equal(g.status, 200);
  assert.equal(g.json.amount_micros, 2000000);
  assert.equal(g.json.cancel_requested, false);
  const c = await call('POST', `/v1/holds/${h.json.hold_id}/commit`, { actual: '1.5' });
  assert.equal(c.status, 200);
  assert.equal(c.json.charged_micros, 1500000);
  const gone = await call('GET', `/v1/holds/${h.json.hold_id}`);
  assert.equal(gone.status, 404);
  assert.equal(gone.json.error.code, 'not_found');
  const h2 = await call('POST', '/v1/holds', { budget: 'team/a', amount_micros: 1 });
  const r = await call('POST', `/v1/holds/${h2.json.hold_id}/release`, {});
  assert.equal(r.status, 200);
  assert.equal(r.json.released, true);
  const ch = await call('POST', '/v1/charges', { budget: 'team/b', cost_micros: 500000, model: 'm' });
  assert.equal(ch.status, 200);
  assert.equal(ch.json.charged, true);
  const b = await call('GET', '/v1/budgets/team/a');
  assert.equal(b.json.spent_micros, 1500000);
  assert.equal(b.json.held_micros, 0);
});

test('a refusal is 402 with the engine fields and Retry-After', async () => {
  const hold = await call('POST', '/v1/holds', { budget: 'team/a', amount_micros: 6000000 });
  assert.equal(hold.status, 200);
  const r = await call('POST', '/v1/holds', { budget: 'team/a', amount_micros: 2000000 });
  assert.equal(r.status, 402);
  assert.equal(r.json.refusal.reason, 'revoked');
  assert.equal(r.json.refusal.budget, 'team/a');
  assert.equal(r.json.refusal.max_amount_micros, 500000);
  assert.ok(Number(r.headers.get('retry-after')) > 0);
  const crit = await call('POST', '/v1/holds', { budget: 'team/a', amount_micros: 2000000, tool: 'refund_order' });
  assert.equal(crit.status, 200, 'critical work goes past the revocation threshold');
  assert.equal(crit.json.class, 'critical');
  const over = await call('POST', '/v1/holds', { budget: 'team/a', amount_micros: 2000000, tool: 'refund_order' });
  assert.equal(over.status, 402);
  assert.equal(over.json.refusal.reason, 'ceiling');
  await call('POST', `/v1/holds/${hold.json.hold_id}/release`, {});
  await call('POST', `/v1/holds/${crit.json.hold_id}/release`, {});
});

test('batch answers in order', async () => {
  const r = await call('POST', '/v1/batch', { operations: [
    { op: 'hold', body: { budget: 'team/b', amount_micros: 100 } },
    { op: 'charge', body: { budget: 'team/b', cost_micros: 1 } },
    { op: 'commit', hold_id: 999999, body: { actual_micros: 1 } },
    { op: 'nope' },
    { op: 'release' },
  ] });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.results.map((x) => x.status), [200, 200, 404, 400, 400]);
  assert.equal(r.json.results[4].body.error.code, 'invalid_operation');
  const c = await call('POST', '/v1/batch', { operations: [
    { op: 'commit', hold_id: r.json.results[0].body.hold_id, body: { actual_micros: 50 } }] });
  assert.equal(c.json.results[0].status, 200);
});

test('budgets: put, patch, list, freeze, unfreeze, delete, history', async () => {
  const p = await call('PUT', '/v1/budgets/team/c', { limit: '5.00', window: 'day', alerts_ppm: [800000] });
  assert.equal(p.status, 200);
  assert.equal(p.json.limit_micros, 5000000);
  assert.equal(p.json.window, 'day');
  const patch = await call('PATCH', '/v1/budgets/team/c', { revoke_at_ppm: 900000 });
  assert.equal(patch.json.limit_micros, 5000000);
  assert.equal(patch.json.threshold_micros, 4500000);
  const list = await call('GET', '/v1/budgets?prefix=team/');
  assert.deepEqual(list.json.budgets.map((b) => b.path), ['team/a', 'team/b', 'team/c']);
  const encoded = await call('GET', '/v1/budgets?prefix=team%2Fc');
  assert.deepEqual(encoded.json.budgets.map((b) => b.path), ['team/c'], 'the query is URL-decoded');
  const f = await call('POST', '/v1/budgets/team/c/freeze');
  assert.equal(f.json.frozen, true);
  const refused = await call('POST', '/v1/holds', { budget: 'team/c', amount_micros: 1 });
  assert.equal(refused.status, 402);
  assert.equal(refused.json.refusal.reason, 'frozen');
  assert.equal(refused.headers.get('retry-after'), null);
  const u = await call('POST', '/v1/budgets/team/c/unfreeze');
  assert.equal(u.json.frozen, false);
  const h = await call('GET', '/v1/budgets/team/c/history');
  assert.ok([200, 501].includes(h.status), 'history: 200 (sqlite) or 501 (memory store)');
  const d = await call('DELETE', '/v1/budgets/team/c');
  assert.equal(d.status, 200);
  assert.equal((await call('GET', '/v1/budgets/team/c')).status, 404);
  const orphan = await call('PUT', '/v1/budgets/nobody/x', { limit: '1' });
  assert.equal(orphan.status, 404);
});

test('charges are paged from the SQLite file (501 on the memory store)', async () => {
  const r = await call('GET', '/v1/charges?budget=team/a&since=0&limit=10');
  assert.equal(r.status, 501);
  assert.equal(r.json.error.code, 'unsupported');
});

test('events are paged by id', async () => {
  const all = await call('GET', '/v1/events?since=0&limit=2');
  assert.equal(all.json.events.length, 2);
  const next = await call('GET', `/v1/events?since=${all.json.next}`);
  assert.ok(next.json.events.every((e) => e.id > all.json.next));
  assert.ok(next.json.events.some((e) => e.kind === 'denied'));
});

test('agent key: only its subtree, never limits, class or unfreeze', async () => {
  const own = await call('POST', '/v1/holds', { budget: 'team/a', amount_micros: 1 }, AGENT);
  assert.equal(own.status, 200);
  assert.equal((await call('GET', `/v1/holds/${own.json.hold_id}`, undefined, AGENT)).status, 200);
  assert.equal((await call('POST', `/v1/holds/${own.json.hold_id}/commit`, { actual_micros: 1 }, AGENT)).status, 200);
  const other = await call('POST', '/v1/holds', { budget: 'team/b', amount_micros: 1 }, AGENT);
  assert.equal(other.status, 403);
  assert.equal(other.json.error.code, 'forbidden');
  assert.equal((await call('POST', '/v1/holds', { budget: 'team', amount_micros: 1 }, AGENT)).status, 403);
  assert.equal((await call('POST', '/v1/charges', { budget: 'team/b', cost_micros: 1 }, AGENT)).status, 403);
  assert.equal((await call('POST', '/v1/charges', { budget: 'team/a', cost_micros: 1, force: true }, AGENT)).status, 403);
  assert.equal((await call('GET', '/v1/charges?budget=team/b', undefined, AGENT)).status, 403);
  assert.equal((await call('POST', '/v1/holds', { budget: 'team/a', amount_micros: 1, class: 'critical' }, AGENT)).status, 403);
  assert.equal((await call('PATCH', '/v1/budgets/team/a', { limit: '1000' }, AGENT)).status, 403);
  assert.equal((await call('PUT', '/v1/budgets/team/a/x', { limit: '1' }, AGENT)).status, 403);
  assert.equal((await call('POST', '/v1/budgets/team/a/freeze', undefined, AGENT)).status, 403);
  assert.equal((await call('POST', '/v1/budgets/team/a/unfreeze', undefined, AGENT)).status, 403);
  assert.equal((await call('DELETE', '/v1/budgets/team/a', undefined, AGENT)).status, 403);
  assert.equal((await call('GET', '/v1/budgets/team/b', undefined, AGENT)).status, 403);
  const list = await call('GET', '/v1/budgets', undefined, AGENT);
  assert.deepEqual(list.json.budgets.map((b) => b.path), ['team/a']);
  const theirs = await call('POST', '/v1/holds', { budget: 'team/b', amount_micros: 1 });
  assert.equal((await call('POST', `/v1/holds/${theirs.json.hold_id}/commit`, { actual_micros: 1 }, AGENT)).status, 403);
  assert.equal((await call('POST', `/v1/holds/${theirs.json.hold_id}/release`, {}, AGENT)).status, 403);
  assert.equal((await call('GET', `/v1/holds/${theirs.json.hold_id}`, undefined, AGENT)).status, 403);
  const batch = await call('POST', '/v1/batch', { operations: [{ op: 'hold', body: { budget: 'team/b', amount_micros: 1 } }] }, AGENT);
  assert.equal(batch.json.results[0].status, 403);
});

test('read key reads everything and changes nothing', async () => {
  assert.equal((await call('GET', '/v1/budgets/team/b', undefined, READER)).status, 200);
  assert.equal((await call('POST', '/v1/holds', { budget: 'team/b', amount_micros: 1 }, READER)).status, 403);
  assert.equal((await call('POST', '/v1/charges', { budget: 'team/b', cost_micros: 1 }, READER)).status, 403);
  assert.equal((await call('POST', '/v1/budgets/team/b/freeze', undefined, READER)).status, 403);
});

test('errors: auth, JSON, types, fields, size, routes', async () => {
  const expect = async (r, status, code) => {
    const res = await r;
    assert.equal(res.status, status, res.text);
    assert.equal(res.json.error.code, code);
    assert.equal(typeof res.json.error.message, 'string');
  };
  await expect(call('GET', '/v1/budgets', undefined, null), 401, 'unauthorized');
  await expect(call('GET', '/v1/budgets', undefined, 'wrong'), 401, 'unauthorized');
  await expect(call('POST', '/v1/holds', undefined, ADMIN, '{"budget":'), 400, 'malformed_json');
  await expect(call('POST', '/v1/holds', undefined, ADMIN, '[1]'), 400, 'invalid_body');
  await expect(call('POST', '/v1/holds', undefined, ADMIN, '{"budget":"team/a","budget":"team/b"}'), 400, 'malformed_json');
  await expect(call('POST', '/v1/holds', { budget: 7, amount_micros: 1 }), 400, 'invalid_field');
  await expect(call('POST', '/v1/holds', { budget: 'team/a', amount_micros: '1' }), 400, 'invalid_field');
  await expect(call('POST', '/v1/holds', { budget: 'team/a', amount_micros: -1 }), 400, 'invalid_field');
  await expect(call('POST', '/v1/holds', { budget: 'team/a', amount: '1.1234567' }), 400, 'invalid_field');
  await expect(call('POST', '/v1/holds', { budget: 'team/a', amount_micros: 1, colour: 'red' }), 400, 'invalid_field');
  await expect(call('POST', '/v1/holds', { amount_micros: 1 }), 400, 'missing_field');
  await expect(call('POST', '/v1/holds', { budget: 'team/zz', amount_micros: 1 }), 404, 'not_found');
  await expect(call('POST', '/v1/holds', { budget: 'bad path!', amount_micros: 1 }), 400, 'invalid');
  await expect(call('POST', '/v1/holds/12/commit', {}), 400, 'missing_field');
  await expect(call('PUT', '/v1/budgets/team/a', { window: 'fortnight' }), 400, 'invalid_field');
  await expect(call('GET', '/v1/nothing'), 404, 'no_route');
  await expect(call('GET', '/v1/holds/abc'), 404, 'no_route');
  await expect(call('POST', '/v1/batch', { ops: [] }), 400, 'invalid_field');
  const big = await call('POST', '/v1/holds', undefined, ADMIN, JSON.stringify({ budget: 'team/a', tool: 'x'.repeat(8000) }));
  assert.equal(big.status, 413, 'a body past body_size_max_bytes is refused');
  assert.equal(big.json.error.code, 'body_too_large', 'in JSON, not libevent\'s page');
  await expect(call('GET', '/v1/events?since=abc'), 400, 'invalid_query');
  await expect(call('GET', '/v1/budgets?prefix=%zz'), 400, 'invalid_query');
  await expect(call('GET', '/v1/budgets/team%'), 400, 'invalid_path');
  await expect(call('DELETE', '/v1/holds'), 405, 'method_not_allowed');
  await expect(call('PUT', '/v1/budgets/team/history', { limit: '1' }), 400, 'reserved_name');
});

test('SIGHUP reloads budgets without losing spend; SIGTERM exits 0', async () => {
  const before = (await call('GET', '/v1/budgets/team')).json.spent_micros;
  assert.ok(before > 0);
  writeConfig('200.00');
  daemon.kill('SIGHUP');
  // The reload is handled on the loop thread; poll until the new limit shows.
  let team;
  for (const end = Date.now() + 10000; Date.now() < end;) {
    team = (await call('GET', '/v1/budgets/team')).json;
    if (team.limit_micros === 200000000) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(team.limit_micros, 200000000);
  assert.equal(team.spent_micros, before);
  daemon.kill('SIGTERM');
  assert.equal(await exited, 0);
});
