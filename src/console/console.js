// Admin console of the billing gateway: plain DOM, no framework, no build step. This entry
// point holds the session (connect, disconnect, refresh) and wires the page's controls to the
// sections, each in its own module:
//   dom.js           element helpers, formatting, masking
//   api.js           session state, the fetch wrapper, errors, section loading
//   organizers.js    organizers and the selected organizer
//   dead-letters.js  dead-lettered webhook events and replays
//   sync.js          sync health and sync runs
//   app-webhooks.js  the gateway's own webhook endpoints, their deliveries and replay
//   audit.js         audit log
//
// Rules every module keeps:
// - The admin token lives in `state.token` only (never localStorage, sessionStorage or cookies).
// - Every piece of data is written with textContent (through `el`), never innerHTML.
// - Emails are only shown when the admin typed them (the audit search); free text from the API
//   (errors, details, concerns) has any email-looking string masked.

import { $, duration } from '/admin/dom.js';
import { api, showGlobalError, state } from '/admin/api.js';
import { loadOrganizers } from '/admin/organizers.js';
import { loadDead } from '/admin/dead-letters.js';
import { loadHealth, loadRuns } from '/admin/sync.js';
import { loadAudit } from '/admin/audit.js';
import { loadAppWebhooks } from '/admin/app-webhooks.js';

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
  for (const id of ['organizers-body', 'dead-list', 'health-body', 'runs-body', 'audit-body', 'replayed-list', 'app-webhooks-body']) {
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
  loadOrganizers(true).then(() => Promise.all([loadHealth(true), loadAppWebhooks(true)]));
  loadDead(true);
  loadAudit(true);
  if (state.selectedOrg) loadRuns(true);
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
  $('app-webhooks-refresh').addEventListener('click', () => loadAppWebhooks(true));
  $('app-webhooks-more').addEventListener('click', () => loadAppWebhooks(false));
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
