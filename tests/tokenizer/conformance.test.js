// conformance: Tollgate's C tokenizer against tiktoken itself. @dqbd/tiktoken is
// tiktoken's Rust core compiled to WASM (installed by scripts/setup from
// package-lock.json); every case below must give identical token ids for both
// encodings, or the test prints where the two first differ.
//
// The corpus: tests/tokenizer/corpus/ (prose, code in several languages, JSON, Chinese,
// Japanese, Korean, emoji, mixed scripts, special-token text), the repository's own
// sources and docs, and generated cases: random bytes, random code points, a sweep of
// the whole Basic Multilingual Plane, and adversarial runs (one character repeated,
// long words without spaces, long white space, digits, marks). The runs are kept to a
// few thousand characters because the reference is quadratic on them (tiktoken merges
// with a linear scan per step); bench/tokenizer times Tollgate on much longer ones.
//
// Run: TG_TOKENIZE=build/tg_tokenize node --test tests/tokenizer/conformance.test.js
'use strict';

const assert = require('node:assert');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const test = require('node:test');

const { get_encoding } = require('@dqbd/tiktoken');

const SOURCE_DIR = process.env.TG_SOURCE_DIR || path.join(__dirname, '..', '..');
const TOKENIZE = process.env.TG_TOKENIZE || path.join(SOURCE_DIR, 'build', 'tg_tokenize');
const ENCODINGS = ['cl100k_base', 'o200k_base'];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-conformance-'));

// A small deterministic generator (mulberry32), so a failure reproduces.
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

function corpusCases() {
    const dir = path.join(SOURCE_DIR, 'tests', 'tokenizer', 'corpus');
    return fs.readdirSync(dir).sort().map((name) => ({
        name: `corpus/${name}`,
        text: fs.readFileSync(path.join(dir, name), 'utf8'),
    }));
}

// The repository's own text: C, JavaScript, shell, Markdown, YAML.
function repositoryCases() {
    const cases = [];
    const walk = (dir, pattern) => {
        for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
            const full = path.join(dir, entry.name);
            if (entry.isDirectory()) {
                walk(full, pattern);
            } else if (pattern.test(entry.name)) {
                cases.push(fs.readFileSync(full, 'utf8'));
            }
        }
    };
    walk(path.join(SOURCE_DIR, 'src'), /\.(c|h)$/);
    walk(path.join(SOURCE_DIR, 'docs'), /\.md$/);
    walk(path.join(SOURCE_DIR, 'scripts'), /\.(js|sh)$|^setup$/);
    return [{ name: 'repository sources and docs', text: cases.join('\n\f\n') }];
}

