// The receiver goes away while events keep coming: first down (connections refused),
// then up but answering 503, then healthy. Everything arrives: every event the engine
// wrote is delivered, as itself or inside its budget's refusal summary; each budget's
// items arrive in id order; a repeat is only ever the same id. The sender retries with
// backoff and jitter (short here), one probe at a time while the receiver is down.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Receiver, checkDelivery, runDriver, dumpEvents, waitFor } = require('./notify_receiver.js');

test('receiver down, then failing, then up: nothing lost, order kept', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-outage-'));
  const receiver = new Receiver({ secret: 's' });
  const url = await receiver.start();
  const config = path.join(dir, 'c.yaml');
  fs.writeFileSync(config, `notify:
  sinks:
    - {name: hook, kind: webhook, url: "${url}", secret: s, timeout_ms: 1000}
  denied_interval_ms: 200
  retry: {initial_ms: 20, max_ms: 200, give_up_after_ms: 600000}
`);
  const db = path.join(dir, 'ledger.db');
  const driver = runDriver(['--db', db, '--config', config, '--wait-ms', '60000', 'load', '3000']);
  await waitFor(() => receiver.requests.length > 0, 'a first delivery');
  const before = receiver.requests.length;
  const lastIdBefore = Math.max(...receiver.events().map((e) => e.last_id || e.id));
  await receiver.stop();                 // down: refused
  await waitFor(() => /sink 'hook' failed/.test(driver.stderr()), 'the sender to see the outage');
  await receiver.start();                // up, but failing
  receiver.answer = 503;
  await waitFor(() => receiver.refused >= 2, 'retries answered 503');
  receiver.answer = 200;                 // healthy
  const run = await driver.done;
  await receiver.stop();
  assert.equal(run.code, 0, run.stderr + run.stdout);
  assert.ok(before > 0, 'some deliveries before the outage');
  assert.match(run.stderr, /sink 'hook' failed/);
  assert.match(run.stderr, /sink 'hook' delivers again/);

  const dump = await dumpEvents(db);
  const items = receiver.events();
  const result = checkDelivery(dump, items);
  // The outage fell inside the load: events written after it began arrived too.
  assert.ok(dump.some((e) => e.id > lastIdBefore), `events after the outage began (${dump.length})`);
  assert.ok(dump.some((e) => e.kind === 'denied') && dump.some((e) => e.kind === 'revoked'));
  assert.ok(receiver.requests.every((r) => r.valid), 'every request signed');
  console.log(`# outage: ${result.events} events, ${result.items} items, ${result.duplicates} duplicates`);
});

test('a receiver that never recovers: dead letters, listed by `tollgate events --failed`', async () => {
  const { spawnSync } = require('node:child_process');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-dead-'));
  const receiver = new Receiver({ secret: 's' });
  const url = await receiver.start();
  receiver.answer = 500;
  const config = path.join(dir, 'c.yaml');
  fs.writeFileSync(config, `notify:
  sinks:
    - {name: hook, kind: webhook, url: "${url}", secret: s}
    - {name: log, kind: jsonl, file: "${path.join(dir, 'events.jsonl')}"}
  retry: {initial_ms: 20, max_ms: 100, give_up_after_ms: 500}
`);
  const db = path.join(dir, 'ledger.db');
  const run = await runDriver(['--db', db, '--config', config, 'kinds']).done;
  await receiver.stop();
  assert.equal(run.code, 0, run.stderr + run.stdout);
  assert.match(run.stderr, /gave up on \d+ deliveries/);
  const dump = await dumpEvents(db);
  // The JSON-lines sink delivered everything; the webhook nothing: no event counts as delivered.
  assert.ok(dump.every((e) => e.delivered_at_ms === -1));
  const binary = process.env.TG_BINARY || 'build/tollgate';
  const listed = spawnSync(binary, ['events', '--failed', '--db', db, '--json'], { encoding: 'utf8' });
  assert.equal(listed.status, 0, listed.stderr);
  const failed = JSON.parse(listed.stdout).failed;
  assert.deepEqual(failed.map((f) => f.event_id), dump.map((e) => e.id));
  assert.ok(failed.every((f) => f.sink === 'hook' && f.attempts >= 1 && /HTTP 500/.test(f.last_error)));
  const table = spawnSync(binary, ['events', '--failed', '--db', db], { encoding: 'utf8' });
  assert.match(table.stdout, /EVENT\s+SINK\s+KIND/);
  assert.match(table.stdout, /revoked\s+k\/a/);
});
