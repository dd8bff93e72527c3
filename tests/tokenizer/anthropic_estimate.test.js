// anthropic_estimate: the Anthropic estimate must err high. For every corpus file, a
// one-message Messages body is counted by `tollgate tokens --request anthropic`, and
// the estimate must be at least the count of the `claude` encoding of the npm package
// ai-tokenizer (validated by its authors at 97-99% against billed counts), plus 3%
// for that package's own error. docs/tokenizer.md has the calibration.
//
// Run: TG_BINARY=build/tollgate node --test tests/tokenizer/anthropic_estimate.test.js
'use strict';

const assert = require('node:assert');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const test = require('node:test');

const { Tokenizer } = require('ai-tokenizer');
const claudeEncoding = require('ai-tokenizer/encoding/claude');

const SOURCE_DIR = process.env.TG_SOURCE_DIR || path.join(__dirname, '..', '..');
const BINARY = process.env.TG_BINARY || path.join(SOURCE_DIR, 'build', 'tollgate');
const MODELS = ['claude-sonnet-4-5', 'claude-opus-4-7'];

function estimate(model, text) {
    const body = JSON.stringify({ model, max_tokens: 16, messages: [{ role: 'user', content: text }] });
    const out = execFileSync(BINARY, ['tokens', '--request', 'anthropic', '--json', '-'], { input: body });
    return JSON.parse(out.toString());
}

test('the Anthropic estimate is never below the calibration count', () => {
    const claude = new Tokenizer(claudeEncoding);
    const dir = path.join(SOURCE_DIR, 'tests', 'tokenizer', 'corpus');
    for (const name of fs.readdirSync(dir).sort()) {
        const text = fs.readFileSync(path.join(dir, name), 'utf8').replace(/<\|/g, '< |');
        const reference = Math.ceil(claude.encodeOrdinary(text).length * 1.03);
        for (const model of MODELS) {
            const count = estimate(model, text);
            assert.strictEqual(count.quality, 'estimate');
            assert.ok(count.prompt_tokens >= reference,
                `${model} ${name}: estimate ${count.prompt_tokens} below ${reference}`);
        }
    }
});
