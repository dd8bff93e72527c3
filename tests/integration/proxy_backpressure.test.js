// Back-pressure towards a slow client: a fast upstream streams far more than the daemon
// may buffer for one call (TG__PROXY_CLIENT_BUFFERED_MAX, 1 MiB), to a client that stops
// reading. The daemon must pause the upstream transfer instead of buffering the stream:
// its resident memory stays bounded while the client reads nothing, and once the client
// reads again the whole stream arrives intact and the call is settled.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { sha, tempDir, startDaemon, eventually } = require('./daemon_helpers.js');
const { startFakeLlm } = require('../upstream/fake_llm.js');

const AGENT = 'agent-secret';
const TOKENS = 400000; // about 200 bytes an event: a stream of some 80 MB
// The daemon's own growth while the client reads nothing: its 1 MiB of pending bytes, curl's
// and libevent's buffers, allocator slack (more under ASan). Without back-pressure it grows
// by the whole stream.
const RSS_GROWTH_MAX_BYTES = 32 * 1024 * 1024;
let fake, daemon;

function rssBytes(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(status.match(/VmRSS:\s+(\d+) kB/)[1]) * 1024;
}

test.before(async () => {
  fake = await startFakeLlm({ port: 0 });
  const dir = tempDir('proxy-backpressure');
  const configFile = path.join(dir, 'tollgate.yaml');
  // A model priced by the config so that it may stream 400,000 tokens in one call.
  fs.writeFileSync(configFile, `
port: 0
store: {kind: memory}
budgets:
  - {path: team, limit: "1000.00"}
keys:
  - {name: bot, role: agent, scope: team, sha256: ${sha(AGENT)}}
upstreams:
  openai: {base_url: "${fake.url}", api_key: sk-upstream}
proxy:
  price_overrides:
    - {provider: openai, model: fake-long-stream, input_mtok: 1000000, output_mtok: 1000000,
       context_window: 2000000, max_output_tokens: 1000000}
`);
  // Under ASan freed memory waits in a quarantine (256 MB by default) and counts as
  // resident: keep it small so that resident memory measures what the daemon holds.
  const asan = [process.env.ASAN_OPTIONS, 'quarantine_size_mb=4'].filter(Boolean).join(':');
  daemon = await startDaemon(configFile, { env: { ASAN_OPTIONS: asan } });
});

test.after(async () => {
  const code = await daemon.stop();
  await fake.close();
  assert.doesNotMatch(daemon.stderr(), /AddressSanitizer|runtime error|LeakSanitizer/, daemon.stderr());
  assert.equal(code, 0, daemon.stderr());
});

test('a client that stops reading pauses the upstream; the daemon does not buffer the stream', async (t) => {
  const body = JSON.stringify({ model: 'fake-long-stream', max_tokens: TOKENS * 4, stream: true,
    messages: [{ role: 'user', content: 'Count' }] });
  const pid = daemon.child.pid;
  const baseline = rssBytes(pid);
  const res = await new Promise((resolve, reject) => {
    const req = http.request(`${daemon.base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${AGENT}`,
        'x-fake-output-tokens': String(TOKENS), 'x-fake-input-tokens': '10' },
    }, resolve);
    req.on('error', reject);
    req.end(body);
  });
  assert.equal(res.statusCode, 200);
  res.pause(); // the client reads nothing; the kernel's socket buffers fill, then the daemon's
  const entry = await eventually(() => fake.requests.find((r) => r.body && r.body.model === 'fake-long-stream'));
  assert.ok(entry, 'the upstream was called');
  assert.equal(entry.body.stream_options.include_usage, true);
  let peak = baseline;
  for (let i = 0; i < 30; i++) { // 3 s while the upstream could send everything
    await new Promise((r) => setTimeout(r, 100));
    peak = Math.max(peak, rssBytes(pid));
  }
  t.diagnostic(`daemon resident memory grew by ${peak - baseline} bytes while the client read nothing`);
  assert.ok(peak - baseline < RSS_GROWTH_MAX_BYTES,
    `the daemon grew by ${peak - baseline} bytes for a stalled stream (max ${RSS_GROWTH_MAX_BYTES})`);

  // The client reads again: everything arrives, in order, to the end.
  let bytes = 0;
  let tail = '';
  res.setEncoding('utf8');
  res.on('data', (c) => { bytes += c.length; tail = (tail + c).slice(-256); });
  res.resume();
  await new Promise((resolve, reject) => { res.on('end', resolve); res.on('error', reject); });
  // The upstream's own end, then Tollgate's cost comment (docs/proxy.md, "Cost in the response").
  assert.match(tail, /"finish_reason":"stop".*\n\ndata: \[DONE\]\n\n: tollgate hold_micros=\d+ cost_micros=\d+ [^\n]*\n\n$/s,
    'the stream ended as the upstream ended it');
  assert.ok(bytes > 2 * RSS_GROWTH_MAX_BYTES, `only ${bytes} bytes arrived`);
  t.diagnostic(`${bytes} bytes streamed`);
  const settled = await eventually(async () => {
    const b = (await daemon.call('GET', '/v1/budgets/team')).json;
    return b.held_micros === 0 && b.spent_micros > 0 ? b : null;
  }, 5000);
  assert.ok(settled, 'the call was committed');
  // The usage the upstream reported: 10 input + 400,000 output tokens at $1 per million.
  assert.equal(settled.spent_micros, Math.ceil((10 + TOKENS) * 1000000 / 1000000));
});
