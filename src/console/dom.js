// DOM helpers, formatting and masking for the admin console. Nothing here knows the API.
//
// Every piece of data is written with textContent (through `el`), never innerHTML; free text
// from the API goes through `masked` before it is shown.

// ---------------------------------------------------------------------------------------------
// DOM helpers

export const $ = (id) => document.getElementById(id);

/** Creates an element. `attrs`: class, text, title, testid, data-*, and any plain attribute. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = String(value);
    else if (key === 'testid') node.setAttribute('data-testid', value);
    else if (key === 'onclick') node.addEventListener('click', value);
    else if (key === 'hidden') node.hidden = true;
    else if (key === 'disabled') node.disabled = true;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const section = (name) => document.querySelector(`[data-testid="${name}-section"]`);
export const sectionError = (name) => document.querySelector(`[data-testid="${name}-error"]`);

const EMAIL_RE = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
/** Free text from the API, with anything that looks like an email masked. */
export const masked = (value) => String(value ?? '').replace(EMAIL_RE, '[email hidden]');

// ---------------------------------------------------------------------------------------------
// Formatting

const dateFmt = new Intl.DateTimeFormat(undefined, {
  day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
});

export function duration(secs) {
  if (secs === null || secs === undefined) return '—';
  const s = Math.max(0, Math.round(Number(secs)));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  return `${Math.floor(h / 24)} d`;
}

export function ms(value) {
  if (value === null || value === undefined) return '—';
  return value < 1000 ? `${value} ms` : `${(value / 1000).toFixed(value < 10_000 ? 1 : 0)} s`;
}

function ago(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return String(iso);
  const secs = (Date.now() - t) / 1000;
  if (Math.abs(secs) < 5) return 'just now';
  return secs < 0 ? `in ${duration(-secs)}` : `${duration(secs)} ago`;
}

/** A <time> showing a relative age, the exact date in its tooltip. */
export function when(iso, { relative = true } = {}) {
  if (!iso) return el('span', { class: 'muted', text: '—' });
  const t = new Date(iso);
  const exact = Number.isNaN(t.getTime()) ? String(iso) : dateFmt.format(t);
  return el('time', { datetime: iso, title: `${exact} (${iso})`, text: relative ? ago(iso) : exact });
}

const STATUS_TONE = {
  active: 'ok', disabled: 'neutral', processed: 'ok', pending: 'info', dead: 'bad', ignored: 'neutral',
  unknown_account: 'warn', queued: 'info', running: 'info', succeeded: 'ok', failed: 'bad',
  interrupted: 'warn', skipped: 'neutral', connected: 'neutral', platform: 'info',
};

export function badge(text, tone, testid) {
  return el('span', { class: `badge ${tone ?? STATUS_TONE[text] ?? 'neutral'}`, text, testid });
}

export const mono = (text, title) => el('span', { class: 'mono', text, title: title ?? text });

export function shortHash(hash) {
  if (!hash) return el('span', { class: 'muted', text: '—' });
  return el('span', { class: 'mono', text: `${hash.slice(0, 10)}…`, title: hash });
}

function plain(value) {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && value.every((x) => typeof x !== 'object' || x === null)) return value.join(', ');
  return JSON.stringify(value);
}

/** key: value lines of a small object (ids, detail fields). */
export function pairs(obj) {
  const entries = Object.entries(obj ?? {});
  if (!entries.length) return el('span', { class: 'muted', text: '—' });
  return el('dl', { class: 'pairs' }, entries.flatMap(([k, v]) => [
    el('dt', { text: k }),
    el('dd', { class: 'mono', text: masked(plain(v)) }),
  ]));
}
