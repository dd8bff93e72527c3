// Templates through the daemon: a budget with a template makes a user's budget on the
// first call that names it (reserve or charge), up to children_max children; a key
// scoped to the parent may make them, a key scoped to a sibling may not; a restart
// keeps the template and the budgets it made.
'use strict';
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { sha, tempDir, startDaemon, sql } = require('./daemon_helpers');

const USERS = 'users-agent-secret';
const SIBLING = 'sibling-agent-secret';
const dir = tempDir('templates');
const configFile = path.join(dir, 'tollgate.yaml');
const db = path.join(dir, 'ledger.db');
fs.writeFileSync(configFile, `port: 0
store: {kind: sqlite, path: ${db}, durability: strict}
budgets:
  - {path: acme, limit: "10.00"}
  - path: acme/users
    limit: "4.00"
    template: {limit: "1.50", window: day, alerts: ["0.5"]}
    children_max: 3
  - {path: acme/other, limit: "5.00"}
keys:
  - {name: users-agent, role: agent, scope: acme/users, sha256: ${sha(USERS)}}
  - {name: sibling-agent, role: agent, scope: acme/other, sha256: ${sha(SIBLING)}}
`);
let daemon;
after(async () => { if (daemon) await daemon.stop(); });

test('the first call for a new user makes its budget from the template', async () => {
  daemon = await startDaemon(configFile);
  const parent = (await daemon.call('GET', '/v1/budgets/acme/users')).json;
  assert.equal(parent.template.limit_micros, 1500000);
  assert.equal(parent.template.window, 'day');
  assert.equal(parent.children_max, 3);
  assert.equal(parent.children, 0);
  assert.equal((await daemon.call('GET', '/v1/budgets/acme/users/u1')).status, 404, 'not before its first use');
  // A reserve by the key scoped to the parent makes acme/users/u1 and holds on it.
  let r = await daemon.call('POST', '/v1/holds', { budget: 'acme/users/u1', amount_micros: 1000000, tool: 'x' }, USERS);
  assert.equal(r.status, 200, r.text);
  const u1 = (await daemon.call('GET', '/v1/budgets/acme/users/u1')).json;
  assert.equal(u1.limit_micros, 1500000);
  assert.equal(u1.window, 'day');
  assert.deepEqual(u1.alerts_ppm, [500000]);
  assert.equal(u1.held_micros, 1000000);
  assert.equal(u1.template, null, 'a child does not inherit the template itself');
  // Its own limit holds: 1.00 held, 0.60 more is refused at acme/users/u1.
  r = await daemon.call('POST', '/v1/holds', { budget: 'acme/users/u1', amount_micros: 600000, tool: 'x' }, USERS);
  assert.equal(r.status, 402, r.text);
  // A charge makes one too; spend rolls up to the parent's limit (4.00).
  for (const u of ['u2', 'u3']) {
    r = await daemon.call('POST', '/v1/charges', { budget: `acme/users/${u}`, cost: '1.40' }, USERS);
    assert.equal(r.status, 200, r.text);
  }
  assert.equal((await daemon.call('GET', '/v1/budgets/acme/users')).json.spent_micros, 2800000);
  assert.equal((await daemon.call('GET', '/v1/budgets/acme')).json.spent_micros, 2800000);
  const events = (await daemon.call('GET', '/v1/events?since=0')).json.events;
  const made = events.filter((e) => e.kind === 'budget_changed' && e.detail === 'created from template');
  assert.deepEqual(made.map((e) => e.budget).sort(), ['acme/users/u1', 'acme/users/u2', 'acme/users/u3']);
});

