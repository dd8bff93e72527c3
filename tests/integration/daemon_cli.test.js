// Integration test of the `tollgate` command against a real daemon: every remote
// command, its --json output and its documented exit codes.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const binary = process.env.TG_BINARY || 'build/tollgate';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-cli-'));
let daemon, url;

before(async () => {
  const config = path.join(dir, 'c.yaml');
  fs.writeFileSync(config, 'port: 0\nstore: {kind: memory}\nbudgets:\n  - {path: team, limit: "100.00"}\n');
  daemon = spawn(binary, ['serve', '--config', config], {
    env: { ...process.env, TOLLGATE_ADMIN_KEY: 'adm' }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  url = await new Promise((resolve) => {
    let text = '';
    daemon.stdout.on('data', (c) => { text += c; const m = text.match(/listening on (\S+)\n/); if (m) resolve(m[1]); });
  });
});
after(() => daemon.kill('SIGTERM'));

// The CLI is run asynchronously so the daemon's pipes keep flowing.
function cli(...args) {
  return new Promise((resolve) => {
    const child = spawn(binary, args, { env: { ...process.env, TOLLGATE_URL: url, TOLLGATE_KEY: 'adm' } });
    let stdout = '', stderr = '';
    child.stdout.on('data', (c) => { stdout += c; });
    child.stderr.on('data', (c) => { stderr += c; });
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

test('help at every level, usage errors exit 2', () => {
  for (const args of [['--help'], ['serve', '--help'], ['budget', '--help'], ['hold', '--help'],
    ['commit', '--help'], ['release', '--help'], ['charge', '--help'], ['events', '--help'], ['status', '--help'],
    ['report', '--help'], ['keys', '--help'], ['keys', 'list', '--help']]) {
    const r = spawnSync(binary, args, { encoding: 'utf8' });
    assert.equal(r.status, 0, args.join(' '));
    assert.match(r.stdout, /usage|example/);
  }
  assert.equal(spawnSync(binary, ['frobnicate']).status, 2);
  assert.equal(spawnSync(binary, []).status, 2);
  const key = spawnSync(binary, ['keys', 'create', 'bot', '--role', 'agent', '--scope', 'team', '--print-yaml'], { encoding: 'utf8' });
  assert.equal(key.status, 0);
  assert.match(key.stdout, /sha256: [0-9a-f]{64}/);
});

test('budget set, show, list, freeze, unfreeze and status', async () => {
  let r = await cli('budget', 'set', 'team/bot', '--limit', '10', '--revoke-at', '8', '--window', 'day');
  assert.equal(r.status, 0, r.stderr);
  r = await cli('budget', 'show', 'team/bot', '--json');
  assert.equal(JSON.parse(r.stdout).limit_micros, 10000000);
  r = await cli('budget', 'set', 'team/bot', '--limit', '12');
  assert.equal(r.status, 0);
  r = await cli('budget', 'list', '--json');
  assert.deepEqual(JSON.parse(r.stdout).budgets.map((b) => b.path), ['team', 'team/bot']);
  assert.equal((await cli('budget', 'freeze', 'team/bot')).status, 0);
  r = await cli('hold', 'team/bot', '1');
  assert.equal(r.status, 3, 'a refusal exits 3');
  assert.equal((await cli('budget', 'unfreeze', 'team/bot')).status, 0);
  r = await cli('status');
  assert.equal(r.status, 0);
  assert.match(r.stdout, /team\/bot\s+\[.*\|.*\] 0\.000000 \/ 12\.000000/);
  assert.equal((await cli('budget', 'show', 'team/none')).status, 4, 'a 4xx exits 4');
  assert.equal((await cli('budget', 'show')).status, 2);
});

test('hold, commit, release, charge, events', async () => {
  let r = await cli('hold', 'team/bot', '2.5', '--tool', 'search', '--json');
  assert.equal(r.status, 0, r.stderr);
  const id = JSON.parse(r.stdout).hold_id;
  assert.equal((await cli('commit', String(id), '2')).status, 0);
  r = await cli('hold', 'team/bot', '1', '--json');
  assert.equal((await cli('release', String(JSON.parse(r.stdout).hold_id))).status, 0);
  assert.equal((await cli('charge', 'team/bot', '0.5', '--model', 'm')).status, 0);
  r = await cli('budget', 'show', 'team/bot', '--json');
  assert.equal(JSON.parse(r.stdout).spent_micros, 2500000);
  r = await cli('events', '--json');
  assert.equal(r.status, 0);
  assert.ok(r.stdout.trim().split('\n').map(JSON.parse).some((e) => e.kind === 'denied'));
  const bad = spawnSync(binary, ['status'], { env: { ...process.env, TOLLGATE_URL: 'http://127.0.0.1:1' } });
  assert.equal(bad.status, 1, 'no daemon exits 1');
});

test('examples/tollgate.yaml loads: the seed scenarios as budgets', async () => {
  const source = path.join(process.env.TG_SOURCE_DIR || '.', 'examples', 'tollgate.yaml');
  const config = path.join(dir, 'example.yaml');
  fs.writeFileSync(config, fs.readFileSync(source, 'utf8')
    .replace(/^port: \d+/m, 'port: 0').replace(/kind: sqlite/, 'kind: memory'));
  const child = spawn(binary, ['serve', '--config', config], {
    env: { ...process.env, TOLLGATE_ADMIN_KEY: 'adm' }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exampleUrl = await new Promise((resolve) => {
    let text = '';
    child.stdout.on('data', (c) => { text += c; const m = text.match(/listening on (\S+)\n/); if (m) resolve(m[1]); });
  });
  const get = async (p) => (await fetch(`${exampleUrl}/v1/budgets/${p}`, { headers: { Authorization: 'Bearer adm' } })).json();
  const expected = { 'team/support-agent': [500, 480], 'team/coding-agent': [1000, 950], 'team/data-analysis-agent': [2000, 1800] };
  for (const [p, [limit, threshold]] of Object.entries(expected)) {
    const b = await get(p);
    assert.equal(b.limit_micros, limit * 1e6, p);
    assert.equal(b.threshold_micros, threshold * 1e6, p);
    assert.equal(b.window, 'day');
  }
  const hold = await fetch(`${exampleUrl}/v1/holds`, { method: 'POST', headers: { Authorization: 'Bearer adm' },
    body: JSON.stringify({ budget: 'team/support-agent', amount: '1', tool: 'refund_order' }) });
  assert.equal((await hold.json()).class, 'critical', 'the example policy classifies refunds as critical');
  child.kill('SIGTERM');
  assert.equal(await new Promise((r) => child.on('exit', r)), 0);
});

// Every YAML reader goes through core/yaml_file.h. A syntax error once crashed them all
// (a double free of the text libfyaml had already freed); each must answer with a sentence.
test('a config with a YAML syntax error: a sentence and exit 1, from serve and from mcp', () => {
  const bad = path.join(dir, 'syntax-error.yaml');
  fs.writeFileSync(bad, 'budgets: [\n');
  for (const args of [['serve', '--config', bad], ['mcp', '--config', bad, '--budget', 'a', '--', 'true']]) {
    const r = spawnSync(binary, args, { encoding: 'utf8', timeout: 10000 });
    assert.equal(r.signal, null, `${args[0]} died of ${r.signal}: ${r.stderr}`);
    assert.equal(r.status, 1, `${args[0]}: ${r.stderr}`);
    // The file, the line and column, and libfyaml's sentence; never its <alloc-@0x...> name.
    assert.match(r.stderr, /config: \S*syntax-error\.yaml:2:1: YAML syntax error: flow sequence without a closing bracket/, args[0]);
    assert.doesNotMatch(r.stderr, /alloc-@/, args[0]);
  }
});
