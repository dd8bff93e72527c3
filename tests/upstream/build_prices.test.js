// build_prices.test.js: the converter from @pydantic/genai-prices to Tollgate's price
// table (scripts/build-prices.js): exact micros from float dollars (rounded up only
// when a price has more than six decimals), regular expressions translated to POSIX
// or refused, time-of-day constraints to UTC seconds, and a converted table whose
// entries match the package's own answers.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { toMicros, toPosixRegex, convertMatch, timeOfDaySeconds } = require('../../scripts/build-prices.js');

test('prices become exact micros, rounded up past six decimals', () => {
    assert.equal(toMicros(2.5), 2500000);
    assert.equal(toMicros(0.15), 150000);
    assert.equal(toMicros(0.18000000000000002), 180000); // binary noise removed
    assert.equal(toMicros(0.075), 75000);
    assert.equal(toMicros(0.0000005), 1); // half a micro: up, never down
    assert.equal(toMicros(0.08333333333333334), 83334);
    assert.equal(toMicros(0), 0);
    assert.equal(toMicros(1e-7), 1);
    assert.equal(toMicros(150), 150000000);
    assert.throws(() => toMicros(-1));
    assert.throws(() => toMicros(Number.NaN));
});

test('regular expressions: POSIX where possible, refused otherwise', () => {
    assert.equal(toPosixRegex('^gpt-5\\.4-\\d{4}-\\d{2}-\\d{2}$'), '^gpt-5\\.4-[0-9]{4}-[0-9]{2}-[0-9]{2}$');
    assert.equal(toPosixRegex('^grok-4\\.5\\[fast=true\\]$'), '^grok-4\\.5\\[fast=true]$');
    assert.equal(toPosixRegex('^o[134](?:-mini)?'), '^o[134](-mini)?');
    assert.equal(toPosixRegex('\\w+'), null);
    assert.equal(toPosixRegex('a(?=b)'), null);
    assert.equal(toPosixRegex('a+?'), null);
    assert.deepEqual(convertMatch({ regex: '^(?!.*-[tT][tT][sS](?:$|-))' }, 'x'), { not: { regex: '-[tT][tT][sS]($|-)' } });
    assert.deepEqual(convertMatch({ or: [{ equals: 'GPT-4o' }, { starts_with: 'GPT-4O-2024' }] }, 'x'),
        { or: [{ equals: 'gpt-4o' }, { starts_with: 'gpt-4o-2024' }] });
    assert.equal(convertMatch({ or: [{ equals: 'a' }, { regex: '\\bx' }] }, 'x'), null);
});

test('time of day becomes seconds after UTC midnight', () => {
    assert.equal(timeOfDaySeconds('00:30:00Z'), 1800);
    assert.equal(timeOfDaySeconds('16:30:00Z'), 59400);
    assert.equal(timeOfDaySeconds('08:00:00+08:00'), 0);
    assert.equal(timeOfDaySeconds('01:00:00.5+02:00'), 82800);
    assert.throws(() => timeOfDaySeconds('25:00'));
});

test('the converted table cites its source and matches the package', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-prices-'));
    try {
        const out = path.join(dir, 'prices.json');
        execFileSync(process.execPath, [path.join(__dirname, '../../scripts/build-prices.js'), '--out', out], { stdio: 'pipe' });
        const table = JSON.parse(fs.readFileSync(out, 'utf8'));
        assert.equal(table.format, 'tollgate-prices/1');
        assert.equal(table.source.package, '@pydantic/genai-prices');
        assert.match(table.source.version, /^\d+\.\d+\.\d+/);
        assert.equal(table.source.license, 'MIT');
        const openai = table.providers.find((p) => p.id === 'openai');
        const gpt4o = openai.models.find((m) => m.id === 'gpt-4o');
        assert.equal(gpt4o.prices[0].input_mtok, 2500000);
        assert.equal(gpt4o.prices[0].output_mtok, 10000000);
        assert.ok(JSON.stringify(gpt4o.match).includes('gpt-4o-2024-08-06'));
        const genai = require('@pydantic/genai-prices');
        const result = genai.calcPrice({ input_tokens: 1000000, output_tokens: 1000000 }, 'gpt-4o', { providerId: 'openai' });
        assert.equal(Math.round(result.total_price * 1e6), gpt4o.prices[0].input_mtok + gpt4o.prices[0].output_mtok);
        const models = table.providers.reduce((n, p) => n + p.models.length, 0);
        assert.ok(models > 1000, `${models} models`);
        const deepseek = table.providers.find((p) => p.id === 'deepseek');
        assert.ok(deepseek.models.some((m) => m.prices.some((v) => Array.isArray(v.utc_seconds))));
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
});
