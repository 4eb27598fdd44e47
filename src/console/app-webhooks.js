// App webhooks section: the endpoints the gateway delivers its own events to, whether each is
// failing or was disabled for failing, its recent deliveries with their attempts, and replay of
// one delivered event.

import { $, badge, el, masked, mono, ms, when } from '/admin/dom.js';
import { api, clearError, load, showError, state } from '/admin/api.js';
import { orgLabel } from '/admin/organizers.js';

const ENDPOINT_PAGE = 50;
const DELIVERY_PAGE = 10;

const DELIVERY_TONE = { pending: 'info', delivered: 'ok', failed: 'bad' };

/** What the API's `disabled_reason` values mean. */
const REASONS = { failing: 'every attempt failed for days' };

function scope(endpoint) {
  if (endpoint.organizer_id) return el('span', { text: orgLabel(endpoint.organizer_id) });
  if (endpoint.organizer_ids?.length) {
    return el('span', {}, el('span', { class: 'muted', text: 'platform, for ' }),
      endpoint.organizer_ids.map(orgLabel).join(', '));
  }
  return el('span', { class: 'muted', text: 'platform, every organizer' });
}

/** Enabled, failing since a time, or disabled (with the reason when the senders disabled it). */
function health(endpoint) {
  if (!endpoint.enabled) {
    const enable = el('button', { type: 'button', class: 'small', text: 'Enable', testid: 'app-webhook-enable' });
    const error = el('div', { class: 'section-error', hidden: true });
    enable.addEventListener('click', async () => {
      enable.disabled = true;
      try {
        await api('PATCH', `/v1/webhook-endpoints/${encodeURIComponent(endpoint.id)}`, {}, { enabled: true });
        await loadAppWebhooks(true);
      } catch (err) {
        showError(error, err);
        enable.disabled = false;
      }
    });
    return el('div', {},
      badge('disabled', 'bad', 'app-webhook-state'),
      endpoint.disabled_reason
        ? el('div', {
          class: 'sub bad-text', testid: 'app-webhook-disabled-reason',
          text: REASONS[endpoint.disabled_reason] ?? masked(endpoint.disabled_reason),
        })
        : null,
      el('div', { class: 'sub' }, enable), error);
  }
  if (endpoint.failing_since) {
    return el('div', {}, badge('failing', 'warn', 'app-webhook-state'),
      el('div', { class: 'sub muted' }, 'since ', when(endpoint.failing_since)));
  }
  return badge('healthy', 'ok', 'app-webhook-state');
}

function attemptLine(a) {
  const outcome = a.status_code !== null && a.status_code !== undefined
    ? `HTTP ${a.status_code}` : (a.error ? masked(a.error) : 'no answer');
  const good = a.status_code >= 200 && a.status_code < 300;
  return el('li', { testid: 'app-webhook-attempt' },
    el('span', { class: 'attempt-no', text: `#${a.attempt}` }),
    when(a.started_at, { relative: false }),
    el('span', { class: 'muted', text: ` · ${ms(a.latency_ms)} · ` }),
    el('span', { class: good ? 'attempt-ok' : 'attempt-error', text: outcome }),
    a.response ? el('div', { class: 'sub mono muted', text: masked(a.response) }) : null);
}

function deliveryRow(endpoint, delivery) {
  const rowError = el('div', { class: 'section-error', hidden: true });
  const replay = el('button', {
    type: 'button', class: 'small', text: 'Replay', testid: 'app-webhook-replay',
    title: 'Deliver this event to the endpoint again', disabled: !endpoint.enabled,
  });
  const done = el('span', { class: 'muted', testid: 'app-webhook-replayed' });
  replay.addEventListener('click', async () => {
    replay.disabled = true;
    clearError(rowError);
    try {
      const answer = await api('POST', `/v1/webhook-endpoints/${encodeURIComponent(endpoint.id)}/replay`, {},
        { event_id: delivery.event_id });
      done.textContent = answer.replayed ? ' queued again' : ' nothing to replay';
    } catch (err) {
      showError(rowError, err);
    } finally {
      replay.disabled = false;
    }
  });
  const attempts = delivery.attempt_log ?? [];
  return el('li', { class: 'event', testid: 'app-webhook-delivery', 'data-event-id': delivery.event_id },
    el('div', { class: 'event-main' },
      el('div', { class: 'event-title' },
        el('strong', { text: delivery.event_type }),
        badge(delivery.state, DELIVERY_TONE[delivery.state], 'app-webhook-delivery-state')),
      el('div', { class: 'event-meta' }, mono(delivery.event_id), ' · ', mono(delivery.object_id),
        ' · created ', when(delivery.created_at),
        delivery.next_attempt_at && delivery.state === 'pending'
          ? [' · next attempt ', when(delivery.next_attempt_at)] : null),
      attempts.length
        ? el('ol', { class: 'attempts' }, attempts.map(attemptLine))
        : el('p', { class: 'muted', text: 'Not attempted yet.' }),
      rowError),
    el('div', { class: 'event-actions' }, replay, done));
}

