// Admin console of the billing gateway: plain DOM, no framework, no build step.
//
// Rules this file keeps:
// - The admin token lives in `state.token` only (never localStorage, sessionStorage or cookies).
// - Every piece of data is written with textContent (through `el`), never innerHTML.
// - Emails are only shown when the admin typed them (the audit search); free text from the API
//   (errors, details, concerns) has any email-looking string masked.

const PAGE = 50;
const DEAD_PAGE = 20;
const DETAIL_CONCURRENCY = 4;
const REPLAY_WATCH_MS = 120_000;

const state = {
  token: null,
  // Bumped when the token changes: answers to requests of an older generation are dropped.
  gen: 0,
  organizers: new Map(),
  orgOrder: [],
  selectedOrg: null,
  cursors: { organizers: null, dead: null, health: null, runs: null, audit: null },
  auditQuery: {},
  replayed: new Map(),
};

// ---------------------------------------------------------------------------------------------
// DOM helpers

const $ = (id) => document.getElementById(id);

/** Creates an element. `attrs`: class, text, title, testid, data-*, and any plain attribute. */
function el(tag, attrs = {}, ...children) {
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

const section = (name) => document.querySelector(`[data-testid="${name}-section"]`);
const sectionError = (name) => document.querySelector(`[data-testid="${name}-error"]`);

const EMAIL_RE = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
/** Free text from the API, with anything that looks like an email masked. */
const masked = (value) => String(value ?? '').replace(EMAIL_RE, '[email hidden]');

// ---------------------------------------------------------------------------------------------
// Formatting

const dateFmt = new Intl.DateTimeFormat(undefined, {
  day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
});

function duration(secs) {
  if (secs === null || secs === undefined) return '—';
  const s = Math.max(0, Math.round(Number(secs)));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  return `${Math.floor(h / 24)} d`;
}

function ms(value) {
  if (value === null || value === undefined) return '—';
  return value < 1000 ? `${value} ms` : `${(value / 1000).toFixed(value < 10_000 ? 1 : 0)} s`;
}

function ago(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return String(iso);
  const secs = (Date.now() - t) / 1000;
  if (secs < 5) return 'just now';
  return secs < 0 ? `in ${duration(-secs)}` : `${duration(secs)} ago`;
}

/** A <time> showing a relative age, the exact date in its tooltip. */
function when(iso, { relative = true } = {}) {
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

function badge(text, tone, testid) {
  return el('span', { class: `badge ${tone ?? STATUS_TONE[text] ?? 'neutral'}`, text, testid });
}

const mono = (text, title) => el('span', { class: 'mono', text, title: title ?? text });

function shortHash(hash) {
  if (!hash) return el('span', { class: 'muted', text: '—' });
  return el('span', { class: 'mono', text: `${hash.slice(0, 10)}…`, title: hash });
}

function plain(value) {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && value.every((x) => typeof x !== 'object' || x === null)) return value.join(', ');
  return JSON.stringify(value);
}

/** key: value lines of a small object (ids, detail fields). */
function pairs(obj) {
  const entries = Object.entries(obj ?? {});
  if (!entries.length) return el('span', { class: 'muted', text: '—' });
  return el('dl', { class: 'pairs' }, entries.flatMap(([k, v]) => [
    el('dt', { text: k }),
    el('dd', { class: 'mono', text: masked(plain(v)) }),
  ]));
}

// ---------------------------------------------------------------------------------------------
// API

class ApiError extends Error {
  constructor(status, code, message, requestId, fields = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
    this.fields = Array.isArray(fields) ? fields : [];
  }
}

function uuid() {
  // crypto.randomUUID needs a secure context; the console may be served over plain http.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

async function api(method, path, query = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(key, String(value));
  }
  const headers = { Accept: 'application/json', Authorization: `Bearer ${state.token}` };
  if (method !== 'GET') headers['Idempotency-Key'] = uuid();
  let response;
  try {
    response = await fetch(url, { method, headers, cache: 'no-store', credentials: 'omit' });
  } catch (err) {
    throw new ApiError(0, 'network_error', `The gateway could not be reached (${err.message}).`, null);
  }
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    const detail = body && typeof body === 'object' ? body.error : null;
    throw new ApiError(
      response.status,
      detail?.code ?? `http_${response.status}`,
      detail?.message ?? (text.trim().slice(0, 300) || response.statusText || 'Request failed'),
      detail?.request_id ?? response.headers.get('x-request-id'),
      detail?.fields,
    );
  }
  return body;
}

