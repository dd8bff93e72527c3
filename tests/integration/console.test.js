// The web console (docs/console.md), in a real browser: Debian's chromium driven headless
// by playwright-core against a daemon this test starts, with ~10,000 budgets in its tree.
// The console is signed into with an admin key and an agent key; a charge made over the
// API must show in the page within a second (a wait with a 1 s timeout, measured), a
// revocation must be marked, a raised limit must reach the ledger as an event, the agent
// must be refused, and a CSV export must hold the charges. Screenshots of each main page
// go to <build>/console-screenshots/. The serving itself (types, ETag, CSP, methods,
// unknown names) is checked without a browser, so it runs everywhere.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { tempDir, startDaemon } = require('./daemon_helpers');

const CHROMIUM = process.env.TG_CHROMIUM || '/usr/bin/chromium';
const BULK = Number(process.env.TG_CONSOLE_BULK || 9990); // GET /v1/budgets answers at most 10,000 budgets: bulk + team's fit
const shots = path.join(path.dirname(path.resolve(process.env.TG_BINARY || 'build/tollgate')), 'console-screenshots');

async function daemon(t, { durability = 'strict' } = {}) {
  const dir = tempDir('console');
  const file = path.join(dir, 'c.yaml');
  fs.writeFileSync(file, `port: 0
store: {kind: sqlite, path: ${path.join(dir, 'ledger.db')}, durability: ${durability}}
budgets:
  - {path: team, limit: "100.00"}
  - {path: team/support, limit: "10.00", revoke_at: "8.00", calls: 1000}
  - {path: team/coding, limit: "50.00", window: day}
`);
  const d = await startDaemon(file);
  t.after(() => d.stop('SIGKILL'));
  return d;
}

// A request with raw bytes, so paths such as /ui/../x reach the daemon unnormalized.
function raw(port, text) {
  return new Promise((resolve, reject) => {
    const socket = require('node:net').connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (c) => { answer += c; });
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
    socket.write(text);
  });
}

test('the console is served from the binary: types, ETag, CSP, methods, names', async (t) => {
  const d = await daemon(t);
  const root = await fetch(`${d.base}/`, { redirect: 'manual' });
  assert.equal(root.status, 302);
  assert.equal(root.headers.get('location'), '/ui/');
  const bare = await fetch(`${d.base}/ui`, { redirect: 'manual' });
  assert.equal(bare.status, 302);
  const index = await fetch(`${d.base}/ui/`);
  if (index.status === 404) {
    const body = await index.json();
    assert.equal(body.error.code, 'console_not_built');
    t.skip('this daemon was built without the console (no node_modules)');
    return;
  }
  assert.equal(index.status, 200);
  assert.equal(index.headers.get('content-type'), 'text/html; charset=utf-8');
  const html = await index.text();
  assert.match(html, /<script src="app.js" defer><\/script>/);
  assert.doesNotMatch(html, /<script>|<style|style=/, 'no inline script or style: the CSP allows none');
  const csp = index.headers.get('content-security-policy');
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'(;|$)/, 'no unsafe-inline, no unsafe-eval');
  assert.doesNotMatch(csp, /unsafe/);
  assert.equal(index.headers.get('x-content-type-options'), 'nosniff');
  let firstLoad = Buffer.byteLength(html);
  for (const [name, type] of [['app.js', 'text/javascript; charset=utf-8'], ['app.css', 'text/css; charset=utf-8']]) {
    const res = await fetch(`${d.base}/ui/${name}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), type);
    assert.equal(res.headers.get('cache-control'), 'no-cache');
    const etag = res.headers.get('etag');
    assert.match(etag, /^"[0-9a-f]{20}"$/);
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.equal(Number(res.headers.get('content-length')), bytes.length);
    firstLoad += bytes.length;
    // Revalidation: the same ETag is 304 with no body; another one is the file again.
    const again = await fetch(`${d.base}/ui/${name}`, { headers: { 'If-None-Match': etag } });
    assert.equal(again.status, 304);
    assert.equal((await again.arrayBuffer()).byteLength, 0);
    const listed = await fetch(`${d.base}/ui/${name}`, { headers: { 'If-None-Match': `"0", ${etag}` } });
    assert.equal(listed.status, 304);
    const prefix = await fetch(`${d.base}/ui/${name}`, { headers: { 'If-None-Match': etag.slice(0, 8) } });
    assert.equal(prefix.status, 200, 'a prefix of the ETag is not the ETag');
    const head = await fetch(`${d.base}/ui/${name}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('etag'), etag);
  }
  console.log(`# console first load: ${firstLoad} bytes (index.html + app.js + app.css)`);
  assert.ok(firstLoad < 200 * 1024, `first load ${firstLoad} bytes is under 200 KB`);
  // Only GET and HEAD, answered in JSON; nothing outside the table is reachable.
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    const res = await fetch(`${d.base}/ui/app.js`, { method });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'GET, HEAD');
    assert.equal((await res.json()).error.code, 'method_not_allowed');
  }
  for (const name of ['nope.js', 'app.js/', 'APP.JS', 'app.js%00', 'x'.repeat(300), 'index.htm', 'app.jsx']) {
    const res = await fetch(`${d.base}/ui/${name}`);
    assert.equal(res.status, 404, name);
    assert.equal((await res.json()).error.code, 'not_found');
  }
  for (const target of ['/ui/../ui/app.js', '/ui/%2e%2e/etc/passwd', '/ui/./app.js', '/ui//app.js', '/ui/.', '/ui/..', '/ui/app%2ejs']) {
    const answer = await raw(d.port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    assert.match(answer, /^HTTP\/1\.1 404 /, `${target} is not a name in the table`);
  }
  // A query string does not change the file; the API is untouched by the console.
  assert.equal((await fetch(`${d.base}/ui/app.js?v=2`)).status, 200);
  assert.equal((await fetch(`${d.base}/v1/budgets`)).status, 401);
  assert.equal((await fetch(`${d.base}/uix`)).status, 401, '/uix is not the console');
});

