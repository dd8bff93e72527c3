// The daemon on the SQLite store in strict mode: replies only after their group
// commit is on disk (and many requests share one commit); events, charges and history
// paged from the file and surviving a restart; commits priced by model; SIGHUP
// deleting budgets removed from the file; `tollgate report` and `tollgate keys`; the
// routing rules for freeze/unfreeze/history. Node built-ins and the sqlite3 command.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { sha, tempDir, startDaemon, cli, sql, eventually } = require('./daemon_helpers');

const dir = tempDir('sqlite');
const db = path.join(dir, 'ledger.db');
const configFile = path.join(dir, 'tollgate.yaml');
const AGENT = 'agent-secret', READER = 'read-secret';

function writeConfig({ withOld = true, withBusy = true, withReader = true } = {}) {
  fs.writeFileSync(configFile, `port: 0
store: {kind: sqlite, path: ${db}, durability: strict}
budgets:
  - {path: team, limit: "1000.00"}
  - {path: team/a, limit: "10.00", alerts: ["0.5"]}
  - {path: team/b, limit: "100.00"}
${withOld ? '  - {path: team/old, limit: "1.00"}\n' : ''}${withBusy ? '  - {path: team/busy, limit: "1.00"}\n' : ''}
prices:                 # per million tokens
  gpt-4o: {input: "2.50", output: "10.00"}
  tiny: {input_micros: 1, output_micros: 3}
keys:
  - {name: bot, role: agent, scope: team/a, sha256: ${sha(AGENT)}}
${withReader ? `  - {name: dash, role: read, sha256: ${sha(READER)}}  # the dashboard\n` : ''}`);
}

let daemon;
before(async () => {
  writeConfig();
  daemon = await startDaemon(configFile);
});
after(() => daemon.stop('SIGKILL'));

const metric = (text, name) => Number((text.match(new RegExp(`^${name} (\\d+)$`, 'm')) || [0, NaN])[1]);

test('a reply is sent only once its charge is in the file', async () => {
  for (let i = 0; i < 5; i++) {
    const r = await daemon.call('POST', '/v1/charges', { budget: 'team/b', cost_micros: 100 + i });
    assert.equal(r.status, 200);
    // Read through another connection right away: the acknowledged row is there.
    const rows = sql(db, `SELECT cost_micros FROM charges WHERE id = ${r.json.charge_id}`);
    assert.deepEqual(rows, [{ cost_micros: 100 + i }]);
  }
});

test('concurrent requests share group commits, and all of them are durable', async () => {
  const before = (await daemon.call('GET', '/metrics')).text;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 100 });
  const post = (body) => new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request({ host: '127.0.0.1', port: daemon.port, path: '/v1/charges', method: 'POST', agent,
      headers: { Authorization: 'Bearer admin-secret', 'Content-Length': Buffer.byteLength(data) } }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, json: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(data);
  });
  const answers = await Promise.all(Array.from({ length: 400 }, () => post({ budget: 'team/b', cost_micros: 1 })));
  agent.destroy();
  assert.ok(answers.every((a) => a.status === 200));
  const ids = answers.map((a) => a.json.charge_id);
  const stored = sql(db, `SELECT count(*) AS n FROM charges WHERE id IN (${ids.join(',')})`);
  assert.equal(stored[0].n, 400, 'every acknowledged charge is in the file');
  const afterText = (await daemon.call('GET', '/metrics')).text;
  const commits = metric(afterText, 'tollgate_store_commits_total') - metric(before, 'tollgate_store_commits_total');
  const replies = metric(afterText, 'tollgate_store_commit_replies_total') - metric(before, 'tollgate_store_commit_replies_total');
  assert.ok(replies >= 400, `${replies} replies waited for a commit`);
  assert.ok(commits < replies / 2, `${commits} commits for ${replies} replies: requests share commits`);
  assert.ok(metric(afterText, 'tollgate_store_commit_seconds_count') >= commits);
  // Every commit wrote pages to the WAL, a handful each (a budget, its parent, the charge,
  // its index entry, the counters), and none checkpointed more than a catch-up's few.
  const pages = metric(afterText, 'tollgate_store_pages_written_total') - metric(before, 'tollgate_store_pages_written_total');
  assert.ok(pages >= commits && pages <= 20 * commits + 400, `${pages} pages for ${commits} commits`);
  assert.ok(metric(afterText, 'tollgate_store_checkpoint_pages_inline_total') <=
    48 * metric(afterText, 'tollgate_store_checkpoints_total{on="commit"}'));
});

