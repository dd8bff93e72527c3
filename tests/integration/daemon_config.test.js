// The config file applied all or nothing, at start and on a reload (SIGHUP or `tollgate
// reload`): a refused file leaves the ledger, live and on disk, as it was, and says where
// and why; an unchanged file changes nothing, not even an event; every error names the
// file, line and column; signals are caught from the moment "listening" is printed; a
// port that cannot be had says why.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { binary, sha, tempDir, startDaemon, cli, sql, eventually } = require('./daemon_helpers');

const ADMIN = 'admin-secret';
const READER = 'read-secret';

function budgetsYaml(budgets) {
  return budgets.map((b) => `  - ${b}`).join('\n');
}

function writeConfig(file, db, budgets) {
  fs.writeFileSync(file, `port: 0
store: {kind: sqlite, path: ${db}}
keys:
  - {name: dash, role: read, sha256: ${sha(READER)}}
budgets:
${budgetsYaml(budgets)}
`);
}

const GOOD = ['{path: team, limit: "100.00"}', '{path: team/a, limit: "10.00", alerts: ["0.5"]}'];

test('a start refused by the ledger writes nothing: bad zone, orphan, revoke_at above the limit', async () => {
  const dir = tempDir('config-start');
  const cases = [
    ['{path: team/b, limit: "5.00", timezone: Mars/Olympus}', /budget 'team\/b' \(line 8\).*Mars\/Olympus/],
    ['{path: nowhere/b, limit: "5.00"}', /budget 'nowhere\/b' \(line 8\).*parent/],
    ['{path: team/b, limit: "5.00", revoke_at: "6.00"}', /budget 'team\/b' \(line 8\).*revocation threshold/],
  ];
  for (const [bad, why] of cases) {
    const db = path.join(dir, `ledger-${cases.indexOf(cases.find((c) => c[0] === bad))}.db`);
    const file = path.join(dir, 'bad.yaml');
    writeConfig(file, db, [...GOOD, bad]);
    const r = await cli(['serve', '--config', file], { TOLLGATE_ADMIN_KEY: ADMIN });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, why);
    assert.deepEqual(sql(db, 'SELECT path FROM budgets'), [], `${bad}: nothing applied, nothing on disk`);
  }
});

test('a refused reload changes nothing and says why; an unchanged one emits no event', async (t) => {
  const dir = tempDir('config-reload');
  const db = path.join(dir, 'ledger.db');
  const file = path.join(dir, 'tollgate.yaml');
  writeConfig(file, db, GOOD);
  const d = await startDaemon(file, { admin: ADMIN });
  t.after(() => d.stop('SIGKILL'));
  const env = { TOLLGATE_URL: d.base, TOLLGATE_KEY: ADMIN };
  assert.equal((await d.call('POST', '/v1/charges', { budget: 'team/a', cost: '6' })).status, 200);
  const changes = async () => (await d.call('GET', '/v1/events?since=0&limit=1000')).json.events
    .filter((e) => e.kind === 'budget_changed').length;
  const before = await changes();
  // The same file again, by SIGHUP and by `tollgate reload`: no budget_changed.
  d.child.kill('SIGHUP');
  assert.ok(await eventually(() => /reloaded/.test(d.stderr()), 5000));
  const same = await cli(['reload'], env);
  assert.equal(same.status, 0, same.stderr);
  assert.match(same.stdout, /reloaded .*tollgate\.yaml: 0 budgets changed/);
  assert.equal(await changes(), before, 'an unchanged file emits no budget_changed');
  // A file whose first change is good and whose last is refused: nothing of it applies.
  writeConfig(file, db, ['{path: team, limit: "200.00"}', GOOD[1], '{path: ghost/a, limit: "5.00"}']);
  const refused = await cli(['reload'], env);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /refused, the daemon keeps its config: .*budget 'ghost\/a' \(line \d+\): .*parent/);
  const api = await d.call('POST', '/v1/admin/reload');
  assert.equal(api.status, 422);
  assert.equal(api.json.applied, false);
  assert.equal(api.json.error.code, 'config_invalid');
  d.child.kill('SIGHUP');
  assert.ok(await eventually(() => /reload refused, keeping the old config/.test(d.stderr()), 5000));
  assert.equal((await d.call('GET', '/v1/budgets/team')).json.limit_micros, 100000000, 'live: unchanged');
  await eventually(() => false, 50); // one tick: any write would have been committed
  assert.deepEqual(sql(db, "SELECT cost_limit_micros FROM budgets WHERE path = 'team'"), [{ cost_limit_micros: 100000000 }]);
  assert.equal(await changes(), before, 'no event for a refused file');
  // A file with a syntax error: the same, with its line and column.
  fs.writeFileSync(file, 'port: 0\nbudgets: [\n');
  const syntax = await d.call('POST', '/v1/admin/reload');
  assert.equal(syntax.status, 422);
  assert.match(syntax.json.error.message, /tollgate\.yaml:3:1: YAML syntax error: flow sequence without a closing bracket/);
  // A good change applies, and says what it did. Only an admin may reload.
  writeConfig(file, db, ['{path: team, limit: "300.00"}', GOOD[1]]);
  assert.equal((await d.call('POST', '/v1/admin/reload', undefined, READER)).status, 403);
  const applied = await d.call('POST', '/v1/admin/reload');
  assert.equal(applied.status, 200, applied.text);
  assert.deepEqual([applied.json.applied, applied.json.budgets_changed], [true, 1]);
  assert.equal((await d.call('GET', '/v1/budgets/team')).json.limit_micros, 300000000);
  assert.equal(await changes(), before + 1);
  assert.equal((await cli(['reload'], { ...env, TOLLGATE_KEY: READER })).status, 4);
});

