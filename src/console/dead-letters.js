// Dead letters section: webhook events a worker gave up on, their attempts, and replays
// followed until a worker has settled them.

import { $, badge, el, masked, mono, ms, when } from '/admin/dom.js';
import { api, clearError, errorNode, load, showError, state } from '/admin/api.js';
import { loadHealth } from '/admin/sync.js';

const DEAD_PAGE = 20;
const DETAIL_CONCURRENCY = 4;
const REPLAY_WATCH_MS = 120_000;

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

export function loadDead(reset) {
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
