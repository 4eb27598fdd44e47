// Headless-browser test of the console's "App webhooks" section: an endpoint that fails shows as
// failing with its attempts, a replay from the console reaches the receiver once it is back, and
// an endpoint the senders disabled is announced and can be enabled again.
//
// Needs the stack of .ci/console.sh, with OUTBOUND_WEBHOOK_ALLOWED_HOSTS=127.0.0.1 (the receiver
// below listens on loopback over plain http).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import path from 'node:path';
import {
  API_DEADLINE_MS, SHOTS, createOrganizer, expectStatus, fake, gateway, openConsole, poll, randomAlnum,
  signIn,
} from './support.mjs';

/**
 * A receiver of the gateway's webhooks on loopback. It answers `status` (500 until told
 * otherwise) and keeps what it accepted, each checked against the endpoint's secret by this
 * file's own Standard Webhooks verifier.
 */
async function startReceiver(t) {
  const receiver = { status: 500, accepted: [], refused: 0, secret: null };
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (receiver.status >= 200 && receiver.status < 300) {
        receiver.accepted.push({ headers: req.headers, body, verified: verify(receiver.secret, req.headers, body) });
      } else {
        receiver.refused += 1;
      }
      res.writeHead(receiver.status, { 'Content-Type': 'text/plain' });
      res.end(receiver.status >= 300 ? 'receiver is down for this test' : 'ok');
    });
  });
  await new Promise((resolve) => { server.listen(0, '127.0.0.1', resolve); });
  t.after(() => new Promise((resolve) => { server.close(resolve); server.closeAllConnections(); }));
  receiver.url = `http://127.0.0.1:${server.address().port}/hooks`;
  return receiver;
}

/** Standard Webhooks: base64 HMAC-SHA256, keyed by the secret after `whsec_`, of `id.timestamp.body`. */
function verify(secret, headers, body) {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  if (!secret || !id || !timestamp || !headers['webhook-signature']) return false;
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest();
  return headers['webhook-signature'].split(' ').some((entry) => {
    const [version, signature] = entry.split(',');
    const given = Buffer.from(signature ?? '', 'base64');
    return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
  });
}