test('every config error names the file, line and column and what was expected', async () => {
  const dir = tempDir('config-errors');
  const file = path.join(dir, 'c.yaml');
  const hash = sha('x');
  const cases = [
    ['budgets:\n  - {path: team, limt: "5"}\n', /c\.yaml:2:18: unknown budget field 'limt': expected path, limit, calls/],
    ['budgets:\n  - path: team\n    window: fortnight\n', /c\.yaml:3:13: 'window' must be lifetime, hour, day, week or month, not 'fortnight'/],
    ['budgets:\n  - {path: team, limit: "1."}\n', /c\.yaml:2:26: 'limit' must be an amount like "500\.00", not '1\.'/],
    ['budgets:\n  - {path: team}\n  - {path: team/a}\n  - {path: team}\n', /c\.yaml:4: budget 'team' is declared twice \(first at line 2\)/],
    ['budgets:\n  - {path: team/./a}\n', /c\.yaml:2:6: budget path 'team\/\.\/a' has a '\.' or '\.\.' segment/],
    [`keys:\n  - {name: a, role: agent, scope: team, sha256: ${hash}}\n  - {name: b, role: admin, sha256: ${hash}}\n`,
      /c\.yaml:3: one sha256 is listed twice with different roles/],
    ['limits: {holds_max: 99999999999999999999}\n', /c\.yaml:1:21: 'limits\.holds_max' must be a whole number from 1 to 1073741823/],
    ['port: 0\nstore: {kind: sqlite, path: x.db, durablity: strict}\n', /c\.yaml:2:35: unknown store field 'durablity': expected kind, path, durability, url, tls, cluster, timeout_ms, wait_replicas or wait_timeout_ms/],
    ['policy: {rules: [{tool: x, class: urgent}]}\n', /c\.yaml:1:35: rule class must be low, normal, high or critical/],
    ['port: 0\nbudget:\n  - {path: team}\n', /c\.yaml:2:1: unknown section 'budget': expected address, port, store/],
    ['a: [1, 2\nb: 3\n', /c\.yaml:3:1: YAML syntax error: flow sequence without a closing bracket/],
    ['a: 1\na: 2\n', /c\.yaml:2:1: YAML syntax error: duplicate key/],
  ];
  for (const [text, want] of cases) {
    fs.writeFileSync(file, text);
    const r = await cli(['serve', '--config', file]);
    assert.equal(r.status, 1, text);
    assert.match(r.stderr, want, text);
    assert.doesNotMatch(r.stderr, /alloc-@/);
  }
});

test('a signal the moment "listening" is printed is handled, never fatal', async () => {
  const dir = tempDir('config-signals');
  const file = path.join(dir, 'c.yaml');
  fs.writeFileSync(file, 'port: 0\nstore: {kind: memory}\nbudgets:\n  - {path: team, limit: "1"}\n');
  for (let i = 0; i < 8; i++) {
    const signal = i % 2 ? 'SIGTERM' : 'SIGHUP';
    const child = spawn(binary, ['serve', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve({ code, sig })));
    let stdout = '', stderr = '';
    child.stderr.on('data', (c) => { stderr += c; });
    child.stdout.on('data', (c) => {
      stdout += c;
      if (/listening on/.test(stdout) && !child.signalled) {
        child.signalled = true;
        child.kill(signal); // at once, in the same tick as the line arrives
      }
    });
    if (signal === 'SIGHUP') {
      // It goes on serving: stop it politely and it exits 0.
      assert.ok(await eventually(() => child.signalled, 10000));
      // handled means reloaded: the daemon says so, or it ended and the line never comes
      await eventually(() => /tollgate: reloaded /.test(stderr) || child.exitCode !== null || child.signalCode !== null, 10000);
      assert.equal(child.exitCode, null, 'SIGHUP right after "listening" did not end the daemon');
      assert.match(stderr, /tollgate: reloaded /, 'SIGHUP right after "listening" reloaded the config');
      child.kill('SIGTERM');
    }
    assert.deepEqual(await exited, { code: 0, sig: null }, `${signal} #${i}`);
  }
});

test('"cannot listen" says why', async () => {
  const holder = net.createServer();
  await new Promise((r) => holder.listen(0, '127.0.0.1', r));
  const dir = tempDir('config-listen');
  const file = path.join(dir, 'c.yaml');
  fs.writeFileSync(file, `port: ${holder.address().port}\nstore: {kind: memory}\n`);
  const r = await cli(['serve', '--config', file]);
  holder.close();
  assert.equal(r.status, 1);
  assert.match(r.stderr, /cannot listen on 127\.0\.0\.1:\d+: Address already in use \(is another tollgate/);
  fs.writeFileSync(file, 'port: 0\naddress: no-such-host.invalid\nstore: {kind: memory}\n');
  const unresolved = await cli(['serve', '--config', file]);
  assert.equal(unresolved.status, 1);
  assert.match(unresolved.stderr, /cannot listen on no-such-host\.invalid:0: /);
});