test('GET /v1/holds lists a subtree\'s open holds, and a key sees only its scope', async (t) => {
  const d = await daemon(t);
  const agent = await d.call('POST', '/v1/keys', { name: 'bot', role: 'agent', scope: 'team/support' });
  assert.equal(agent.status, 200);
  const a = await d.call('POST', '/v1/holds', { budget: 'team/support', amount: '1.00', tool: 'search' });
  const b = await d.call('POST', '/v1/holds', { budget: 'team/coding', amount: '2.00' });
  assert.equal(a.status, 200);
  const all = await d.call('GET', '/v1/holds');
  assert.deepEqual(all.json.holds.map((h) => h.id), [a.json.hold_id, b.json.hold_id]);
  assert.equal(all.json.holds[0].tool, 'search');
  assert.equal(all.json.holds[0].amount_micros, 1000000);
  const paged = await d.call('GET', `/v1/holds?after=${a.json.hold_id}&limit=1`);
  assert.deepEqual(paged.json.holds.map((h) => h.id), [b.json.hold_id]);
  const mine = await d.call('GET', '/v1/holds', undefined, agent.json.secret);
  assert.deepEqual(mine.json.holds.map((h) => h.budget), ['team/support'], 'an agent sees its subtree');
  assert.equal((await d.call('GET', '/v1/holds?budget=team/coding', undefined, agent.json.secret)).status, 403);
  assert.equal((await d.call('GET', '/v1/holds?budget=team', undefined, agent.json.secret)).status, 403);
  assert.equal((await d.call('GET', '/v1/holds?limit=0')).status, 400);
  assert.equal((await d.call('GET', '/v1/holds?after=-1')).status, 400);
  assert.equal((await d.call('GET', '/v1/holds?after=18446744073709551616')).status, 400);
  await d.call('POST', `/v1/holds/${a.json.hold_id}/release`, {});
  const left = await d.call('GET', '/v1/holds?budget=team');
  assert.deepEqual(left.json.holds.map((h) => h.id), [b.json.hold_id], 'a released hold is gone');
});

// Resolves when `fn` (run in the page) is true, or fails after timeout_ms; returns the ms taken.
async function within(page, timeoutMs, fn, arg) {
  const started = Date.now();
  await page.waitForFunction(fn, arg, { timeout: timeoutMs, polling: 'raf' });
  return Date.now() - started;
}

