// Charges and events as tables: filters, paging over the read API (`after` for charges,
// `since` for events, 100 rows a page), and CSV export of every row the filters match.
// The API filters charges by budget subtree and time; tool, model and class (and every
// event filter but paging) are applied here to the rows read.
import { useEffect, useState } from 'preact/hooks';
import { api, download, money, pageAll, toCsv, when } from './api.js';

const PAGE = 100;
const EXPORT_MAX = 50000;

const msOf = (local) => (local ? new Date(local).getTime() : null);

function Filters({ fields, values, onChange, onApply }) {
  return (
    <form class="filters" onSubmit={(e) => { e.preventDefault(); onApply(); }}>
      {fields.map(([name, label, type = 'text']) => (
        <label>{label}<input name={name} type={type} value={values[name] || ''}
          onInput={(e) => onChange({ ...values, [name]: e.currentTarget.value })} /></label>
      ))}
      <button type="submit">Apply</button>
    </form>
  );
}

function Pager({ page, hasNext, onFirst, onPrev, onNext, onExport, busy }) {
  return (
    <div class="pager">
      <button type="button" onClick={onFirst} disabled={page === 0}>First</button>
      <button type="button" onClick={onPrev} disabled={page === 0}>Previous</button>
      <span>page {page + 1}</span>
      <button type="button" onClick={onNext} disabled={!hasNext}>Next</button>
      <button type="button" class="primary" onClick={onExport} disabled={busy}>{busy ? 'Exporting…' : 'Export CSV'}</button>
    </div>
  );
}

// Shared paging: `cursors[i]` is where page i starts.
function usePaged(fetchPage, deps) {
  const [cursors, setCursors] = useState([0]);
  const [page, setPage] = useState(0);
  const [data, setData] = useState({ rows: [], next: 0, full: false });
  const [error, setError] = useState(null);
  useEffect(() => { setCursors([0]); setPage(0); }, deps);
  useEffect(() => {
    fetchPage(cursors[page]).then((d) => { setData(d); setError(null); }, (e) => setError(`${e.status} ${e.code}: ${e.message}`));
  }, [page, cursors, ...deps]);
  return {
    page, data, error,
    first: () => setPage(0),
    prev: () => setPage(Math.max(0, page - 1)),
    next: () => { const c = cursors.slice(0, page + 1); c.push(data.next); setCursors(c); setPage(page + 1); },
  };
}

const CHARGE_COLUMNS = ['id', 'time_ms', 'budget', 'hold_id', 'class', 'tool', 'model', 'tokens_in', 'tokens_out', 'cost_micros', 'held_micros'];

