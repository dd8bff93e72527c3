// Overshoot with dishonest agents (issue 13): how far past its hard limit a budget's
// spend goes when the agents do not tell the truth about cost, on the JSON API and
// through the LLM proxy. A scenario of kind "overshoot" (bench/sim/scenarios/
// dishonest.json) lists arms; each arm is its own root budget with the scenario's
// limit, a child `ARM/bot`, and one agent key scoped to the child:
//
//   via api:   agents hold hold_fraction (e.g. 1-20%) of a call's true cost and commit
//              all of it, or record the cost with no hold at all (some asking for
//              `force`); the arm's budget says above_hold: charge or cap.
//   via proxy: agents call the proxy routes with the request shapes of
//              tests/integration/proxy_shapes.js, their output cap removed or set far
//              above what they need, streamed and not; the upstream is
//              tests/upstream/fake_llm.js billing the most the provider could
//              (x-fake-bill: max). The agent never states a cost: the proxy does.
//
// Overshoot is measured from the ledger, not from what the agents believe: the sum of
// `GET /v1/charges` under the arm's budget in its current window, minus its limit
// (overshootFromCharges), checked against the budget's own spent_micros.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { launch, makeClient } = require('./daemon');
const { makeRng } = require('./rng');
const { micros } = require('./scenario');
const { startFakeLlm } = require('../../tests/upstream/fake_llm.js');
const { ADMITTED, send } = require('../../tests/integration/proxy_shapes.js');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const sha = (s) => crypto.createHash('sha256').update(s).digest('hex');
const dollars = (m) => `$${(m / 1e6).toFixed(2)}`;
const exact = (m) => `$${(m / 1e6).toFixed(6)}`; // every micro shown: 0 means 0
const inside = (root, budget) => budget === root || budget.startsWith(`${root}/`);

// The ledger's answer: what the charges under `root` made since `windowStartMs` add up
// to, and how far that is above `limit` (0 when within it).
function overshootFromCharges(rows, root, limit, windowStartMs = -Infinity) {
  const mine = rows.filter((c) => inside(root, c.budget) && c.time_ms >= windowStartMs);
  const charged = mine.reduce((s, c) => s + c.cost_micros, 0);
  return { charges: mine.length, charged_micros: charged, overshoot_micros: Math.max(0, charged - limit) };
}

function configText(scenario, dbPath, keys, fakeUrl) {
  const lines = ['address: 127.0.0.1', 'port: 0', 'store:', '  kind: sqlite', `  path: ${JSON.stringify(dbPath)}`,
    '  durability: strict', 'budgets:'];
  for (const arm of scenario.arms) {
    lines.push(`  - {path: ${arm.name}, limit: "${scenario.limit}", window: day${arm.above_hold ? `, above_hold: ${arm.above_hold}` : ''}}`);
    lines.push(`  - {path: ${arm.name}/bot}`);
  }
  lines.push('keys:');
  for (const arm of scenario.arms) {
    lines.push(`  - {name: ${arm.name}-bot, role: agent, scope: ${arm.name}/bot, sha256: ${sha(keys[arm.name])}}`);
  }
  if (fakeUrl) {
    lines.push('upstreams:', `  openai: {base_url: "${fakeUrl}", api_key: sk-upstream}`,
      `  anthropic: {base_url: "${fakeUrl}", api_key: sk-ant-upstream}`);
  }
  return `${lines.join('\n')}\n`;
}

function drawCost(rng, cost) {
  const max = micros(cost.max) / 1e6;
  const d = Math.min(max, rng.lognormal(micros(cost.median) / 1e6, cost.sigma));
  return Math.max(1, Math.ceil(d * 1e6));
}

// One API agent: every call either holds a fraction of its cost and commits all of it,
// or records it with no hold. Refusals do not stop it: it tries the next call.
async function apiAgent(client, arm, scenario, rng, tally) {
  const api = scenario.api;
  for (let i = 0; i < scenario.calls_per_agent; i++) {
    const actual = drawCost(rng, api.cost);
    const budget = `${arm.name}/bot`;
    if (rng.chance(api.record_rate)) {
      const force = rng.chance(api.force_rate);
      const res = await client.call('POST', '/v1/charges', { budget, cost_micros: actual, ...(force ? { force: true } : {}) });
      if (res.status === 200) {
        tally.recorded++;
        tally.claimed += actual;
        tally.acknowledged += actual; // a record is charged in full or refused
      } else if (res.status === 403 && force) tally.force_forbidden++;
      else if (res.status === 402) tally.refused++;
      else throw new Error(`record: HTTP ${res.status} ${res.text}`);
      continue;
    }
    const f = api.hold_fraction[0] + rng.uniform() * (api.hold_fraction[1] - api.hold_fraction[0]);
    const amount = Math.max(1, Math.floor(actual * f));
    const hold = await client.call('POST', '/v1/holds', { budget, amount_micros: amount });
    if (hold.status === 402) { tally.refused++; continue; }
    if (hold.status !== 200 || !hold.json.granted) throw new Error(`hold: HTTP ${hold.status} ${hold.text}`);
    await sleep(rng.int(api.duration_ms[0], api.duration_ms[1]));
    const res = await client.call('POST', `/v1/holds/${hold.json.hold_id}/commit`, { actual_micros: actual });
    if (res.status !== 200) throw new Error(`commit: HTTP ${res.status} ${res.text}`);
    tally.claimed += actual;
    tally.committed++;
    tally.acknowledged += res.json.charged_micros;
    if (res.json.capped) tally.capped++;
    tally.held += amount;
  }
}