test('the console in chromium: sign in, live charges, revocation, admin actions, agent refused, CSV', async (t) => {
  if (!fs.existsSync(CHROMIUM)) {
    t.skip(`no chromium at ${CHROMIUM}: install Debian's chromium (scripts/setup does) to run the browser test`);
    return;
  }
  const { chromium } = require('playwright-core');
  // Relaxed: the ~10,000 budgets below are made without an fsync each.
  const d = await daemon(t, { durability: 'relaxed' });
  if ((await fetch(`${d.base}/ui/`)).status !== 200) {
    t.skip('this daemon was built without the console (no node_modules)');
    return;
  }
  fs.mkdirSync(shots, { recursive: true });
  // ~10,000 budgets, made over the API (the config file takes at most 4,096).
  assert.equal((await d.call('PUT', '/v1/budgets/load', { limit: '1000000.00' })).status, 200);
  for (let next = 0; next < BULK;) {
    const wave = [];
    for (let i = 0; i < 32 && next < BULK; i++, next++) {
      const name = `load/agent-${String(next).padStart(5, '0')}`;
      wave.push(d.call('PUT', `/v1/budgets/${name}`, { limit: `${1 + (next % 50)}.00`, window: next % 2 ? 'day' : 'hour' }));
    }
    for (const r of await Promise.all(wave)) assert.equal(r.status, 200);
  }
  const agent = await d.call('POST', '/v1/keys', { name: 'support-bot', role: 'agent', scope: 'team/support' });
  assert.equal(agent.status, 200);

  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  t.after(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(10000);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  // Script errors fail the test; failed loads are the refusals this test asks for.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`);
  });

  // Sign in: / redirects to the console; the key goes to sessionStorage only.
  await page.goto(`${d.base}/`);
  assert.equal(new URL(page.url()).pathname, '/ui/');
  await page.getByLabel('API key').waitFor();
  await page.screenshot({ path: path.join(shots, 'signin.png') });
  await page.getByLabel('API key').fill('wrong-key');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'not known' }).waitFor();
  await page.getByLabel('API key').fill('admin-secret');
  const signedIn = Date.now();
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText(`${(BULK + 4).toLocaleString('en-US')} of ${(BULK + 4).toLocaleString('en-US')}`).waitFor({ timeout: 30000 });
  console.log(`# ${BULK + 4} budgets listed ${Date.now() - signedIn} ms after sign-in`);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('tollgate.key')), 'admin-secret');
  assert.equal(await page.evaluate(() => localStorage.length), 0, 'nothing kept past the tab');
  assert.equal(await page.locator('.role').textContent(), 'admin');
  // A virtual list: a few dozen rows in the DOM for ~10,000 budgets; the count says all.
  const rows = await page.locator('.row').count();
  assert.ok(rows > 5 && rows < 120, `${rows} rows in the DOM`);
  // Scrolling to the end shows the last budget; a search finds one among thousands.
  const scrolled = Date.now();
  await page.locator('.list').evaluate((el) => { el.scrollTop = el.scrollHeight; });
  await page.locator('[data-path="team/support"]').waitFor({ state: 'attached' });
  console.log(`# scrolled to the end of the list in ${Date.now() - scrolled} ms`);
  const needle = `agent-${String(BULK - 3).padStart(5, '0')}`;
  await page.getByLabel('Search').fill(needle);
  await page.locator(`[data-path="load/${needle}"]`).waitFor();
  assert.equal(await page.locator('.row').count(), 1);
  await page.getByLabel('Search').fill('team');
  await page.locator('[data-path="team/support"]').waitFor();
  assert.equal(await page.locator('.row').count(), 3);
  await page.screenshot({ path: path.join(shots, 'budgets.png') });

  // Keyboard: rows are links; ArrowDown moves focus to the next row, Enter opens it.
  await page.locator('[data-path="team"]').focus();
  await page.keyboard.press('ArrowDown');
  await page.waitForFunction(() => document.activeElement.dataset.path === 'team/coding');
  await page.keyboard.press('ArrowDown');
  await page.waitForFunction(() => document.activeElement.dataset.path === 'team/support');
  await page.keyboard.press('ArrowUp');
  await page.waitForFunction(() => document.activeElement.dataset.path === 'team/coding');

  // Live: a charge made over the API shows within a second, measured from its answer.
  const row = page.locator('[data-path="team/support"]');
  assert.match(await row.textContent(), /0\.00 \/ 10\.00/);
  const charged = await d.call('POST', '/v1/charges', { budget: 'team/support', cost: '1.25', tool: 'web_search', model: 'gpt-4o' });
  assert.equal(charged.status, 200);
  const liveMs = await within(page, 1000, () => {
    const el = document.querySelector('[data-path="team/support"] .row-money');
    return el && el.textContent.startsWith('1.25 ');
  });
  console.log(`# a charge showed in the budgets list ${liveMs} ms after the API answered (limit 1000 ms)`);
  await page.locator('.feed-item.charge').filter({ hasText: 'team/support' }).waitFor({ timeout: 1000 });

  // Revocation: critical work past the 8.00 threshold revokes low and normal; the row says so.
  const over = await d.call('POST', '/v1/charges', { budget: 'team/support', cost: '7.00', tool: 'summarize', class: 'critical' });
  assert.equal(over.status, 200);
  const revokedMs = await within(page, 1000, () => {
    const el = document.querySelector('[data-path="team/support"] .badge.revoked');
    return el && el.dataset.revoked === 'low,normal';
  });
  console.log(`# the revocation showed ${revokedMs} ms after the charge's answer`);
  assert.match(await row.locator('.badge.revoked').textContent(), /revoked: low, normal/);
  await page.locator('.feed-item.revoked').first().waitFor({ timeout: 1000 });

  // One budget: chart, forecast, holds (released by the admin), charges, events, children.
  const hold = await d.call('POST', '/v1/holds', { budget: 'team/coding', amount: '3.00', tool: 'stuck_tool', ttl_ms: 3600000 });
  assert.equal(hold.status, 200);
  await page.locator('[data-path="team"]').click();
  await page.locator('#budget-title').filter({ hasText: 'team' }).waitFor();
  await page.locator('.chart canvas').first().waitFor();
  await page.getByRole('link', { name: 'team/coding' }).click(); // a child
  await page.getByRole('cell', { name: 'stuck_tool' }).waitFor();
  await page.getByRole('button', { name: `release hold ${hold.json.hold_id}` }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
  await page.getByText(`hold ${hold.json.hold_id} released`).waitFor();
  assert.equal((await d.call('GET', `/v1/holds/${hold.json.hold_id}`)).status, 404, 'the hold is released');

  await page.goto(`${d.base}/ui/#/budget/team/support`);
  await page.locator('.chart canvas').first().waitFor();
  await page.getByRole('cell', { name: 'summarize' }).waitFor(); // latest charges
  await page.locator('.kind.revoked').first().waitFor(); // latest events
  assert.match(await page.locator('#budget-title .badge.revoked').textContent(), /low, normal/);
  await page.screenshot({ path: path.join(shots, 'budget.png'), fullPage: true });

  // Raise the limit as admin: confirmed in a dialog (Cancel changes nothing), then applied.
  await page.getByLabel('Cost limit').fill('20.00');
  await page.getByRole('button', { name: 'Set limit' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
  assert.equal((await d.call('GET', '/v1/budgets/team/support')).json.limit_micros, 10000000, 'cancelled');
  await page.getByRole('button', { name: 'Set limit' }).click();
  await page.getByRole('dialog').getByText('to 20.00').waitFor();
  await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
  await page.locator('[data-field="limit"]').filter({ hasText: '20.00' }).waitFor();
  assert.equal((await d.call('GET', '/v1/budgets/team/support')).json.limit_micros, 20000000);
  // The threshold too (a percentage of the limit): spend 8.25 is under 90% of 20.00, so
  // the revocation lifts, and the page shows it.
  await page.getByLabel('Revocation threshold').fill('90%');
  await page.getByRole('button', { name: 'Set threshold' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
  await page.locator('#budget-title .badge.open').waitFor();
  const support = (await d.call('GET', '/v1/budgets/team/support')).json;
  assert.deepEqual([support.revoke_at.ppm, support.threshold_micros, support.classes.low.revoked], [900000, 18000000, false]);
  const events = (await d.call('GET', '/v1/events?limit=1000')).json.events;
  assert.ok(events.some((e) => e.kind === 'budget_changed' && e.budget === 'team/support'), 'recorded as an event');
  // Freeze, then lift the freeze, each confirmed.
  await page.getByRole('button', { name: 'Freeze' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
  await page.locator('#budget-title .badge.frozen').waitFor();
  await page.getByRole('button', { name: 'Unfreeze (lift)' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
  await page.locator('#budget-title .badge.open').waitFor();
  assert.equal((await d.call('GET', '/v1/budgets/team/support')).json.frozen, false);

  // Charges: filters, paging, CSV export of what the filters match.
  await page.goto(`${d.base}/ui/#/charges`);
  await page.locator('tr[data-charge]').first().waitFor();
  await page.getByLabel('Tool').fill('web_search');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.waitForFunction(() => document.querySelectorAll('tr[data-charge]').length === 1);
  await page.screenshot({ path: path.join(shots, 'charges.png') });
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()]);
  const csv = fs.readFileSync(await download.path(), 'utf8');
  fs.copyFileSync(await download.path(), path.join(shots, 'charges.csv'));
  const lines = csv.trim().split('\r\n');
  assert.equal(lines[0], 'id,time_ms,budget,hold_id,class,tool,model,tokens_in,tokens_out,cost_micros,held_micros');
  assert.equal(lines.length, 2, 'the filter applies to the export');
  assert.match(lines[1], /^\d+,\d+,team\/support,0,\w+,web_search,gpt-4o,0,0,1250000,0$/);

  await page.goto(`${d.base}/ui/#/events`);
  await page.locator('tr[data-event]').first().waitFor();
  await page.getByLabel('Kind').fill('revoked');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.screenshot({ path: path.join(shots, 'events.png') });

  // A phone's width: the list folds to one column and still reads.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${d.base}/ui/#/budgets`);
  await page.getByText(`${(BULK + 4).toLocaleString('en-US')} of`).waitFor({ timeout: 30000 });
  await page.getByLabel('Search').fill('team');
  await page.locator('[data-path="team/support"]').waitFor();
  // An overrun (a commit above its hold, past the limit) locks team/coding: the row says so.
  const small = await d.call('POST', '/v1/holds', { budget: 'team/coding', amount: '1.00' });
  const overrun = await d.call('POST', `/v1/holds/${small.json.hold_id}/commit`, { actual: '60.00' });
  assert.equal(overrun.json.overrun_micros, 59000000);
  await within(page, 1000, () => !!document.querySelector('[data-path="team/coding"] .badge.locked'));
  assert.match(await page.locator('[data-path="team/coding"] .row-money').textContent(), /^60\.00 \/ 50\.00/);
  await page.screenshot({ path: path.join(shots, 'budgets-phone.png') });
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'no sideways scroll on a phone');
  assert.deepEqual(problems, []);

  // An agent key: its subtree, read-only; everything else refused.
  const agentPage = await (await browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage();
  agentPage.on('pageerror', (e) => problems.push(`agent page error: ${e.message}`));
  await agentPage.goto(`${d.base}/ui/`);
  await agentPage.getByLabel('API key').fill(agent.json.secret);
  await agentPage.getByRole('button', { name: 'Sign in' }).click();
  await agentPage.locator('[data-path="team/support"]').waitFor();
  assert.equal(await agentPage.locator('.role').textContent(), 'read-only');
  assert.equal(await agentPage.locator('.row').count(), 1, 'only its subtree');
  await agentPage.locator('[data-path="team/support"]').click();
  await agentPage.locator('.chart canvas').first().waitFor();
  assert.equal(await agentPage.getByRole('button', { name: 'Set limit' }).count(), 0, 'no actions for an agent');
  assert.equal(await agentPage.getByRole('button', { name: /release hold/ }).count(), 0);
  // What the UI does not offer, the daemon refuses: the same call from the agent's tab.
  const refused = await agentPage.evaluate(async () => {
    const res = await fetch('/v1/budgets/team/support', { method: 'PATCH', headers: { Authorization: `Bearer ${sessionStorage.getItem('tollgate.key')}` }, body: '{"limit":"999.00"}' });
    return res.status;
  });
  assert.equal(refused, 403);
  await agentPage.goto(`${d.base}/ui/#/budget/team/coding`);
  await agentPage.getByRole('alert').filter({ hasText: /Refused: 403 forbidden/ }).waitFor();
  await agentPage.screenshot({ path: path.join(shots, 'agent-refused.png') });
  assert.equal((await d.call('GET', '/v1/budgets/team/support')).json.limit_micros, 20000000);
  assert.deepEqual(problems, []);
});
