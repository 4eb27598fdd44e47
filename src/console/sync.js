// Sync sections: the health of every organizer's sync, and the runs of the selected one with
// their drift reports.

import { $, badge, duration, el, masked, mono, ms, when } from '/admin/dom.js';
import { PAGE, api, load, state } from '/admin/api.js';
import { orgLabel, selectOrg } from '/admin/organizers.js';

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

export function loadHealth(reset) {
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

export function loadRuns(reset) {
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
