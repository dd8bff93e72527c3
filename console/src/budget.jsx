// One budget: its bar and numbers, spend over the window (with the forecast), previous
// windows, open holds, latest charges and events, children; and for an admin key, the
// actions (limit, revocation threshold, freeze/unfreeze, release a hold), each confirmed.
import { useEffect, useState } from 'preact/hooks';
import { SpendBar } from './bar.jsx';
import { StateBadges } from './badges.jsx';
import { SpendChart, spendSeries } from './chart.jsx';
import { windowText } from './budgets.jsx';
import { confirmAction } from './confirm.jsx';
import { api, count, enc, money, parseMoney, when, pageAll } from './api.js';

const LATEST = 20;
const EVENTS_KEPT = 5000;

// The events API pages oldest first and has no budget filter: the latest events are kept
// here, read forward from where the last read ended, so a page load reads only what is new.
// Reads are chained, so two page loads at once never read (and keep) the same events twice.
const eventsSeen = { next: 0, rows: [], reading: Promise.resolve() };
function latestEvents() {
  const read = eventsSeen.reading.catch(() => {}).then(async () => {
    const { rows, next } = await pageAll('/v1/events', 'events', 'since', { max: 100000, start: eventsSeen.next });
    eventsSeen.rows = eventsSeen.rows.concat(rows).slice(-EVENTS_KEPT);
    eventsSeen.next = next;
    return eventsSeen.rows;
  });
  eventsSeen.reading = read;
  return read;
}

function Table({ caption, columns, rows, empty, render }) {
  return (
    <table>
      <caption>{caption}</caption>
      <thead><tr>{columns.map((c) => <th scope="col">{c}</th>)}</tr></thead>
      <tbody>
        {rows.length === 0 ? <tr><td colSpan={columns.length} class="muted">{empty}</td></tr> : rows.map(render)}
      </tbody>
    </table>
  );
}

function Actions({ b, onDone }) {
  const [limit, setLimit] = useState('');
  const [threshold, setThreshold] = useState('');
  const [message, setMessage] = useState(null);
  const run = async (title, detail, method, url, body) => {
    if (!(await confirmAction(title, detail))) return;
    try {
      await api(method, url, body);
      setMessage({ ok: true, text: `${title}: done` });
      onDone();
    } catch (e) {
      setMessage({ ok: false, text: `${title}: refused (${e.status} ${e.code}): ${e.message}` });
    }
  };
  const url = `/v1/budgets/${enc(b.path)}`;
  const setLimitAction = (e) => {
    e.preventDefault();
    const micros = parseMoney(limit);
    if (micros === null) { setMessage({ ok: false, text: 'a limit is a decimal amount such as 60.00' }); return; }
    run('Change the limit', `Set the cost limit of ${b.path} from ${money(b.limit_micros)} to ${money(micros)}?`,
      'PATCH', url, { limit_micros: micros });
  };
  const setThresholdAction = (e) => {
    e.preventDefault();
    const text = threshold.trim();
    const pct = /^(\d{1,3}(?:\.\d{1,4})?)\s*%$/.exec(text);
    let body;
    if (pct) {
      const [whole, frac = ''] = pct[1].split('.');
      const ppm = Number(whole) * 10000 + Number(frac.padEnd(4, '0'));
      if (ppm > 1000000) { setMessage({ ok: false, text: 'a percentage is at most 100%' }); return; }
      body = { revoke_at_ppm: ppm };
    } else if (parseMoney(text) !== null) {
      body = { revoke_at_micros: parseMoney(text) };
    } else {
      setMessage({ ok: false, text: 'a threshold is a percentage of the limit (90%) or an amount (45.00)' });
      return;
    }
    run('Change the revocation threshold', `Revoke low-impact work on ${b.path} at ${text} instead of ${money(b.threshold_micros)}?`,
      'PATCH', url, body);
  };
  return (
    <section class="card actions-card" aria-labelledby="actions-title">
      <h2 id="actions-title">Actions</h2>
      <form onSubmit={setLimitAction}>
        <label for="new-limit">Cost limit</label>
        <input id="new-limit" name="limit" inputMode="decimal" placeholder={money(b.limit_micros)} value={limit}
          onInput={(e) => setLimit(e.currentTarget.value)} />
        <button type="submit">Set limit</button>
      </form>
      <form onSubmit={setThresholdAction}>
        <label for="new-threshold">Revocation threshold</label>
        <input id="new-threshold" name="threshold" placeholder="90% or 45.00" value={threshold}
          onInput={(e) => setThreshold(e.currentTarget.value)} />
        <button type="submit">Set threshold</button>
      </form>
      <div class="buttons">
        {b.frozen
          ? <button type="button" onClick={() => run('Unfreeze', `Lift the freeze on ${b.path}?`, 'POST', `${url}/unfreeze`)}>Unfreeze (lift)</button>
          : <button type="button" onClick={() => run('Freeze', `Freeze ${b.path}? Every class is refused until it is unfrozen.`, 'POST', `${url}/freeze`)}>Freeze</button>}
      </div>
      {message && <p class={message.ok ? 'ok' : 'error'} role="status">{message.text}</p>}
    </section>
  );
}

