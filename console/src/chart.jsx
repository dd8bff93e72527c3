// Spend over the current window as a uPlot line: cumulative charges, the revocation
// threshold and the limit as flat lines, and a forecast to the window's end at the rate
// of the last quarter of the elapsed window (dashed). Amounts are plotted in whole
// currency units; the numbers beside the chart stay exact micros.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

// Builds the series; exported for reading, not for tests of the canvas.
export function spendSeries(b, charges, now) {
  const start = b.window_start_ms !== null ? b.window_start_ms : (charges.length ? charges[0].time_ms : now - 3600000);
  const end = b.window_end_ms !== null ? b.window_end_ms : now;
  const sum = charges.reduce((s, c) => s + c.cost_micros, 0);
  let spent = b.spent_micros - sum; /* spend from before the charges we read (kept across a re-put) */
  const xs = [start / 1000];
  const ys = [spent];
  for (const c of charges) {
    spent += c.cost_micros;
    xs.push(c.time_ms / 1000);
    ys.push(spent);
  }
  xs.push(now / 1000);
  ys.push(b.spent_micros);
  // Recent rate: spend during the last quarter of the elapsed window.
  const elapsed = Math.max(1, now - start);
  const recentFrom = now - elapsed / 4;
  const recent = charges.filter((c) => c.time_ms >= recentFrom).reduce((s, c) => s + c.cost_micros, 0);
  const ratePerMs = recent / (elapsed / 4);
  const forecast = b.spent_micros + Math.round(ratePerMs * Math.max(0, end - now));
  return { xs, ys, start, end, forecast };
}

export function SpendChart({ b, charges, now }) {
  const box = useRef(null);
  useEffect(() => {
    if (!box.current) return undefined;
    const { xs, ys, end, forecast } = spendSeries(b, charges, now);
    const units = (v) => (v === null ? null : v / 1e6);
    const x = [...xs];
    const spend = ys.map(units);
    const forecastLine = ys.map(() => null);
    forecastLine[forecastLine.length - 1] = units(b.spent_micros);
    if (end > now) { x.push(end / 1000); spend.push(null); forecastLine.push(units(forecast)); }
    const flat = (v) => x.map(() => (v === null ? null : units(v)));
    const width = Math.max(280, box.current.clientWidth);
    const plot = new uPlot({
      width, height: 260,
      scales: { x: { time: true } },
      axes: [{ stroke: '#cbd5e1', grid: { stroke: '#33415566' } }, { stroke: '#cbd5e1', grid: { stroke: '#33415566' }, size: 60 }],
      series: [
        {},
        { label: 'spend', stroke: '#4ade80', width: 2, spanGaps: false },
        { label: 'forecast', stroke: '#a78bfa', dash: [6, 4], width: 2, spanGaps: true },
        { label: 'threshold', stroke: '#fbbf24', dash: [2, 3], width: 1.5 },
        { label: 'limit', stroke: '#f87171', width: 1.5 },
      ],
    }, [x, spend, forecastLine, flat(b.threshold_micros), flat(b.limit_micros)], box.current);
    const resize = () => plot.setSize({ width: Math.max(280, box.current.clientWidth), height: 260 });
    window.addEventListener('resize', resize);
    return () => { window.removeEventListener('resize', resize); plot.destroy(); };
  }, [b.spent_micros, b.limit_micros, b.threshold_micros, b.window_start_ms, charges.length, Math.floor(now / 10000)]);
  return <div class="chart" ref={box} role="img" aria-label={`spend over the window; ${charges.length} charges`} />;
}