// A shape with its output cap removed (null) or replaced by `cap`.
function withCap(shape, cap) {
  const body = { ...shape.body };
  const field = shape.wire === 'chat' ? (body.max_completion_tokens !== undefined ? 'max_completion_tokens' : 'max_tokens')
    : shape.wire === 'responses' ? 'max_output_tokens' : 'max_tokens';
  delete body.max_tokens;
  delete body.max_completion_tokens;
  delete body.max_output_tokens;
  if (cap !== null) body[field] = cap;
  return { ...shape, body };
}

// One proxy agent: SDK calls of the scenario's shapes; what the proxy answers is tallied.
async function proxyAgent(clients, scenario, rng, tally) {
  const p = scenario.proxy;
  for (let i = 0; i < scenario.calls_per_agent; i++) {
    const name = rng.pick(p.shapes);
    const cap = rng.pick(p.max_tokens);
    const stream = rng.chance(p.stream_rate);
    const shape = withCap(ADMITTED[name], cap);
    try {
      await send(clients, shape, stream);
      tally.answered++;
    } catch (e) {
      const key = e.status === 429 ? 'refused' : e.status === 400 ? 'bad_request' : 'failed';
      tally[key]++;
      if (key === 'bad_request') {
        const why = `${name}${cap === null ? ', no cap' : ''}`;
        tally.bad_requests[why] = (tally.bad_requests[why] || 0) + 1;
      }
      if (key === 'failed') tally.errors.push(`${name}: ${e.status || ''} ${e.message}`.slice(0, 200));
    }
  }
}

async function fetchAllCharges(client, root) {
  const rows = [];
  let after = 0;
  for (;;) {
    const res = await client.call('GET', `/v1/charges?budget=${encodeURIComponent(root)}&after=${after}&limit=1000`);
    if (res.status !== 200) throw new Error(`charges: HTTP ${res.status} ${res.text}`);
    rows.push(...res.json.charges);
    if (res.json.next === null || res.json.next === undefined || res.json.charges.length === 0) return rows;
    after = res.json.next;
  }
}

async function fetchAllEvents(client) {
  const rows = [];
  let since = 0;
  for (;;) {
    const res = await client.call('GET', `/v1/events?since=${since}&limit=1000`);
    if (res.status !== 200) throw new Error(`events: HTTP ${res.status} ${res.text}`);
    rows.push(...res.json.events);
    if (res.json.next === null || res.json.next === undefined || res.json.events.length === 0) return rows;
    since = res.json.next;
  }
}

// Waits until no hold is open under `root` (the proxy settles after its answer).
async function settled(client, root, ms = 30000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const res = await client.call('GET', `/v1/budgets/${root}`);
    if (res.status === 200 && res.json.held_micros === 0) return res.json;
    if (Date.now() > deadline) throw new Error(`holds still open under ${root}: ${res.text}`);
    await sleep(20);
  }
}

