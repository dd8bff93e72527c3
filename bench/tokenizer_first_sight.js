#!/usr/bin/env node
// bench/tokenizer_first_sight: two builds of Tollgate's tokenizer side by side on the
// first encode of every part (the text never seen: no cache helps), in fresh processes,
// alternating before and after so that load from other work falls on both alike. The
// figure is the encoding thread's CPU time (bench_tokenizer --cold: first_cpu_s), best
// of --runs processes, which other processes on a loaded machine do not inflate.
//
// The parts come from `node bench/tokenizer.js --write-parts DIR`. A "before" binary is
// this tree's bench/tokenizer.c built against an older library; the recipe is in
// docs/benchmarks-tokenizer.md ("First sight: what is the machine and what is the
// tokenizer").
//
//   node bench/tokenizer_first_sight.js --before BIN --after BIN --parts DIR [--runs 3]
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const os = require('node:os');
const { execFileSync } = require('node:child_process');

const USAGE = `usage: node bench/tokenizer_first_sight.js --before BIN --after BIN --parts DIR [--runs 3]
Prints, for every part and both encodings, the first encode's thread CPU time (best of
--runs fresh processes, alternating the two binaries) in ms and MB/s.`;

function options(argv) {
  const out = { runs: 3 };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i];
    if (name === '--help' || name === '-h') {
      console.log(USAGE);
      process.exit(0);
    }
    const value = argv[i + 1];
    if (!['--before', '--after', '--parts', '--runs'].includes(name) || value === undefined) {
      console.error(`unknown or incomplete argument ${name}\n${USAGE}`);
      process.exit(2);
    }
    out[name.slice(2)] = value;
    i++;
  }
  out.runs = Number(out.runs);
  if (!out.before || !out.after || !out.parts || !Number.isInteger(out.runs) || out.runs < 1) {
    console.error(USAGE);
    process.exit(2);
  }
  return out;
}

function firstCpu(bin, encoding, file) {
  const line = execFileSync(bin, ['--cold', '--json', '--encoding', encoding, file], { encoding: 'utf8' });
  return JSON.parse(line.trim().split('\n').at(-1)).first_cpu_s;
}

const o = options(process.argv.slice(2));
const parts = fs.readdirSync(o.parts).filter((f) => f.endsWith('.txt')).sort();
if (parts.length === 0) {
  console.error(`no .txt parts in ${o.parts}: write them with node bench/tokenizer.js --write-parts ${o.parts}`);
  process.exit(2);
}
const load = () => os.loadavg()[0].toFixed(2);
console.log(`load average at the start: ${load()}; best of ${o.runs} processes each\n`);
console.log('| part | enc | before ms (MB/s) | after ms (MB/s) |');
console.log('|---|---|---:|---:|');
for (const part of parts) {
  const file = path.join(o.parts, part);
  const mb = fs.statSync(file).size / 1e6;
  for (const encoding of ['cl100k_base', 'o200k_base']) {
    let before = Infinity;
    let after = Infinity;
    for (let r = 0; r < o.runs; r++) {
      before = Math.min(before, firstCpu(o.before, encoding, file));
      after = Math.min(after, firstCpu(o.after, encoding, file));
    }
    const cell = (s) => `${(s * 1e3).toFixed(2)} (${(mb / s).toFixed(1)})`;
    console.log(`| ${part.replace(/\.txt$/, '')} | ${encoding.replace('_base', '')} | ${cell(before)} | ${cell(after)} |`);
  }
}
console.log(`\nload average at the end: ${load()}`);
