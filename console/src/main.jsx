// The Tollgate console: sign-in with an API key (this tab's session only), then budgets,
// one budget, charges and events, updated live. What a key sees and may do is what the
// daemon lets it: an agent or read key sees its subtree read-only; an admin key acts.
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import 'uplot/dist/uPlot.min.css';
import './app.css';
import { api, enc, listBudgets, money, session } from './api.js';
import { startLive } from './live.js';
import { Budgets } from './budgets.jsx';
import { Budget } from './budget.jsx';
import { Charges, Events } from './tables.jsx';

const FEED_MS = 8000;

function useHash() {
  const [hash, setHash] = useState(location.hash || '#/budgets');
  useEffect(() => {
    const on = () => setHash(location.hash || '#/budgets');
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function SignIn({ onSignedIn, error }) {
  const [key, setKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState(error);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    const who = await identify(key.trim());
    setBusy(false);
    if (who.error) setMessage(who.error);
    else { session.key = key.trim(); onSignedIn(who); }
  };
  return (
    <main class="signin">
      <form onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">Tollgate</h1>
        <p class="muted">Sign in with an API key. It is kept for this tab only.</p>
        <label for="key">API key</label>
        <input id="key" name="key" type="password" autoComplete="off" required value={key}
          onInput={(e) => setKey(e.currentTarget.value)} />
        <button type="submit" class="primary" disabled={busy}>{busy ? 'Checking…' : 'Sign in'}</button>
        {message && <p class="error" role="alert">{message}</p>}
      </form>
    </main>
  );
}

// Who a key is: may it read (one event: any agent, read or admin key), and may it list
// keys (admins only)?
async function identify(key) {
  try {
    await api('GET', '/v1/events?since=0&limit=1', undefined, key);
  } catch (e) {
    return { error: e.status === 401 ? 'That key is not known to this daemon.' : `Refused: ${e.message}` };
  }
  try {
    await api('GET', '/v1/keys', undefined, key);
    return { admin: true };
  } catch (e) {
    return { admin: false };
  }
}

function ancestors(path) {
  const parts = path.split('/');
  return parts.map((_, i) => parts.slice(0, i + 1).join('/'));
}

function Shell({ who, onSignOut }) {
  const hash = useHash();
  const [budgets, setBudgets] = useState(new Map());
  const [error, setError] = useState(null);
  const [live, setLive] = useState('connecting…');
  const [now, setNow] = useState(Date.now());
  const [tick, setTick] = useState(0);
  const [feed, setFeed] = useState([]);
  const dirty = useRef(new Set());
  const timer = useRef(null);

  const route = hash.replace(/^#\/?/, '');
  const current = route.startsWith('budget/') ? route.slice(7).split('/').map(decodeURIComponent).join('/') : null;
  const currentRef = useRef(current);
  currentRef.current = current;

  useEffect(() => {
    listBudgets().then((list) => setBudgets(new Map(list.map((b) => [b.path, b]))), (e) => setError(`${e.status} ${e.code}: ${e.message}`));
    const clock = setInterval(() => setNow(Date.now()), 1000);
    // Budgets touched by live news are read again, at most every 150 ms, path and ancestors.
    const touch = (path) => {
      for (const p of ancestors(path)) dirty.current.add(p);
      if (currentRef.current && (path === currentRef.current || path.startsWith(currentRef.current + '/'))) setTick((t) => t + 1);
      if (timer.current) return;
      timer.current = setTimeout(async () => {
        timer.current = null;
        const paths = [...dirty.current];
        dirty.current.clear();
        const fresh = await Promise.all(paths.map((p) => api('GET', `/v1/budgets/${enc(p)}`).catch(() => null)));
        setBudgets((old) => {
          const next = new Map(old);
          fresh.forEach((b) => { if (b) next.set(b.path, b); });
          return next;
        });
      }, 150);
    };
    // The feed shows the latest news for a few seconds, then clears so it hides nothing.
    const news = (items) => {
      setFeed((old) => [...items, ...old].slice(0, 8));
      const keys = new Set(items.map((i) => i.key));
      setTimeout(() => setFeed((old) => old.filter((f) => !keys.has(f.key))), FEED_MS);
    };
    const stop = startLive({
      onEvent: (e) => { touch(e.budget); news([{ key: `e${e.id}`, text: `${e.kind} · ${e.budget}${e.class ? ' · ' + e.class : ''}`, kind: e.kind }]); },
      onCharges: (rows) => { rows.forEach((c) => touch(c.budget)); news(rows.map((c) => ({ key: `c${c.id}`, text: `charge ${c.id} · ${c.budget} · ${money(c.cost_micros)}`, kind: 'charge' }))); },
      onHolds: (rows) => { rows.forEach((h) => touch(h.budget)); news(rows.map((h) => ({ key: `h${h.id}`, text: `hold ${h.id} · ${h.budget}`, kind: 'hold' }))); },
      onStatus: setLive,
    });
    return () => { clearInterval(clock); stop(); };
  }, []);

  const onChanged = (b) => setBudgets((old) => { const next = new Map(old); next.set(b.path, b); return next; });
  let page;
  if (current !== null) page = <Budget key={current} path={current} budgets={budgets} admin={who.admin} now={now} tick={tick} onChanged={onChanged} />;
  else if (route === 'charges') page = <Charges tick={0} />;
  else if (route === 'events') page = <Events tick={0} />;
  else page = <Budgets budgets={budgets} now={now} error={error} />;
  const tab = (name, label) => <a href={`#/${name}`} aria-current={route.startsWith(name) ? 'page' : undefined}>{label}</a>;

  return (
    <div class="shell">
      <a class="skip" href="#main">Skip to content</a>
      <header>
        <span class="brand">Tollgate</span>
        <nav aria-label="main">{tab('budgets', 'Budgets')}{tab('charges', 'Charges')}{tab('events', 'Events')}</nav>
        <span class={`live ${live === 'live' ? 'on' : ''}`} role="status" aria-label={`live updates: ${live}`}>● {live}</span>
        <span class="role" data-role={who.admin ? 'admin' : 'read-only'}>{who.admin ? 'admin' : 'read-only'}</span>
        <button type="button" onClick={onSignOut}>Sign out</button>
      </header>
      <main id="main" tabIndex={-1}>{page}</main>
      <aside class="feed" aria-label="live feed" aria-live="polite">
        {feed.map((f) => <div key={f.key} class={`feed-item ${f.kind}`}>{f.text}</div>)}
      </aside>
    </div>
  );
}

function App() {
  const [who, setWho] = useState(null);
  const [checking, setChecking] = useState(!!session.key);
  const [error, setError] = useState(null);
  useEffect(() => {
    if (!session.key) return;
    identify(session.key).then((w) => {
      if (w.error) { session.key = ''; setError(w.error); } else setWho(w);
      setChecking(false);
    });
  }, []);
  if (checking) return <p aria-busy="true">Checking the key…</p>;
  if (!who) return <SignIn onSignedIn={setWho} error={error} />;
  return <Shell who={who} onSignOut={() => { session.key = ''; setWho(null); location.hash = ''; }} />;
}

render(<App />, document.getElementById('app'));
