// The webhook verifier: against signatures made here with node:crypto (an implementation of
// Standard Webhooks independent of the one it checks), then against a real delivery from the
// running gateway to a receiver in this process, read through the typed event.

import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";

import {
  createGatewayClient,
  unwrap,
  verifyWebhook,
  WebhookVerificationError,
  type GatewayClient,
} from "../src/index.js";
import { pollUntil, randomAlphanumeric, requireEnv, triggerFakeStripe } from "./support.js";

const secret = () => `whsec_${randomBytes(24).toString("base64")}`;

function sign(key: string, id: string, timestamp: number, body: string): string {
  const raw = Buffer.from(key.slice("whsec_".length), "base64");
  return `v1,${createHmac("sha256", raw).update(`${id}.${timestamp}.${body}`).digest("base64")}`;
}

const event = {
  id: "0193a7c0-5b1e-7c3a-9f10-2d4e6f8a0b1c",
  type: "customer.deleted",
  organizer_id: "0193a7c0-0000-7000-8000-000000000001",
  object_id: "0193a7c0-0000-7000-8000-000000000002",
  sequence: 2,
  timestamp: "2026-12-04T10:00:00Z",
  data: { id: "0193a7c0-0000-7000-8000-000000000002", deleted: true },
};

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof WebhookVerificationError, `a WebhookVerificationError, not ${String(err)}`);
    return err.code;
  }
  assert.fail("the delivery was accepted");
}

describe("verifyWebhook", () => {
  const key = secret();
  const body = JSON.stringify(event);
  const now = 1_764_842_400;
  const headers = (signature: string, timestamp = now) => ({
    "webhook-id": event.id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": signature,
  });

  it("accepts a delivery signed with the secret and returns its event", async () => {
    const verified = await verifyWebhook(key, headers(sign(key, event.id, now, body)), body, { now });
    assert.deepEqual(verified, event);
    // Headers as fetch gives them work too, and a body as bytes.
    const fetchHeaders = new Headers(headers(sign(key, event.id, now, body)));
    assert.deepEqual(await verifyWebhook(key, fetchHeaders, new TextEncoder().encode(body), { now }), event);
  });

  it("accepts any of the signatures a rotation sends, with any of the receiver's secrets", async () => {
    const old = secret();
    const both = `${sign(old, event.id, now, body)} ${sign(key, event.id, now, body)}`;
    assert.deepEqual(await verifyWebhook(key, headers(both), body, { now }), event);
    assert.deepEqual(await verifyWebhook([secret(), old], headers(sign(old, event.id, now, body)), body, { now }), event);
  });

  it("refuses a changed body, another secret, an old timestamp and missing headers", async () => {
    const signed = headers(sign(key, event.id, now, body));
    assert.equal(await refusal(verifyWebhook(key, signed, body.replace("true", "false"), { now })), "bad_signature");
    assert.equal(await refusal(verifyWebhook(secret(), signed, body, { now })), "bad_signature");
    assert.equal(await refusal(verifyWebhook(key, { ...signed, "webhook-signature": "v2,abc" }, body, { now })), "bad_signature");
    assert.equal(await refusal(verifyWebhook(key, signed, body, { now: now + 301 })), "stale_timestamp");
    assert.equal(await refusal(verifyWebhook(key, { ...signed, "webhook-timestamp": "soon" }, body, { now })), "bad_timestamp");
    assert.equal(await refusal(verifyWebhook(key, { "webhook-id": event.id }, body, { now })), "missing_header");
  });
});

describe("a delivery from the gateway", { timeout: 60_000 }, () => {
  let gateway: GatewayClient;
  const received: { headers: IncomingHttpHeaders; body: Buffer }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(204).end();
    });
  });

  before(async () => {
    gateway = createGatewayClient(requireEnv("GATEWAY_URL"), requireEnv("ADMIN_TOKEN"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it("verifies, and reads as the typed event of its type", async () => {
    const account = `acct_${randomAlphanumeric(16)}`;
    const organizer = await unwrap(
      gateway.POST("/v1/organizers", { body: { name: "Webhook receiver test", stripe_account_id: account } }),
    );
    const port = (server.address() as AddressInfo).port;
    const endpoint = await unwrap(
      gateway.POST("/v1/webhook-endpoints", {
        body: { url: `http://127.0.0.1:${port}/hooks`, organizer_id: organizer.id, event_types: ["customer.updated"] },
      }),
    );
    const key = endpoint.secret;
    assert.ok(key, "the endpoint's secret is shown at creation");
    const customer = await unwrap(
      gateway.POST("/v1/organizers/{org_id}/customers", {
        params: { path: { org_id: organizer.id } },
        body: { email: `hook-${randomAlphanumeric(10).toLowerCase()}@example.com`, name: "Before" },
      }),
    );
    await triggerFakeStripe(requireEnv("FAKE_STRIPE_URL"), {
      type: "customer.updated",
      account,
      customer: customer.stripe_customer_id ?? "",
      name: "Renamed in Stripe",
    });

    const delivery = await pollUntil(
      "the customer.updated delivery",
      async () => received[0],
      (got) => got !== undefined,
    );
    const verified = await verifyWebhook(key, delivery!.headers, delivery!.body);
    assert.equal(verified.organizer_id, organizer.id);
    assert.equal(verified.type, "customer.updated");
    if (verified.type !== "customer.updated") return;
    // Narrowed: `data` is the customer as GET .../customers/{customer_id} serves it.
    assert.equal(verified.data.id, customer.id);
    assert.equal(verified.data.name, "Renamed in Stripe");
    assert.equal(verified.data.email, customer.email);
    assert.equal(delivery!.headers["webhook-id"], verified.id);

    // The same body under another secret is refused.
    assert.equal(await refusal(verifyWebhook(secret(), delivery!.headers, delivery!.body)), "bad_signature");
  });
});
