// A daemon driven into an overrun through the HTTP API (docs/ledger.md, "Overruns"):
// the charge stays truthful and locks the budget for every class; kill -9 and a
// restart with the same config succeed into the same locked state; SIGHUP of the
// unchanged config succeeds and reports nothing; a key removed from the file stops
// working after SIGHUP; every class is refused until the window rolls over or the
// limit is raised above the spend, then accepted again; a budget that caps an
// agent's commit charges the hold only.
//
// The daemon has no test clock: libfaketime (Debian `faketime`, from scripts/setup)
// reads its offset from a file the test rewrites, so the daemon starts a few seconds
// into an hour (its `hour` window cannot roll by itself during the test) and is
// moved an hour on when the test wants the window to roll.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { sha, tempDir, startDaemon, eventually } = require('./daemon_helpers');

const dir = tempDir('overrun');
const db = path.join(dir, 'ledger.db');
const configFile = path.join(dir, 'tollgate.yaml');
const clockFile = path.join(dir, 'faketime');
const BOT = 'bot-secret', CAPPED = 'capped-secret', TEMP = 'temp-secret';
const CLASSES = ['low', 'normal', 'high', 'critical'];
const HOUR_S = 3600;

const fakeTimeLibrary = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/faketime/libfaketime.so.1']
  .find((f) => fs.existsSync(f));

// Seconds to add to the real clock so that the daemon's clock is 5 s into an hour.
const startOffsetS = Math.ceil((HOUR_S * 1000 - (Date.now() % (HOUR_S * 1000))) / 1000) + 5;
const setClock = (offsetS) => fs.writeFileSync(clockFile, `+${offsetS}s\n`);

function writeConfig({ withTemp = true } = {}) {
  fs.writeFileSync(configFile, `port: 0
store: {kind: sqlite, path: ${db}, durability: strict}
budgets:
  - {path: org}
  - {path: org/team, limit: "10.00", window: hour, timezone: UTC, revoke_at: "8.00"}
  - {path: org/team/bot}
  - {path: org/other, limit: "10.00"}
  - {path: org/capped, limit: "10.00", above_hold: cap}
keys:
  - {name: bot, role: agent, scope: org/team/bot, sha256: ${sha(BOT)}}
  - {name: capped, role: agent, scope: org/capped, sha256: ${sha(CAPPED)}}
${withTemp ? `  - {name: temp, role: agent, scope: org/other, sha256: ${sha(TEMP)}}\n` : ''}`);
}

function start() {
  // An ASan build wants its runtime first; libfaketime only wraps the clock calls.
  const asan = [process.env.ASAN_OPTIONS, 'verify_asan_link_order=0'].filter(Boolean).join(':');
  return startDaemon(configFile, {
    env: { LD_PRELOAD: fakeTimeLibrary, FAKETIME_TIMESTAMP_FILE: clockFile, FAKETIME_NO_CACHE: '1',
      FAKETIME_DONT_FAKE_MONOTONIC: '1', TZ: 'UTC', ASAN_OPTIONS: asan },
  });
}

let daemon;
before(async () => {
  assert.ok(fakeTimeLibrary, 'libfaketime is installed (scripts/setup installs the faketime package)');
  setClock(startOffsetS);
  writeConfig();
  daemon = await start();
});
after(() => daemon.stop('SIGKILL'));

const call = (...args) => daemon.call(...args);
const budget = async (p) => (await call('GET', `/v1/budgets/${p}`)).json;
const events = async (since) => (await call('GET', `/v1/events?since=${since}&limit=1000`)).json.events;
const lastEventId = async () => {
  let since = 0;
  for (;;) {
    const page = (await call('GET', `/v1/events?since=${since}&limit=1000`)).json;
    if (page.events.length === 0) return since;
    since = page.events[page.events.length - 1].id;
  }
};

// A reserve of every class (an admin may set the class), each answered 402 `overrun`
// by `at` with nothing allowed; the retry waits for the window when `windowed`.
async function refusedForEveryClass(leaf, at, windowed) {
  for (const cls of CLASSES) {
    const r = await call('POST', '/v1/holds', { budget: leaf, amount_micros: 0, class: cls });
    assert.equal(r.status, 402, `${cls}: ${r.text}`);
    assert.equal(r.json.refusal.reason, 'overrun', cls);
    assert.equal(r.json.refusal.budget, at);
    assert.equal(r.json.refusal.max_amount_micros, 0);
    assert.match(r.json.refusal.message, /above its cost limit/);
    if (windowed) {
      assert.ok(r.json.refusal.retry_after_ms > 0 && r.json.refusal.retry_after_ms <= HOUR_S * 1000,
        `retry when the hour rolls: ${r.json.refusal.retry_after_ms}`);
      assert.ok(Number(r.headers.get('retry-after')) > 0);
    } else {
      assert.equal(r.json.refusal.retry_after_ms, null);
    }
  }
}