function errorNode(err) {
  if (!(err instanceof ApiError)) {
    return el('div', { class: 'error-text' }, el('strong', { text: 'Something went wrong: ' }), String(err?.message ?? err));
  }
  return el('div', { class: 'error-text' },
    el('strong', { text: err.status ? `${err.status} ${err.code}` : err.code }),
    el('span', { text: ` — ${masked(err.message)}` }),
    err.requestId ? el('span', { class: 'request-id' }, ' · request ', mono(err.requestId)) : null,
    err.fields.length
      ? el('ul', { class: 'field-errors' }, err.fields.map((f) => el('li', {},
        el('span', { class: 'mono', text: String(f.field ?? '') }), `: ${masked(f.message ?? '')}`)))
      : null);
}

function showError(target, err) {
  target.replaceChildren(errorNode(err));
  target.hidden = false;
  if (err instanceof ApiError && err.status === 401) {
    showGlobalError(err, 'The gateway no longer accepts this token. Paste a fresh one.');
  }
}

function clearError(target) {
  target.hidden = true;
  target.replaceChildren();
}

function showGlobalError(err, lead) {
  const banner = $('global-error');
  banner.replaceChildren(lead ? el('p', { text: lead }) : '', errorNode(err));
  banner.hidden = false;
}

const loadSeq = {};

/**
 * Runs a section's load, with its busy state and its error box. `work` gets `current()`, false
 * once the token changed or a newer load of the same section started: its answer is dropped.
 */
async function load(name, work) {
  const gen = state.gen;
  const seq = (loadSeq[name] ?? 0) + 1;
  loadSeq[name] = seq;
  const current = () => gen === state.gen && loadSeq[name] === seq;
  const box = sectionError(name);
  const sec = section(name);
  sec?.setAttribute('aria-busy', 'true');
  try {
    await work(current);
    if (current()) clearError(box);
  } catch (err) {
    if (current()) showError(box, err);
  } finally {
    if (current()) sec?.removeAttribute('aria-busy');
  }
}

// ---------------------------------------------------------------------------------------------
// Session

function decodeClaims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part.padEnd(Math.ceil(part.length / 4) * 4, '=')));
  } catch {
    return null;
  }
}

async function connect(event) {
  event.preventDefault();
  const input = $('token-input');
  const token = input.value.trim().replace(/^Bearer\s+/i, '');
  if (!token) return;
  const submit = document.querySelector('[data-testid="token-submit"]');
  submit.disabled = true;
  $('global-error').hidden = true;
  state.token = token;
  state.gen += 1;
  try {
    // One cheap admin-only call tells whether the token is good before the page fills in.
    await api('GET', '/v1/organizers', { limit: 1 });
  } catch (err) {
    state.token = null;
    state.gen += 1;
    showGlobalError(err, 'The gateway did not accept this token.');
    submit.disabled = false;
    return;
  }
  input.value = '';
  submit.disabled = false;
  const claims = decodeClaims(token);
  const label = ['Connected'];
  if (claims?.role) label.push(`as ${claims.role}`);
  if (claims?.sub) label.push(`(${claims.sub})`);
  if (claims?.exp) {
    const left = claims.exp - Date.now() / 1000;
    label.push(left > 0 ? `· token expires in ${duration(left)}` : `· token expired ${duration(-left)} ago`);
  }
  $('session-label').textContent = label.join(' ');
  $('token-form').hidden = true;
  $('session').hidden = false;
  $('intro').hidden = true;
  $('console').hidden = false;
  refreshAll();
}