test('commits are priced by model, rounded up, from the prices: section', async () => {
  const hold = await daemon.call('POST', '/v1/holds', { budget: 'team/a', amount: '1.00', model: 'gpt-4o' });
  assert.equal(hold.status, 200);
  const c = await daemon.call('POST', `/v1/holds/${hold.json.hold_id}/commit`,
    { model: 'gpt-4o', tokens_in: 1000, tokens_out: 333, idempotency_key: 'priced-1' });
  assert.equal(c.status, 200, c.text);
  assert.equal(c.json.charged_micros, 5830); // 1000 × 2.50 + 333 × 10.00 per million
  const again = await daemon.call('POST', `/v1/holds/${hold.json.hold_id}/commit`,
    { model: 'gpt-4o', tokens_in: 1000, tokens_out: 333, idempotency_key: 'priced-1' });
  assert.equal(again.json.replayed, true, 'a retry prices the same and replays');
  const row = sql(db, `SELECT model, tokens_in, tokens_out, cost_micros FROM charges WHERE id = ${c.json.charge_id}`);
  assert.deepEqual(row, [{ model: 'gpt-4o', tokens_in: 1000, tokens_out: 333, cost_micros: 5830 }]);
  // 1 input token at 1 micro per million is a millionth of a micro: charged as 1.
  const tinyHold = await daemon.call('POST', '/v1/holds', { budget: 'team/a', amount_micros: 10 });
  const tiny = await daemon.call('POST', `/v1/holds/${tinyHold.json.hold_id}/commit`, { model: 'tiny', tokens_in: 1 });
  assert.equal(tiny.json.charged_micros, 1);
  const charge = await daemon.call('POST', '/v1/charges', { budget: 'team/a', model: 'tiny', tokens_in: 1000000, tokens_out: 1000000 });
  assert.equal(charge.status, 200);
  assert.equal(sql(db, `SELECT cost_micros FROM charges WHERE id = ${charge.json.charge_id}`)[0].cost_micros, 4);
});

test('an unpriced model, or a cost and a model together, is refused clearly', async () => {
  const hold = await daemon.call('POST', '/v1/holds', { budget: 'team/a', amount_micros: 100 });
  const unknown = await daemon.call('POST', `/v1/holds/${hold.json.hold_id}/commit`, { model: 'gpt-9', tokens_in: 5 });
  assert.equal(unknown.status, 400);
  assert.equal(unknown.json.error.code, 'unpriced_model');
  assert.match(unknown.json.error.message, /gpt-9.*prices:/);
  const both = await daemon.call('POST', `/v1/holds/${hold.json.hold_id}/commit`, { model: 'tiny', actual_micros: 5 });
  assert.equal(both.json.error.code, 'invalid_field');
  const neither = await daemon.call('POST', `/v1/holds/${hold.json.hold_id}/commit`, { tokens_in: 5 });
  assert.equal(neither.json.error.code, 'missing_field');
  assert.equal((await daemon.call('GET', `/v1/holds/${hold.json.hold_id}`)).status, 200, 'the hold is still open');
  const charge = await daemon.call('POST', '/v1/charges', { budget: 'team/a', model: 'gpt-9', tokens_in: 1 });
  assert.equal(charge.json.error.code, 'unpriced_model');
  await daemon.call('POST', `/v1/holds/${hold.json.hold_id}/release`, {});
});

