// The console's own parsers and formatters, outside a browser: its server-sent event
// parser (the console reads /v1/events/stream through fetch, so it parses SSE itself),
// money as integer micros, and CSV export. The modules are bundled with the locked esbuild
// exactly as the build does, then loaded here. Skipped only when node_modules is missing.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');

function load(file) {
  let esbuild;
  try { esbuild = require(path.join(root, 'node_modules', 'esbuild')); } catch { return null; }
  const out = esbuild.buildSync({
    entryPoints: [path.join(root, 'console', 'src', file)], bundle: true, format: 'cjs',
    platform: 'neutral', write: false, logLevel: 'silent',
  });
  const module = { exports: {} };
  new Function('module', 'exports', 'require', out.outputFiles[0].text)(module, module.exports, require);
  return module.exports;
}

const live = load('live.js');
const api = load('api.js');

// A seeded generator, so a failure replays.
function random(seed) {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; };
}

// Feeds text to the parser in the given pieces, as fetch chunks arrive.
function feed(pieces) {
  let buffer = '';
  const all = [];
  for (const piece of pieces) {
    buffer += piece;
    const [messages, rest] = live.parseSse(buffer);
    all.push(...messages);
    buffer = rest;
  }
  return { all, rest: buffer };
}

test('SSE: the same messages however the stream is cut into chunks', { skip: !live && 'no node_modules (run scripts/setup)' }, () => {
  const stream = 'retry: 1000\n: hello\n\n'
    + 'id: 1\nevent: revoked\ndata: {"id":1,"budget":"team/a"}\n\n'
    + ': keep-alive\n\n'
    + 'id: 2\r\nevent: threshold_crossed\r\ndata: {"id":2,\r\ndata: "budget":"t"}\r\n\r\n'
    + 'id:3\nevent:budget_changed\ndata:{"id":3}\n\n'
    + 'event: closed\ndata: {"reason":"key_changed"}\n\n'
    + 'id: 4\ndata: {"id":4,"detail":"a: b"}\n\n'
    + 'id: 5\nevent: partial\ndata: {"id":5}';
  const whole = feed([stream]);
  assert.deepEqual(whole.all.map((m) => [m.id, m.event]), [
    ['1', 'revoked'], ['2', 'threshold_crossed'], ['3', 'budget_changed'], [null, 'closed'], ['4', 'message']]);
  assert.deepEqual(JSON.parse(whole.all[1].data), { id: 2, budget: 't' }, 'data lines join with a newline');
  assert.equal(JSON.parse(whole.all[4].data).detail, 'a: b', 'only the first colon splits');
  assert.match(whole.rest, /id: 5/, 'an unfinished message waits for its blank line');
  // Every cut point, then random multi-cuts: the same messages, in the same order.
  for (let cut = 0; cut <= stream.length; cut++) {
    assert.deepEqual(feed([stream.slice(0, cut), stream.slice(cut)]).all, whole.all, `cut at ${cut}`);
  }
  const next = random(19);
  for (let round = 0; round < 500; round++) {
    const pieces = [];
    for (let at = 0; at < stream.length;) {
      const size = 1 + Math.floor(next() * 12);
      pieces.push(stream.slice(at, at + size));
      at += size;
    }
    assert.deepEqual(feed(pieces).all, whole.all, `round ${round}`);
  }
});

test('money is exact integer micros, both ways', { skip: !api && 'no node_modules (run scripts/setup)' }, () => {
  assert.equal(api.money(0), '0.00');
  assert.equal(api.money(1), '0.000001');
  assert.equal(api.money(1250000), '1.25');
  assert.equal(api.money(-5830), '-0.00583');
  assert.equal(api.money(100000000000000), '100,000,000.00');
  assert.equal(api.money(9007199254740991), '9,007,199,254.740991', 'the largest exact integer');
  assert.equal(api.money(null), '—');
  assert.equal(api.parseMoney('12.50'), 12500000);
  assert.equal(api.parseMoney('0.000001'), 1);
  assert.equal(api.parseMoney(' 7 '), 7000000);
  assert.equal(api.parseMoney('999999999.999999'), 999999999999999);
  for (const bad of ['1000000000', '', '1.', '.5', '1e3', '-1', '1.0000001', '0x10', '1,000', 'NaN', '1 2']) {
    assert.equal(api.parseMoney(bad), null, bad);
  }
  // Round trip over many amounts: text → micros → text → micros.
  const next = random(7);
  for (let i = 0; i < 2000; i++) {
    const micros = Math.floor(next() * 1e15);
    assert.equal(api.parseMoney(api.money(micros, 6).replace(/,/g, '')), micros);
  }
});

test('CSV: quoted where needed, formulas defused, one header', { skip: !api && 'no node_modules (run scripts/setup)' }, () => {
  const rows = [
    { id: 1, tool: 'plain', cost_micros: 1250000 },
    { id: 2, tool: 'a,b', cost_micros: -5 },
    { id: 3, tool: 'say "hi"\nthere', cost_micros: null },
    { id: 4, tool: '=HYPERLINK("http://x")', cost_micros: 0 },
    { id: 5, tool: '+cmd', cost_micros: undefined },
    { id: 6, tool: '@SUM(A1)', cost_micros: 1 },
  ];
  const csv = api.toCsv(rows, ['id', 'tool', 'cost_micros']);
  assert.equal(csv, [
    'id,tool,cost_micros',
    '1,plain,1250000',
    '2,"a,b",-5',
    '3,"say ""hi""\nthere",',
    `4,"'=HYPERLINK(""http://x"")",0`,
    "5,'+cmd,",
    "6,'@SUM(A1),1",
    '',
  ].join('\r\n'));
});
