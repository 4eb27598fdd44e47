// Organizers section: the list, and the selected organizer that the sync runs and the audit
// log follow.

import { $, badge, el, mono, when } from '/admin/dom.js';
import { PAGE, api, load, state } from '/admin/api.js';
import { loadRuns } from '/admin/sync.js';
import { loadAudit, renderAuditOrgOptions } from '/admin/audit.js';

export function orgLabel(id) {
  const org = state.organizers.get(id);
  return org ? org.name : id;
}

/** Where the organizer's Stripe onboarding stands, as the gateway last mirrored its account. */
function onboarding(org) {
  const account = org.account;
  if (!org.stripe_account_id) return badge('no account', 'warn', 'organizer-onboarding');
  if (!account) return badge('not fetched yet', 'neutral', 'organizer-onboarding');
  if (account.charges_enabled) return badge('charges enabled', 'ok', 'organizer-onboarding');
  const due = [...account.past_due, ...account.currently_due];
  const shown = badge('onboarding incomplete', 'warn', 'organizer-onboarding');
  shown.title = due.length ? `Stripe needs: ${due.join(', ')}` : (account.disabled_reason ?? 'Stripe is reviewing');
  return shown;
}

function ticketFees(org) {
  const fees = Object.entries(org.ticket_fees ?? {});
  if (!fees.length) return null;
  const text = fees.map(([currency, amount]) => `${amount} ${currency}`).join(', ');
  return el('div', { class: 'sub muted', text: `+ ${text} per ticket` });
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
  el('td', {}, org.stripe_account_id ? mono(org.stripe_account_id) : el('span', { class: 'muted', text: '—' }),
    org.account_kind === 'platform' ? el('div', { class: 'sub' }, badge('platform')) : null,
    org.charge_type === 'destination'
      ? el('div', { class: 'sub' }, badge('destination charges', 'neutral', 'organizer-charge-type')) : null,
    el('div', { class: 'sub' }, onboarding(org)),
    org.application_fee_bps !== null && org.application_fee_bps !== undefined
      ? el('div', { class: 'sub muted', text: `fee ${(org.application_fee_bps / 100).toFixed(2)} %` }) : null,
    ticketFees(org)),
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

export function loadOrganizers(reset) {
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

export function selectOrg(id) {
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
