// The `tollgate` command refuses what it does not understand (issue 14, "The CLI"): a
// misspelled option or an extra argument is a usage error (exit 2, the usage, the closest
// valid option) and never runs a different command than the one typed; budget paths go
// into URLs encoded, with `.`/`..` refused; and the commands the issue found missing.
// Each case below checks the ledger too: a refused command line must change nothing.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { binary, tempDir, startDaemon, cli, eventually } = require('./daemon_helpers');

const dir = tempDir('cli-strict');
let daemon, env;

before(async () => {
  const config = path.join(dir, 'c.yaml');
  fs.writeFileSync(config, [
    'port: 0', `store: {kind: sqlite, path: ${path.join(dir, 'ledger.db')}}`,
    'budgets:', '  - {path: team, limit: "100.00"}', '  - {path: team/a, limit: "10.00"}',
    '  - {path: team/b, limit: "10.00"}', ''].join('\n'));
  daemon = await startDaemon(config, { admin: 'adm' });
  env = { TOLLGATE_URL: daemon.base, TOLLGATE_KEY: 'adm' };
});
after(() => daemon.stop());

const run = (...args) => cli(args, env);
const budget = async (p) => (await daemon.call('GET', `/v1/budgets/${p}`)).json;
const holdsOn = async (p) => (await budget(p)).held_micros;

function assertUsage(r, pattern) {
  assert.equal(r.status, 2, `exit 2 expected: ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, /usage:|--help/);
  if (pattern) assert.match(r.stderr, pattern);
}

test('a misspelled --idempotency_key is refused, so a retry cannot charge twice', async () => {
  const held = await holdsOn('team/a');
  for (let i = 0; i < 2; i++) {
    assertUsage(await run('hold', 'team/a', '1', '--idempotency_key', 'r1'), /did you mean --idempotency-key\?/);
  }
  assert.equal(await holdsOn('team/a'), held, 'nothing was held');
  const good = await run('hold', 'team/a', '1', '--idempotency-key', 'r1', '--json');
  const again = await run('hold', 'team/a', '1', '--idempotency-key', 'r1', '--json');
  assert.equal(JSON.parse(again.stdout).hold_id, JSON.parse(good.stdout).hold_id, 'the key works when spelled right');
  assert.equal(await holdsOn('team/a'), held + 1000000);
  assert.equal((await run('release', String(JSON.parse(good.stdout).hold_id))).status, 0);
});

test('--too web_search is refused (it ran as a normal-class hold)', async () => {
  assertUsage(await run('hold', 'team/a', '0.5', '--too', 'web_search'), /did you mean --tool\?/);
  assertUsage(await run('charge', 'team/a', '0.5', '--modle', 'gpt-4o'), /did you mean --model\?/);
});

test('unknown options, missing values, repeats and extra arguments: exit 2 everywhere', async () => {
  const cases = [
    [['status', 'extra', 'more'], /unexpected argument 'more'/],
    [['release', '1', '2'], /unexpected argument '2'/],
    [['commit', '1'], /missing ACTUAL/],
    [['hold', 'team/a', '1', '--tool'], /--tool needs a value/],
    [['hold', 'team/a', '1', '--tool', 'x', '--tool', 'y'], /given twice/],
    [['events', '--sinse', '3'], /did you mean --since\?/],
    [['events', '--follow', '--failed'], /--follow reads the event log/],
    [['events', '--db', 'x.db'], /goes with --failed/],
    [['budget', 'set', 'team/a', '--limit', '5', 'team/b'], /unexpected argument 'team\/b'/],
    [['budget', 'sett', 'team/a'], /did you mean set\?/],
    [['budget', 'set', 'team/a', '--alerts', '0.5,lots'], /--alerts takes/],
    [['budget', 'set', 'team/a', '--calls-limit', 'ten'], /whole number/],
    [['report', '--by', 'day', '--formt', 'csv'], /did you mean --format\?/],
    [['tokens', '--modle', 'gpt-4o'], /did you mean --model\?/],
    [['serve', '--config', 'x.yaml', 'extra'], /unexpected argument 'extra'/],
    [['serve', '--prot', '1'], /did you mean --port\?/],
    [['version', 'now'], /unexpected argument/],
    [['mcp', '--budgte', 'team/a', 'true'], /did you mean --budget\?/],
    [['statsu'], /did you mean status\?/],
  ];
  for (const [args, pattern] of cases) {
    const r = await run(...args);
    assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status} ${r.stderr}`);
    assert.match(r.stderr, pattern, args.join(' '));
  }
  assert.equal((await budget('team/a')).limit_micros, 10000000, 'no case changed the budget');
});

