#!/usr/bin/env node
// build-prices: converts the price database of the npm package @pydantic/genai-prices
// (MIT, installed by scripts/setup from package-lock.json) into Tollgate's own price
// table, read by src/proxy/prices_load.c. Run by the build (CMake) so the table always
// matches the locked package version; nothing third-party is checked into the repo.
//
// Why convert rather than read the package's data at run time: the daemon is C and
// counts money in integer micros, while the package holds prices as JavaScript
// floats in dollars and matches model names with JavaScript regular expressions.
// Here each price becomes an exact integer (micros per million tokens, rounded up
// when a price has more than six decimals, so a charge never comes out low) and each
// regular expression becomes a POSIX extended one (or is dropped with its model).
//
// Usage: node scripts/build-prices.js --out FILE [--conformance FILE]
//   --conformance writes sample (provider, model, usage) -> cost cases computed by the
//   package itself, which tests/unit/test_proxy_prices_table.c replays against the C
//   code so the conversion and the C arithmetic are checked against the source.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const FORMAT = 'tollgate-prices/1';

// Price keys Tollgate charges, with the usage unit each prices. Token keys are per
// million tokens (*_mtok), counted keys per thousand (*_kcount). Others in the
// source (images, video, audio hours, document pages) are not on the proxy's routes.
const PRICE_KEYS = [
    'input_mtok', 'cache_read_mtok', 'cache_write_mtok', 'cache_write_1h_mtok',
    'input_audio_mtok', 'cache_audio_read_mtok', 'output_mtok', 'output_reasoning_mtok',
    'output_audio_mtok', 'requests_kcount', 'web_searches_kcount',
];

function parseArgs(argv) {
    const args = {};
    for (let i = 2; i < argv.length; i++) {
        const name = argv[i];
        if (name === '--out' || name === '--conformance') {
            args[name.slice(2)] = argv[++i];
        } else {
            throw new Error(`build-prices: unknown argument ${name}`);
        }
    }
    if (!args.out) {
        throw new Error('usage: build-prices.js --out FILE [--conformance FILE]');
    }
    return args;
}

// Dollars per unit (a float) to micros, exactly from its decimal text, rounded up.
// toPrecision(15) removes binary noise such as 0.18000000000000002 -> 0.18.
function toMicros(value) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
        throw new Error(`bad price ${value}`);
    }
    const text = value.toPrecision(15);
    const m = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(text);
    if (!m) {
        throw new Error(`bad price text ${text}`);
    }
    const fraction = m[2] || '';
    const exponent = Number(m[3] || 0);
    let digits = BigInt(m[1] + fraction);
    let scale = fraction.length - exponent - 6; // value * 1e6 = digits / 10^scale
    if (scale <= 0) {
        return Number(digits * 10n ** BigInt(-scale));
    }
    const divisor = 10n ** BigInt(scale);
    const micros = digits / divisor + (digits % divisor === 0n ? 0n : 1n);
    return Number(micros);
}

function convertRate(value) {
    if (typeof value === 'number') {
        return toMicros(value);
    }
    // Tiered: the price of the highest tier whose start the request's input exceeds.
    return {
        base: toMicros(value.base),
        tiers: value.tiers.map((t) => ({ start: t.start, price: toMicros(t.price) })),
    };
}

function convertPrices(prices) {
    const out = {};
    for (const key of PRICE_KEYS) {
        if (prices[key] !== undefined) {
            out[key] = convertRate(prices[key]);
        }
    }
    return out;
}

// "HH:MM:SS[.fff](Z|+HH:MM)" to seconds after UTC midnight.
function timeOfDaySeconds(text) {
    const m = /^(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|([+-])(\d{2}):(\d{2}))$/.exec(text);
    if (!m) {
        throw new Error(`bad time of day ${text}`);
    }
    const local = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
    const offset = m[4] === 'Z' ? 0 : (m[5] === '+' ? 1 : -1) * (Number(m[6]) * 60 + Number(m[7])) * 60;
    return (local - offset + 86400) % 86400;
}

