// The client packages build offline into the build folder: the Python sdist and wheel
// (python3 -m build --no-isolation, from a copy so the source tree stays clean) and the
// npm tarball (npm pack); each is then imported from what was built.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const source = path.resolve(__dirname, '..');
const out = path.join(process.env.TG_BUILD_DIR || path.join(source, 'build'), 'clients');
const python = process.env.TG_PYTHON || '/usr/bin/python3';
const run = (cmd, args, options = {}) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...options });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stdout}\n${r.stderr}`);
  return r.stdout;
};

test('python3 -m build makes an sdist and a wheel that import', () => {
  fs.mkdirSync(out, { recursive: true });
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-pybuild-'));
  fs.cpSync(path.join(source, 'clients/python'), copy, {
    recursive: true, filter: (p) => !/(__pycache__|\.egg-info|\/build$|\.pytest_cache)/.test(p),
  });
  run(python, ['-m', 'build', '--no-isolation', '--outdir', out, copy]);
  const wheel = path.join(out, 'tollgate-0.1.0-py3-none-any.whl');
  assert.ok(fs.existsSync(wheel) && fs.existsSync(path.join(out, 'tollgate-0.1.0.tar.gz')));
  const names = run(python, ['-c', `import tollgate, tollgate.integrations.langchain as l, tollgate.integrations.openai_agents as o, tollgate.integrations.crewai as c; print(tollgate.__version__, tollgate.__file__)`],
    { env: { ...process.env, PYTHONPATH: wheel, PYTHONDONTWRITEBYTECODE: '1' } });
  assert.match(names, /^0\.1\.0 .*tollgate-0\.1\.0-py3-none-any\.whl/);
  fs.rmSync(copy, { recursive: true, force: true });
});

test('npm pack makes a tarball with the code and its type declarations', () => {
  fs.mkdirSync(out, { recursive: true });
  const answer = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', out], { cwd: path.join(source, 'clients/typescript') }));
  const files = answer[0].files.map((f) => f.path);
  for (const f of ['package.json', 'src/index.js', 'src/index.d.ts', 'src/openai-agents.js', 'src/langchain.d.ts', 'src/ai-sdk.js']) {
    assert.ok(files.includes(f), `${f} not in the tarball: ${files}`);
  }
  const unpacked = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-npm-'));
  run('tar', ['-xzf', path.join(out, answer[0].filename), '-C', unpacked]);
  const names = run(process.execPath, ['--input-type=module', '-e',
    `const m = await import(${JSON.stringify(path.join(unpacked, 'package/src/index.js'))}); console.log(Object.keys(m).sort().join(','))`]);
  assert.match(names, /Metered,Refused,Revoked,Tollgate/);
  fs.rmSync(unpacked, { recursive: true, force: true });
});

test('the type declarations parse as TypeScript (esbuild; the typescript package is not installed)', () => {
  const esbuild = require(path.join(source, 'node_modules/esbuild'));
  const dir = path.join(source, 'clients/typescript/src');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.d.ts'));
  assert.ok(files.length >= 4);
  for (const f of files) esbuild.transformSync(fs.readFileSync(path.join(dir, f), 'utf8'), { loader: 'ts' });
});