test('charges are paged from the file, the budget query decoded', async () => {
  const page = await daemon.call('GET', '/v1/charges?budget=team%2Fa&limit=2');
  assert.equal(page.status, 200);
  assert.equal(page.json.charges.length, 2);
  assert.ok(page.json.charges.every((c) => c.budget === 'team/a'));
  assert.deepEqual(Object.keys(page.json.charges[0]).sort(), ['budget', 'class', 'cost_micros', 'held_micros',
    'hold_id', 'id', 'key', 'latency_ms', 'model', 'outcome', 'provider', 'request_id', 'status', 'tags',
    'time_ms', 'tokens_cached', 'tokens_in', 'tokens_out', 'tokens_reasoning', 'tool', 'user']);
  // A charge made over the API has no proxied call: the spend log's fields are null.
  assert.equal(page.json.charges[0].key, null);
  assert.deepEqual(page.json.charges[0].tags, []);
  const next = await daemon.call('GET', `/v1/charges?budget=team/a&after=${page.json.next}&limit=1000`);
  assert.ok(next.json.charges.every((c) => c.id > page.json.next));
  const all = sql(db, "SELECT count(*) AS n FROM charges WHERE budget = 'team/a'")[0].n;
  assert.equal(page.json.charges.length + next.json.charges.length, all);
  assert.equal((await daemon.call('GET', '/v1/charges?budget=team/b', undefined, AGENT)).status, 403);
  const own = await daemon.call('GET', '/v1/charges', undefined, AGENT);
  assert.ok(own.json.charges.length > 0 && own.json.charges.every((c) => c.budget === 'team/a'));
  const bad = await daemon.call('GET', '/v1/charges?since=yesterday');
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.code, 'invalid_query');
  assert.equal((await daemon.call('GET', '/v1/charges?budget=team%2')).json.error.code, 'invalid_query');
});

test('events are paged from the events table and survive a restart', async () => {
  // team/a passed its 50% alert above (5.83 of 10.00 is not; push it over).
  await daemon.call('POST', '/v1/charges', { budget: 'team/a', cost: '5.00' });
  const refused = await daemon.call('POST', '/v1/holds', { budget: 'team/a', amount: '50.00' });
  assert.equal(refused.status, 402);
  // Refusals change nothing durable; their events reach the file within a tick or so.
  const all = await eventually(async () => {
    const r = await daemon.call('GET', '/v1/events?since=0&limit=1000');
    return r.json.events.some((e) => e.kind === 'denied') ? r.json : null;
  });
  assert.ok(all, 'the denied event is in the file');
  assert.ok(all.events.some((e) => e.kind === 'threshold_crossed' && e.budget === 'team/a'));
  const ids = all.events.map((e) => e.id);
  assert.deepEqual(ids, [...ids].sort((x, y) => x - y));
  assert.equal(all.next, ids[ids.length - 1]);
  assert.equal(sql(db, 'SELECT count(*) AS n FROM events')[0].n, ids.length);
  const two = await daemon.call('GET', '/v1/events?since=0&limit=2');
  assert.deepEqual(two.json.events.map((e) => e.id), ids.slice(0, 2));
  assert.equal(two.json.next, ids[1]);
  const mine = await daemon.call('GET', '/v1/events?since=0&limit=1000', undefined, AGENT);
  assert.ok(mine.json.events.length > 0 && mine.json.events.every((e) => e.budget === 'team/a'));

  assert.equal(await daemon.stop(), 0);
  daemon = await startDaemon(configFile);
  const kept = await daemon.call('GET', `/v1/events?since=0&limit=1000`);
  assert.deepEqual(kept.json.events.slice(0, ids.length), all.events, 'the same events after a restart');
  await daemon.call('POST', '/v1/budgets/team/b/freeze');
  const later = await eventually(async () => {
    const r = await daemon.call('GET', `/v1/events?since=${all.next}`);
    return r.json.events.length ? r.json.events : null;
  });
  assert.ok(later.every((e) => e.id > all.next), 'ids go on after the restart');
  await daemon.call('POST', '/v1/budgets/team/b/unfreeze');
});