export function Budget({ path, budgets, admin, now, tick, onChanged }) {
  const [b, setB] = useState(budgets.get(path) || null);
  const [error, setError] = useState(null);
  const [history, setHistory] = useState([]);
  const [holds, setHolds] = useState([]);
  const [charges, setCharges] = useState([]);
  const [events, setEvents] = useState([]);
  const [holdMessage, setHoldMessage] = useState(null);

  const load = async () => {
    try {
      const fresh = await api('GET', `/v1/budgets/${enc(path)}`);
      setB(fresh);
      setError(null);
      onChanged(fresh);
      const since = fresh.window_start_ms !== null ? fresh.window_start_ms : 0;
      const [h, hs, cs, es] = await Promise.allSettled([
        api('GET', `/v1/budgets/${enc(path)}/history`),
        api('GET', `/v1/holds?budget=${encodeURIComponent(path)}&limit=1000`),
        pageAll(`/v1/charges?budget=${encodeURIComponent(path)}&since=${since}`, 'charges', 'after', { max: 20000 }),
        latestEvents(),
      ]);
      setHistory(h.status === 'fulfilled' ? h.value.windows : []);
      setHolds(hs.status === 'fulfilled' ? hs.value.holds : []);
      setCharges(cs.status === 'fulfilled' ? cs.value.rows : []);
      const inTree = (e) => e.budget === path || e.budget.startsWith(path + '/') || path.startsWith(e.budget + '/');
      setEvents(es.status === 'fulfilled' ? es.value.filter(inTree).slice(-LATEST).reverse() : []);
    } catch (e) {
      setError(`${e.status} ${e.code}: ${e.message}`);
    }
  };
  useEffect(() => { load(); }, [path, tick]);

  if (error) {
    return <section class="page"><h1>{path}</h1><p class="error" role="alert">Refused: {error}</p><a href="#/budgets">Back to budgets</a></section>;
  }
  if (!b) return <section class="page"><h1>{path}</h1><p aria-busy="true">Loading…</p></section>;

  const { forecast, end } = spendSeries(b, charges, now);
  const children = [...budgets.values()].filter((c) => c.path.startsWith(path + '/') && !c.path.slice(path.length + 1).includes('/'));
  const release = async (hold) => {
    if (!(await confirmAction('Release the hold', `Release hold ${hold.id} of ${money(hold.amount_micros)} on ${hold.budget}? Its work will not be charged.`))) return;
    try {
      await api('POST', `/v1/holds/${hold.id}/release`, {});
      setHoldMessage({ ok: true, text: `hold ${hold.id} released` });
      load();
    } catch (e) {
      setHoldMessage({ ok: false, text: `release refused (${e.status} ${e.code}): ${e.message}` });
    }
  };

  return (
    <section class="page budget" aria-labelledby="budget-title">
      <nav class="crumbs" aria-label="breadcrumb"><a href="#/budgets">Budgets</a>
        {path.split('/').map((seg, i, all) => <span> / <a href={`#/budget/${enc(all.slice(0, i + 1).join('/'))}`}>{seg}</a></span>)}
      </nav>
      <h1 id="budget-title">{path} <StateBadges b={b} /></h1>
      <SpendBar b={b} />
      <dl class="facts">
        <div><dt>spent</dt><dd data-field="spent">{money(b.spent_micros)}</dd></div>
        <div><dt>held</dt><dd>{money(b.held_micros)}</dd></div>
        <div><dt>threshold</dt><dd>{money(b.threshold_micros)}</dd></div>
        <div><dt>limit</dt><dd data-field="limit">{money(b.limit_micros)}</dd></div>
        <div><dt>forecast at window end</dt><dd>{b.window_end_ms !== null ? money(forecast) : '—'}</dd></div>
        <div><dt>window</dt><dd>{windowText(b, now)}{b.window_end_ms !== null && <span class="muted"> (ends {when(end)})</span>}</dd></div>
        {b.calls_limit !== null && <div><dt>calls</dt><dd>{count(b.calls_used)} / {count(b.calls_limit)}</dd></div>}
        {b.tokens_limit !== null && <div><dt>tokens</dt><dd>{count(b.tokens_used)} / {count(b.tokens_limit)}</dd></div>}
      </dl>
      <div class="grid">
        <section class="card wide" aria-labelledby="chart-title">
          <h2 id="chart-title">Spend this window</h2>
          <SpendChart b={b} charges={charges} now={now} />
        </section>
        {admin && <Actions b={b} onDone={load} />}
        <section class="card">
          <Table caption="Open holds" columns={admin ? ['id', 'budget', 'amount', 'class', 'tool', 'expires', ''] : ['id', 'budget', 'amount', 'class', 'tool', 'expires']}
            rows={holds} empty="no open holds"
            render={(h) => <tr><td>{h.id}</td><td>{h.budget}</td><td>{money(h.amount_micros)}</td><td>{h.class}{h.cancel_requested ? ' (cancel)' : ''}</td><td>{h.tool || h.model}</td><td>{when(h.expires_at_ms)}</td>
              {admin && <td><button type="button" onClick={() => release(h)} aria-label={`release hold ${h.id}`}>Release</button></td>}</tr>} />
          {holdMessage && <p class={holdMessage.ok ? 'ok' : 'error'} role="status">{holdMessage.text}</p>}
        </section>
        <section class="card">
          <Table caption="Previous windows" columns={['from', 'to', 'spent', 'calls']} rows={history.slice(0, LATEST)} empty="no closed window yet"
            render={(w) => <tr><td>{when(w.window_start_ms)}</td><td>{when(w.window_end_ms)}</td><td>{money(w.spent_micros)}</td><td>{count(w.calls_used)}</td></tr>} />
        </section>
        <section class="card">
          <Table caption="Latest charges" columns={['time', 'budget', 'cost', 'class', 'tool / model']} rows={charges.slice(-LATEST).reverse()} empty="no charge this window"
            render={(c) => <tr><td>{when(c.time_ms)}</td><td>{c.budget}</td><td>{money(c.cost_micros)}</td><td>{c.class}</td><td>{c.tool || c.model}</td></tr>} />
        </section>
        <section class="card">
          <Table caption="Latest events" columns={['time', 'kind', 'budget', 'class', 'detail']} rows={events} empty="no events"
            render={(e) => <tr><td>{when(e.time_ms)}</td><td><span class={`kind ${e.kind}`}>{e.kind}</span></td><td>{e.budget}</td><td>{e.class || ''}</td><td>{e.reason || e.detail || ''}</td></tr>} />
        </section>
        <section class="card">
          <Table caption="Children" columns={['budget', 'spent / limit', 'state']} rows={children} empty="no children"
            render={(c) => <tr><td><a href={`#/budget/${enc(c.path)}`}>{c.path}</a></td><td>{money(c.spent_micros)} / {money(c.limit_micros)}</td><td><StateBadges b={c} /></td></tr>} />
        </section>
      </div>
    </section>
  );
}
