// GET /v1/events/stream resumed from a Last-Event-ID past the newest event (a client of a
// ledger that was restored from a backup, or replaced): the stream says so with a `reset`
// event whose id is the newest one (so EventSource resumes from there), then sends the
// new events as they happen, instead of waiting for ids the ledger never gave.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { tempDir, startDaemon, sql, eventually } = require('./daemon_helpers');
const { SseClient } = require('./sse_client.js');

test('a Last-Event-ID past the newest event: a reset that says what to do, then new events', async (t) => {
  const dir = tempDir('stream-ahead');
  const db = path.join(dir, 'ledger.db');
  const file = path.join(dir, 'c.yaml');
  fs.writeFileSync(file, `port: 0
store: {kind: sqlite, path: ${db}}
budgets:
  - {path: team, limit: "100.00"}
`);
  const d = await startDaemon(file);
  t.after(() => d.stop('SIGKILL'));
  const ahead = 5000;
  for (const headers of [{ 'Last-Event-ID': String(ahead) }, {}]) {
    const newest = sql(db, 'SELECT coalesce(max(id), 0) AS id FROM events')[0].id;
    assert.ok(newest > 0 && newest < ahead);
    const url = headers['Last-Event-ID'] ? '/v1/events/stream' : `/v1/events/stream?since=${ahead}`;
    const stream = await new SseClient(d.base, url, { Authorization: 'Bearer admin-secret', ...headers }).opened;
    assert.equal(stream.status, 200);
    assert.ok(await eventually(() => stream.events.length >= 1, 3000), 'the reset event');
    const reset = stream.events[0];
    assert.equal(reset.event, 'reset');
    assert.ok(reset.id >= newest && reset.id < ahead, 'its id is the newest event: a reconnect resumes from there');
    assert.deepEqual([reset.data.reason, reset.data.last_event_id, reset.data.newest_event_id], ['ahead', ahead, reset.id]);
    assert.match(reset.data.message, /past the newest event/);
    // New events come through, though their ids are far below the one the client sent.
    const charged = await d.call('POST', '/v1/budgets/team/freeze');
    assert.equal(charged.status, 200);
    assert.ok(await eventually(() => stream.events.some((e) => e.event === 'budget_changed'), 5000),
      'a new event is streamed');
    const event = stream.events.find((e) => e.event === 'budget_changed');
    assert.ok(event.id > reset.id && event.id < ahead);
    await d.call('POST', '/v1/budgets/team/unfreeze');
    stream.close();
  }
});