test('freeze, unfreeze and history are actions, never budget names', async () => {
  const history = await daemon.call('GET', '/v1/budgets/team/history');
  assert.equal(history.status, 200);
  assert.equal(history.json.budget, 'team');
  assert.ok(Array.isArray(history.json.windows));
  assert.equal((await daemon.call('GET', '/v1/budgets/team/a', undefined, AGENT)).status, 200);
  assert.equal((await daemon.call('GET', '/v1/budgets/team/a/history', undefined, AGENT)).status, 200);
  const reserved = await daemon.call('PUT', '/v1/budgets/team/history', { limit: '1' });
  assert.equal(reserved.status, 400);
  assert.equal(reserved.json.error.code, 'reserved_name');
  assert.equal((await daemon.call('PUT', '/v1/budgets/team/freeze/x', { limit: '1' })).json.error.code, 'reserved_name');
  assert.equal((await daemon.call('POST', '/v1/budgets/team/history')).status, 405);
  assert.equal((await daemon.call('GET', '/v1/budgets/team/freeze')).status, 405);
  assert.equal((await daemon.call('DELETE', '/v1/budgets/team/unfreeze')).status, 405);
  const frozen = await daemon.call('POST', '/v1/budgets/team%2Fb/freeze');
  assert.equal(frozen.json.path, 'team/b', 'the path is decoded');
  assert.equal(frozen.json.frozen, true);
  await daemon.call('POST', '/v1/budgets/team/b/unfreeze');
  const listed = await daemon.call('GET', '/v1/budgets?prefix=team%2Fa');
  assert.deepEqual(listed.json.budgets.map((b) => b.path), ['team/a']);
  const bad = path.join(dir, 'reserved.yaml');
  fs.writeFileSync(bad, `port: 0\nstore: {kind: memory}\nbudgets:\n  - {path: team}\n  - {path: team/history}\n`);
  const r = await cli(['serve', '--config', bad]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /'history' is reserved/);
});

test('SIGHUP deletes budgets removed from the file once they have no holds, keeping spend', async () => {
  const spentBefore = (await daemon.call('GET', '/v1/budgets/team/a')).json.spent_micros;
  const hold = await daemon.call('POST', '/v1/holds', { budget: 'team/busy', amount_micros: 5 });
  assert.equal(hold.status, 200);
  writeConfig({ withOld: false, withBusy: false });
  daemon.child.kill('SIGHUP');
  assert.ok(await eventually(async () => (await daemon.call('GET', '/v1/budgets/team/old')).status === 404));
  assert.equal((await daemon.call('GET', '/v1/budgets/team/busy')).status, 200, 'kept while a hold is open');
  assert.match(daemon.stderr(), /team\/busy removed from the file but kept/);
  assert.equal((await daemon.call('GET', '/v1/budgets/team/a')).json.spent_micros, spentBefore);
  await daemon.call('POST', `/v1/holds/${hold.json.hold_id}/release`, {});
  daemon.child.kill('SIGHUP'); // tried again at the next reload
  assert.ok(await eventually(async () => (await daemon.call('GET', '/v1/budgets/team/busy')).status === 404));
  assert.equal((await daemon.call('GET', '/v1/budgets/team/a')).json.spent_micros, spentBefore);
  await eventually(() => sql(db, "SELECT count(*) AS n FROM budgets WHERE path IN ('team/old', 'team/busy')")[0].n === 0);
  assert.equal(sql(db, "SELECT count(*) AS n FROM budgets WHERE path IN ('team/old', 'team/busy')")[0].n, 0);
});

test('metrics: holds open, decisions, commit latency', async () => {
  const hold = await daemon.call('POST', '/v1/holds', { budget: 'team/b', amount_micros: 5 });
  assert.equal((await daemon.call('POST', '/v1/holds', { budget: 'team/b', amount: '500.00' })).status, 402);
  const text = (await daemon.call('GET', '/metrics')).text;
  assert.equal(metric(text, 'tollgate_holds_open'), 1);
  assert.match(text, /^tollgate_decisions_total\{outcome="refused",reason="ceiling"\} [1-9]/m);
  assert.match(text, /^tollgate_store_commit_seconds_bucket\{le="\+Inf"\} [1-9]/m);
  assert.match(text, /^tollgate_request_seconds_count [1-9]/m);
  assert.match(text, /^tollgate_budget_remaining_micros\{budget="team\/b"\} \d+$/m);
  await daemon.call('POST', `/v1/holds/${hold.json.hold_id}/release`, {});
  const after = (await daemon.call('GET', '/metrics')).text;
  assert.equal(metric(after, 'tollgate_holds_open'), 0);
});

