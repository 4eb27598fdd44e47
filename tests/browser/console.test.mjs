// Headless-browser test of the admin console served at GET /admin.
//
// Needs a running gateway and fake Stripe (see .ci/console.sh): GATEWAY_URL, ADMIN_TOKEN and
// FAKE_STRIPE_URL. The gateway must run with WEBHOOK_MAX_ATTEMPTS=1 and STRIPE_MAX_RETRIES=0 so
// one failed re-fetch dead-letters an event.
//
// Screenshots of each state go to target/console/ at the repository root.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  ADMIN_TOKEN, API_DEADLINE_MS, GATEWAY_URL, SHOTS, UI_DEADLINE_MS, createOrganizer, expectStatus, fake,
  gateway, openConsole, poll, randomAlnum,
} from './support.mjs';

/** An organizer registered without a Stripe account, whose account the gateway then creates. */
async function createOnboardingOrganizer() {
  // It takes destination charges, which need the platform's own organizer (registered once).
  const platform = await gateway('POST', '/v1/organizers', { name: 'Console platform', stripe_account_id: 'acct_1PlatformFake0001' });
  assert.ok([201, 409].includes(platform.status), `the platform's organizer: ${platform.status}`);
  const org = expectStatus(
    await gateway('POST', '/v1/organizers', {
      name: `Console Onboarding ${randomAlnum(6)}`, ticket_fees: { eur: 50 }, charge_type: 'destination',
    }),
    201,
    'POST /v1/organizers',
  );
  const created = expectStatus(
    await gateway('POST', `/v1/organizers/${org.id}/stripe-account`, { country: 'FR' }),
    201,
    'POST stripe-account',
  );
  assert.equal(created.account.charges_enabled, false);
  return created;
}

/** A reconciliation run of the organizer, so the console has a drift report to show. */
async function startSync(orgId) {
  const started = expectStatus(await gateway('POST', `/v1/organizers/${orgId}/sync`, {}), 202, 'POST sync');
  assert.ok(started.run_id, 'the sync answer names its run');
  return started.run_id;
}

/** Runs (a registration backfill, the sync above) make Stripe GETs that would take the fault. */
async function waitForRunsToSettle(orgId) {
  await poll(`the sync runs of ${orgId} to settle`, async () => {
    const page = expectStatus(await gateway('GET', `/v1/organizers/${orgId}/sync-runs?limit=100`), 200, 'GET sync-runs');
    const busy = page.data.filter((run) => run.status === 'queued' || run.status === 'running');
    return { done: busy.length === 0, seen: page.data.map((r) => r.status) };
  }, { timeout: 60_000 });
}

/** One dead-lettered product.created event of `account`. */
async function deadLetterAnEvent(account) {
  // The fault takes the next fetch of one product (a listing's path is `/v1/products`, without
  // the slash): the worker's re-fetch of the new product, once the runs above have settled.
  const fault = await fake('POST', '/_fake/fail-next', {
    count: 1, status: 500, method: 'GET', path_prefix: '/v1/products/',
  });
  assert.equal(fault.status, 204, `POST /_fake/fail-next: ${fault.status} ${fault.text}`);
  const trigger = await fake('POST', '/_fake/trigger', { type: 'product.created', account });
  assert.equal(trigger.status, 200, `POST /_fake/trigger: ${trigger.status} ${trigger.text}`);
  const { event_id: eventId } = trigger.json;
  assert.match(eventId, /^evt_/, `the trigger's answer names the event: ${trigger.text}`);
  const final = await poll(`event ${eventId} to leave pending`, async () => {
    const res = await gateway('GET', `/v1/admin/webhook-events/${eventId}`);
    if (res.status === 404) return { done: false, seen: 'not stored yet' };
    const ev = expectStatus(res, 200, 'GET webhook event');
    return { done: ev.status !== 'pending', value: ev, seen: { status: ev.status, attempts: ev.attempts } };
  });
  assert.equal(final.status, 'dead', `the injected 500 dead-letters the event: ${JSON.stringify(final)}`);
  return final;
}

// ---------------------------------------------------------------------------------------------
// The test