test('children_max bounds the budgets a template makes', async () => {
  let r = await daemon.call('POST', '/v1/holds', { budget: 'acme/users/u4', amount_micros: 1, tool: 'x' }, USERS);
  assert.equal(r.status, 409, r.text);
  assert.equal(r.json.error.code, 'children_max');
  assert.match(r.json.error.message, /maximum of 3 children/);
  assert.equal((await daemon.call('GET', '/v1/budgets/acme/users/u4')).status, 404);
  // Existing users still spend; a deeper path is never made; a parent without a template
  // keeps not_found.
  r = await daemon.call('POST', '/v1/charges', { budget: 'acme/users/u2', cost: '0.05' }, USERS);
  assert.equal(r.status, 200, r.text);
  r = await daemon.call('POST', '/v1/charges', { budget: 'acme/users/u2/deep', cost: '0.05' }, USERS);
  assert.equal(r.status, 404, r.text);
  r = await daemon.call('POST', '/v1/charges', { budget: 'acme/other/u1', cost: '0.05' }, SIBLING);
  assert.equal(r.status, 404, r.text);
  // An admin raises the bound over the API (children_max alone keeps the template).
  r = await daemon.call('PATCH', '/v1/budgets/acme/users', { children_max: 4 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.children_max, 4);
  assert.equal(r.json.template.limit_micros, 1500000);
  r = await daemon.call('POST', '/v1/holds', { budget: 'acme/users/u4', amount_micros: 1, tool: 'x' }, USERS);
  assert.equal(r.status, 200, r.text);
  // Bad template bodies are refused with the field named.
  for (const body of [{ template: 'x' }, { template: { limit: '-1' } }, { children_max: 0 },
    { template: null, children_max: 2 }, { template: { colour: 'red' } }]) {
    r = await daemon.call('PATCH', '/v1/budgets/acme/users', body);
    assert.equal(r.status, 400, JSON.stringify(body) + r.text);
  }
  r = await daemon.call('PATCH', '/v1/budgets/acme/other', { children_max: 2 });
  assert.equal(r.status, 400, 'a bound without a template');
});

test('a key scoped to a sibling cannot make a budget under another parent', async () => {
  const r = await daemon.call('POST', '/v1/holds', { budget: 'acme/users/intruder', amount_micros: 1, tool: 'x' }, SIBLING);
  assert.equal(r.status, 403, r.text);
  const c = await daemon.call('POST', '/v1/charges', { budget: 'acme/users/intruder', cost: '0.01' }, SIBLING);
  assert.equal(c.status, 403, c.text);
  assert.equal((await daemon.call('GET', '/v1/budgets/acme/users/intruder')).status, 404);
  assert.equal((await daemon.call('GET', '/v1/budgets/acme/users')).json.children, 4);
});

test('a restart keeps the template and the budgets it made; bulk sets templates too', async () => {
  await daemon.stop();
  assert.equal(sql(db, "SELECT children_max FROM budget_templates WHERE path = 'acme/users'")[0].children_max, 4);
  daemon = await startDaemon(configFile);
  const users = (await daemon.call('GET', '/v1/budgets/acme/users')).json;
  assert.equal(users.children, 4);
  assert.equal(users.template.limit_micros, 1500000);
  assert.equal((await daemon.call('GET', '/v1/budgets/acme/users/u2')).json.spent_micros, 1450000);
  // The bound still holds after the restart.
  let r = await daemon.call('POST', '/v1/charges', { budget: 'acme/users/u5', cost: '0.01' }, USERS);
  assert.equal(r.status, 409, r.text);
  // A bulk request sets a template with its budget, all or nothing.
  r = await daemon.call('PUT', '/v1/budgets', { budgets: [
    { path: 'acme/teams', limit: '2', template: { limit: '0.5' }, children_max: 1 },
    { path: 'nowhere/x' }] });
  assert.equal(r.status, 404, r.text);
  assert.equal((await daemon.call('GET', '/v1/budgets/acme/teams')).status, 404);
  r = await daemon.call('PUT', '/v1/budgets', { budgets: [
    { path: 'acme/teams', limit: '2', template: { limit: '0.5' }, children_max: 1 }] });
  assert.equal(r.status, 200, r.text);
  r = await daemon.call('POST', '/v1/charges', { budget: 'acme/teams/t1', cost: '0.6' });
  assert.equal(r.status, 402, r.text);
  assert.equal((await daemon.call('GET', '/v1/budgets/acme/teams/t1')).json.limit_micros, 500000, 'made, then refused');
  r = await daemon.call('POST', '/v1/charges', { budget: 'acme/teams/t2', cost: '0.1' });
  assert.equal(r.status, 409, r.text);
  // Removing the template: a new child is not_found again; made ones stay.
  r = await daemon.call('PATCH', '/v1/budgets/acme/teams', { template: null });
  assert.equal(r.json.template, null);
  r = await daemon.call('POST', '/v1/charges', { budget: 'acme/teams/t3', cost: '0.1' });
  assert.equal(r.status, 404, r.text);
});

test('forty first calls at once for new users: exactly children_max made, and kill -9 keeps every acknowledged one', async () => {
  const own = tempDir('templates-burst');
  const file = path.join(own, 'tollgate.yaml');
  fs.writeFileSync(file, `port: 0
store: {kind: sqlite, path: ${path.join(own, 'ledger.db')}, durability: strict}
budgets:
  - {path: p, limit: "100.00", template: {limit: "1.00"}, children_max: 10}
keys:
  - {name: users-agent, role: agent, scope: p, sha256: ${sha(USERS)}}
`);
  let d = await startDaemon(file);
  try {
    const users = Array.from({ length: 40 }, (_, i) => `p/u${i}`);
    const replies = await Promise.all(users.map((budget) =>
      d.call('POST', '/v1/charges', { budget, cost: '0.10' }, USERS)));
    const made = users.filter((_, i) => replies[i].status === 200);
    const refused = replies.filter((r) => r.status === 409 && r.json.error.code === 'children_max');
    assert.equal(made.length, 10, replies.map((r) => r.status).join(','));
    assert.equal(refused.length, 30);
    // The worst moment: every reply is out (strict: each on disk first), nothing more.
    await d.stop('SIGKILL');
    d = await startDaemon(file);
    const parent = (await d.call('GET', '/v1/budgets/p')).json;
    assert.equal(parent.children, 10);
    assert.equal(parent.spent_micros, 1000000);
    for (const budget of users) {
      const r = await d.call('GET', `/v1/budgets/${budget}`);
      if (made.includes(budget)) {
        assert.equal(r.status, 200, budget);
        assert.equal(r.json.spent_micros, 100000, budget);
      } else {
        assert.equal(r.status, 404, `${budget} was refused, so it was never made`);
      }
    }
    const late = await d.call('POST', '/v1/holds', { budget: 'p/late', amount_micros: 1, tool: 'x' }, USERS);
    assert.equal(late.status, 409, late.text);
  } finally {
    await d.stop('SIGKILL');
  }
});
