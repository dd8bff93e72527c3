// Every event kind reaches a real HTTP receiver on loopback, signed: the generic JSON
// sink, the Slack-compatible sink and a JSON-lines file all get every event the engine
// wrote, each budget's events in id order, and every request carries a valid
// HMAC-SHA256 signature over its timestamp and body (checked as docs/notifications.md
// tells receivers to). The driver writes events through the engine (SQLite store) and
// runs the sender in the same process, as the daemon does.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Receiver, checkDelivery, runDriver, dumpEvents } = require('./notify_receiver.js');

const KINDS = ['threshold_crossed', 'revoked', 'reinstated', 'denied', 'overrun', 'hold_expired',
  'window_rolled', 'budget_changed'];

test('every event kind arrives, signed, at webhook, Slack and JSON-lines sinks', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-notify-'));
  const receiver = new Receiver({ secret: 'whsec_test' });
  const url = await receiver.start();
  const config = path.join(dir, 'c.yaml');
  const log = path.join(dir, 'events.jsonl');
  fs.writeFileSync(config, `notify:
  sinks:
    - {name: hook, kind: webhook, url: "${url}", secret: whsec_test, headers: {X-Team: ops}}
    - {name: slack, kind: slack, url: "${url.replace('/hook', '/slack')}", secret: whsec_test}
    - {name: log, kind: jsonl, file: "${log}"}
`);
  const db = path.join(dir, 'ledger.db');
  const run = await runDriver(['--db', db, '--config', config, 'kinds']).done;
  assert.equal(run.code, 0, run.stderr + run.stdout);
  await receiver.stop();

  const dump = await dumpEvents(db);
  assert.deepEqual([...new Set(dump.map((e) => e.kind))].sort(), [...KINDS].sort());
  assert.ok(dump.every((e) => e.delivered_at_ms > 0), 'delivered_at_ms set on every event');

  const hooks = receiver.requests.filter((r) => r.url === '/hook');
  const slacks = receiver.requests.filter((r) => r.url === '/slack');
  for (const r of receiver.requests) {
    assert.equal(r.valid, true, `bad signature on ${r.url}: ${r.headers['x-tollgate-signature']}`);
    assert.equal(r.headers['content-type'], 'application/json');
  }
  assert.ok(hooks.every((r) => r.headers['x-team'] === 'ops'), 'custom header sent');
  const items = hooks.flatMap((r) => r.json.events);
  const result = checkDelivery(dump, items);
  assert.equal(result.duplicates, 0);
  for (const kind of KINDS) assert.ok(items.some((i) => i.kind === kind), `webhook got ${kind}`);
  const revoked = items.find((i) => i.kind === 'revoked' && i.class === 'normal');
  assert.equal(revoked.severity, 'warning');
  assert.match(revoked.summary, /normal work revoked on k\/a at its ceiling of 80.00; spent 80.00 of 100.00/);
  assert.deepEqual(revoked.tools, ['search']);
  const alert = items.find((i) => i.kind === 'threshold_crossed');
  assert.match(alert.forecast.text, /reaches its revocation threshold in/);

  for (const r of slacks) {
    assert.equal(typeof r.json.text, 'string');
    assert.equal(r.json.blocks[0].type, 'header');
    assert.ok(r.json.blocks.length <= 50);
  }
  const slackText = slacks.flatMap((r) => r.json.blocks.map((b) => (b.text ? b.text.text : '')));
  assert.ok(slackText.some((t) => /\*warning\* normal work revoked on k\/a/.test(t)), slackText.join('\n'));

  const lines = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.id), dump.map((e) => e.id), 'the log has every event, in order');
});