function disconnect() {
  state.token = null;
  state.gen += 1;
  state.organizers.clear();
  state.orgOrder = [];
  state.selectedOrg = null;
  state.replayed.clear();
  for (const id of ['organizers-body', 'dead-list', 'health-body', 'runs-body', 'audit-body', 'replayed-list']) {
    $(id).replaceChildren();
  }
  $('replayed-wrap').hidden = true;
  $('console').hidden = true;
  $('intro').hidden = false;
  $('session').hidden = true;
  $('token-form').hidden = false;
  $('global-error').hidden = true;
  $('token-input').focus();
}

function refreshAll() {
  $('global-error').hidden = true;
  loadOrganizers(true).then(() => loadHealth(true));
  loadDead(true);
  loadAudit(true);
  if (state.selectedOrg) loadRuns(true);
}

// ---------------------------------------------------------------------------------------------
// Organizers

function orgLabel(id) {
  const org = state.organizers.get(id);
  return org ? org.name : id;
}

function organizerRow(org) {
  const selected = org.id === state.selectedOrg;
  const status = el('div', { class: 'badges' },
    badge(org.status, undefined, 'organizer-status'),
    org.disconnected_at ? badge('disconnected', 'warn') : null);
  return el('tr', {
    testid: 'organizer-row', 'data-org-id': org.id, class: selected ? 'selected' : '',
    'aria-selected': selected ? 'true' : 'false',
  },
  el('td', {},
    el('button', { type: 'button', class: 'link', text: org.name, testid: 'organizer-name', onclick: () => selectOrg(org.id) }),
    el('div', { class: 'sub mono', text: org.id })),
  el('td', {}, mono(org.stripe_account_id),
    org.account_kind === 'platform' ? el('div', { class: 'sub' }, badge('platform')) : null,
    org.application_fee_bps !== null && org.application_fee_bps !== undefined
      ? el('div', { class: 'sub muted', text: `fee ${(org.application_fee_bps / 100).toFixed(2)} %` }) : null),
  el('td', {}, status),
  el('td', {}, when(org.created_at)));
}

function renderOrganizers() {
  const body = $('organizers-body');
  body.replaceChildren(...state.orgOrder.map((id) => organizerRow(state.organizers.get(id))));
  $('organizers-empty').hidden = state.orgOrder.length > 0;
  $('organizers-more').hidden = !state.cursors.organizers;
  const n = state.orgOrder.length;
  $('organizers-count').textContent = `${n}${state.cursors.organizers ? '+' : ''} shown`;
  renderAuditOrgOptions();
}

function loadOrganizers(reset) {
  return load('organizers', async (current) => {
    const page = await api('GET', '/v1/organizers', { limit: PAGE, cursor: reset ? null : state.cursors.organizers });
    if (!current()) return;
    if (reset) {
      state.organizers.clear();
      state.orgOrder = [];
    }
    for (const org of page.data) {
      if (!state.organizers.has(org.id)) state.orgOrder.push(org.id);
      state.organizers.set(org.id, org);
    }
    state.cursors.organizers = page.next_cursor ?? null;
    renderOrganizers();
  });
}

function selectOrg(id) {
  state.selectedOrg = id;
  for (const row of document.querySelectorAll('[data-testid="organizer-row"], [data-testid="sync-health-row"]')) {
    const on = row.getAttribute('data-org-id') === id;
    row.classList.toggle('selected', on);
    if (row.hasAttribute('aria-selected')) row.setAttribute('aria-selected', on ? 'true' : 'false');
  }
  const org = state.organizers.get(id);
  $('runs-for').textContent = `· ${org ? org.name : id}`;
  $('runs-refresh').disabled = false;
  // The audit log follows the selection.
  renderAuditOrgOptions();
  $('audit-org').value = id;
  loadRuns(true);
  loadAudit(true);
}

// ---------------------------------------------------------------------------------------------
// Dead letters and replays

