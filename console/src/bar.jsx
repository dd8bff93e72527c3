// The CLI's bar, in colour: spend (green, amber past the threshold, red past the limit),
// then open holds, against the revocation threshold (a tick) and the limit (the bar's end).
import { money } from './api.js';

export function SpendBar({ b }) {
  const limit = b.limit_micros;
  if (limit === null || limit === undefined || limit <= 0) {
    return <div class="bar bar-none" aria-hidden="true"><span>no cost limit</span></div>;
  }
  const scale = Math.max(limit, b.spent_micros + b.held_micros);
  const pct = (v) => `${Math.min(100, Math.max(0, (v / scale) * 100)).toFixed(2)}%`;
  const threshold = b.threshold_micros;
  const tone = b.spent_micros > limit ? 'over' : threshold !== null && b.spent_micros >= threshold ? 'warn' : 'ok';
  const label = `spent ${money(b.spent_micros)}, held ${money(b.held_micros)}, threshold ${money(threshold)}, limit ${money(limit)}`;
  return (
    <div class="bar" role="img" aria-label={label} title={label}>
      <div class={`bar-spent tone-${tone}`} style={{ width: pct(b.spent_micros) }} />
      <div class="bar-held" style={{ left: pct(b.spent_micros), width: pct(b.held_micros) }} />
      {threshold !== null && <div class="bar-threshold" style={{ left: pct(threshold) }} />}
      {scale > limit && <div class="bar-limit" style={{ left: pct(limit) }} />}
    </div>
  );
}
