#!/usr/bin/env node
// bench/tokenizer.js: Tollgate's C tokenizer side by side with the JavaScript and WASM
// tokenizers from npm (@dqbd/tiktoken: tiktoken's Rust core in WASM; js-tiktoken;
// gpt-tokenizer; ai-tokenizer), in one run, on the same corpus parts, for cl100k_base
// and o200k_base. Figures go to docs/benchmarks-tokenizer.md.
//
// warm: MB/s, the best of repeated encodes (at least 5 and 0.5 s, or one if a pass is
//       slow); caches help here.
// first: MB/s of the first encode of the part in a fresh process, after opening
//       (Tollgate: tg_tokenizer_open; npm: loading the library and its ranks, then one
//       short warm-up text, so first sight is not charged for compiling the library).
//       No cache has seen the text.
// open: ms to open the encoding in a fresh process (Tollgate: tg_tokenizer_open, best
//       of 5; npm: require plus building the encoder, best of 3).
// Every library's token count is compared with Tollgate's; a difference is flagged.
//
// Usage: node bench/tokenizer.js [--bin build/bench_tokenizer] [--parts a,b] [--no-cold]
'use strict';

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const ENCODINGS = ['cl100k_base', 'o200k_base'];
const LIBRARIES = ['@dqbd/tiktoken', 'js-tiktoken', 'gpt-tokenizer', 'ai-tokenizer'];
const SLOW_PASS_SECONDS = 2; // one pass this slow: no repeats
const MIB = 1 << 20;