// The package's conditional prices become variants: "from_ms" (a start date) or
// "utc_seconds" [start, end) of the day; chosen at lookup time as the package does.
function convertVariants(prices) {
    if (!Array.isArray(prices)) {
        return [convertPrices(prices)];
    }
    return prices.map((p) => {
        const variant = convertPrices(p.prices);
        const c = p.constraint;
        if (c === undefined) {
            return variant;
        }
        if (c.type === 'start_date' || (c.start_date && !c.type)) {
            variant.from_ms = Date.parse(`${c.start_date}T00:00:00Z`);
        } else if (c.type === 'time_of_date' || (c.start_time && !c.type)) {
            variant.utc_seconds = [timeOfDaySeconds(c.start_time), timeOfDaySeconds(c.end_time)];
        } else {
            throw new Error(`unknown price constraint ${JSON.stringify(c)}`);
        }
        return variant;
    });
}

// JavaScript regular expression -> POSIX extended, or null when it uses a feature
// POSIX lacks. The package tests a lowercased model name with RegExp.test (a search).
function toPosixRegex(source) {
    let out = '';
    for (let i = 0; i < source.length; i++) {
        const c = source[i];
        if (c === '\\') {
            const next = source[++i];
            if (next === 'd') {
                out += '[0-9]';
            } else if ('.[]()*+?{}|^$\\/-'.includes(next)) {
                out += next === '/' || next === '-' || next === ']' ? next : '\\' + next;
            } else {
                return null; // \w, \s, \b, back-references: not in POSIX ERE
            }
        } else if (c === '(' && source[i + 1] === '?') {
            if (source[i + 2] !== ':') {
                return null; // look-around
            }
            out += '(';
            i += 2;
        } else if ((c === '*' || c === '+' || c === '?' || c === '}') && source[i + 1] === '?') {
            return null; // lazy quantifier
        } else {
            out += c;
        }
    }
    return out;
}

// Match trees keep the package's shape with lowercased literals; "^(?!.*X)" (the one
// look-ahead form the data uses) becomes {"not": {"regex": X}}.
function convertMatch(match, where) {
    const kinds = Object.keys(match);
    if (kinds.length !== 1) {
        throw new Error(`${where}: match with keys ${kinds}`);
    }
    const kind = kinds[0];
    const value = match[kind];
    switch (kind) {
    case 'or':
    case 'and': {
        const children = value.map((m) => convertMatch(m, where));
        return children.includes(null) ? null : { [kind]: children };
    }
    case 'equals':
    case 'starts_with':
    case 'ends_with':
    case 'contains':
        return { [kind]: value.toLowerCase() };
    case 'regex': {
        const negative = /^\^\(\?!\.\*(.*)\)$/.exec(value);
        if (negative) {
            const inner = toPosixRegex(negative[1]);
            return inner === null ? null : { not: { regex: inner } };
        }
        const posix = toPosixRegex(value);
        return posix === null ? null : { regex: posix };
    }
    default:
        throw new Error(`${where}: unknown match kind ${kind}`);
    }
}

function hasTokenPrice(variants) {
    return variants.some((v) => v.input_mtok !== undefined || v.output_mtok !== undefined);
}

function convert(providers, warn) {
    const out = [];
    let models = 0;
    let skipped = 0;
    for (const p of providers) {
        const converted = [];
        for (const m of p.models) {
            const where = `${p.id}/${m.id}`;
            const match = convertMatch(m.match, where);
            if (match === null) {
                warn(`${where}: match pattern has no POSIX form; model left out (refused as unpriced)`);
                skipped++;
                continue;
            }
            const variants = convertVariants(m.prices);
            if (!hasTokenPrice(variants)) {
                skipped++; // priced only per image, hour, page...: not a proxy route
                continue;
            }
            const entry = { id: m.id, match, prices: variants };
            if (m.context_window) {
                entry.context_window = m.context_window;
            }
            converted.push(entry);
        }
        models += converted.length;
        const provider = { id: p.id, name: p.name, models: converted };
        if (p.fallback_model_providers) {
            provider.fallback = p.fallback_model_providers;
        }
        out.push(provider);
    }
    return { providers: out, models, skipped };
}