test('tollgate report: the same sums from the daemon and from the file', async () => {
  const env = { TOLLGATE_URL: daemon.base, TOLLGATE_KEY: 'admin-secret' };
  const remote = await cli(['report', '--format', 'json'], env);
  assert.equal(remote.status, 0, remote.stderr);
  const local = await cli(['report', '--db', db, '--format', 'json']);
  assert.equal(local.status, 0, local.stderr);
  assert.deepEqual(JSON.parse(remote.stdout), JSON.parse(local.stdout));
  const report = JSON.parse(local.stdout);
  const sums = sql(db, 'SELECT budget, sum(cost_micros) AS cost FROM charges GROUP BY budget ORDER BY budget');
  assert.deepEqual(report.rows.map((r) => [r.key, r.cost_micros]), sums.map((r) => [r.budget, r.cost]));
  assert.equal(report.total.cost_micros, sums.reduce((a, r) => a + r.cost, 0));
  const byModel = await cli(['report', '--by', 'model', '--format', 'csv', '--budget', 'team/a'], env);
  assert.match(byModel.stdout, /^model,charges,cost,cost_micros,tokens_in,tokens_out$/m);
  assert.match(byModel.stdout, /^"gpt-4o",1,0\.005830,5830,1000,333$/m);
  const table = await cli(['report', '--by', 'day'], env);
  assert.match(table.stdout, /^day +charges +cost/m);
  assert.match(table.stdout, /^\d{4}-\d{2}-\d{2} +\d+ +\d+\.\d{6}/m);
  assert.match(table.stdout, /^TOTAL /m);
  const none = await cli(['report', '--since', '2999-01-01', '--format', 'json'], env);
  assert.equal(JSON.parse(none.stdout).total.charges, 0);
  assert.equal((await cli(['report', '--by', 'colour'])).status, 2);
  assert.match((await cli(['report', '--help'])).stdout, /examples:/);
});