function random(seed) {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

// The corpus parts: the conformance corpus repeated to size, and generated inputs.
function makeParts() {
    const corpus = (name) => fs.readFileSync(path.join(ROOT, 'tests/tokenizer/corpus', name), 'utf8');
    const toSize = (text, bytes) => {
        let out = text;
        while (Buffer.byteLength(out) < bytes) {
            out += text;
        }
        return out;
    };
    const next = random(7);
    const word = (n, alphabet) => Array.from({ length: n }, () => alphabet[Math.floor(next() * alphabet.length)]).join('');
    const code = ['code_c.c', 'code_py.py', 'code_js.js', 'code_rust.rs', 'code_go.go', 'code_sql_sh.txt'].map(corpus).join('\n');
    const bytes = Buffer.alloc(256 * 1024);
    for (let i = 0; i < bytes.length; i++) {
        bytes[i] = Math.floor(next() * 256);
    }
    // Special-token text is left out: two of the libraries refuse it by default.
    const words = 'the of and to in is was for on that with as by at from'.split(' ');
    // Runs made by run() between single words (or characters of between), to about size.
    const runs = (size, run, between) => {
        const parts = [];
        let bytes = 0;
        while (bytes < size) {
            const w = between ? between[Math.floor(next() * between.length)] : words[Math.floor(next() * words.length)];
            const r = run();
            parts.push(w, r);
            bytes += Buffer.byteLength(w) + Buffer.byteLength(r);
        }
        return parts.join('');
    };
    const mixed = (corpus('mixed.txt') + corpus('emoji.txt') + corpus('data.json')).replace(/<\|/g, '< |');
    return {
        prose: toSize(corpus('prose.txt'), MIB),
        code: toSize(code, MIB),
        cjk: toSize(corpus('chinese.txt') + corpus('japanese.txt'), MIB),
        mixed: toSize(mixed, MIB / 2),
        'random-bytes': bytes.toString('utf8'),
        'adv-run-a-64k': 'a'.repeat(64 * 1024),
        'adv-word-64k': word(64 * 1024, 'abcdefghijklmnopqrstuvwxyz'),
        'adv-cjk-run-64k': word(22 * 1024, '的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年'),
        'adv-spaces-64k': ' '.repeat(64 * 1024) + 'x',
        // White space and U+3000 runs longer than a piece of the small merge (96 bytes),
        // each length new; mixed runs (tabs, newlines, CRLF); text of many indentation
        // widths repeated (more distinct long pieces than a small cache holds).
        'ws-runs': runs(MIB, () => ' '.repeat(97 + Math.floor(next() * 1100))),
        'ws-mixed-runs': runs(MIB, () => [' ', '\t', '\n', ' \n', '\r\n'][Math.floor(next() * 5)].repeat(50 + Math.floor(next() * 550))),
        'u3000-runs': runs(MIB, () => '\u3000'.repeat(1 + Math.floor(next() * 400)), '的一是不了人我在有他'),
        'space-run-text': toSize(Array.from({ length: 3000 }, () => ' '.repeat(33 + Math.floor(next() * 370)) +
            words[Math.floor(next() * words.length)] + ' = ' + Math.floor(next() * 1000) + ';').join('\n') + '\n', MIB),
        // Long words of non-ASCII letters (Cyrillic, Greek, accented Latin), no spaces.
        'long-unicode-64k': word(24 * 1024, 'абвгдежзийклмнопрстуфхцчшщыэюяαβγδεζηθικλμνξοπρστυφχψωéèàüößçñ'),
        'adv-run-a-1m': 'a'.repeat(MIB),
        'adv-word-1m': word(MIB, 'abcdefghijklmnopqrstuvwxyz'),
    };
}

// Parts too slow for the reference implementations (quadratic merges): C only.
const C_ONLY = new Set(['adv-run-a-1m', 'adv-word-1m']);
// Parts js-tiktoken (plain JavaScript, quadratic on a long piece) takes minutes on.
const SKIP = {
    'js-tiktoken': new Set(['ws-runs', 'ws-mixed-runs', 'u3000-runs', 'space-run-text', 'long-unicode-64k',
        'adv-run-a-64k', 'adv-word-64k', 'adv-cjk-run-64k', 'adv-spaces-64k']),
};

function loadEncoder(library, encoding) {
    if (library === '@dqbd/tiktoken') {
        const encoder = require('@dqbd/tiktoken').get_encoding(encoding);
        return (text) => encoder.encode_ordinary(text).length;
    }
    if (library === 'js-tiktoken') {
        const encoder = require('js-tiktoken').getEncoding(encoding);
        return (text) => encoder.encode(text).length;
    }
    if (library === 'gpt-tokenizer') {
        const module = require(`gpt-tokenizer/encoding/${encoding}`);
        return (text) => module.encode(text).length;
    }
    if (library === 'ai-tokenizer') {
        const { Tokenizer } = require('ai-tokenizer');
        const tokenizer = new Tokenizer(require(`ai-tokenizer/encoding/${encoding}`));
        return (text) => tokenizer.encodeOrdinary(text).length;
    }
    throw new Error(`unknown library ${library}`);
}

function warm(encode, text) {
    let best = Infinity;
    let tokens = 0;
    let spent = 0;
    for (let run = 0; run < 5 || spent < 0.5; run++) {
        const start = process.hrtime.bigint();
        tokens = encode(text);
        const seconds = Number(process.hrtime.bigint() - start) / 1e9;
        best = Math.min(best, seconds);
        spent += seconds;
        if (seconds > SLOW_PASS_SECONDS) {
            break;
        }
    }
    return { seconds: best, tokens };
}

// Child mode: in this fresh process, open the library, warm it up on a short text, and
// encode the part once (first sight); or with no file, the open alone.
function coldChild(library, encoding, file) {
    const text = file ? fs.readFileSync(file, 'utf8') : '';
    const start = process.hrtime.bigint();
    const encode = loadEncoder(library, encoding);
    const open = Number(process.hrtime.bigint() - start) / 1e9;
    encode('Hello, world: a short warm-up sentence.');
    const first = process.hrtime.bigint();
    const tokens = file ? encode(text) : 0;
    const seconds = Number(process.hrtime.bigint() - first) / 1e9;
    process.stdout.write(JSON.stringify({ open, seconds, tokens }));
}

function npmCold(library, encoding, file) {
    const out = execFileSync(process.execPath, [__filename, '--cold-child', library, encoding, file || '']);
    return JSON.parse(out.toString());
}

const USAGE = `usage: node bench/tokenizer.js [--bin build/bench_tokenizer] [--parts prose,code,...] [--no-cold]
Tollgate's tokenizer beside @dqbd/tiktoken, js-tiktoken, gpt-tokenizer and ai-tokenizer on
the same corpus parts, warm and on first sight, and the time to open, both encodings.
Figures and method: docs/benchmarks-tokenizer.md.`;

function parseArgs() {
    const args = { bin: path.join(ROOT, 'build', 'bench_tokenizer'), parts: null, cold: true };
    for (let i = 2; i < process.argv.length; i++) {
        const a = process.argv[i];
        if (a === '--bin') {
            args.bin = process.argv[++i];
        } else if (a === '--parts') {
            args.parts = new Set(process.argv[++i].split(','));
        } else if (a === '--no-cold') {
            args.cold = false;
        } else if (a === '--help' || a === '-h') {
            console.log(USAGE);
            process.exit(0);
        } else {
            console.error(`unknown argument ${a}\n${USAGE}`);
            process.exit(2);
        }
    }
    return args;
}

function cMeasure(bin, encoding, file, cold) {
    const out = execFileSync(bin, ['--json', ...(cold ? ['--cold'] : []), '--encoding', encoding, file]);
    return JSON.parse(out.toString().trim());
}

function mbps(bytes, seconds) {
    return (bytes / 1e6 / seconds).toFixed(1);
}

function main() {
    if (process.argv[2] === '--cold-child') {
        coldChild(process.argv[3], process.argv[4], process.argv[5]);
        return;
    }
    const args = parseArgs();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-bench-'));
    const parts = Object.entries(makeParts()).filter(([name]) => !args.parts || args.parts.has(name));
    console.log(`# tokenizer benchmark: ${os.cpus()[0].model}, node ${process.version}, one core`);
    console.log('# warm: MB/s (Mtokens/s), best pass; first: MB/s of the first encode in a fresh process;');
    console.log('# "!" marks a token count that differs from Tollgate\'s; n/a: not run (minutes)\n');
    for (const encoding of ENCODINGS) {
        console.log(`## ${encoding}\n`);
        const opens = [];
        for (let i = 0; i < 5; i++) {
            opens.push(JSON.parse(execFileSync(args.bin, ['--json', '--open', '--encoding', encoding]).toString()).open_s);
        }
        const openCells = [`${(Math.min(...opens) * 1e3).toFixed(3)}`];
        for (const library of LIBRARIES) {
            openCells.push((Math.min(...[0, 1, 2].map(() => npmCold(library, encoding, null).open)) * 1e3).toFixed(1));
        }
        console.log(`| part | MB | tollgate (C) | ${LIBRARIES.join(' | ')} |`);
        console.log(`|---|---:|---:|${LIBRARIES.map(() => '---:').join('|')}|`);
        console.log(`| open ms | | ${openCells.join(' | ')} |`);
        for (const [name, text] of parts) {
            const file = path.join(dir, `${name}.txt`);
            fs.writeFileSync(file, text);
            const bytes = Buffer.byteLength(text);
            const c = cMeasure(args.bin, encoding, file, false);
            const cells = [`${mbps(bytes, c.warm_s)} (${(c.tokens / 1e6 / c.warm_s).toFixed(2)})`];
            const firsts = [];
            if (args.cold) {
                const cold = cMeasure(args.bin, encoding, file, true);
                firsts.push(mbps(bytes, cold.cold_s - cold.open_s));
            }
            for (const library of LIBRARIES) {
                if (C_ONLY.has(name) || (SKIP[library] && SKIP[library].has(name))) {
                    cells.push('n/a');
                    firsts.push('n/a');
                    continue;
                }
                const result = warm(loadEncoder(library, encoding), text);
                const flag = result.tokens === c.tokens ? '' : ` ! ${result.tokens}`;
                cells.push(`${mbps(bytes, result.seconds)} (${(result.tokens / 1e6 / result.seconds).toFixed(2)})${flag}`);
                if (args.cold) {
                    firsts.push(mbps(bytes, npmCold(library, encoding, file).seconds));
                }
            }
            console.log(`| ${name} | ${(bytes / 1e6).toFixed(2)} | ${cells.join(' | ')} |`);
            if (args.cold) {
                console.log(`| ${name} first | | ${firsts.join(' | ')} |`);
            }
        }
        console.log('');
    }
    fs.rmSync(dir, { recursive: true, force: true });
}

main();