// A handful of cases per model for the C side to replay (see the header comment).
function conformanceCases(genai, converted) {
    const usages = [
        { input_tokens: 1200, output_tokens: 345 },
        { input_tokens: 5000, cache_read_tokens: 3000, cache_write_tokens: 1000, output_tokens: 800 },
        { input_tokens: 300000, cache_read_tokens: 100000, output_tokens: 20000 },
    ];
    const times = ['2026-01-15T12:00:00Z', '2026-01-15T02:30:00Z', '2024-01-01T00:00:00Z'];
    const cases = [];
    for (const p of converted.providers) {
        for (const m of p.models) {
            const names = [];
            collectNames(m.match, names);
            const name = names[0];
            if (name === undefined) {
                continue;
            }
            for (const usage of usages) {
                for (const when of times) {
                    let result;
                    try {
                        result = genai.calcPrice(usage, name, { providerId: p.id, timestamp: new Date(when) });
                    } catch (e) {
                        continue; // the package refuses this usage for this model (missing join price)
                    }
                    if (!result || result.model.id !== m.id) {
                        continue;
                    }
                    cases.push({
                        provider: p.id, model: name, expect_id: m.id, at_ms: Date.parse(when), usage,
                        cost_micros: result.total_price * 1e6,
                    });
                }
            }
        }
    }
    return cases;
}

function collectNames(match, names) {
    if (match.equals !== undefined) {
        names.push(match.equals);
    } else if (match.starts_with !== undefined) {
        names.push(match.starts_with);
    } else if (match.or) {
        match.or.forEach((m) => collectNames(m, names));
    }
}

async function main() {
    const args = parseArgs(process.argv);
    const genai = require('@pydantic/genai-prices');
    // The package exports no ./package.json; its main file is dist/index.cjs.
    const pkgFile = path.join(path.dirname(require.resolve('@pydantic/genai-prices')), '..', 'package.json');
    const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8'));
    // waitForUpdate() resolves to the active provider list: the bundled data, since
    // this script never calls updatePrices (no network at build time).
    const providers = await genai.waitForUpdate();
    const warnings = [];
    const converted = convert(providers, (w) => warnings.push(w));
    const table = {
        format: FORMAT,
        source: {
            package: pkg.name,
            version: pkg.version,
            license: pkg.license,
            homepage: pkg.homepage,
            note: 'converted by scripts/build-prices.js; do not edit, override in the config',
        },
        units: 'prices in micros (1e-6 of a currency unit): *_mtok per million tokens, '
            + '*_kcount per thousand; rounded up to a whole micro',
        providers: converted.providers,
    };
    writeAtomically(args.out, JSON.stringify(table) + '\n');
    if (args.conformance) {
        const cases = conformanceCases(genai, converted);
        writeAtomically(args.conformance, JSON.stringify({ source_version: pkg.version, cases }) + '\n');
    }
    for (const w of warnings) {
        console.error(`build-prices: ${w}`);
    }
    console.error(`build-prices: ${pkg.name}@${pkg.version}: ${converted.models} models from `
        + `${converted.providers.length} providers -> ${args.out} (${converted.skipped} not token-priced or left out)`);
}

function writeAtomically(file, text) {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const tmp = `${file}.tmp${process.pid}`;
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
}

if (require.main === module) {
    main().catch((e) => {
        console.error(`build-prices: ${e.stack || e}`);
        process.exit(1);
    });
}

module.exports = { toMicros, toPosixRegex, convertMatch, timeOfDaySeconds };