// An agent's commit far above its hold: charged in full, and the budget locks.
async function overrun(expectSpent) {
  const hold = await call('POST', '/v1/holds', { budget: 'org/team/bot', amount: '1.00' }, BOT);
  assert.equal(hold.status, 200, hold.text);
  const commit = await call('POST', `/v1/holds/${hold.json.hold_id}/commit`, { actual: '15.00' }, BOT);
  assert.equal(commit.status, 200, commit.text);
  assert.deepEqual([commit.json.charged_micros, commit.json.overrun_micros, commit.json.capped],
    [15000000, 14000000, false]);
  const team = await budget('org/team');
  assert.equal(team.spent_micros, expectSpent);
  assert.equal(team.locked, true);
}

test('an overrun is charged in full, reported, and locks its budget for every class', async () => {
  const since = await lastEventId();
  const other = await call('POST', '/v1/holds', { budget: 'org/other', amount: '1.00' });
  await overrun(15000000);
  const team = await budget('org/team');
  for (const cls of CLASSES) {
    assert.equal(team.classes[cls].revoked, true, cls);
    assert.equal(team.classes[cls].remaining_micros, 0, cls);
  }
  const listed = (await call('GET', '/v1/budgets?prefix=org')).json.budgets;
  assert.deepEqual(listed.filter((b) => b.locked).map((b) => b.path), ['org/team']);
  // Events: the overrun, then `revoked` for every class on the locked budget.
  const seen = await events(since);
  const over = seen.filter((e) => e.kind === 'overrun');
  assert.equal(over.length, 1);
  assert.deepEqual([over[0].budget, over[0].amount_micros, over[0].held_micros, over[0].spent_micros,
    over[0].limit_micros], ['org/team', 15000000, 1000000, 15000000, 10000000]);
  const revoked = seen.filter((e) => e.kind === 'revoked' && e.budget === 'org/team');
  assert.deepEqual(revoked.map((e) => e.class).sort(), [...CLASSES].sort());
  assert.ok(revoked.every((e) => e.id > over[0].id), 'the cause before its effects');
  // Every class is refused below it, an unforced charge too; a forced one goes in.
  await refusedForEveryClass('org/team/bot', 'org/team', true);
  await refusedForEveryClass('org/team', 'org/team', true);
  const charge = await call('POST', '/v1/charges', { budget: 'org/team/bot', cost: '0.01', class: 'critical' });
  assert.equal(charge.status, 402);
  assert.equal(charge.json.refusal.reason, 'overrun');
  const forced = await call('POST', '/v1/charges', { budget: 'org/team/bot', cost: '0.01', force: true });
  assert.equal(forced.status, 200, forced.text);
  // A sibling is not locked, and a hold granted before still settles.
  assert.equal(other.status, 200);
  assert.equal((await call('POST', `/v1/holds/${other.json.hold_id}/commit`, { actual: '0.50' })).status, 200);
  assert.equal((await call('POST', '/v1/holds', { budget: 'org/other', amount: '1.00', class: 'low' })).status, 200);
  const metrics = (await call('GET', '/metrics')).text;
  assert.match(metrics, /^tollgate_decisions_total\{outcome="refused",reason="overrun"\} [1-9]/m);
});

test('a budget that caps charges an agent its hold and reports the rest', async () => {
  const since = await lastEventId();
  const hold = await call('POST', '/v1/holds', { budget: 'org/capped', amount: '1.00' }, CAPPED);
  const commit = await call('POST', `/v1/holds/${hold.json.hold_id}/commit`, { actual: '50.00' }, CAPPED);
  assert.equal(commit.status, 200, commit.text);
  assert.deepEqual([commit.json.charged_micros, commit.json.overrun_micros, commit.json.capped],
    [1000000, 49000000, true]);
  const capped = await budget('org/capped');
  assert.deepEqual([capped.spent_micros, capped.locked, capped.above_hold], [1000000, false, 'cap']);
  const over = (await events(since)).filter((e) => e.kind === 'overrun');
  assert.deepEqual(over.map((e) => [e.budget, e.amount_micros, e.held_micros, e.detail]),
    [['org/capped', 50000000, 1000000, 'capped']]);
  // An admin's word is charged in full.
  const admin = await call('POST', '/v1/holds', { budget: 'org/capped', amount: '1.00' });
  const full = await call('POST', `/v1/holds/${admin.json.hold_id}/commit`, { actual: '2.00' });
  assert.deepEqual([full.json.charged_micros, full.json.capped], [2000000, false]);
  // The option is part of the budget spec in the API too.
  const bad = await call('PATCH', '/v1/budgets/org/other', { above_hold: 'refuse' });
  assert.equal(bad.status, 400);
  assert.match(bad.json.error.message, /charge or cap/);
});