export function Charges({ tick }) {
  const [draft, setDraft] = useState({});
  const [filters, setFilters] = useState({});
  const [busy, setBusy] = useState(false);
  const base = () => {
    const q = [];
    if (filters.budget) q.push(`budget=${encodeURIComponent(filters.budget)}`);
    if (msOf(filters.since) !== null) q.push(`since=${msOf(filters.since)}`);
    if (msOf(filters.until) !== null) q.push(`until=${msOf(filters.until)}`);
    return `/v1/charges${q.length ? '?' + q.join('&') : ''}`;
  };
  const keep = (c) => (!filters.tool || c.tool.includes(filters.tool)) && (!filters.model || c.model.includes(filters.model))
    && (!filters.class || c.class === filters.class);
  const paged = usePaged(async (after) => {
    const url = base();
    const answer = await api('GET', `${url}${url.includes('?') ? '&' : '?'}after=${after}&limit=${PAGE}`);
    return { rows: answer.charges.filter(keep), next: answer.next, full: answer.charges.length === PAGE };
  }, [JSON.stringify(filters), tick]);
  const exportCsv = async () => {
    setBusy(true);
    try {
      const { rows } = await pageAll(base(), 'charges', 'after', { max: EXPORT_MAX });
      download('tollgate-charges.csv', toCsv(rows.filter(keep), CHARGE_COLUMNS));
    } finally { setBusy(false); }
  };
  return (
    <section class="page" aria-labelledby="charges-title">
      <h1 id="charges-title">Charges</h1>
      <Filters values={draft} onChange={setDraft} onApply={() => setFilters(draft)}
        fields={[['budget', 'Budget (subtree)'], ['tool', 'Tool'], ['model', 'Model'], ['class', 'Class'],
          ['since', 'From', 'datetime-local'], ['until', 'Until', 'datetime-local']]} />
      {paged.error && <p class="error" role="alert">{paged.error}</p>}
      <Pager page={paged.page} hasNext={paged.data.full} onFirst={paged.first} onPrev={paged.prev} onNext={paged.next} onExport={exportCsv} busy={busy} />
      <div class="scroll-x">
        <table class="data">
          <caption class="sr-only">Charges, oldest first</caption>
          <thead><tr>{['id', 'time', 'budget', 'hold', 'class', 'tool', 'model', 'tokens in/out', 'cost', 'held'].map((c) => <th scope="col">{c}</th>)}</tr></thead>
          <tbody>{paged.data.rows.map((c) => (
            <tr data-charge={c.id}><td>{c.id}</td><td>{when(c.time_ms)}</td><td>{c.budget}</td><td>{c.hold_id || ''}</td><td>{c.class}</td>
              <td>{c.tool}</td><td>{c.model}</td><td>{c.tokens_in}/{c.tokens_out}</td><td class="num">{money(c.cost_micros)}</td><td class="num">{money(c.held_micros)}</td></tr>))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

const EVENT_COLUMNS = ['id', 'kind', 'time_ms', 'budget', 'class', 'reason', 'hold_id', 'amount_micros', 'held_micros', 'spent_micros',
  'limit_micros', 'threshold_micros', 'count', 'tool', 'detail'];

export function Events({ tick }) {
  const [draft, setDraft] = useState({});
  const [filters, setFilters] = useState({});
  const [busy, setBusy] = useState(false);
  const keep = (e) => (!filters.budget || e.budget === filters.budget || e.budget.startsWith(filters.budget + '/'))
    && (!filters.kind || e.kind === filters.kind) && (!filters.class || e.class === filters.class)
    && (!filters.tool || (e.tool || '').includes(filters.tool))
    && (msOf(filters.since) === null || e.time_ms >= msOf(filters.since))
    && (msOf(filters.until) === null || e.time_ms < msOf(filters.until));
  const paged = usePaged(async (since) => {
    const answer = await api('GET', `/v1/events?since=${since}&limit=${PAGE}`);
    return { rows: answer.events.filter(keep), next: answer.next, full: answer.events.length === PAGE };
  }, [JSON.stringify(filters), tick]);
  const exportCsv = async () => {
    setBusy(true);
    try {
      const { rows } = await pageAll('/v1/events', 'events', 'since', { max: EXPORT_MAX });
      download('tollgate-events.csv', toCsv(rows.filter(keep), EVENT_COLUMNS));
    } finally { setBusy(false); }
  };
  return (
    <section class="page" aria-labelledby="events-title">
      <h1 id="events-title">Events</h1>
      <Filters values={draft} onChange={setDraft} onApply={() => setFilters(draft)}
        fields={[['budget', 'Budget (subtree)'], ['kind', 'Kind'], ['class', 'Class'], ['tool', 'Tool'],
          ['since', 'From', 'datetime-local'], ['until', 'Until', 'datetime-local']]} />
      {paged.error && <p class="error" role="alert">{paged.error}</p>}
      <Pager page={paged.page} hasNext={paged.data.full} onFirst={paged.first} onPrev={paged.prev} onNext={paged.next} onExport={exportCsv} busy={busy} />
      <div class="scroll-x">
        <table class="data">
          <caption class="sr-only">Events, oldest first</caption>
          <thead><tr>{['id', 'time', 'kind', 'budget', 'class', 'reason', 'amount', 'spent', 'limit', 'detail'].map((c) => <th scope="col">{c}</th>)}</tr></thead>
          <tbody>{paged.data.rows.map((e) => (
            <tr data-event={e.id}><td>{e.id}</td><td>{when(e.time_ms)}</td><td><span class={`kind ${e.kind}`}>{e.kind}</span></td><td>{e.budget}</td>
              <td>{e.class || ''}</td><td>{e.reason || ''}</td><td class="num">{money(e.amount_micros)}</td><td class="num">{money(e.spent_micros)}</td>
              <td class="num">{money(e.limit_micros)}</td><td>{e.detail || ''}</td></tr>))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