test('budget set --alerts, --calls-limit, --tokens-limit, --revoke-at 90% do what they say', async () => {
  let r = await run('budget', 'set', 'team/b', '--alerts', '0.5,80%,1', '--calls-limit', '7',
    '--tokens-limit', '5000', '--revoke-at', '90%');
  assert.equal(r.status, 0, r.stderr);
  let b = await budget('team/b');
  assert.deepEqual(b.alerts_ppm, [500000, 800000, 1000000]);
  assert.equal(b.calls_limit, 7);
  assert.equal(b.tokens_limit, 5000);
  assert.deepEqual(b.revoke_at, { micros: null, ppm: 900000 });
  assert.equal(b.threshold_micros, 9000000);
  r = await run('budget', 'set', 'team/b', '--revoke-at', '96.5%');
  assert.equal(r.status, 0, r.stderr);
  assert.equal((await budget('team/b')).revoke_at.ppm, 965000);
  r = await run('budget', 'set', 'team/b', '--revoke-at', '8.50');
  assert.equal(r.status, 0, r.stderr);
  b = await budget('team/b');
  assert.deepEqual(b.revoke_at, { micros: 8500000, ppm: null });
  assertUsage(await run('budget', 'set', 'team/b', '--revoke-at', '101%'));
  assertUsage(await run('budget', 'set', 'team/b', '--revoke-at', '90.00001%'));
});