function attemptList(detail) {
  const attempts = detail.attempts_log ?? [];
  if (!attempts.length) return el('p', { class: 'muted', text: 'No attempts recorded.' });
  return el('ol', { class: 'attempts', testid: 'attempt-list' }, attempts.map((a, i) => {
    const took = Date.parse(a.finished_at) - Date.parse(a.started_at);
    return el('li', { testid: 'attempt' },
      el('span', { class: 'attempt-no', text: `#${i + 1}` }),
      when(a.started_at, { relative: false }),
      el('span', { class: 'muted', text: Number.isNaN(took) ? '' : ` · ${ms(took)}` }),
      a.error
        ? el('div', { class: 'attempt-error', testid: 'attempt-error', text: masked(a.error) })
        : el('div', { class: 'attempt-ok', text: 'succeeded' }));
  }));
}

function fillDeadDetail(row, detail) {
  const slot = row.querySelector('.event-detail');
  const lastError = detail.last_error ?? [...(detail.attempts_log ?? [])].reverse().find((a) => a.error)?.error;
  const n = (detail.attempts_log ?? []).length;
  slot.replaceChildren(
    lastError ? el('div', { class: 'last-error', testid: 'last-error' },
      el('span', { class: 'label', text: 'Last error' }), el('span', { text: masked(lastError) })) : null,
    el('details', { class: 'attempts-wrap' },
      el('summary', { text: `${n} attempt${n === 1 ? '' : 's'} in all` }),
      attemptList(detail)));
}

function deadRow(ev) {
  const replay = el('button', {
    type: 'button', class: 'primary small', text: 'Replay', testid: 'replay-button',
    title: 'Process this event again now, with a fresh attempt budget',
  });
  const rowError = el('div', { class: 'section-error', testid: 'replay-error', hidden: true });
  const row = el('li', { class: 'event', testid: 'dead-letter-row', 'data-event-id': ev.id },
    el('div', { class: 'event-main' },
      el('div', { class: 'event-title' },
        el('strong', { text: ev.type, testid: 'event-type' }),
        badge(ev.status, undefined, 'event-status'),
        ev.livemode ? badge('live', 'warn') : badge('test', 'neutral')),
      el('div', { class: 'event-meta' },
        mono(ev.id), ' · ',
        ev.stripe_account_id ? mono(ev.stripe_account_id) : el('span', { class: 'muted', text: 'no account' }),
        ev.object_id ? [' · ', el('span', { class: 'muted', text: `${ev.object_type} ` }), mono(ev.object_id)] : null),
      el('div', { class: 'event-meta muted' },
        'received ', when(ev.received_at), ` · ${ev.attempts} attempt${ev.attempts === 1 ? '' : 's'} since last replay`),
      el('div', { class: 'event-detail' }, el('span', { class: 'muted', text: 'Loading attempts…' })),
      rowError),
    el('div', { class: 'event-actions' }, replay));
  replay.addEventListener('click', () => replayEvent(ev.id, replay, rowError));
  return row;
}

async function mapLimited(items, limit, fn) {
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++];
      await fn(item);
    }
  });
  await Promise.all(runners);
}

function loadDead(reset) {
  return load('dead-letter', async (current) => {
    const page = await api('GET', '/v1/admin/webhook-events', {
      status: 'dead', limit: DEAD_PAGE, cursor: reset ? null : state.cursors.dead,
    });
    if (!current()) return;
    const list = $('dead-list');
    const rows = page.data.map(deadRow);
    if (reset) list.replaceChildren(...rows);
    else list.append(...rows);
    state.cursors.dead = page.next_cursor ?? null;
    $('dead-more').hidden = !state.cursors.dead;
    $('dead-empty').hidden = list.children.length > 0;
    const n = list.children.length;
    $('dead-count').textContent = n ? `${n}${state.cursors.dead ? '+' : ''} dead` : '';
    // The attempts come from each event's own page; a row replaced meanwhile is skipped.
    const gen = state.gen;
    const live = (row) => gen === state.gen && row.isConnected;
    await mapLimited(page.data.map((ev, i) => [ev, rows[i]]), DETAIL_CONCURRENCY, async ([ev, row]) => {
      if (!live(row)) return;
      try {
        const detail = await api('GET', `/v1/admin/webhook-events/${encodeURIComponent(ev.id)}`);
        if (live(row)) fillDeadDetail(row, detail);
      } catch (err) {
        if (live(row)) row.querySelector('.event-detail').replaceChildren(errorNode(err));
      }
    });
  });
}

