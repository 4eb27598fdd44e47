// The admin console's session state and its one way to call the gateway: a fetch wrapper that
// sends the admin token, the errors it raises and how a section shows them.
//
// The admin token lives in `state.token` only (never localStorage, sessionStorage or cookies).

import { $, el, masked, mono, section, sectionError } from '/admin/dom.js';

/** Page size of the organizer and sync-health lists. */
export const PAGE = 50;

export const state = {
  token: null,
  // Bumped when the token changes: answers to requests of an older generation are dropped.
  gen: 0,
  organizers: new Map(),
  orgOrder: [],
  selectedOrg: null,
  cursors: { organizers: null, dead: null, health: null, runs: null, audit: null, appWebhooks: null },
  auditQuery: {},
  replayed: new Map(),
};

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

/** Calls the gateway; `body`, when given, is sent as JSON. */
export async function api(method, path, query = {}, body = undefined) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(key, String(value));
  }
  const headers = { Accept: 'application/json', Authorization: `Bearer ${state.token}` };
  if (method !== 'GET') headers['Idempotency-Key'] = uuid();
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(url, {
      method, headers, cache: 'no-store', credentials: 'omit',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, 'network_error', `The gateway could not be reached (${err.message}).`, null);
  }
  const text = await response.text();
  let answer = null;
  try {
    answer = text ? JSON.parse(text) : null;
  } catch {
    answer = null;
  }
  if (!response.ok) {
    const detail = answer && typeof answer === 'object' ? answer.error : null;
    throw new ApiError(
      response.status,
      detail?.code ?? `http_${response.status}`,
      detail?.message ?? (text.trim().slice(0, 300) || response.statusText || 'Request failed'),
      detail?.request_id ?? response.headers.get('x-request-id'),
      detail?.fields,
    );
  }
  return answer;
}

export function errorNode(err) {
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

export function showError(target, err) {
  target.replaceChildren(errorNode(err));
  target.hidden = false;
  if (err instanceof ApiError && err.status === 401) {
    showGlobalError(err, 'The gateway no longer accepts this token. Paste a fresh one.');
  }
}

export function clearError(target) {
  target.hidden = true;
  target.replaceChildren();
}

export function showGlobalError(err, lead) {
  const banner = $('global-error');
  banner.replaceChildren(lead ? el('p', { text: lead }) : '', errorNode(err));
  banner.hidden = false;
}

const loadSeq = {};

/**
 * Runs a section's load, with its busy state and its error box. `work` gets `current()`, false
 * once the token changed or a newer load of the same section started: its answer is dropped.
 */
export async function load(name, work) {
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
