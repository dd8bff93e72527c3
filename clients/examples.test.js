// examples/agent.py and examples/agent.mjs run against the daemon `make run` starts
// (examples/tollgate.yaml, on a free port with its ledger in a temp folder): each
// searches, refunds, and the ledger shows the refund as critical.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { tempDir, startDaemon } = require('../tests/integration/daemon_helpers');

const source = path.resolve(__dirname, '..');
const python = process.env.TG_PYTHON || '/usr/bin/python3';
const run = (cmd, args, env) => new Promise((resolve) => {
  const child = spawn(cmd, args, { env: { ...process.env, ...env } });
  let out = '';
  child.stdout.on('data', (c) => { out += c; });
  child.stderr.on('data', (c) => { out += c; });
  child.on('exit', (status) => resolve({ status, out }));
});

test('the example agents search and refund against make run\'s config', async () => {
  const dir = tempDir('examples');
  const config = path.join(dir, 'tollgate.yaml');
  fs.writeFileSync(config, fs.readFileSync(path.join(source, 'examples/tollgate.yaml'), 'utf8')
    .replace(/^port: \d+$/m, 'port: 0').replace(/path: tollgate\.db/, `path: ${path.join(dir, 'tollgate.db')}`));
  const daemon = await startDaemon(config, { admin: 'example-key' });
  try {
    const env = { TOLLGATE_URL: daemon.base, TOLLGATE_KEY: 'example-key' };
    for (const [cmd, file] of [[python, 'examples/agent.py'], [process.execPath, 'examples/agent.mjs']]) {
      const r = await run(cmd, [path.join(source, file)], env);
      assert.equal(r.status, 0, r.out);
      assert.match(r.out, /A-1002: refunded 35\.00/);
      assert.match(r.out, /A-1003: searched 'wrong size'/);
    }
    const charges = (await daemon.call('GET', '/v1/charges?budget=team/support-agent', undefined, 'example-key')).json.charges;
    assert.deepEqual(charges.map((c) => [c.tool, c.class, c.cost_micros]), [
      ['web_search', 'low', 12000], ['web_search', 'low', 12000], ['refund_order', 'critical', 35000000], ['web_search', 'low', 12000],
      ['web_search', 'low', 12000], ['web_search', 'low', 12000], ['refund_order', 'critical', 35000000], ['web_search', 'low', 12000]]);
  } finally {
    await daemon.stop();
  }
});
