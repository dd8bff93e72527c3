// `make run` (scripts/run) without TOLLGATE_ADMIN_KEY: makes a dev admin key in the
// working folder (mode 0600, never printed), starts `tollgate serve` on 127.0.0.1
// with examples/tollgate.yaml and its SQLite file in the working folder, prints the
// exact lines to export and how to make a budget refuse a call, and the printed lines
// work as printed. A second run reuses the key.
'use strict';
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { binary, tempDir } = require('./daemon_helpers');

const source = process.env.TG_SOURCE_DIR || path.resolve(__dirname, '..', '..');
const work = tempDir('run');

function run() {
  const env = { ...process.env, BUILD: path.dirname(path.resolve(binary)), TOLLGATE_PORT: '0' };
  delete env.TOLLGATE_ADMIN_KEY;
  // Its own process group, so the test can stop the script and the daemon together.
  const child = spawn('bash', [path.join(source, 'scripts', 'run')], { cwd: work, env, detached: true });
  let out = '';
  child.stdout.on('data', (c) => { out += c; });
  child.stderr.on('data', (c) => { out += c; });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  const ready = new Promise((resolve, reject) => {
    const poll = setInterval(() => {
      if (/tollgate hold team\/demo 2/.test(out)) { clearInterval(poll); resolve(); }
    }, 20);
    exited.then(() => { clearInterval(poll); reject(new Error(`scripts/run exited: ${out}`)); });
    setTimeout(() => { clearInterval(poll); reject(new Error(`scripts/run printed no hint in 30 s: ${out}`)); }, 30000).unref();
  });
  const runs = { child, ready, exited, output: () => out };
  started.push(runs);
  return runs;
}

// Whatever a failed assertion left running is stopped (its process group, by its id).
const started = [];
after(async () => {
  for (const r of started) {
    if (r.child.exitCode === null && r.child.signalCode === null) {
      try { process.kill(-r.child.pid, 'SIGTERM'); } catch { /* gone */ }
      await r.exited;
    }
  }
});

test('make run starts the example daemon with a dev admin key made once', async () => {
  const first = run();
  await first.ready;
  const out = first.output();
  const keyFile = path.join(work, '.tollgate-admin-key');
  assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600, 'the key file is private');
  const key = fs.readFileSync(keyFile, 'utf8').trim();
  assert.match(key, /^dev_[0-9a-f]{48}$/);
  assert.doesNotMatch(out, new RegExp(key), 'the secret is not printed');
  // The exact lines to export, run in the folder it names: they reach the daemon.
  assert.ok(out.includes(`run: in another terminal, in ${work}:\n`), out);
  const url = out.match(/^  export TOLLGATE_URL=(http:\/\/127\.0\.0\.1:\d+) TOLLGATE_KEY=\$\(cat \.tollgate-admin-key\)$/m);
  assert.ok(url, out);
  const pathLine = out.match(/^  export PATH=(.*):\$PATH$/m);
  assert.ok(pathLine && fs.existsSync(path.join(pathLine[1], 'tollgate')), out);
  assert.match(out, /curl -s -H "Authorization: Bearer \$TOLLGATE_KEY" \$TOLLGATE_URL\/v1\/budgets/);
  const lines = out.split('\n');
  const exports = lines.filter((l) => l.startsWith('  export ')).map((l) => l.trim()).join('\n');
  const refuse = lines.slice(lines.findIndex((l) => /to see a budget refuse a call/.test(l)) + 1, lines.length)
    .filter((l) => l.startsWith('  tollgate ')).map((l) => l.trim());
  assert.equal(refuse.length, 2, out);
  const shell = spawnSync('bash', ['-c', `${exports}\ntollgate status >/dev/null || exit 90\n${refuse[0]} >/dev/null || exit 91\n${refuse[1]}`],
    { cwd: work, encoding: 'utf8', env: { ...process.env, TOLLGATE_URL: '', TOLLGATE_KEY: '' } });
  assert.equal(shell.status, 3, `the printed refusal exits 3 (refused): ${shell.stdout}${shell.stderr}`);
  assert.match(shell.stderr, /"reason": "ceiling"/);
  const res = await fetch(`${url[1]}/v1/budgets`, { headers: { Authorization: `Bearer ${key}` } });
  assert.equal(res.status, 200);
  const paths = (await res.json()).budgets.map((b) => b.path);
  assert.deepEqual(paths, ['team', 'team/coding-agent', 'team/data-analysis-agent', 'team/demo', 'team/support-agent']);
  assert.ok(fs.existsSync(path.join(work, 'tollgate.db')), 'the ledger is in the working folder');
  process.kill(-first.child.pid, 'SIGTERM');
  await first.exited;

  const second = run();
  await second.ready;
  assert.doesNotMatch(second.output(), /made a dev admin key/);
  assert.equal(fs.readFileSync(keyFile, 'utf8').trim(), key, 'the key is reused');
  process.kill(-second.child.pid, 'SIGTERM');
  await second.exited;
});