test('admin console: organizers, dead letters and a replay', { timeout: 240_000 }, async (t) => {
  const org = await createOrganizer();
  const onboardingOrg = await createOnboardingOrganizer();
  const runId = await startSync(org.id);
  await waitForRunsToSettle(org.id);
  const dead = await deadLetterAnEvent(org.stripe_account_id);

  const { context, page, pageErrors, step, byTestId } = await openConsole(t);

  // Organizers are oldest first: follows "Load more" until the organizer's row is there.
  const organizerRow = async (id) => {
    const row = page.locator(`[data-testid="organizer-row"][data-org-id="${id}"]`);
    await poll(`the row of organizer ${id}`, async () => {
      if (await row.count()) return { done: true };
      const more = byTestId('organizers-more');
      if (await more.isVisible()) await more.click();
      return { done: false, seen: await page.locator('[data-testid="organizer-row"]').count() };
    }, { timeout: UI_DEADLINE_MS });
    return row;
  };

  await step('the page loads from the gateway', async () => {
    const response = await page.goto(`${GATEWAY_URL}/admin`);
    assert.equal(response.status(), 200);
    assert.match(response.headers()['content-type'] ?? '', /text\/html/);
    await page.locator('html[data-ready="true"]').waitFor({ state: 'attached' });
    await byTestId('token-input').waitFor();
  });

  await step('a bad token is refused and the error is shown plainly', async () => {
    await byTestId('token-input').fill('not-a-jwt');
    await byTestId('token-submit').click();
    const banner = byTestId('global-error');
    await banner.waitFor();
    const text = await banner.innerText();
    assert.match(text, /401/);
    assert.match(text, /unauthenticated/);
    assert.equal(await page.locator('#console').isVisible(), false, 'nothing is shown without a good token');
  });

  await step('the admin token shows the organizers', async () => {
    await byTestId('token-input').fill(ADMIN_TOKEN);
    await byTestId('token-submit').click();
    await byTestId('session').waitFor();
    await byTestId('global-error').waitFor({ state: 'hidden' });

    const row = await organizerRow(org.id);
    await row.waitFor();
    assert.equal(await row.getByTestId('organizer-name').innerText(), org.name);
    assert.equal(await row.getByTestId('organizer-status').innerText(), 'active');
    assert.match(await row.innerText(), new RegExp(org.stripe_account_id));
    assert.equal(await row.getByTestId('organizer-onboarding').innerText(), 'charges enabled');
    // An organizer still onboarding says so, with what Stripe needs in its title.
    const onboardingRow = await organizerRow(onboardingOrg.id);
    const state = onboardingRow.getByTestId('organizer-onboarding');
    assert.equal(await state.innerText(), 'onboarding incomplete');
    assert.match(await state.getAttribute('title'), /external_account/);
    assert.match(await onboardingRow.innerText(), /\+ 50 eur per ticket/);
    assert.equal(await onboardingRow.getByTestId('organizer-charge-type').innerText(), 'destination charges');

    // The token is in memory only.
    assert.equal(await byTestId('token-input').inputValue(), '');
    const stored = await page.evaluate(() => ({
      local: localStorage.length, session: sessionStorage.length, cookie: document.cookie,
    }));
    assert.deepEqual(stored, { local: 0, session: 0, cookie: '' });
    assert.deepEqual(await context.cookies(), []);

    // Sync health lists the account.
    await page.locator(`[data-testid="sync-health-row"][data-org-id="${org.id}"]`).waitFor();
    await page.screenshot({ path: path.join(SHOTS, '1-organizers.png') });
  });

  const deadRow = page.locator(`[data-testid="dead-letter-row"][data-event-id="${dead.id}"]`);

  await step('the dead-lettered event is listed with its attempts', async () => {
    await deadRow.waitFor();
    assert.match(await deadRow.getByTestId('event-type').innerText(), /product\.created/);
    assert.equal(await deadRow.getByTestId('event-status').innerText(), 'dead');
    await deadRow.getByTestId('last-error').waitFor();
    await deadRow.locator('summary').click();
    await deadRow.getByTestId('attempt').first().waitFor();
    assert.ok((await deadRow.getByTestId('attempt-error').count()) >= 1, 'the failed attempt shows its error');

    // Selecting the organizer shows its sync runs, each with its drift report.
    await page.locator(`[data-testid="organizer-row"][data-org-id="${org.id}"]`).getByTestId('organizer-name').click();
    await page.locator('[data-testid="sync-runs-section"]:not([aria-busy])').waitFor();
    assert.match(await byTestId('sync-runs-for').innerText(), new RegExp(org.name));
    const runRow = page.locator(`[data-testid="sync-run-row"][data-run-id="${runId}"]`);
    await runRow.waitFor();
    assert.match(await runRow.getByTestId('sync-run-status').innerText(), /succeeded|failed|interrupted|skipped/);
    await runRow.getByTestId('sync-run-toggle').click();
    await page.locator(`[data-testid="sync-run-report"][data-run-id="${runId}"]`).waitFor();
    await page.locator('[data-testid="audit-section"]:not([aria-busy])').waitFor();
    await page.locator(`[data-testid="audit-row"]`).first().waitFor();

    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: path.join(SHOTS, '2-dead-letter.png') });
    await page.screenshot({ path: path.join(SHOTS, 'full-page.png'), fullPage: true });
  });

  await step('replaying the event takes it out of the dead letters', async () => {
    await deadRow.getByTestId('replay-button').click();
    await deadRow.waitFor({ state: 'detached' });
    const replayed = page.locator(`[data-testid="replayed-row"][data-event-id="${dead.id}"]`);
    await replayed.waitFor();
    await page.locator(`[data-testid="replayed-row"][data-event-id="${dead.id}"][data-status="processed"]`)
      .waitFor({ timeout: API_DEADLINE_MS });
    assert.equal(await replayed.getByTestId('replayed-status').innerText(), 'processed');
    assert.equal(await deadRow.count(), 0);

    const ev = expectStatus(await gateway('GET', `/v1/admin/webhook-events/${dead.id}`), 200, 'GET webhook event');
    assert.equal(ev.status, 'processed');

    await byTestId('dead-letter-section').scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(SHOTS, '3-replayed.png') });
  });

  assert.deepEqual(pageErrors, [], 'the page raised no errors');
});