test('budget paths are encoded: `..`, `?`, `#` and `%` never reach another budget', async () => {
  const before = await daemon.call('GET', '/v1/budgets');
  const paths = () => before.json.budgets.map((x) => x.path);
  // `team/../holds` was folded into `holds` by libcurl: a new root budget.
  assertUsage(await run('budget', 'set', 'team/../holds', '--limit', '1'), /'\.' or '\.\.'/);
  assertUsage(await run('budget', 'set', 'team/./a', '--limit', '1'), /'\.' or '\.\.'/);
  assertUsage(await run('budget', 'show', 'team//a'), /empty/);
  assertUsage(await run('hold', 'team/../a', '1'), /'\.' or '\.\.'/);
  // `team/a?x` set the limit of team/a (the rest became a query); `team%2Fa` was decoded.
  for (const name of ['team/a?x', 'team/a#x', 'team%2Fa', 'team/a%3F']) {
    const r = await run('budget', 'set', name, '--limit', '3');
    assert.equal(r.status, 4, `${name}: ${r.stderr}`);
    assert.match(r.stderr, /outside \[A-Za-z0-9/, name);
  }
  assert.equal((await budget('team/a')).limit_micros, 10000000, 'team/a is untouched');
  const after = await daemon.call('GET', '/v1/budgets');
  assert.deepEqual(after.json.budgets.map((x) => x.path), paths(), 'no budget was created');
  const spaced = await run('budget', 'list', 'team/a');
  assert.equal(spaced.status, 0, spaced.stderr);
});

test('events --since abc is refused (it was read as 0)', async () => {
  assertUsage(await run('events', '--since', 'abc'), /whole number/);
  assertUsage(await run('events', '--since', '-1'));
  assertUsage(await run('events', '--since', '99999999999999999999'));
  const r = await run('events', '--since', '1', '--json');
  assert.equal(r.status, 0, r.stderr);
});

test('budget delete, budget list as a table (JSON with --json), status marks revoked', async () => {
  let r = await run('budget', 'set', 'team/gone', '--limit', '1');
  assert.equal(r.status, 0, r.stderr);
  r = await run('budget', 'delete', 'team/gone');
  assert.equal(r.status, 0, r.stderr);
  assert.equal((await daemon.call('GET', '/v1/budgets/team/gone')).status, 404);
  assert.equal((await run('budget', 'delete', 'team/gone')).status, 4);
  r = await run('budget', 'list');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^PATH\s+LIMIT\s+SPENT\s+HELD\s+REVOKE AT\s+WINDOW\s+STATE$/m);
  assert.match(r.stdout, /^team\/a\s+10\.000000\s+0\.000000\s+0\.000000\s+-\s+lifetime\s+active$/m);
  assert.throws(() => JSON.parse(r.stdout), 'the table is not JSON');
  r = await run('budget', 'list', '--json');
  assert.ok(JSON.parse(r.stdout).budgets.some((x) => x.path === 'team/a'));
  // Spend past the threshold revokes routine classes: status and list say so.
  await run('budget', 'set', 'team/c', '--limit', '10', '--revoke-at', '5');
  const charge = await daemon.call('POST', '/v1/charges', { budget: 'team/c', cost: '6', force: true });
  assert.equal(charge.status, 200, charge.text);
  r = await run('status');
  assert.match(r.stdout, /^team\/c\s+\[.*\] 6\.000000 \/ 10\.000000  REVOKED: low,normal$/m);
  assert.match(r.stdout, /^team\/a\s+\[.*\] [0-9.]+ \/ 10\.000000$/m, 'not revoked: no marker');
  r = await run('budget', 'list', 'team/c');
  assert.match(r.stdout, /^team\/c\s.*active, revoked low,normal$/m);
  assert.equal((await run('budget', 'freeze', 'team/c')).status, 0);
  r = await run('status', 'team/c');
  assert.match(r.stdout, /FROZEN  REVOKED: low,normal$/m);
});

test('--help on every command exits 0 and teaches (options and an example)', async () => {
  const commands = [[], ['serve'], ['budget'], ['budget', 'set'], ['budget', 'show'], ['budget', 'list'],
    ['budget', 'delete'], ['budget', 'freeze'], ['budget', 'unfreeze'], ['budget', 'history'], ['hold'],
    ['commit'], ['release'], ['charge'], ['events'], ['status'], ['report'], ['tokens'], ['mcp'], ['version']];
  for (const words of commands) {
    for (const flag of ['--help', '-h']) {
      const r = await cli([...words, flag], {});
      assert.equal(r.status, 0, `${words.join(' ')} ${flag}: ${r.stderr}`);
      assert.match(r.stdout, /^usage: tollgate/m, words.join(' '));
      if (words.length > 0 && words[0] !== 'version') {
        assert.match(r.stdout, /example/, `${words.join(' ')} shows an example`);
      }
    }
  }
  const set = await cli(['budget', 'set', '--help'], {});
  for (const option of ['--limit', '--calls-limit', '--tokens-limit', '--alerts', '--revoke-at', '--window']) {
    assert.match(set.stdout, new RegExp(`^  ${option} `, 'm'), option);
  }
  // --help wins even after a bad word: the help is what was asked for.
  assert.equal((await cli(['hold', '--nonsense', '--help'], {})).status, 2, 'a bad option before --help');
  assert.equal((await cli(['hold', '--help', '--nonsense'], {})).status, 0);
});

