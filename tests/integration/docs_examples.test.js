// Every shell example of docs/cli.md and docs/api.md runs as printed, in order, against
// the daemon `make run` starts (scripts/run, in a fresh folder that holds the repo's
// examples/ the way the repo root does). A newcomer pastes the lines make run prints,
// then the examples: this test is that newcomer.
//
// What "as printed" means here:
//   - every ```sh block runs, top to bottom, in one bash per page (variables carry over);
//     a block after `<!-- docs-test: skip: REASON -->` is not run (it would start a
//     second daemon on the same ledger);
//   - each command must exit 0 unless its line ends with `# exit N` (then exactly N);
//   - each curl must get a 2xx unless the line ends with `# HTTP NNN` (then exactly that);
//   - a command whose line ends with `# ... until Ctrl-C` must still be running after
//     2 s (it follows a stream), and is then stopped (its process group, by its id);
//   - a `# {...}` comment right after a curl command is its answer's shape: the answer
//     must be JSON with the same top-level keys;
//   - the page's `export TOLLGATE_URL=... TOLLGATE_KEY=...` line must be the line make
//     run printed (the port aside: the test's daemon gets a free one, substituted for
//     8420 everywhere on the page).
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { binary, tempDir } = require('./daemon_helpers');

const source = process.env.TG_SOURCE_DIR || path.resolve(__dirname, '..', '..');
const work = tempDir('docs');
let run, printed;

before(async () => {
  fs.symlinkSync(path.join(source, 'examples'), path.join(work, 'examples'));
  const env = { ...process.env, BUILD: path.dirname(path.resolve(binary)), TOLLGATE_PORT: '0' };
  for (const name of ['TOLLGATE_ADMIN_KEY', 'TOLLGATE_URL', 'TOLLGATE_KEY']) delete env[name];
  run = spawn('bash', [path.join(source, 'scripts', 'run')], { cwd: work, env, detached: true });
  let out = '';
  run.stdout.on('data', (c) => { out += c; });
  run.stderr.on('data', (c) => { out += c; });
  const exited = new Promise((resolve) => run.on('exit', resolve));
  printed = await new Promise((resolve, reject) => {
    const poll = setInterval(() => {
      if (/tollgate hold team\/demo/.test(out)) { clearInterval(poll); resolve(out); }
    }, 20);
    exited.then(() => { clearInterval(poll); reject(new Error(`scripts/run exited: ${out}`)); });
    setTimeout(() => { clearInterval(poll); reject(new Error(`scripts/run printed no hint in 30 s: ${out}`)); }, 30000).unref();
  });
});

after(async () => {
  if (run && run.exitCode === null) {
    const exited = new Promise((resolve) => run.on('exit', resolve));
    process.kill(-run.pid, 'SIGTERM');
    await exited;
  }
});

// The ```sh blocks of a page: [{line, lines: [{number, text}]}], skipped ones left out.
function shellBlocks(text) {
  const blocks = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '```sh') continue;
    const skip = i > 0 && /<!-- docs-test: skip: .+ -->/.test(lines[i - 1]);
    const block = { line: i + 1, lines: [] };
    for (i++; i < lines.length && lines[i].trim() !== '```'; i++) {
      block.lines.push({ number: i + 1, text: lines[i] });
    }
    if (!skip) blocks.push(block);
  }
  return blocks;
}

const quotes = (text) => (text.replace(/\\'/g, '').match(/'/g) || []).length;