async function showDeliveries(endpoint, slot) {
  slot.replaceChildren(el('span', { class: 'muted', text: 'Loading deliveries…' }));
  const gen = state.gen;
  try {
    const page = await api('GET', `/v1/webhook-endpoints/${encodeURIComponent(endpoint.id)}/deliveries`,
      { limit: DELIVERY_PAGE });
    if (gen !== state.gen) return;
    slot.replaceChildren(page.data.length
      ? el('ul', { class: 'events compact', testid: 'app-webhook-deliveries' },
        page.data.map((d) => deliveryRow(endpoint, d)))
      : el('p', { class: 'muted', testid: 'app-webhook-no-deliveries', text: 'No deliveries yet.' }));
  } catch (err) {
    if (gen === state.gen) showError(slot, err);
  }
}

function endpointRows(endpoint) {
  const slot = el('div', {});
  const detail = el('tr', { class: 'detail-row', hidden: true, testid: 'app-webhook-detail', 'data-endpoint-id': endpoint.id },
    el('td', { colspan: 5 }, slot));
  const toggle = el('button', {
    type: 'button', class: 'small', text: 'Deliveries', testid: 'app-webhook-toggle', 'aria-expanded': 'false',
  });
  toggle.addEventListener('click', () => {
    detail.hidden = !detail.hidden;
    toggle.setAttribute('aria-expanded', String(!detail.hidden));
    toggle.textContent = detail.hidden ? 'Deliveries' : 'Hide';
    if (!detail.hidden) showDeliveries(endpoint, slot);
  });
  const main = el('tr', { testid: 'app-webhook-row', 'data-endpoint-id': endpoint.id },
    el('td', {}, mono(endpoint.url),
      endpoint.description ? el('div', { class: 'sub muted', text: endpoint.description }) : null,
      el('div', { class: 'sub mono muted', text: endpoint.id })),
    el('td', {}, scope(endpoint)),
    el('td', { class: 'kinds', text: endpoint.event_types?.join(', ') ?? 'every type' }),
    el('td', {}, health(endpoint)),
    el('td', {}, toggle));
  return [main, detail];
}

export function loadAppWebhooks(reset) {
  return load('app-webhooks', async (current) => {
    const page = await api('GET', '/v1/webhook-endpoints', {
      limit: ENDPOINT_PAGE, cursor: reset ? null : state.cursors.appWebhooks,
    });
    if (!current()) return;
    const body = $('app-webhooks-body');
    const rows = page.data.flatMap(endpointRows);
    if (reset) body.replaceChildren(...rows);
    else body.append(...rows);
    state.cursors.appWebhooks = page.next_cursor ?? null;
    $('app-webhooks-more').hidden = !state.cursors.appWebhooks;
    const shown = body.querySelectorAll('[data-testid="app-webhook-row"]');
    $('app-webhooks-empty').hidden = shown.length > 0;
    // Disabled by the senders (a reason given), not by someone's PATCH.
    const disabled = body.querySelectorAll('[data-testid="app-webhook-disabled-reason"]').length;
    const notice = $('app-webhooks-disabled');
    notice.hidden = disabled === 0;
    notice.textContent = disabled === 1
      ? 'One endpoint was disabled after failing for days: fix the receiver, then enable it again.'
      : `${disabled} endpoints were disabled after failing for days: fix the receivers, then enable them again.`;
  });
}