test('admin console: app webhooks, their failures and a replay', { timeout: 180_000 }, async (t) => {
  const org = await createOrganizer();
  const receiver = await startReceiver(t);
  const endpoint = expectStatus(await gateway('POST', '/v1/webhook-endpoints', {
    url: receiver.url, organizer_id: org.id, event_types: ['customer.updated'],
    description: 'Console test receiver',
  }), 201, 'POST /v1/webhook-endpoints');
  receiver.secret = endpoint.secret;
  assert.match(endpoint.secret, /^whsec_/);

  // A customer edited in Stripe: the gateway tells the endpoint `customer.updated`.
  const customer = expectStatus(await gateway('POST', `/v1/organizers/${org.id}/customers`, {
    email: `console-${randomAlnum(8).toLowerCase()}@example.com`, name: 'Before',
  }), 201, 'POST customers');
  const trigger = await fake('POST', '/_fake/trigger', {
    type: 'customer.updated', account: org.stripe_account_id, customer: customer.stripe_customer_id, name: 'After',
  });
  assert.equal(trigger.status, 200, `POST /_fake/trigger: ${trigger.status} ${trigger.text}`);

  const failed = await poll('a failed attempt of the delivery', async () => {
    const page = expectStatus(await gateway('GET', `/v1/webhook-endpoints/${endpoint.id}/deliveries`), 200, 'GET deliveries');
    const delivery = page.data.find((d) => d.attempt_log.some((a) => a.status_code === 500));
    return { done: Boolean(delivery), value: delivery, seen: page.data };
  });
  assert.equal(failed.event_type, 'customer.updated');
  assert.equal(receiver.accepted.length, 0);

  const { page, pageErrors, step, byTestId } = await openConsole(t);
  const row = page.locator(`[data-testid="app-webhook-row"][data-endpoint-id="${endpoint.id}"]`);
  const detail = page.locator(`[data-testid="app-webhook-detail"][data-endpoint-id="${endpoint.id}"]`);

  await step('a failing endpoint shows its failed attempts', async () => {
    await signIn(page, byTestId);
    await row.waitFor();
    assert.match(await row.innerText(), new RegExp(receiver.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    assert.match(await row.innerText(), new RegExp(org.name));
    assert.equal(await row.getByTestId('app-webhook-state').innerText(), 'failing');
    await row.getByTestId('app-webhook-toggle').click();
    const delivery = detail.locator(`[data-testid="app-webhook-delivery"][data-event-id="${failed.event_id}"]`);
    await delivery.waitFor();
    assert.match(await delivery.getByTestId('app-webhook-attempt').first().innerText(), /HTTP 500/);
    await row.scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(SHOTS, '4-app-webhook-failing.png') });
  });

  await step('a replay from the console reaches the receiver once it is back', async () => {
    receiver.status = 200;
    const delivery = detail.locator(`[data-testid="app-webhook-delivery"][data-event-id="${failed.event_id}"]`);
    await delivery.getByTestId('app-webhook-replay').click();
    await delivery.getByTestId('app-webhook-replayed').filter({ hasText: 'queued again' }).waitFor();
    const arrived = await poll('the replayed event at the receiver', async () => {
      const got = receiver.accepted.find((r) => r.headers['webhook-id'] === failed.event_id);
      return { done: Boolean(got), value: got, seen: receiver.accepted.length };
    }, { timeout: API_DEADLINE_MS });
    assert.ok(arrived.verified, 'the replay carries a valid Standard Webhooks signature');
    const event = JSON.parse(arrived.body);
    assert.equal(event.type, 'customer.updated');
    assert.equal(event.data.id, customer.id);
    assert.equal(event.data.name, 'After');
  });

  await step('an endpoint the senders disabled is announced and can be enabled again', async () => {
    // What the senders do after OUTBOUND_WEBHOOK_DISABLE_AFTER_HOURS of failures, through the
    // API's own reading of it: an endpoint disabled with the senders' reason.
    expectStatus(await gateway('PATCH', `/v1/webhook-endpoints/${endpoint.id}`, { enabled: false }), 200, 'PATCH');
    await byTestId('app-webhooks-refresh').click();
    await row.getByTestId('app-webhook-state').filter({ hasText: 'disabled' }).waitFor();
    // Disabled by a person: no reason, no notice.
    assert.equal(await row.getByTestId('app-webhook-disabled-reason').count(), 0);
    assert.equal(await byTestId('app-webhooks-disabled').isVisible(), false);

    // Disabled by the senders, the endpoint carries their reason (the API's `disabled_reason`,
    // tested in tests/api/outbound_webhooks.rs): the list reads it as such an endpoint, and the
    // section announces it. The answer is the gateway's own, with that one field set.
    const list = '**/v1/webhook-endpoints?*';
    await page.route(list, async (route) => {
      const response = await route.fetch();
      const json = await response.json();
      json.data = json.data.map((e) => (e.id === endpoint.id ? { ...e, disabled_reason: 'failing' } : e));
      await route.fulfill({ response, json });
    });
    await byTestId('app-webhooks-refresh').click();
    await row.getByTestId('app-webhook-disabled-reason').filter({ hasText: 'every attempt failed for days' }).waitFor();
    const notice = byTestId('app-webhooks-disabled');
    await notice.waitFor();
    assert.match(await notice.innerText(), /disabled after failing for days/);
    await row.scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(SHOTS, '5-app-webhook-disabled.png') });
    await page.unroute(list);
    await row.getByTestId('app-webhook-enable').click();
    await row.getByTestId('app-webhook-state').filter({ hasText: /healthy|failing/ }).waitFor();
    assert.equal(await byTestId('app-webhooks-disabled').isVisible(), false);
    const after = expectStatus(await gateway('GET', `/v1/webhook-endpoints/${endpoint.id}`), 200, 'GET endpoint');
    assert.equal(after.enabled, true);
  });

  assert.deepEqual(pageErrors, [], 'the page raised no errors');
});
