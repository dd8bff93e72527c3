// `tollgate serve` with a `notify:` section: decisions made over the HTTP API reach a
// signed webhook receiver, and after the daemon is killed (SIGKILL) in the middle of
// delivering to a slow receiver and started again, every event in its store arrives,
// in id order per budget, repeats only of the same id.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Receiver, checkDelivery, dumpEvents, waitFor } = require('./notify_receiver.js');

const binary = process.env.TG_BINARY || 'build/tollgate';

function serve(config) {
  const child = spawn(binary, ['serve', '--config', config, '--port', '0'], {
    env: { ...process.env, TOLLGATE_ADMIN_KEY: 'k' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c) => { stderr += c; });
  const ready = new Promise((resolve) => {
    let text = '';
    child.stdout.on('data', (c) => { text += c; const m = text.match(/listening on (\S+)\n/); if (m) resolve(m[1]); });
    child.on('exit', () => resolve(null));
  });
  return { child, ready, stderr: () => stderr };
}

async function post(base, url, body) {
  try {
    const res = await fetch(base + url, { method: 'POST', headers: { Authorization: 'Bearer k' }, body: JSON.stringify(body) });
    return { status: res.status, json: await res.json() };
  } catch {
    return null;
  }
}

// Spend on each budget until it is revoked, with some refusals after.
async function traffic(base, budgets, rounds) {
  for (let r = 0; r < rounds; r++) {
    await Promise.all(budgets.map(async (b) => {
      const h = await post(base, '/v1/holds', { budget: b, amount_micros: 1000000, tool: 'answer_ticket' });
      if (h && h.status === 200) await post(base, `/v1/holds/${h.json.hold_id}/commit`, { actual_micros: 1000000 });
    }));
  }
}

test('the daemon notifies, and after SIGKILL and a restart nothing is lost', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-notify-daemon-'));
  const receiver = new Receiver({ secret: 'whsec_daemon', delayMs: 10 });
  const url = await receiver.start();
  const db = path.join(dir, 'ledger.db');
  const config = path.join(dir, 'c.yaml');
  const budgets = ['t/a', 't/b', 't/c', 't/d'];
  fs.writeFileSync(config, `port: 0
store: {kind: sqlite, path: ${db}, durability: strict}
budgets:
  - {path: t, limit: "100000.00"}
${budgets.map((b) => `  - {path: ${b}, limit: "40.00", revoke_at: "30.00", alerts: ["0.5"]}`).join('\n')}
notify:
  sinks:
    - {name: hook, kind: webhook, url: "${url}", secret: whsec_daemon}
  denied_interval_ms: 100
`);
  let daemon = serve(config);
  t.after(async () => { daemon.child.kill('SIGKILL'); await receiver.stop(); }); // on failure too
  let base = await daemon.ready;
  assert.ok(base, daemon.stderr());
  await traffic(base, budgets, 32);         // alerts at 20, revocations at 30, refusals
  await waitFor(() => receiver.events().some((e) => e.kind === 'revoked'), 'revocations while running');
  assert.ok(receiver.requests.every((r) => r.valid), 'signed');
  const delivered = receiver.requests.length;
  traffic(base, budgets, 40);               // refusals keep coming ...
  await waitFor(() => receiver.requests.length > delivered, 'refusals being delivered');
  daemon.child.kill('SIGKILL');             // ... and the daemon dies mid-delivery
  await new Promise((r) => daemon.child.on('exit', r));

  daemon = serve(config);
  base = await daemon.ready;
  assert.ok(base, daemon.stderr());
  await traffic(base, budgets, 2);
  // Wait until the store says every event is delivered.
  let dump = [];
  await waitFor(async () => {
    dump = await dumpEvents(db);
    return dump.length > 0 && dump.every((e) => e.delivered_at_ms > 0);
  }, 'every event delivered');
  daemon.child.kill('SIGTERM');
  await new Promise((r) => daemon.child.on('exit', r));
  await receiver.stop();
  assert.ok(dump.every((e) => e.delivered_at_ms > 0), 'every event delivered');
  const result = checkDelivery(dump, receiver.events());
  assert.ok(receiver.requests.every((r) => r.valid), 'signed');
  console.log(`# daemon: ${result.events} events, ${result.items} items, ${result.duplicates} duplicates`);
});