function replayedRow(ev, note) {
  const final = ev.status !== 'pending';
  return el('li', { class: 'event', testid: 'replayed-row', 'data-event-id': ev.id, 'data-status': ev.status },
    el('div', { class: 'event-main' },
      el('div', { class: 'event-title' },
        el('strong', { text: ev.type }),
        badge(ev.status, undefined, 'replayed-status'),
        final ? null : el('span', { class: 'muted', text: 'waiting for a worker…' })),
      el('div', { class: 'event-meta' }, mono(ev.id),
        ev.processed_at ? [' · processed ', when(ev.processed_at)] : null,
        ev.status === 'dead' ? el('span', { class: 'muted', text: ' · dead again: it is back in the list above' }) : null),
      note ? el('div', { class: 'event-meta' }, note) : null));
}

function renderReplayed(id, ev, note) {
  const old = document.querySelector(`[data-testid="replayed-row"][data-event-id="${CSS.escape(id)}"]`);
  const row = replayedRow(ev, note);
  if (old) old.replaceWith(row);
  else $('replayed-list').prepend(row);
  $('replayed-wrap').hidden = false;
}

async function replayEvent(id, button, rowError) {
  const gen = state.gen;
  button.disabled = true;
  button.textContent = 'Replaying…';
  clearError(rowError);
  let ev;
  try {
    ev = await api('POST', `/v1/admin/webhook-events/${encodeURIComponent(id)}/replay`);
  } catch (err) {
    if (gen !== state.gen) return;
    showError(rowError, err);
    button.disabled = false;
    button.textContent = 'Replay';
    return;
  }
  if (gen !== state.gen) return;
  state.replayed.set(id, ev);
  renderReplayed(id, ev);
  await loadDead(true);
  watchReplay(id, gen);
}

const pause = (millis) => new Promise((resolve) => { setTimeout(resolve, millis); });

/** Follows a replayed event until a worker has settled it (or gives up after a while). */
async function watchReplay(id, gen) {
  const deadline = Date.now() + REPLAY_WATCH_MS;
  let delay = 400;
  while (gen === state.gen && Date.now() < deadline) {
    await pause(delay);
    delay = Math.min(delay * 2, 3000);
    if (gen !== state.gen) return;
    let ev;
    try {
      ev = await api('GET', `/v1/admin/webhook-events/${encodeURIComponent(id)}`);
    } catch (err) {
      if (gen === state.gen) renderReplayed(id, state.replayed.get(id), errorNode(err));
      return;
    }
    if (gen !== state.gen) return;
    state.replayed.set(id, ev);
    renderReplayed(id, ev);
    if (ev.status !== 'pending') {
      if (ev.status === 'dead') loadDead(true);
      loadHealth(true);
      return;
    }
  }
  if (gen === state.gen) {
    renderReplayed(id, state.replayed.get(id), el('span', { class: 'muted', text: 'Still pending; refresh later to see how it ends.' }));
  }
}

// ---------------------------------------------------------------------------------------------
// Sync health

function runCell(run) {
  if (!run) return el('span', { class: 'muted', text: 'never' });
  return el('div', {},
    el('div', { class: 'badges' }, badge(run.status), run.dry_run ? badge('dry run', 'neutral') : null),
    el('div', { class: 'sub' }, run.finished_at ? when(run.finished_at) : el('span', { class: 'muted', text: 'not finished' })));
}

