// Drives a running gateway (and the fake Stripe behind it) through the generated client only:
// every request and response below is type-checked against openapi.yaml.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { before, describe, it } from "node:test";

import {
  createGatewayClient,
  followEvents,
  GatewayError,
  onboardingUrl,
  readiness,
  unwrap,
  type GatewayClient,
  type Schemas,
} from "../src/index.js";
import { given, pollUntil, randomAlphanumeric, requireEnv, triggerFakeStripe } from "./support.js";

type Organizer = Schemas["OrganizerResponse"];
type Customer = Schemas["CustomerResponse"];

describe("the gateway through the typed client", { timeout: 60_000 }, () => {
  let gateway: GatewayClient;
  let fakeStripeUrl: string;
  // Each run registers a new account, so reruns against one gateway never collide.
  const stripeAccountId = `acct_${randomAlphanumeric(16)}`;
  const email = `ts-client-${randomAlphanumeric(12).toLowerCase()}@example.com`;
  let organizer: Organizer | undefined;
  let customer: Customer | undefined;
  let price: string | undefined;

  before(() => {
    gateway = createGatewayClient(requireEnv("GATEWAY_URL"), requireEnv("ADMIN_TOKEN"));
    fakeStripeUrl = requireEnv("FAKE_STRIPE_URL");
  });

  const readEntitlements = (org_id: string, customer_id: string) =>
    unwrap(
      gateway.GET("/v1/organizers/{org_id}/customers/{customer_id}/entitlements", {
        params: { path: { org_id, customer_id } },
      }),
    );

  it("registers an organizer for a connected account", async () => {
    const { data, response } = await gateway.POST("/v1/organizers", {
      body: { name: "TypeScript client test", stripe_account_id: stripeAccountId },
    });
    assert.equal(response.status, 201);
    assert.ok(data);
    assert.equal(data.stripe_account_id, stripeAccountId);
    assert.equal(data.account_kind, "connected");
    assert.equal(data.status, "active");
    organizer = data;
  });

  it("upserts a customer, then finds it by id and by email", async () => {
    const org_id = given(organizer, "the organizer").id;
    const details = {
      email,
      name: "Ana Lima",
      phone: "+55 11 91234-5678",
      metadata: { crm_id: "c-1042" },
    };
    const created = await gateway.POST("/v1/organizers/{org_id}/customers", {
      params: { path: { org_id } },
      body: details,
    });
    assert.equal(created.response.status, 201);
    const found = given(created.data, "the created customer");
    assert.equal(found.organizer_id, org_id);
    assert.equal(found.stripe_account_id, stripeAccountId);
    assert.match(found.stripe_customer_id, /^cus_/);
    assert.equal(found.email, email);
    assert.equal(found.name, details.name);
    assert.equal(found.phone, details.phone);
    assert.equal(found.metadata["crm_id"], "c-1042");

    const again = await gateway.POST("/v1/organizers/{org_id}/customers", {
      params: { path: { org_id } },
      body: details,
    });
    assert.equal(again.response.status, 200, "the same email is the same customer");
    assert.equal(again.data?.id, found.id);

    const byId = await unwrap(
      gateway.GET("/v1/organizers/{org_id}/customers/{customer_id}", {
        params: { path: { org_id, customer_id: found.id } },
      }),
    );
    assert.deepEqual(byId, found);

    const byEmail = await unwrap(
      gateway.GET("/v1/organizers/{org_id}/customers", {
        params: { path: { org_id }, query: { email: `  ${email.toUpperCase()} ` } },
      }),
    );
    assert.deepEqual(
      byEmail.data.map((c) => c.id),
      [found.id],
      "email lookups compare trimmed and lowercased",
    );
    assert.equal(byEmail.next_cursor ?? null, null);
    customer = found;
  });

  it("grants access once the subscription's webhooks are processed", async () => {
    const org_id = given(organizer, "the organizer").id;
    const { id: customer_id, stripe_customer_id } = given(customer, "the customer");
    const initially = await readEntitlements(org_id, customer_id);
    assert.deepEqual(initially, { active: false, subscriptions: [], features: [] });

    const triggered = await triggerFakeStripe(fakeStripeUrl, {
      type: "customer.subscription.created",
      account: stripeAccountId,
      customer: stripe_customer_id,
      lookup_key: "premium",
    });
    const granted = await pollUntil(
      "access through the new subscription",
      () => readEntitlements(org_id, customer_id),
      // The subscription's event, then the customer's entitlements' own event.
      (e) =>
        e.active &&
        e.subscriptions.some((s) => s.id === triggered.object_id) &&
        e.features.includes("premium"),
    );
    assert.deepEqual(granted.features, ["premium"]);
    const subscription = granted.subscriptions.find((s) => s.id === triggered.object_id);
    assert.equal(subscription?.status, "active");
    const item = subscription.items[0];
    assert.ok(item, "the subscription has an item");
    assert.match(item.price, /^price_/);
    price = item.price;
  });

  it("hears of the subscription in the organizer's event feed", async () => {
    const org_id = given(organizer, "the organizer").id;
    const feed = followEvents(gateway, org_id, { types: ["subscription.created"], wait: 10 });
    const first = await feed.next();
    await feed.return(undefined);
    assert.equal(first.done, false);
    const page = first.value;
    assert.ok(page && page.events.length === 1, JSON.stringify(page));
    const event = page.events[0];
    assert.ok(event);
    assert.equal(event.type, "subscription.created");
    assert.equal(event.organizer_id, org_id);
    assert.equal(event.sequence, 1);
    assert.ok("status" in event.data && event.data.status === "active", JSON.stringify(event.data));
    assert.match(page.cursor, /^[0-9]+$/);
  });

  // A reconciliation of the account's entitlements reads them from Stripe whatever was
  // delivered, and agrees with what the webhooks wrote.
  it("keeps the subscription's features through a reconciliation", async () => {
    const org_id = given(organizer, "the organizer").id;
    const customer_id = given(customer, "the customer").id;
    given(price, "the subscription");
    const started = await gateway.POST("/v1/organizers/{org_id}/sync", {
      params: { path: { org_id }, header: { "Idempotency-Key": randomUUID() } },
      body: { kinds: ["entitlements"] },
    });
    assert.equal(started.response.status, 202, JSON.stringify(started.error));
    const run_id = given(started.data, "the started run").run_id;

    const finished = await pollUntil(
      "the reconciliation run",
      () =>
        unwrap(
          gateway.GET("/v1/organizers/{org_id}/sync-runs/{run_id}", {
            params: { path: { org_id, run_id } },
          }),
        ),
      (run) => !["queued", "running"].includes(run.status),
    );
    assert.equal(finished.status, "succeeded", JSON.stringify(finished));
    assert.deepEqual(finished.kinds, ["entitlements"]);
    assert.equal(finished.report?.kinds["entitlements"]?.complete, true);

    const access = await readEntitlements(org_id, customer_id);
    assert.equal(access.active, true);
    assert.deepEqual(access.features, ["premium"]);
  });

  it("replays a checkout session for a repeated Idempotency-Key", async () => {
    const org_id = given(organizer, "the organizer").id;
    const customer_id = given(customer, "the customer").id;
    const subscriptionPrice = given(price, "the subscription's price");
    const key = randomUUID();
    const order_id = randomAlphanumeric(8);
    const start = (idempotencyKey: string, quantity: number) =>
      gateway.POST("/v1/organizers/{org_id}/checkout-sessions", {
        params: { path: { org_id }, header: { "Idempotency-Key": idempotencyKey } },
        body: {
          mode: "subscription",
          customer_id,
          line_items: [{ price: subscriptionPrice, quantity }],
          success_url: "https://shop.example/thanks?session={CHECKOUT_SESSION_ID}",
          cancel_url: "https://shop.example/cart",
          metadata: { order_id },
        },
      });

    const first = await start(key, 1);
    assert.equal(first.response.status, 201, JSON.stringify(first.error));
    assert.equal(first.response.headers.get("Idempotent-Replayed"), null);
    const session = given(first.data, "the created session");
    assert.match(session.id, /^cs_/);
    assert.equal(session.customer_id, customer_id);
    assert.equal(session.stripe_account_id, stripeAccountId);

    const replay = await start(key, 1);
    assert.equal(replay.response.status, 201);
    assert.equal(replay.response.headers.get("Idempotent-Replayed"), "true");
    assert.deepEqual(replay.data, session, "the replay is the first answer");

    const reused = await start(key, 2);
    assert.equal(reused.response.status, 422);
    assert.equal(reused.error?.error.code, "idempotency_key_reused");

    const stored = await unwrap(
      gateway.GET("/v1/organizers/{org_id}/checkout-sessions/{session_id}", {
        params: { path: { org_id, session_id: session.id } },
      }),
    );
    assert.equal(stored.id, session.id);
    assert.equal(stored.mode, "subscription");
    assert.equal(stored.stripe_customer_id, given(customer, "the customer").stripe_customer_id);
    assert.equal(stored.metadata["order_id"], order_id);
  });

  it("onboards an organizer registered without an account", async () => {
    const registered = await unwrap(
      gateway.POST("/v1/organizers", { body: { name: "Onboarding through the client" } }),
    );
    assert.equal(registered.stripe_account_id, null);
    assert.deepEqual(readiness(registered), { ready: false, due: [], disabledReason: null });
    const org_id = registered.id;
    const { url, organizer: created } = await onboardingUrl(
      gateway,
      org_id,
      { country: "FR", business_type: "company" },
      {
        refresh_url: "https://tickets.example/onboarding/refresh",
        return_url: "https://tickets.example/onboarding/done",
      },
    );
    const account = given(created.stripe_account_id ?? undefined, "the created account");
    assert.match(url, /^https:\/\//);
    const before = readiness(created);
    assert.equal(before.ready, false);
    assert.ok(before.due.includes("external_account"), before.due.join(", "));

    // A second visit makes a new link for the same account.
    const again = await onboardingUrl(gateway, org_id, { country: "FR" }, {
      refresh_url: "https://tickets.example/onboarding/refresh",
      return_url: "https://tickets.example/onboarding/done",
    });
    assert.equal(again.organizer.stripe_account_id, account);
    assert.notEqual(again.url, url);

    await triggerFakeStripe(fakeStripeUrl, { type: "account.updated", account });
    const ready = await pollUntil(
      "the account can take charges",
      () => unwrap(gateway.GET("/v1/organizers/{org_id}", { params: { path: { org_id } } })),
      (read) => readiness(read).ready,
    );
    assert.deepEqual(readiness(ready), { ready: true, due: [], disabledReason: null });
  });

  it("answers errors in the documented ErrorBody shape", async () => {
    const missing = randomUUID();
    const notFound = await gateway.GET("/v1/organizers/{org_id}", {
      params: { path: { org_id: missing } },
    });
    assert.equal(notFound.response.status, 404);
    const detail = given(notFound.error, "an error body").error;
    assert.equal(detail.code, "organizer_not_found");
    assert.equal(detail.request_id, notFound.response.headers.get("x-request-id"));

    const org_id = given(organizer, "the organizer").id;
    await assert.rejects(
      unwrap(
        gateway.POST("/v1/organizers/{org_id}/customers", {
          params: { path: { org_id } },
          body: { email: "not an email", phone: "call me" },
        }),
      ),
      (err: unknown) => {
        assert.ok(err instanceof GatewayError);
        assert.equal(err.status, 422);
        assert.equal(err.code, "validation_failed");
        const fields = err.fields.map((f) => f.field).sort();
        assert.deepEqual(fields, ["email", "phone"], "every invalid field is named at once");
        return true;
      },
    );
  });
});
