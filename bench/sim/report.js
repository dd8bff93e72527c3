// The report of one run: the indicator table as text and JSON, and an HTML page with
// plots drawn as inline SVG (spend over time against threshold and limit per budget,
// decision latency distribution, notification latency). No external libraries.
'use strict';
const { quantile, dollars } = require('./indicators');

// A run of an "overshoot" scenario (bench/sim/overshoot.js) has arms, not indicators.
const overshoot = () => require('./overshoot');

function textTable(result) {
  if (result.kind === 'overshoot') return overshoot().overshootTable(result);
  const rows = result.indicators;
  const head = ['indicator', 'target', 'tollgate', 'met', 'naive tracker'];
  const body = rows.map((r) => [r.name, r.target, r.tollgate_text, r.met ? 'yes' : 'NO', r.naive_text]);
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const b of body) lines.push(`| ${b.map((c) => String(c).replace(/\|/g, '/')).join(' | ')} |`);
  return lines.join('\n');
}

function summaryText(result) {
  if (result.kind === 'overshoot') return overshoot().overshootSummary(result);
  const s = result.summary;
  const lines = [`scenario ${s.scenario} (seed ${s.seed}): ${s.agents} agents, ${s.calls_planned} calls planned` +
    ` (demand ${dollars(s.demand_micros)}), ${s.decisions} decisions, ${s.commits} commits, ${s.crashes} crashes,` +
    (s.late_commits ? ` ${s.late_commits} commits too late (the hold had expired),` : '') +
    ` ${(s.run_ms / 1000).toFixed(1)} s` +
    (s.daemon_kills ? `; daemon killed with SIGKILL ${s.daemon_kills}x and restarted, ${s.requests_retried} requests retried` : '')];
  const rolls = Object.entries(s.rollovers_ms || {});
  if (s.clock !== 'real' || rolls.length) {
    lines.push(`  clock: ${s.clock}; window rollovers ${rolls.length ? rolls.map(([b, t]) => `${b} at +${t.join(', ')} ms`).join('; ') : 'none'}` +
      `; events: window_rolled ${s.events.window_rolled || 0}, reinstated ${s.events.reinstated || 0}`);
  }
  for (const b of result.budgets) {
    lines.push(`  ${b.budget}: spent ${dollars(b.spent)}${b.windows > 1 ? ` (most in one of ${b.windows} windows)` : ''} of ${b.limit === null ? 'no limit' : dollars(b.limit)}` +
      ` (threshold ${b.threshold === null ? '-' : dollars(b.threshold)}); naive spent ${dollars(b.naive_spent)}`);
  }
  return lines.join('\n');
}

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));

// The smallest 1, 2 or 5 times a power of ten at or above x.
function niceCeil(x) {
  const p = Math.pow(10, Math.floor(Math.log10(x)));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((v) => v >= x);
}