test('tollgate keys list and revoke edit the file; SIGHUP applies it', async () => {
  const listed = await cli(['keys', 'list', '--config', configFile, '--json']);
  assert.equal(listed.status, 0, listed.stderr);
  assert.deepEqual(JSON.parse(listed.stdout).map((k) => [k.name, k.role]), [['bot', 'agent'], ['dash', 'read']]);
  const table = await cli(['keys', 'list', '--config', configFile]);
  assert.match(table.stdout, /^bot +agent +normal +team\/a +[0-9a-f]{12}\.\.\.$/m);
  assert.equal((await daemon.call('GET', '/v1/budgets/team', undefined, READER)).status, 200);
  const dry = await cli(['keys', 'revoke', 'dash', '--config', configFile, '--dry-run']);
  assert.match(dry.stdout, /would remove .* line \d+: +- \{name: dash/);
  assert.match(fs.readFileSync(configFile, 'utf8'), /name: dash/, 'a dry run changes nothing');
  const revoked = await cli(['keys', 'revoke', 'dash', '--config', configFile]);
  assert.equal(revoked.status, 0, revoked.stderr);
  assert.doesNotMatch(fs.readFileSync(configFile, 'utf8'), /name: dash/);
  assert.match(fs.readFileSync(configFile, 'utf8'), /name: bot/);
  daemon.child.kill('SIGHUP');
  assert.ok(await eventually(async () => (await daemon.call('GET', '/v1/budgets/team', undefined, READER)).status === 401));
  assert.equal((await daemon.call('GET', '/v1/budgets/team/a', undefined, AGENT)).status, 200);
  assert.equal((await cli(['keys', 'revoke', 'dash', '--config', configFile])).status, 4, 'no such key');
  // The last key out leaves an empty keys: list, which still loads.
  assert.equal((await cli(['keys', 'revoke', 'bot', '--config', configFile])).status, 0);
  const empty = await cli(['keys', 'list', '--config', configFile, '--json']);
  assert.deepEqual(JSON.parse(empty.stdout), []);
  assert.match((await cli(['keys', '--help'])).stdout, /revoke/);
});

test('relaxed durability answers first and writes within sync_interval_ms', async () => {
  const relaxedDb = path.join(dir, 'relaxed.db');
  const relaxedConfig = path.join(dir, 'relaxed.yaml');
  fs.writeFileSync(relaxedConfig, `port: 0
store: {kind: sqlite, path: ${relaxedDb}, durability: relaxed}
limits: {sync_interval_ms: 50}
budgets:
  - {path: r}
`);
  const relaxed = await startDaemon(relaxedConfig);
  const r = await relaxed.call('POST', '/v1/charges', { budget: 'r', cost_micros: 7 });
  assert.equal(r.status, 200);
  assert.ok(await eventually(() => sql(relaxedDb, `SELECT count(*) AS n FROM charges WHERE id = ${r.json.charge_id}`)[0].n === 1, 1000),
    'on disk within the interval');
  assert.equal(await relaxed.stop(), 0);
});

test('SIGTERM exits 0 with everything on disk', async () => {
  const spent = (await daemon.call('GET', '/v1/budgets/team')).json.spent_micros;
  assert.equal(await daemon.stop(), 0);
  assert.equal(sql(db, "SELECT spent_micros FROM budgets WHERE path = 'team'")[0].spent_micros, spent);
});

test('reads stay inside a key\'s scope: a sibling whose name extends it, the parent, tricks in the query', async () => {
  const own = tempDir('sqlite-scope');
  const file = path.join(own, 'tollgate.yaml');
  fs.writeFileSync(file, `port: 0
store: {kind: sqlite, path: ${path.join(own, 'ledger.db')}, durability: strict}
budgets:
  - {path: t, limit: "100.00"}
  - {path: t/a, limit: "10.00"}
  - {path: t/ab, limit: "10.00"}
  - {path: t/a/x, limit: "10.00"}
keys:
  - {name: bot, role: agent, scope: t/a, sha256: ${sha(AGENT)}}
  - {name: ops, role: admin, scope: t/a, sha256: ${sha('scoped-admin')}}
`);
  const d = await startDaemon(file);
  try {
    // Money and an open hold on each: t/a and its child (the key's), t/ab and t (not).
    for (const budget of ['t/a', 't/a/x', 't/ab', 't']) {
      assert.equal((await d.call('POST', '/v1/charges', { budget, cost: '1.00' })).status, 200);
      assert.equal((await d.call('POST', '/v1/holds', { budget, amount: '0.50' })).status, 200);
    }
    const inScope = (b) => b === 't/a' || b.startsWith('t/a/');
    for (const kind of ['charges', 'holds']) {
      for (const query of ['t/ab', 't', 't/a%2Fb', 't%2Fab', 't/a/../ab', '']) {
        const r = await d.call('GET', `/v1/${kind}?budget=${query}&limit=1000`, undefined, AGENT);
        if (r.status === 200) {
          assert.ok(r.json[kind].length > 0 || query !== '', `${kind} ${query}: the key's own rows`);
          assert.ok(r.json[kind].every((row) => inScope(row.budget)), `${kind}?budget=${query}: ${JSON.stringify(r.json)}`);
        } else {
          assert.ok([400, 403, 404].includes(r.status), `${kind}?budget=${query}: ${r.status}`);
        }
      }
      assert.equal((await d.call('GET', `/v1/${kind}?budget=t/ab`, undefined, AGENT)).status, 403);
      assert.equal((await d.call('GET', `/v1/${kind}?budget=t`, undefined, AGENT)).status, 403);
      // Without a filter: the key's subtree, both of its budgets, nothing else.
      const mine = await d.call('GET', `/v1/${kind}?limit=1000`, undefined, AGENT);
      assert.deepEqual([...new Set(mine.json[kind].map((row) => row.budget))].sort(), ['t/a', 't/a/x']);
      // An admin key reads the whole ledger, whatever scope its entry names.
      const all = await d.call('GET', `/v1/${kind}?limit=1000`, undefined, 'scoped-admin');
      assert.deepEqual([...new Set(all.json[kind].map((row) => row.budget))].sort(), ['t', 't/a', 't/a/x', 't/ab']);
    }
    const events = await d.call('GET', '/v1/events?since=0&limit=1000', undefined, AGENT);
    assert.equal(events.status, 200);
    assert.ok(events.json.events.every((e) => inScope(e.budget)), JSON.stringify(events.json.events));
  } finally {
    await d.stop('SIGKILL');
  }
});