test('kill -9 and a restart with the same config come back locked', async () => {
  const team = await budget('org/team');
  const since = await lastEventId();
  daemon.child.kill('SIGKILL');
  await daemon.exited;
  daemon = await start();
  const after = await budget('org/team');
  assert.equal(after.spent_micros, team.spent_micros);
  assert.equal(after.locked, true);
  await refusedForEveryClass('org/team/bot', 'org/team', true);
  // Declaring the budgets it already has was no change, so nothing was reported.
  const changed = (await events(since)).filter((e) => e.kind === 'budget_changed');
  assert.deepEqual(changed, []);
});

test('SIGHUP of the unchanged config succeeds and reports nothing; a removed key stops working', async () => {
  assert.equal((await call('GET', '/v1/budgets/org/other', undefined, TEMP)).status, 200);
  // A durable write makes every event decided so far durable: nothing is pending.
  assert.equal((await call('POST', '/v1/charges', { budget: 'org', cost: '0.01' })).status, 200);
  const since = await lastEventId();
  const reloads = () => (daemon.stderr().match(/tollgate: reloaded /g) || []).length;
  daemon.child.kill('SIGHUP');
  assert.ok(await eventually(() => reloads() === 1, 10000), daemon.stderr());
  assert.doesNotMatch(daemon.stderr(), /reload refused/);
  assert.equal((await call('POST', '/v1/charges', { budget: 'org', cost: '0.01' })).status, 200);
  assert.deepEqual(await events(since), [], 'a reload of an unchanged config reports nothing');
  assert.equal((await budget('org/team')).locked, true);
  // The key is removed from the file: after SIGHUP it is unknown.
  writeConfig({ withTemp: false });
  daemon.child.kill('SIGHUP');
  assert.ok(await eventually(async () => (await call('GET', '/v1/budgets/org/other', undefined, TEMP)).status === 401, 10000),
    daemon.stderr());
  assert.equal(reloads(), 2);
  assert.equal((await call('GET', '/v1/budgets/org/team/bot', undefined, BOT)).status, 200);
});

test('the lock lifts when the window rolls over, and when the limit is raised above spend', async () => {
  const since = await lastEventId();
  setClock(startOffsetS + HOUR_S); // the daemon's clock moves on an hour: its tick rolls the window
  assert.ok(await eventually(async () => (await budget('org/team')).spent_micros === 0, 10000));
  const team = await budget('org/team');
  assert.equal(team.locked, false);
  for (const cls of CLASSES) {
    const r = await call('POST', '/v1/holds', { budget: 'org/team/bot', amount: '1.00', class: cls });
    assert.equal(r.status, 200, `${cls}: ${r.text}`);
    assert.equal((await call('POST', `/v1/holds/${r.json.hold_id}/release`, {})).status, 200);
  }
  const seen = await events(since);
  assert.equal(seen.filter((e) => e.kind === 'window_rolled' && e.budget === 'org/team').length, 1);
  assert.deepEqual(seen.filter((e) => e.kind === 'reinstated' && e.budget === 'org/team').map((e) => e.class).sort(),
    [...CLASSES].sort());

  // Overrun again in the new window; then an admin raises the limit (and threshold) above it.
  await overrun(15000000);
  await refusedForEveryClass('org/team/bot', 'org/team', true);
  const raised = await call('PATCH', '/v1/budgets/org/team', { limit: '100.00', revoke_at: '90.00' });
  assert.equal(raised.status, 200, raised.text);
  assert.equal(raised.json.locked, false);
  for (const cls of CLASSES) {
    const r = await call('POST', '/v1/holds', { budget: 'org/team/bot', amount: '1.00', class: cls });
    assert.equal(r.status, 200, `${cls}: ${r.text}`);
  }
  // An admin lowering a limit below spend is applied, not refused: it locks.
  const lowered = await call('PATCH', '/v1/budgets/org/other', { limit: '0.10' });
  assert.equal(lowered.status, 200, lowered.text);
  assert.equal(lowered.json.locked, true);
  assert.equal(lowered.json.spent_micros, 500000);
  await refusedForEveryClass('org/other', 'org/other', false);
  assert.equal(await daemon.stop('SIGTERM'), 0);
});