function generatedCases() {
    const next = random(20240601);
    const pick = (chars) => chars[Math.floor(next() * chars.length)];
    const cases = [];
    // Random bytes, decoded as UTF-8 with replacement (the reference takes strings).
    const bytes = Buffer.alloc(64 * 1024);
    for (let i = 0; i < bytes.length; i++) {
        bytes[i] = next() < 0.5 ? Math.floor(next() * 128) : Math.floor(next() * 256);
    }
    cases.push({ name: 'random bytes', text: bytes.toString('utf8') });
    // Random code points from every plane in use (no surrogates).
    const points = [];
    for (let i = 0; i < 20000; i++) {
        const plane = pick([0, 0, 0, 1, 2, 3, 14]);
        let cp = plane * 0x10000 + Math.floor(next() * 0x10000);
        if (cp >= 0xd800 && cp <= 0xdfff) {
            cp = 0x20;
        }
        points.push(String.fromCodePoint(cp));
        if (next() < 0.2) {
            points.push(pick([' ', ' ', '\n', 'a', 'A', '1', "'s", '.']));
        }
    }
    cases.push({ name: 'random code points', text: points.join('') });
    // Every BMP character in the contexts where the classes decide the split: after a
    // space, between letters of each case, next to digits and apostrophes.
    const sweep = [];
    for (let cp = 0x80; cp <= 0xffff; cp++) {
        if (cp >= 0xd800 && cp <= 0xdfff) {
            continue;
        }
        const c = String.fromCodePoint(cp);
        sweep.push(cp % 2 ? ` ${c}a${c}B` : `${c}1'S${c}\n`);
    }
    cases.push({ name: 'BMP sweep', text: sweep.join('') });
    // The supplementary planes in use: all of planes 1 and 14, every 7th of 2 and 3.
    const supplementary = [];
    for (let cp = 0x10000; cp <= 0x3ffff; cp += cp < 0x20000 ? 1 : 7) {
        supplementary.push(String.fromCodePoint(cp) + (cp % 3 ? "'s " : 'a'));
    }
    for (let cp = 0xe0000; cp <= 0xeffff; cp++) {
        supplementary.push(String.fromCodePoint(cp) + (cp % 2 ? ' ' : 'x'));
    }
    cases.push({ name: 'supplementary sweep', text: supplementary.join('') });
    const repeat = (s, n) => s.repeat(n);
    const word = (n, alphabet) => Array.from({ length: n }, () => pick(alphabet)).join('');
    // Runs of random length (1 to longest) of characters from alphabet: one long piece
    // whose merges change character often, to test where src/tokenizer/bpe.c stitches
    // its windows.
    const runs = (n, alphabet, longest) => {
        let out = '';
        while (out.length < n) {
            out += pick(alphabet).repeat(1 + Math.floor(next() * longest));
        }
        return out.slice(0, n);
    };
    const adversarial = {
        'run of a': repeat('a', 10000),
        'run of spaces then a letter': repeat(' ', 8000) + 'x',
        'run of newlines and spaces': repeat(' \n', 3000) + repeat('\r\n\t', 1000),
        'run of digits': repeat('7', 30001),
        'run of dots': repeat('.', 10000),
        'run of a CJK character': repeat('我', 4000),
        'run of an emoji': repeat('🦄', 3000),
        'run of a combining mark': 'e' + repeat('\u0301', 6000),
        'long word without spaces': word(12000, 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'),
        'long lowercase word': word(10000, 'etaoinshrdlu'),
        'long CJK text without punctuation': word(4000, '的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年'),
        'long hex string': word(50000, '0123456789abcdef'),
        'base64 blob': Buffer.from(word(40000, 'xyz')).toString('base64').repeat(2),
        'alternating case': repeat('aA', 20000),
        'contractions': repeat("'s'S'ſ'll'LL've're'd'm't ", 3000),
        'mixed white space': repeat('\t \u00a0\u3000\u2028 \n\r', 1000),
        'two-letter word': word(12000, 'ab'),
        'word of letter runs': runs(12000, 'abcdefghijklmnopqrstuvwxyz', 40),
        'punctuation runs': runs(12000, '=-*#/._~', 150),
        'spaces then letters in runs': runs(6000, 'a ', 200).replace(/ +$/, '') + 'x',
        'long word of accented letters': word(6000, 'éèàüößçñ'),
        'run of equals signs': repeat('=', 20000),
        // Runs of one character of every length across the rank boundaries of their
        // tokens (spaces reach 128 bytes), merged by src/tokenizer/bpe.c's run merge.
        'space runs of every length': Array.from({ length: 400 }, (_, k) => 'w' + ' '.repeat(k + 1)).join(''),
        'tab and newline runs': Array.from({ length: 200 }, (_, k) => 'w' + '\t'.repeat(k + 1) + 'x' + '\n'.repeat(k + 1)).join(''),
        'U+3000 runs of every length': Array.from({ length: 300 }, (_, k) => '我' + '\u3000'.repeat(k + 1)).join(''),
        'no-break space runs': Array.from({ length: 200 }, (_, k) => 'a' + '\u00a0'.repeat(k + 1)).join(''),
    };
    for (const [name, text] of Object.entries(adversarial)) {
        cases.push({ name, text });
    }
    return cases;
}

function encodeC(encoding, text, special) {
    const file = path.join(tmp, 'case.txt');
    fs.writeFileSync(file, text, 'utf8');
    const args = [encoding, file].concat(special ? ['--special'] : []);
    const out = execFileSync(TOKENIZE, args, { maxBuffer: 1 << 30 });
    return new Uint32Array(out.buffer, out.byteOffset, out.length / 4);
}

function firstDifference(a, b) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
        if (a[i] !== b[i]) {
            return i;
        }
    }
    return a.length === b.length ? -1 : n;
}

function check(encoder, encodingName, testCase, special) {
    const expected = special ? encoder.encode(testCase.text, 'all') : encoder.encode_ordinary(testCase.text);
    const actual = encodeC(encodingName, testCase.text, special);
    const at = firstDifference(actual, expected);
    if (at >= 0) {
        const context = (ids) => Array.from(ids.slice(Math.max(0, at - 3), at + 4));
        const text = new TextDecoder().decode(encoder.decode(expected.slice(Math.max(0, at - 3), at + 4)));
        assert.fail(`${encodingName} ${testCase.name}: first difference at token ${at} of ` +
            `${expected.length}: tollgate ${JSON.stringify(context(actual))}, tiktoken ` +
            `${JSON.stringify(context(expected))} around ${JSON.stringify(text)}`);
    }
    return expected.length;
}

for (const encodingName of ENCODINGS) {
    test(`${encodingName}: identical ids to tiktoken`, async (t) => {
        const encoder = get_encoding(encodingName);
        const cases = [...corpusCases(), ...repositoryCases(), ...generatedCases()];
        let tokens = 0;
        for (const testCase of cases) {
            await t.test(testCase.name, () => {
                tokens += check(encoder, encodingName, testCase, false);
            });
        }
        await t.test('special tokens recognised', () => {
            const text = fs.readFileSync(path.join(SOURCE_DIR, 'tests/tokenizer/corpus/mixed.txt'), 'utf8');
            check(encoder, encodingName, { name: 'mixed.txt with specials', text }, true);
        });
        encoder.free();
        t.diagnostic(`${cases.length} cases, ${tokens} tokens identical`);
    });
}

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
