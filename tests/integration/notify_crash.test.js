// The sender's process is killed (SIGKILL) in the middle of delivering to a slow
// receiver that has started refusing (so a backlog is waiting), while it is still
// writing events, and started again: everything the
// engine wrote arrives, in id order per budget, and the only repeats are of the same
// id (the messages that were in flight, and what was delivered in the last few ms
// before the kill and not yet marked). Killed twice: once while writing, once while
// only delivering the backlog.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Receiver, checkDelivery, runDriver, dumpEvents, waitFor } = require('./notify_receiver.js');

test('SIGKILL mid-delivery, restart: nothing lost, duplicates only by id', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-notify-crash-'));
  const receiver = new Receiver({ secret: 's', delayMs: 15 });
  const url = await receiver.start();
  const config = path.join(dir, 'c.yaml');
  fs.writeFileSync(config, `notify:
  sinks:
    - {name: hook, kind: webhook, url: "${url}", secret: s, concurrency: 4}
    - name: log
      kind: jsonl
      file: "${path.join(dir, 'events.jsonl')}"
  denied_interval_ms: 100
`);
  const db = path.join(dir, 'ledger.db');
  const first = runDriver(['--db', db, '--config', config, 'load', '5000']);
  await waitFor(() => receiver.events().length > 150, 'a first stretch of deliveries');
  receiver.answer = 503;                 // a backlog builds up, retried with backoff ...
  await waitFor(() => receiver.refused >= 4, 'retries answered 503');
  first.child.kill('SIGKILL');           // ... when the sender dies, requests still in flight
  receiver.answer = 200;
  const killed = await first.done;
  assert.equal(killed.signal, 'SIGKILL');
  const atKill = receiver.requests.length;

  const second = runDriver(['--db', db, '--config', config, '--wait-ms', '60000', 'deliver']);
  const exited = { now: false };
  second.done.then(() => { exited.now = true; });
  // Killed while delivering the backlog (or, on a fast machine, after it finished).
  await waitFor(() => exited.now || receiver.requests.length > atKill, 'delivery of the backlog');
  second.child.kill('SIGKILL');
  await second.done;

  const third = await runDriver(['--db', db, '--config', config, '--wait-ms', '60000', 'deliver']).done;
  await receiver.stop();
  assert.equal(third.code, 0, third.stderr + third.stdout);

  const dump = await dumpEvents(db);
  assert.ok(dump.length > 100, `events written before the kill (${dump.length})`);
  const result = checkDelivery(dump, receiver.events());
  assert.ok(atKill > 0 && receiver.requests.length > atKill, 'delivery went on after the restart');
  const log = fs.readFileSync(path.join(dir, 'events.jsonl'), 'utf8').trim().split('\n')
    .map((l) => JSON.parse(l));
  checkDelivery(dump, log);
  console.log(`# crash: ${result.events} events, ${result.items} items, ${result.duplicates} duplicates; ` +
    `log ${log.length} lines`);
});
