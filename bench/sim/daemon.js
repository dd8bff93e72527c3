// Starts `tollgate serve` for one simulator run: a config written from the scenario
// (its budgets, a policy that classes each tool, a SQLite ledger in a temp folder),
// on a free loopback port; and a keep-alive JSON client for its API.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const quote = (s) => JSON.stringify(String(s));

// The notify section: one webhook sink to the simulator's receiver, urgency per the
// scenario (`notify.urgency`: {budget glob: {mode, within_ms}}).
function notifyLines(scenario, webhookUrl) {
  const lines = ['notify:', '  sinks:', '    - name: sim', '      kind: webhook', `      url: ${quote(webhookUrl)}`,
    '      filter: {kinds: [revoked, reinstated, threshold_crossed, overrun, hold_expired, window_rolled]}',
    '  urgency:', '    default: immediate'];
  const rules = Object.entries((scenario.notify && scenario.notify.urgency) || {});
  if (rules.length) {
    lines.push('    budgets:');
    for (const [glob, u] of rules) lines.push(`      - {budget: ${quote(glob)}, mode: ${u.mode}, within_ms: ${u.within_ms || 2000}}`);
  }
  return lines;
}

function configText(scenario, dbPath, webhookUrl) {
  const lines = ['address: 127.0.0.1', 'port: 0', 'store:', '  kind: sqlite',
    `  path: ${quote(dbPath)}`, `  durability: ${scenario.durability || 'strict'}`, 'limits:',
    `  default_hold_ttl_ms: ${scenario.hold_ttl_ms || 600000}`, '  connections_max: 4096', 'budgets:'];
  for (const b of scenario.budgets) {
    lines.push(`  - path: ${quote(b.path)}`);
    if (b.limit !== undefined) lines.push(`    limit: ${quote(b.limit)}`);
    lines.push(`    window: ${b.window || 'day'}`, `    timezone: ${b.timezone || 'UTC'}`);
    if (b.revoke_at !== undefined) lines.push(`    revoke_at: ${quote(b.revoke_at)}`);
    if (b.alerts) lines.push(`    alerts: [${b.alerts.map(quote).join(', ')}]`);
    if (b.ceilings) {
      lines.push('    ceilings:');
      for (const [cls, v] of Object.entries(b.ceilings)) lines.push(`      ${cls}: ${quote(v)}`);
    }
  }
  lines.push('policy:', '  default: normal', '  rules:');
  const seen = new Set();
  for (const k of scenario.calls) {
    if (!k.tool || seen.has(k.tool)) continue;
    seen.add(k.tool);
    lines.push(`    - {tool: ${quote(k.tool)}, class: ${k.class}}`);
  }
  if (webhookUrl) lines.push(...notifyLines(scenario, webhookUrl));
  lines.push('keys: []', '');
  return lines.join('\n');
}

// libfaketime (Debian package faketime), preloaded to start the daemon's clock just
// before a window boundary: the daemon reads the real clock and has no test clock.
const fakeTimeLibraries = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/faketime/libfaketime.so.1'];
const fakeTimeLibrary = () => fakeTimeLibraries.find((f) => fs.existsSync(f)) || null;

// The environment that starts the daemon's clock at `startMs` (whole seconds, UTC).
function clockEnv(startMs) {
  const library = fakeTimeLibrary();
  if (startMs === null || !library) return {};
  const text = new Date(startMs).toISOString().slice(0, 19).replace('T', ' ');
  // An ASan build wants its runtime first; libfaketime only wraps the clock calls.
  const asan = [process.env.ASAN_OPTIONS, 'verify_asan_link_order=0'].filter(Boolean).join(':');
  return { LD_PRELOAD: library, FAKETIME: `@${text}`, FAKETIME_DONT_FAKE_MONOTONIC: '1', TZ: 'UTC', ASAN_OPTIONS: asan };
}

function launch(binary, configFile, adminKey, port, extraEnv = {}) {
  const args = ['serve', '--config', configFile, ...(port === undefined ? [] : ['--port', String(port)])];
  const child = spawn(binary, args, {
    env: { ...process.env, TOLLGATE_ADMIN_KEY: adminKey, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c) => { stderr += c; });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const base = new Promise((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (chunk) => {
      text += chunk;
      const m = text.match(/listening on (http:\/\/[0-9.]+:\d+)/);
      if (m) resolve(m[1]);
    });
    child.on('exit', () => reject(new Error(`daemon exited before listening: ${stderr}`)));
  });
  return { child, exited, base, stderr: () => stderr };
}

// Resolves to {base, call, stop, kill9, restart, dbPath, dir}; `call(method, url, body)`
// -> {status, json}. `kill9()` kills the daemon with SIGKILL and `restart()` starts it
// again on the same port and ledger.
async function startDaemon(binary, scenario, adminKey, webhookUrl) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `tollgate-sim-${scenario.name}-`));
  const dbPath = path.join(dir, 'ledger.db');
  const configFile = path.join(dir, 'tollgate.yaml');
  fs.writeFileSync(configFile, configText(scenario, dbPath, webhookUrl));
  // scenario.clock = {period_ms, lead_ms}: start the daemon lead_ms before a boundary.
  let clockStartMs = null;
  if (scenario.clock && fakeTimeLibrary()) {
    const period = scenario.clock.period_ms || 3600000;
    const lead = scenario.clock.lead_ms || 2000;
    clockStartMs = Math.floor((Math.ceil((Date.now() + lead + 1000) / period) * period - lead) / 1000) * 1000;
  }
  let current = launch(binary, configFile, adminKey, undefined, clockEnv(clockStartMs));
  const base = await current.base;
  const port = Number(base.split(':').pop());
  const client = makeClient(base, adminKey);
  const stop = async () => {
    client.close();
    if (current.child.exitCode === null) current.child.kill('SIGTERM');
    await current.exited;
  };
  const kill9 = async () => {
    current.child.kill('SIGKILL');
    await current.exited;
  };
  const restart = async () => {
    current = launch(binary, configFile, adminKey, port);
    await current.base;
  };
  const clock = clockStartMs === null ? (scenario.clock ? 'real (libfaketime not installed: no rollover)' : 'real')
    : `faked: started at ${new Date(clockStartMs).toISOString()}`;
  return { ...client, base, stop, kill9, restart, dbPath, dir, clock, clockShifted: clockStartMs !== null,
    stderr: () => current.stderr() };
}

function makeClient(base, key) {
  const url = new URL(base);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
  const call = (method, route, body) => new Promise((resolve, reject) => {
    const data = body === undefined ? null : JSON.stringify(body);
    const req = http.request({
      host: url.hostname, port: url.port, method, path: route, agent,
      headers: { Authorization: `Bearer ${key}`, ...(data ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } : {}) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => {
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, json, text });
      });
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
  return { call, close: () => agent.destroy() };
}

module.exports = { startDaemon, makeClient, configText, launch };
