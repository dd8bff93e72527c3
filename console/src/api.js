// The console's only door to the daemon: the JSON API with the key of this tab's session
// (sessionStorage: gone when the tab closes), money as integer micros, CSV, and the live
// feed (server-sent events read through fetch, since EventSource cannot send the
// Authorization header; charges and holds are not events, so they are polled by id).

const KEY_ITEM = 'tollgate.key';

export const session = {
  get key() { return sessionStorage.getItem(KEY_ITEM) || ''; },
  set key(value) {
    if (value) sessionStorage.setItem(KEY_ITEM, value);
    else sessionStorage.removeItem(KEY_ITEM);
  },
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// One call; resolves to the parsed JSON body, or throws ApiError with the daemon's
// code and message (a 402 refusal is an answer, not an error).
export async function api(method, url, body, key = session.key) {
  const headers = { Authorization: `Bearer ${key}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, 'network', `the daemon cannot be reached (${e.message})`);
  }
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (res.status === 200 || res.status === 402) return json;
  const error = (json && json.error) || {};
  throw new ApiError(res.status, error.code || 'http_' + res.status, error.message || text || res.statusText);
}

export const enc = (path) => path.split('/').map(encodeURIComponent).join('/');

// Every budget the key may see. GET /v1/budgets answers them all today; when it pages
// (`limit` up to 1000, `next` = the `after` of the next page), the pages are followed. A
// daemon that ignores `after` answers the same `next` again, which ends the loop.
export async function listBudgets() {
  const all = [];
  let after = null;
  for (let page = 0; page < 10000; page++) {
    const query = after === null ? '?limit=1000' : `?limit=1000&after=${encodeURIComponent(after)}`;
    const answer = await api('GET', `/v1/budgets${query}`);
    all.push(...(answer.budgets || []));
    if (answer.next === undefined || answer.next === null || answer.next === '' || answer.next === after) break;
    if (!answer.budgets || answer.budgets.length === 0) break;
    after = answer.next;
  }
  return all;
}

// Pages a list endpoint (charges: `after`; events: `since`) until `stop` or `max` rows.
export async function pageAll(url, field, cursorName, { max = 5000, start = 0 } = {}) {
  const rows = [];
  let cursor = start;
  while (rows.length < max) {
    const sep = url.includes('?') ? '&' : '?';
    const answer = await api('GET', `${url}${sep}${cursorName}=${cursor}&limit=1000`);
    const got = answer[field] || [];
    rows.push(...got);
    const done = got.length < 1000 || answer.next === cursor;
    if (answer.next !== undefined && answer.next !== null) cursor = answer.next;
    if (done) break;
  }
  return { rows, next: cursor };
}

// ---- money: integer micros, never floating point ----

export function money(micros, places = 2) {
  if (micros === null || micros === undefined) return '—';
  const negative = micros < 0;
  const abs = Math.abs(micros);
  const whole = Math.floor(abs / 1000000);
  let frac = String(abs % 1000000).padStart(6, '0');
  while (frac.length > places && frac.endsWith('0')) frac = frac.slice(0, -1);
  return `${negative ? '-' : ''}${whole.toLocaleString('en-US')}.${frac}`;
}

// "12.50" → 12500000; null when the text is not a plain decimal amount. At most 9 whole
// digits: micros stay below 2^53, where a JavaScript number is still an exact integer.
export function parseMoney(text) {
  const m = /^\s*(\d{1,9})(?:\.(\d{1,6}))?\s*$/.exec(text || '');
  if (!m) return null;
  return Number(m[1]) * 1000000 + Number((m[2] || '').padEnd(6, '0'));
}

export function count(n) {
  return n === null || n === undefined ? '—' : Number(n).toLocaleString('en-US');
}

export function when(ms) {
  if (ms === null || ms === undefined) return '—';
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function duration(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms <= 0) return 'now';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

// ---- a budget's state, as the CLI names it ----

export function revokedClasses(b) {
  return Object.entries(b.classes || {}).filter(([, c]) => c.revoked).map(([name]) => name);
}

export function budgetState(b) {
  if (b.frozen) return 'frozen';
  if (b.locked) return 'locked';
  if (revokedClasses(b).length) return 'revoked';
  return 'open';
}

// ---- CSV (RFC 4180): quoted when needed, formulas defused ----

function cell(value) {
  let text = value === null || value === undefined ? '' : String(value);
  if (/^[=+\-@\t\r]/.test(text) && !/^-?\d/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsv(rows, columns) {
  const lines = [columns.join(',')];
  for (const row of rows) lines.push(columns.map((c) => cell(row[c])).join(','));
  return lines.join('\r\n') + '\r\n';
}

export function download(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/csv;charset=utf-8' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