async function simulateOvershoot({ scenario: s, binary, seed, agents }) {
  const scenario = typeof s === 'string' ? require('./scenario').loadScenario(s) : s;
  const runSeed = seed === undefined ? scenario.seed : seed;
  const agentCount = agents || scenario.agents;
  const limit = micros(scenario.limit);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `tollgate-sim-${scenario.name}-`));
  const admin = `sim_${crypto.randomBytes(12).toString('hex')}`;
  const keys = Object.fromEntries(scenario.arms.map((a) => [a.name, `tg_${a.name}_${crypto.randomBytes(12).toString('hex')}`]));
  const viaProxy = scenario.arms.some((a) => a.via === 'proxy');
  const fake = viaProxy ? await startFakeLlm({ port: 0 }) : null;
  const configFile = path.join(dir, 'tollgate.yaml');
  fs.writeFileSync(configFile, configText(scenario, path.join(dir, 'ledger.db'), keys, fake && fake.url));
  const daemon = launch(binary, configFile, admin);
  const arms = [];
  const started = Date.now();
  let stderr = '';
  try {
    const base = await daemon.base;
    const adminClient = makeClient(base, admin);
    const rng = makeRng(runSeed);
    // Every arm at once, so that they share the machine alike.
    await Promise.all(scenario.arms.map(async (arm, a) => {
      const tally = { via: arm.via, claimed: 0, acknowledged: 0, held: 0, committed: 0, recorded: 0, capped: 0, refused: 0,
        force_forbidden: 0, answered: 0, bad_request: 0, bad_requests: {}, failed: 0, errors: [] };
      const agentRngs = Array.from({ length: agentCount }, (_, i) => rng.fork(a * 1000 + i));
      const t0 = Date.now();
      if (arm.via === 'api') {
        const client = makeClient(base, keys[arm.name]);
        await Promise.all(agentRngs.map((r) => apiAgent(client, arm, scenario, r, tally)));
        client.close();
      } else {
        const { OpenAI } = require('openai');
        const { Anthropic } = require('@anthropic-ai/sdk');
        const clients = { openai: new OpenAI({ apiKey: keys[arm.name], baseURL: `${base}/v1`, maxRetries: 0 }),
          // A timeout of its own: without one the SDK refuses a large non-streamed max_tokens itself.
          anthropic: new Anthropic({ apiKey: keys[arm.name], baseURL: base, maxRetries: 0, timeout: 600000 }) };
        await Promise.all(agentRngs.map((r) => proxyAgent(clients, scenario, r, tally)));
      }
      tally.run_ms = Date.now() - t0;
      arms.push({ arm, tally });
    }));
    const out = [];
    for (const { arm } of arms) await settled(adminClient, arm.name);
    const events = await fetchAllEvents(adminClient);
    for (const { arm, tally } of arms) {
      const budget = await settled(adminClient, arm.name);
      const rows = await fetchAllCharges(adminClient, arm.name);
      const ledger = overshootFromCharges(rows, arm.name, limit, budget.window_start_ms);
      const overruns = events.filter((e) => e.kind === 'overrun' && e.budget && inside(arm.name, e.budget));
      out.push({ name: arm.name, via: arm.via, above_hold: arm.above_hold || null, limit_micros: limit, ...ledger,
        spent_micros: budget.spent_micros, locked: budget.locked, spent_matches: budget.spent_micros === ledger.charged_micros,
        overrun_events: overruns.length, capped_events: overruns.filter((e) => e.detail === 'capped').length, ...tally });
    }
    adminClient.close();
    out.sort((x, y) => scenario.arms.findIndex((a) => a.name === x.name) - scenario.arms.findIndex((a) => a.name === y.name));
    return {
      kind: 'overshoot',
      summary: { scenario: scenario.name, description: scenario.description || '', seed: runSeed, agents: agentCount,
        calls_per_agent: scenario.calls_per_agent, limit_micros: limit, run_ms: Date.now() - started,
        command: `node bench/sim/sim.js --scenario ${scenario.name} --seed ${runSeed} --report`,
        sanitizer_errors: /AddressSanitizer|LeakSanitizer|runtime error:/.test(daemon.stderr()) },
      arms: out,
    };
  } finally {
    if (daemon.child.exitCode === null) daemon.child.kill('SIGTERM');
    await daemon.exited;
    stderr = daemon.stderr();
    if (fake) await fake.close();
    fs.rmSync(dir, { recursive: true, force: true });
    if (process.env.TG_SIM_DEBUG) process.stderr.write(stderr);
  }
}

function dishonesty(a) {
  if (a.via === 'proxy') return 'absent or oversized output caps; upstream bills its maximum';
  return `hold 1-20% then commit all, or record with no hold; above_hold: ${a.above_hold}`;
}

// The table: one row per arm, every money figure from the ledger but `claimed`.
function overshootTable(result) {
  const head = ['arm', 'agents do', 'calls', 'claimed by agents', 'charged (ledger)', 'overshoot above hard limit', 'overrun events'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const a of result.arms) {
    const calls = a.via === 'api'
      ? `${a.committed} commits (${a.capped} capped), ${a.recorded} records, ${a.refused} refused 402, ${a.force_forbidden} force 403`
      : `${a.answered} answered, ${a.refused} refused 429, ${a.bad_request} refused 400${a.failed ? `, ${a.failed} failed` : ''}`;
    const claimed = a.via === 'api' ? dollars(a.claimed) : 'n/a (the proxy measures)';
    lines.push(`| ${[a.name, dishonesty(a), calls, claimed, `${exact(a.charged_micros)} in ${a.charges} charges (budget spent ${a.spent_matches ? 'equal' : `${dollars(a.spent_micros)}: DIFFERS`})`,
      `**${exact(a.overshoot_micros)}** (${(100 * a.overshoot_micros / a.limit_micros).toFixed(0)}% of the ${dollars(a.limit_micros)} limit)${a.locked ? ', locked' : ''}`,
      `${a.overrun_events}${a.capped_events ? ` (${a.capped_events} capped)` : ''}`].map((c) => String(c).replace(/\|/g, '/')).join(' | ')} |`);
  }
  return lines.join('\n');
}

function overshootSummary(result) {
  const s = result.summary;
  return `scenario ${s.scenario} (seed ${s.seed}): ${result.arms.length} arms of ${s.agents} agents x ${s.calls_per_agent} calls, ` +
    `each arm a budget with a hard limit of ${dollars(s.limit_micros)}, ${(s.run_ms / 1000).toFixed(1)} s`;
}

module.exports = { simulateOvershoot, overshootFromCharges, overshootTable, overshootSummary, configText, withCap };
