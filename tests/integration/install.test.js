// `make install` with PREFIX and DESTDIR puts the command, the library (static and shared),
// its headers and a pkg-config file in place, and a program builds against them the way a
// user's would: examples/scenarios.c compiled with `pkg-config --cflags --libs tollgate`
// (and statically with --static), then run. The build folder is the test's own (the
// `-o build` keeps make from reconfiguring it), so under `make asan` the installed library
// carries the sanitizers and the example is compiled with them too.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { tempDir } = require('./daemon_helpers');

const source = process.env.TG_SOURCE_DIR || path.resolve(__dirname, '..', '..');
const build = process.env.TG_BINARY_DIR || path.join(source, 'build');
const compiler = process.env.TG_C_COMPILER || 'cc';
// A sanitized library needs its runtime in the program that links it.
const sanitize = process.env.TG_SANITIZE === 'ON' ? ['-fsanitize=address,undefined']
  : process.env.TG_TSAN === 'ON' ? ['-fsanitize=thread'] : [];

function run(command, args, options = {}) {
  const r = spawnSync(command, args, { encoding: 'utf8', ...options });
  assert.equal(r.status, 0, `${command} ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

test('make install PREFIX DESTDIR, then examples/scenarios.c builds with pkg-config', () => {
  const dest = tempDir('install');
  const prefix = '/opt/tollgate-test';
  run('make', ['-s', '-C', source, '-o', 'build', 'install', `BUILD=${build}`, `PREFIX=${prefix}`, `DESTDIR=${dest}`]);
  const root = path.join(dest, prefix);
  for (const file of ['bin/tollgate', 'lib/libtollgate.a', 'lib/libtollgate.so', 'include/tollgate.h',
    'include/tollgate_tokens.h', 'lib/pkgconfig/tollgate.pc']) {
    assert.ok(fs.existsSync(path.join(root, file)), `${file} is installed`);
  }
  assert.ok(fs.statSync(path.join(root, 'bin/tollgate')).mode & 0o111, 'tollgate is executable');
  const pc = fs.readFileSync(path.join(root, 'lib/pkgconfig/tollgate.pc'), 'utf8');
  assert.match(pc, new RegExp(`^prefix=${prefix}$`, 'm'), 'the .pc names the final prefix, not DESTDIR');
  // As a packager checks a staged tree: pkg-config with the sysroot set to DESTDIR.
  const env = { ...process.env, PKG_CONFIG_PATH: path.join(root, 'lib/pkgconfig'), PKG_CONFIG_SYSROOT_DIR: dest };
  assert.equal(run('pkg-config', ['--modversion', 'tollgate'], { env }).trim(), '0.1.0');
  const flags = run('pkg-config', ['--cflags', '--libs', 'tollgate'], { env }).trim().split(/\s+/);
  assert.ok(flags.includes(`-I${root}/include`) && flags.includes(`-L${root}/lib`), flags.join(' '));
  const work = tempDir('install-build');
  const example = path.join(source, 'examples/scenarios.c');
  // Shared: the default link, run with the staged library.
  const shared = path.join(work, 'scenarios');
  run(compiler, [...sanitize, example, '-o', shared, ...flags]);
  const out = run(shared, [], { env: { ...process.env, LD_LIBRARY_PATH: path.join(root, 'lib') } });
  assert.match(out, /^acme\/support$/m);
  assert.match(run('ldd', [shared], { env: { ...process.env, LD_LIBRARY_PATH: path.join(root, 'lib') } }),
    new RegExp(`libtollgate\\.so\\.0 => ${root}/lib/`));
  // Static: the archive and what --static adds (sqlite3, jansson, pthread, m).
  const staticLibs = run('pkg-config', ['--static', '--libs', 'tollgate'], { env }).trim().split(/\s+/)
    .filter((f) => f !== '-ltollgate');
  assert.ok(staticLibs.includes('-lsqlite3') && staticLibs.includes('-ljansson'), staticLibs.join(' '));
  const linked = path.join(work, 'scenarios-static');
  run(compiler, [...sanitize, example, '-o', linked, `-I${root}/include`, path.join(root, 'lib/libtollgate.a'), ...staticLibs]);
  assert.equal(run(linked, []), out, 'the static build prints the same scenarios');
  // The shared library exports the public API only: tg_ functions, no internal tg__ ones.
  const exported = run('nm', ['-D', '--defined-only', path.join(root, 'lib/libtollgate.so')])
    .split('\n').filter((l) => / T /.test(l)).map((l) => l.split(' ').pop());
  assert.ok(exported.includes('tg_reserve') && exported.includes('tg_tokens_count'), exported.join(' '));
  assert.deepEqual(exported.filter((name) => !/^tg_[a-z]/.test(name)), [], 'only tg_ symbols are exported');
});
