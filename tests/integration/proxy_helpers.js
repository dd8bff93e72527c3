// The proxy tests' common ground: a daemon config whose upstreams are the fake LLM for
// both wires, and a stop that requires a clean exit with no sanitizer report (every
// proxy test ends on it, so a leak or a UBSan line in the daemon fails the test).
'use strict';
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

// Writes DIR/NAME.yaml and returns its path. budgets and keys: YAML flow mappings, one a
// line; store 'memory' or (the default) a relaxed SQLite ledger DIR/NAME.db; extra:
// more top-level YAML (proxy:, limits:).
function proxyConfig(dir, name, { fake, budgets, keys, store = 'sqlite', extra = '' }) {
  const file = path.join(dir, `${name}.yaml`);
  const ledger = store === 'memory'
    ? '{kind: memory}'
    : `{kind: sqlite, path: ${path.join(dir, `${name}.db`)}, durability: relaxed}`;
  fs.writeFileSync(file, `
port: 0
store: ${ledger}
budgets:
${budgets.map((b) => `  - ${b}`).join('\n')}
keys:
${keys.map((k) => `  - ${k}`).join('\n')}
upstreams:
  openai: {base_url: "${fake.url}", api_key: sk-upstream}
  anthropic: {base_url: "${fake.url}", api_key: sk-ant-upstream}
${extra}
`);
  return file;
}

// Stops each daemon (SIGTERM) and asserts it exited 0 without a sanitizer report.
async function stopClean(...daemons) {
  for (const d of daemons) {
    const code = await d.stop();
    assert.doesNotMatch(d.stderr(), /AddressSanitizer|runtime error|LeakSanitizer/, d.stderr());
    assert.equal(code, 0, d.stderr());
  }
}

module.exports = { proxyConfig, stopClean };
