// Audit log section: the search form and its results.
//
// Emails are only shown when the admin typed them (the search); the details are masked.

import { $, badge, el, mono, pairs, shortHash, when } from '/admin/dom.js';
import { api, load, state } from '/admin/api.js';
import { orgLabel } from '/admin/organizers.js';

export function renderAuditOrgOptions() {
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

export function loadAudit(reset) {
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