// Commands of a block: a line, with its `\` continuations and lines inside an open quote.
function commands(block) {
  const out = [];
  let current = null;
  for (const { number, text } of block.lines) {
    if (current === null) {
      const trimmed = text.trim();
      if (trimmed === '' || trimmed.startsWith('#')) {
        const last = out[out.length - 1];
        if (last && trimmed.startsWith('# {') && last.shape === undefined) {
          try { last.shape = JSON.parse(trimmed.slice(2)); } catch { last.shape = null; }
        }
        continue;
      }
      current = { line: number, text: '', shape: undefined };
    }
    current.text += (current.text ? '\n' : '') + text;
    if (text.endsWith('\\') || quotes(current.text) % 2 === 1) continue;
    const tail = text.match(/\s#\s*(.*)$/);
    current.exit = tail && /^exit (\d+)\b/.test(tail[1]) ? Number(tail[1].match(/^exit (\d+)/)[1]) : 0;
    current.http = tail && /^HTTP (\d{3})\b/.test(tail[1]) ? Number(tail[1].match(/^HTTP (\d{3})/)[1]) : null;
    current.follows = Boolean(tail && /until Ctrl-C/.test(tail[1]));
    out.push(current);
    current = null;
  }
  assert.equal(current, null, `block at line ${block.line}: an unfinished command`);
  return out;
}

const shellQuote = (text) => `'${text.replace(/'/g, `'\\''`)}'`;

// One page as one bash script that checks every command and stops at the first failure.
function script(page, text) {
  const lines = [
    'set -o pipefail',
    '__status=$(mktemp); __body=$(mktemp)',
    // curl records each HTTP status it got; the body is printed as curl would print it.
    'curl() { local code rc; code=$(command curl -o "$__body" -w "%{http_code}" "$@"); rc=$?;',
    '  cat "$__body"; echo "$code" >> "$__status"; return $rc; }',
    '__fail() { echo "$1" >&2; exit 99; }',
    '__shape() { printf "%s" "$1" | jq -e --argjson want "$2" \'(keys | sort) == ($want | keys | sort)\' >/dev/null; }',
  ];
  for (const block of shellBlocks(text)) {
    for (const command of commands(block)) {
      const where = `${page}:${command.line}`;
      const said = shellQuote(command.text.split('\n')[0]);
      lines.push(`: > "$__status"; echo "+ ${where}" >&2`);
      if (command.follows) {
        // In the background with this shell's variables, as its own process group (set -m),
        // so that it and its curl are stopped together.
        lines.push(`set -m; (\n${command.text}\n) > /dev/null 2>&1 & __pid=$!; set +m; sleep 2`);
        lines.push('if kill -0 $__pid 2>/dev/null; then kill -TERM -- -$__pid; wait $__pid; __rc=124; else wait $__pid; __rc=$?; fi');
        lines.push(`[ $__rc = 124 ] || __fail "${where}: ended (exit $__rc) instead of following: "${said}`);
        continue;
      }
      const capture = command.shape && !/^\s*\w+=/.test(command.text);
      if (capture) {
        lines.push(`__out=$(\n${command.text}\n); __rc=$?; printf '%s\\n' "$__out"`);
      } else {
        lines.push(`{\n${command.text}\n}; __rc=$?`);
      }
      lines.push(`[ $__rc = ${command.exit} ] || __fail "${where}: exit $__rc, the page says ${command.exit}: "${said}`);
      const http = command.http === null ? '2[0-9][0-9]' : String(command.http);
      lines.push(`while read -r __code; do case $__code in ${http}) ;; *) __fail "${where}: HTTP $__code, the page says ${command.http || '2xx'}: "${said};; esac; done < "$__status"`);
      if (capture) {
        lines.push(`__shape "$__out" ${shellQuote(JSON.stringify(command.shape))} || __fail "${where}: the answer's keys are not those printed: "${said}`);
      }
    }
  }
  lines.push('echo "docs-test: all examples ran" >&2');
  return lines.join('\n');
}

function runPage(page) {
  const url = printed.match(/export TOLLGATE_URL=(http:\/\/127\.0\.0\.1:(\d+))/);
  assert.ok(url, printed);
  const text = fs.readFileSync(path.join(source, page), 'utf8');
  // The page's export line is the one make run printed (its port aside).
  const printedExport = printed.match(/^ {2}(export TOLLGATE_URL=.*)$/m)[1].replace(`:${url[2]}`, ':8420');
  assert.ok(text.includes(printedExport), `${page} must begin with the line make run prints: ${printedExport}`);
  assert.doesNotMatch(text, /change-me/, `${page} still says change-me`);
  const body = script(page, text.replaceAll('http://127.0.0.1:8420', url[1]));
  const pathLine = printed.match(/^ {2}(export PATH=.*)$/m)[1];
  const env = { ...process.env };
  for (const name of ['TOLLGATE_ADMIN_KEY', 'TOLLGATE_URL', 'TOLLGATE_KEY']) delete env[name];
  const r = spawnSync('bash', ['-c', `${pathLine}\n${body}`], { cwd: work, env, encoding: 'utf8', timeout: 120000 });
  assert.equal(r.status, 0, `${page}: ${r.stderr.split('\n').slice(-25).join('\n')}\n--- stdout (tail)\n${r.stdout.slice(-3000)}`);
  assert.match(r.stderr, /docs-test: all examples ran/);
  return r;
}

test('docs/cli.md: every shell example runs as printed', () => {
  const r = runPage('docs/cli.md');
  assert.ok((r.stderr.match(/^\+ docs\/cli\.md:/gm) || []).length >= 15, 'the page has its examples');
});

test('docs/api.md: every shell example runs as printed', () => {
  const r = runPage('docs/api.md');
  assert.ok((r.stderr.match(/^\+ docs\/api\.md:/gm) || []).length >= 20, 'the page has its examples');
});