// A line chart: series [{name, points: [[x, y]], color}], horizontal rules [{y, name, color}].
function lineChart(title, series, rules, xLabel, yLabel) {
  const W = 680, H = 260, L = 70, B = 36, T = 24, R = 30;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = [...series.flatMap((s) => s.points.map((p) => p[1])), ...rules.map((r) => r.y)];
  const x0 = Math.min(...xs, 0), x1 = niceCeil(Math.max(...xs, 0.1)), y1 = niceCeil(Math.max(...ys, 1) * 1.05);
  const sx = (x) => L + ((x - x0) / (x1 - x0 || 1)) * (W - L - R);
  const sy = (y) => H - B - (y / y1) * (H - B - T);
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-size="11" font-family="sans-serif">`;
  svg += `<text x="${L}" y="14" font-weight="bold">${esc(title)}</text>`;
  svg += `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#333"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#333"/>`;
  for (let i = 0; i <= 4; i++) {
    const y = (y1 * i) / 4;
    svg += `<text x="${L - 4}" y="${sy(y) + 4}" text-anchor="end">${y.toFixed(y1 < 10 ? 2 : 0)}</text>`;
    const x = x0 + ((x1 - x0) * i) / 4;
    svg += `<text x="${sx(x)}" y="${H - B + 14}" text-anchor="middle">${x.toFixed(x1 < 10 ? 2 : 0)}</text>`;
  }
  svg += `<text x="${(L + W) / 2}" y="${H - 4}" text-anchor="middle">${esc(xLabel)}</text>`;
  svg += `<text x="12" y="${(T + H - B) / 2}" transform="rotate(-90 12 ${(T + H - B) / 2})" text-anchor="middle">${esc(yLabel)}</text>`;
  for (const r of rules) {
    svg += `<line x1="${L}" y1="${sy(r.y)}" x2="${W - R}" y2="${sy(r.y)}" stroke="${r.color}" stroke-dasharray="4 3"/>`;
    svg += `<text x="${W - R - 2}" y="${sy(r.y) - 3}" text-anchor="end" fill="${r.color}">${esc(r.name)}</text>`;
  }
  series.forEach((s, i) => {
    if (!s.points.length) return;
    const d = s.points.map((p, j) => `${j ? 'L' : 'M'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join('');
    svg += `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`;
    svg += `<text x="${L + 6}" y="${T + 12 + 12 * i}" fill="${s.color}">${esc(s.name)}</text>`;
  });
  return `${svg}</svg>`;
}

// A histogram of values (ms) on a log-spaced axis.
function histogram(title, values, unit) {
  if (!values.length) return `<p>${esc(title)}: no data</p>`;
  const lo = Math.max(0.01, Math.min(...values)), hi = Math.max(...values, lo * 10);
  const bins = 30, edges = [];
  for (let i = 0; i <= bins; i++) edges.push(lo * Math.pow(hi / lo, i / bins));
  const counts = new Array(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.max(0, edges.findIndex((e) => e > v) - 1))]++;
  const W = 680, H = 220, L = 50, B = 36, T = 24, top = Math.max(...counts);
  const bw = (W - L - 40) / bins;
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-size="11" font-family="sans-serif">`;
  svg += `<text x="${L}" y="14" font-weight="bold">${esc(title)} (n=${values.length}, p50 ${quantile(values, 0.5).toFixed(2)} ${unit}, p99 ${quantile(values, 0.99).toFixed(2)} ${unit})</text>`;
  counts.forEach((c, i) => {
    const h = (c / top) * (H - B - T);
    svg += `<rect x="${(L + i * bw).toFixed(1)}" y="${(H - B - h).toFixed(1)}" width="${(bw - 1).toFixed(1)}" height="${h.toFixed(1)}" fill="#4a7bb7"/>`;
  });
  for (let i = 0; i <= bins; i += 5) {
    svg += `<text x="${(L + i * bw).toFixed(1)}" y="${H - B + 14}" text-anchor="middle">${edges[i].toFixed(2)}</text>`;
  }
  svg += `<text x="${(L + W) / 2}" y="${H - 4}" text-anchor="middle">${esc(unit)} (log scale)</text>`;
  svg += `<text x="${L - 4}" y="${T + 8}" text-anchor="end">${top}</text></svg>`;
  return svg;
}

function spendCharts(result) {
  const t0 = result.summary.started_ms;
  return result.budgets.filter((b) => b.limit !== null).map((b) => {
    const inside = (path) => path === b.budget || path.startsWith(`${b.budget}/`);
    let sum = 0, roll = 0;
    const rolls = [...(b.rollovers || [])].sort((x, y) => x - y);
    const tg = [[0, 0]];
    for (const c of result.charges_timeline) {
      if (!inside(c.budget)) continue;
      while (roll < rolls.length && c.time_ms >= rolls[roll]) {
        const x = (rolls[roll] - t0) / 1000;
        tg.push([x, sum / 1e6], [x, 0]);
        sum = 0;
        roll++;
      }
      sum += c.cost_micros;
      tg.push([(c.time_ms - t0) / 1000, sum / 1e6]);
    }
    let nsum = 0, nroll = 0;
    const nv = [[0, 0]];
    for (const c of result.naive_timeline) {
      if (!inside(c.budget)) continue;
      while (nroll < rolls.length && c.t_ms >= rolls[nroll] - t0) {
        const x = (rolls[nroll] - t0) / 1000;
        nv.push([x, nsum / 1e6], [x, 0]);
        nsum = 0;
        nroll++;
      }
      nsum += c.actual;
      nv.push([c.t_ms / 1000, nsum / 1e6]);
    }
    const rules = [{ y: b.limit / 1e6, name: `limit ${dollars(b.limit)}`, color: '#c00' }];
    if (b.threshold !== b.limit) rules.push({ y: b.threshold / 1e6, name: `threshold ${dollars(b.threshold)}`, color: '#e80' });
    return lineChart(`Spend over time: ${b.budget}`, [
      { name: 'Tollgate (committed charges)', points: tg, color: '#2a6' },
      { name: 'naive tracker (same plan, virtual time)', points: nv, color: '#888' }], rules, 'seconds since start', 'USD');
  });
}

function html(result) {
  if (result.kind === 'overshoot') {
    return `<!doctype html><html><head><meta charset="utf-8"><title>Tollgate sim: ${esc(result.summary.scenario)}</title></head><body>
<h1>Tollgate simulator: ${esc(result.summary.scenario)}</h1>
<pre>${esc(summaryText(result))}\ncommand: ${esc(result.summary.command)}\n\n${esc(textTable(result))}</pre></body></html>\n`;
  }
  const rows = result.indicators.map((r) => `<tr><td>${esc(r.name)}</td><td>${esc(r.target)}</td><td>${esc(r.tollgate_text)}</td>` +
    `<td class="${r.met ? 'ok' : 'bad'}">${r.met ? 'yes' : 'no'}</td><td>${esc(r.naive_text)}</td></tr>`).join('\n');
  return `<!doctype html><html><head><meta charset="utf-8"><title>Tollgate sim: ${esc(result.summary.scenario)}</title>
<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 6px;font-size:13px;vertical-align:top}.ok{color:#070}.bad{color:#b00;font-weight:bold}pre{background:#f6f6f6;padding:8px}</style></head><body>
<h1>Tollgate simulator: ${esc(result.summary.scenario)}</h1>
<pre>${esc(summaryText(result))}\ncommand: ${esc(result.summary.command)}</pre>
<table><tr><th>indicator</th><th>target</th><th>Tollgate</th><th>met</th><th>naive tracker</th></tr>
${rows}</table>
<h2>Spend over time</h2>${spendCharts(result).join('\n')}
<h2>Decision latency</h2>${histogram('hold decision, round trip', result.latency.hold_ms, 'ms')}
${histogram('commit, round trip (group commit + fsync)', result.latency.commit_ms, 'ms')}
<h2>Notification latency</h2>${histogram('event -> webhook received (revoked, threshold, overrun, expired holds)', result.latency.webhook_ms, 'ms')}
${histogram('every event (denied, overrun, revoked, ...) -> seen by the poller', result.latency.notify_ms, 'ms')}
</body></html>
`;
}

module.exports = { textTable, summaryText, html };