function healthRow(h) {
  const concerns = h.concerns ?? [];
  return el('tr', {
    testid: 'sync-health-row', 'data-org-id': h.organizer_id,
    class: [h.organizer_id === state.selectedOrg ? 'selected' : '', concerns.length ? 'attention' : ''].join(' ').trim(),
  },
  el('td', {},
    el('button', { type: 'button', class: 'link', text: orgLabel(h.organizer_id), onclick: () => selectOrg(h.organizer_id) }),
    el('div', { class: 'sub' }, mono(h.stripe_account_id),
      h.organizer_status !== 'active' ? [' ', badge(h.organizer_status)] : null)),
  el('td', { class: 'num', testid: 'inbox-pending', text: h.inbox_pending }),
  el('td', {}, h.inbox_pending ? duration(h.inbox_oldest_pending_secs) : el('span', { class: 'muted', text: '—' })),
  el('td', {}, runCell(h.last_run),
    h.events_cursor_age_secs !== null && h.events_cursor_age_secs !== undefined
      ? el('div', { class: 'sub muted', text: `events cursor ${duration(h.events_cursor_age_secs)} old` }) : null),
  el('td', { class: `num ${h.last_run?.drift ? 'warn-text' : ''}`, testid: 'last-drift', text: h.last_run ? h.last_run.drift : '—' }),
  el('td', {}, h.last_success
    ? el('div', {}, when(h.last_success.finished_at), el('div', { class: 'sub muted', text: `drift ${h.last_success.drift}` }))
    : el('span', { class: 'muted', text: 'never' })),
  el('td', { class: `num ${h.dead_lettered ? 'bad-text' : ''}`, testid: 'dead-lettered', text: h.dead_lettered }),
  el('td', {}, h.disconnected_at ? [badge('disconnected', 'warn'), el('div', { class: 'sub' }, when(h.disconnected_at))]
    : el('span', { class: 'muted', text: 'no' })),
  el('td', { testid: 'concerns', class: 'concerns-cell' }, concerns.length
    ? el('ul', { class: 'concerns' }, concerns.map((c) => el('li', { text: masked(c) })))
    : badge('ok', 'ok')));
}

function loadHealth(reset) {
  return load('sync-health', async (current) => {
    const page = await api('GET', '/v1/admin/sync-health', { limit: PAGE, cursor: reset ? null : state.cursors.health });
    if (!current()) return;
    const body = $('health-body');
    const rows = page.data.map(healthRow);
    if (reset) body.replaceChildren(...rows);
    else body.append(...rows);
    state.cursors.health = page.next_cursor ?? null;
    $('health-more').hidden = !state.cursors.health;
    $('health-empty').hidden = body.children.length > 0;
  });
}

// ---------------------------------------------------------------------------------------------
// Sync runs

function driftTotals(report) {
  let drift = 0;
  let repaired = 0;
  for (const k of Object.values(report?.kinds ?? {})) {
    drift += (k.missing ?? 0) + (k.different ?? 0) + (k.deleted_in_stripe ?? 0);
    repaired += k.repaired ?? 0;
  }
  return { drift, repaired };
}

function exampleIds(examples) {
  const parts = [];
  for (const [what, ids] of Object.entries(examples ?? {})) {
    if (ids?.length) parts.push(el('div', {}, el('span', { class: 'muted', text: `${what.replaceAll('_', ' ')}: ` }), mono(ids.join(', '))));
  }
  return parts.length ? parts : el('span', { class: 'muted', text: '—' });
}

function driftReport(run) {
  const report = run.report;
  const parts = [];
  if (run.error) parts.push(el('div', { class: 'last-error' }, el('span', { class: 'label', text: 'Error' }), el('span', { text: masked(run.error) })));
  if (!report) {
    parts.push(el('p', { class: 'muted', text: 'No report yet.' }));
    return parts;
  }
  const kinds = Object.entries(report.kinds ?? {});
  if (kinds.length) {
    parts.push(el('table', { class: 'data inner', testid: 'drift-table' },
      el('thead', {}, el('tr', {}, ['Kind', 'Checked', 'Missing', 'Different', 'Deleted in Stripe', 'Repaired', 'Complete', 'Examples']
        .map((h, i) => el('th', { class: i > 0 && i < 6 ? 'num' : '', text: h })))),
      el('tbody', {}, kinds.map(([kind, k]) => el('tr', {},
        el('td', { text: kind }),
        el('td', { class: 'num', text: k.checked }),
        el('td', { class: `num ${k.missing ? 'warn-text' : ''}`, text: k.missing }),
        el('td', { class: `num ${k.different ? 'warn-text' : ''}`, text: k.different }),
        el('td', { class: `num ${k.deleted_in_stripe ? 'warn-text' : ''}`, text: k.deleted_in_stripe }),
        el('td', { class: 'num', text: k.repaired }),
        el('td', {}, k.complete ? 'yes' : badge('partial', 'warn'),
          k.resumed_after ? el('div', { class: 'sub muted' }, 'resumed after ', mono(k.resumed_after)) : null),
        el('td', {}, exampleIds(k.examples)))))));
  }
  for (const [label, items, cls] of [['Errors', report.errors, 'bad-text'], ['Warnings', report.warnings, 'warn-text']]) {
    if (items?.length) {
      parts.push(el('div', { class: 'report-notes' }, el('strong', { text: `${label}: ` }),
        el('ul', { class: cls }, items.map((t) => el('li', { text: masked(t) })))));
    }
  }
  if (report.rate_limited) parts.push(el('p', { class: 'warn-text', text: `${report.rate_limited} call(s) rate-limited by Stripe.` }));
  return parts;
}