// `events --follow` must not die with its terminal's process group being sent SIGHUP
// (`kill -HUP $(pidof tollgate)` did exactly that), on the stream and on the polling path.
async function followSurvivesHangup(url) {
  const child = spawn(binary, ['events', '--follow', '--json'], {
    env: { ...process.env, TOLLGATE_URL: url, TOLLGATE_KEY: 'adm' }, detached: true,
  });
  let out = '', err = '';
  child.stdout.on('data', (c) => { out += c; });
  child.stderr.on('data', (c) => { err += c; });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let ended = null;
  exited.then((e) => { ended = e; });
  const call = async (method, p, body) => fetch(url + p, { method, headers: { Authorization: 'Bearer adm' },
    body: body && JSON.stringify(body) });
  try {
    await call('PUT', '/v1/budgets/team/follow-1', { limit: '1' });
    assert.ok(await eventually(() => out.includes('team/follow-1'), 10000), `follower printed nothing: ${err}`);
    process.kill(-child.pid, 'SIGHUP');
    assert.ok(await eventually(() => /SIGHUP ignored/.test(err), 5000), `no note on stderr: ${err}`);
    await call('PUT', '/v1/budgets/team/follow-2', { limit: '1' });
    assert.ok(await eventually(() => out.includes('team/follow-2') || ended, 10000));
    assert.equal(ended, null, `the follower died: ${JSON.stringify(ended)} ${err}`);
    assert.ok(out.includes('team/follow-2'), 'events after the SIGHUP are still printed');
  } finally {
    if (ended === null) process.kill(-child.pid, 'SIGTERM');
    await exited;
  }
}

test('events --follow survives SIGHUP of its process group (stream)', async () => {
  await followSurvivesHangup(daemon.base);
});

test('events --follow survives SIGHUP of its process group (polling, memory store)', async () => {
  const config = path.join(dir, 'memory.yaml');
  fs.writeFileSync(config, 'port: 0\nstore: {kind: memory}\nbudgets:\n  - {path: team, limit: "100.00"}\n');
  const memory = await startDaemon(config, { admin: 'adm' });
  try {
    await followSurvivesHangup(memory.base);
  } finally {
    await memory.stop();
  }
});

test('events --follow says why it ended when its output goes away', async () => {
  const child = spawn(binary, ['events', '--follow', '--json'], { env: { ...process.env, ...env } });
  let err = '';
  child.stderr.on('data', (c) => { err += c; });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  await new Promise((resolve) => child.stdout.once('data', resolve));
  child.stdout.destroy(); // the reader of its output leaves
  await daemon.call('PUT', '/v1/budgets/team/after-close', { limit: '1' });
  let end = null;
  exited.then((e) => { end = e; });
  await eventually(() => end, 20000);
  if (end === null) child.kill('SIGKILL');
  assert.deepEqual(end, { code: 1, signal: null }, `it went on printing to nowhere: ${err}`);
  assert.match(err, /stopped: cannot write to standard output/);
});

test('tokens reads at most its limits: a byte more is "input too large", not a count', () => {
  const { spawnSync } = require('node:child_process');
  const MiB = 1024 * 1024;
  const sized = (name, size) => { // sparse: a file of zeros at no cost
    const file = path.join(dir, name);
    fs.writeFileSync(file, '');
    fs.truncateSync(file, size);
    return file;
  };
  const tokens = (...args) => spawnSync(binary, ['tokens', ...args], { encoding: 'utf8' });
  // --request: TG_REQUEST_BODY_SIZE_MAX (64 MiB). At it the body is read and then refused
  // as JSON; past it the read stops.
  let r = tokens('--request', 'chat', sized('at-limit.json', 64 * MiB));
  assert.equal(r.status, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /input too large/);
  r = tokens('--request', 'chat', sized('past-limit.json', 64 * MiB + 1));
  assert.equal(r.status, 1);
  assert.equal(r.stderr, 'tollgate tokens: input too large\n');
  assert.equal(r.stdout, '');
  // Plain text: TEXT_SIZE_MAX (256 MiB).
  r = tokens(sized('past-limit.txt', 256 * MiB + 1));
  assert.equal(r.status, 1);
  assert.equal(r.stderr, 'tollgate tokens: input too large\n');
  for (const name of ['at-limit.json', 'past-limit.json', 'past-limit.txt']) fs.rmSync(path.join(dir, name));
});
