// Budgets: the tree (sorted by path, indented by depth), searchable and filterable by
// state, drawn as a virtual list: only the rows in view are in the DOM, so 10,000 budgets
// scroll as smoothly as ten. Rows are links (Tab, Enter); ArrowUp/Down move between them.
import { useMemo, useRef, useState, useEffect } from 'preact/hooks';
import { SpendBar } from './bar.jsx';
import { StateBadges } from './badges.jsx';
import { budgetState, count, duration, enc, money } from './api.js';

const ROW_PX = 64;
const OVERSCAN = 8;

export function windowText(b, now) {
  if (b.window === 'lifetime' || b.window_end_ms === null) return b.window;
  return `${b.window}, ${duration(b.window_end_ms - now)} left`;
}

function usage(b) {
  const parts = [];
  if (b.calls_limit !== null) parts.push(`calls ${count(b.calls_used)}/${count(b.calls_limit)}`);
  if (b.tokens_limit !== null) parts.push(`tokens ${count(b.tokens_used)}/${count(b.tokens_limit)}`);
  return parts.join(' · ');
}

function Row({ b, index, now, top }) {
  const depth = b.path.split('/').length - 1;
  const name = b.path.split('/').pop();
  return (
    <a class="row" href={`#/budget/${enc(b.path)}`} data-index={index} data-path={b.path}
      style={{ top: `${top}px` }}>
      <span class="row-name" style={{ paddingLeft: `${depth * 1.1}em` }} title={b.path}>
        {depth > 0 && <span class="tree-mark" aria-hidden="true">└ </span>}
        <span class="sr-only">{b.path}</span><span aria-hidden="true">{name}</span>
      </span>
      <span class="row-bar"><SpendBar b={b} /></span>
      <span class="row-money">{money(b.spent_micros)} / {money(b.limit_micros)}</span>
      <span class="row-state"><StateBadges b={b} /></span>
      <span class="row-window">{windowText(b, now)}{usage(b) && <span class="usage"> · {usage(b)}</span>}</span>
    </a>
  );
}

const FILTERS = ['all', 'open', 'revoked', 'locked', 'frozen', 'past threshold'];

function matches(b, state) {
  if (state === 'all') return true;
  if (state === 'past threshold') return b.threshold_micros !== null && b.spent_micros >= b.threshold_micros;
  return budgetState(b) === state || (state === 'revoked' && Object.values(b.classes || {}).some((c) => c.revoked));
}

export function Budgets({ budgets, now, error }) {
  const [query, setQuery] = useState('');
  const [state, setState] = useState('all');
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);
  const box = useRef(null);

  const sorted = useMemo(() => [...budgets.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)), [budgets]);
  const shown = useMemo(() => {
    const q = query.trim().toLowerCase();
    return sorted.filter((b) => (!q || b.path.toLowerCase().includes(q)) && matches(b, state));
  }, [sorted, query, state]);

  useEffect(() => {
    const measure = () => box.current && setHeight(box.current.clientHeight || 600);
    measure();
    window.addEventListener('resize', measure);
    return () => window.removeEventListener('resize', measure);
  }, []);

  const first = Math.max(0, Math.floor(scrollTop / ROW_PX) - OVERSCAN);
  const last = Math.min(shown.length, Math.ceil((scrollTop + height) / ROW_PX) + OVERSCAN);

  const onKeyDown = (e) => {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    const at = Number(document.activeElement && document.activeElement.dataset && document.activeElement.dataset.index);
    const next = Number.isFinite(at) ? at + (e.key === 'ArrowDown' ? 1 : -1) : 0;
    if (next < 0 || next >= shown.length) return;
    e.preventDefault();
    const el = box.current;
    if (next * ROW_PX < el.scrollTop) el.scrollTop = next * ROW_PX;
    else if ((next + 1) * ROW_PX > el.scrollTop + el.clientHeight) el.scrollTop = (next + 1) * ROW_PX - el.clientHeight;
    setScrollTop(el.scrollTop);
    const focus = () => { const row = el.querySelector(`[data-index="${next}"]`); if (row) row.focus(); return !!row; };
    if (!focus()) requestAnimationFrame(focus); /* not drawn yet: after the scroll renders it */
  };

  return (
    <section class="page budgets" aria-labelledby="budgets-title">
      <div class="toolbar">
        <h1 id="budgets-title">Budgets</h1>
        <label>Search <input type="search" value={query} placeholder="path contains…"
          onInput={(e) => { setQuery(e.currentTarget.value); setScrollTop(0); if (box.current) box.current.scrollTop = 0; }} /></label>
        <label>State <select value={state} onChange={(e) => setState(e.currentTarget.value)}>
          {FILTERS.map((f) => <option value={f}>{f}</option>)}
        </select></label>
        <span class="muted" aria-live="polite">{shown.length.toLocaleString('en-US')} of {budgets.size.toLocaleString('en-US')}</span>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      <div class="list-head" aria-hidden="true">
        <span>budget</span><span>spend · threshold · limit</span><span>spent / limit</span><span>state</span><span>window</span>
      </div>
      <div class="list" ref={box} onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)} onKeyDown={onKeyDown}
        aria-label="budgets" tabIndex={-1}>
        <div class="list-inner" style={{ height: `${shown.length * ROW_PX}px` }}>
          {shown.slice(first, last).map((b, i) => <Row key={b.path} b={b} index={first + i} now={now} top={(first + i) * ROW_PX} />)}
        </div>
      </div>
    </section>
  );
}