function runRows(run) {
  const { drift, repaired } = driftTotals(run.report);
  const detail = el('tr', { class: 'detail-row', hidden: true, testid: 'sync-run-report', 'data-run-id': run.id },
    el('td', { colspan: 9 }, driftReport(run)));
  const toggle = el('button', { type: 'button', class: 'small', text: 'Drift report', testid: 'sync-run-toggle', 'aria-expanded': 'false' });
  toggle.addEventListener('click', () => {
    detail.hidden = !detail.hidden;
    toggle.setAttribute('aria-expanded', String(!detail.hidden));
    toggle.textContent = detail.hidden ? 'Drift report' : 'Hide report';
  });
  const main = el('tr', { testid: 'sync-run-row', 'data-run-id': run.id },
    el('td', {}, when(run.started_at ?? run.created_at)),
    el('td', { text: run.trigger }),
    el('td', {}, el('div', { class: 'badges' }, badge(run.status, undefined, 'sync-run-status'), run.dry_run ? badge('dry run', 'neutral') : null),
      run.error ? el('div', { class: 'sub bad-text', text: masked(run.error) }) : null),
    el('td', { class: 'kinds', text: (run.kinds ?? []).join(', ') }),
    el('td', { class: `num ${drift ? 'warn-text' : ''}`, text: run.report ? drift : '—' }),
    el('td', { class: 'num', text: run.report ? repaired : '—' }),
    el('td', { class: 'num', text: run.report ? run.report.stripe_calls : '—' }),
    el('td', { class: 'num', text: run.report ? ms(run.report.duration_ms) : '—' }),
    el('td', {}, toggle));
  return [main, detail];
}

function loadRuns(reset) {
  const org = state.selectedOrg;
  if (!org) return Promise.resolve();
  return load('sync-runs', async (current) => {
    if (reset) {
      $('runs-body').replaceChildren();
      $('runs-table').hidden = true;
      $('runs-empty').hidden = true;
    }
    const page = await api('GET', `/v1/organizers/${encodeURIComponent(org)}/sync-runs`, {
      limit: 20, cursor: reset ? null : state.cursors.runs,
    });
    if (!current() || org !== state.selectedOrg) return;
    $('runs-hint').textContent = 'Newest first. Open a run\'s drift report to see what it found per kind.';
    const body = $('runs-body');
    body.append(...page.data.flatMap(runRows));
    state.cursors.runs = page.next_cursor ?? null;
    $('runs-more').hidden = !state.cursors.runs;
    $('runs-table').hidden = body.children.length === 0;
    $('runs-empty').hidden = body.children.length > 0;
  });
}

// ---------------------------------------------------------------------------------------------
// Audit log

function renderAuditOrgOptions() {
  const select = $('audit-org');
  const value = select.value || state.auditQuery.org_id || '';
  const ids = [...state.orgOrder];
  if (value && !ids.includes(value)) ids.push(value);
  select.replaceChildren(el('option', { value: '', text: 'All organizers' }),
    ...ids.map((id) => el('option', { value: id, text: `${orgLabel(id)} · ${state.organizers.get(id)?.stripe_account_id ?? id}` })));
  select.value = value;
}

const KNOWN_ACTIONS = new Set();

function auditRow(ev) {
  return el('tr', { testid: 'audit-row', 'data-audit-id': ev.id, class: ev.outcome === 'failed' ? 'attention' : '' },
    el('td', {}, when(ev.occurred_at)),
    el('td', {}, el('span', { class: 'mono', text: ev.action, testid: 'audit-action-cell' })),
    el('td', {}, badge(ev.outcome)),
    el('td', {}, el('span', { class: 'nowrap', text: ev.actor }), el('div', { class: 'sub muted', text: ev.actor_role })),
    el('td', {}, ev.organizer_id ? el('span', { text: orgLabel(ev.organizer_id), title: ev.organizer_id }) : el('span', { class: 'muted', text: '—' })),
    el('td', {}, pairs(ev.target_ids)),
    el('td', {}, shortHash(ev.subject_hash)),
    el('td', {}, pairs(ev.details)),
    el('td', {}, mono(ev.request_id.length > 14 ? `${ev.request_id.slice(0, 12)}…` : ev.request_id, ev.request_id)));
}

function auditFilters() {
  return {
    org_id: $('audit-org').value,
    action: $('audit-action').value.trim(),
    email: $('audit-email').value.trim(),
    limit: $('audit-limit').value,
  };
}

function describeAuditQuery(q) {
  const bits = [];
  if (q.org_id) bits.push(`organizer ${orgLabel(q.org_id)}`);
  if (q.action) bits.push(`action ${q.action}`);
  // The email is the one the admin typed: it is shown back so the results can be read.
  if (q.email) bits.push(`about ${q.email} (matched by its keyed hash)`);
  return bits.length ? `Showing events: ${bits.join(', ')}.` : 'Showing all events.';
}

function loadAudit(reset) {
  if (reset) state.auditQuery = auditFilters();
  const q = state.auditQuery;
  return load('audit', async (current) => {
    const page = await api('GET', '/v1/admin/audit-log', { ...q, cursor: reset ? null : state.cursors.audit });
    if (!current()) return;
    const body = $('audit-body');
    const rows = page.data.map(auditRow);
    if (reset) body.replaceChildren(...rows);
    else body.append(...rows);
    for (const ev of page.data) KNOWN_ACTIONS.add(ev.action);
    $('audit-actions').replaceChildren(...[...KNOWN_ACTIONS].sort().map((a) => el('option', { value: a })));
    state.cursors.audit = page.next_cursor ?? null;
    $('audit-more').hidden = !state.cursors.audit;
    $('audit-empty').hidden = body.children.length > 0;
    $('audit-note').textContent = describeAuditQuery(q);
  });
}

// ---------------------------------------------------------------------------------------------
// Wiring

function init() {
  $('token-form').addEventListener('submit', connect);
  $('disconnect').addEventListener('click', disconnect);
  $('refresh-all').addEventListener('click', refreshAll);
  $('organizers-refresh').addEventListener('click', () => loadOrganizers(true).then(() => loadHealth(true)));
  $('organizers-more').addEventListener('click', () => loadOrganizers(false));
  $('dead-refresh').addEventListener('click', () => loadDead(true));
  $('dead-more').addEventListener('click', () => loadDead(false));
  $('health-refresh').addEventListener('click', () => loadHealth(true));
  $('health-more').addEventListener('click', () => loadHealth(false));
  $('runs-refresh').addEventListener('click', () => loadRuns(true));
  $('runs-more').addEventListener('click', () => loadRuns(false));
  $('audit-more').addEventListener('click', () => loadAudit(false));
  $('audit-form').addEventListener('submit', (event) => {
    event.preventDefault();
    loadAudit(true);
  });
  $('audit-clear').addEventListener('click', () => {
    $('audit-form').reset();
    $('audit-org').value = '';
    loadAudit(true);
  });
  document.documentElement.dataset.ready = 'true';
  $('token-input').focus();
}

init();
