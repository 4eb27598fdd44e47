// A program an app would write against the packed client, installed from its tarball: it
// type-checks under NodeNext and Node10 resolution (.ci/typescript-package.sh) and runs against
// a gateway and the fake Stripe behind it. Nothing here is cast: literals are typed where used.

import { createGatewayClient, unwrap, type Schemas } from "@billing-gateway/client";

type LineItem = Schemas["LineItemBody"];

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

async function trigger(fake: string, body: Record<string, string>): Promise<void> {
  const response = await fetch(`${fake}/_fake/trigger`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`trigger ${body["type"]}: ${response.status}`);
}

async function main(): Promise<void> {
  const gateway = createGatewayClient(env("GATEWAY_URL"), env("ADMIN_TOKEN"));
  const fake = env("FAKE_STRIPE_URL");
  const suffix = Math.random().toString(36).slice(2, 12);
  const account = `acct_1Pack${suffix}`;
  const email = `pack-${suffix}@example.com`;

  const organizer = await unwrap(
    gateway.POST("/v1/organizers", {
      body: { name: "Packed client", stripe_account_id: account, application_fee_bps: 250 },
    }),
  );
  const org_id = organizer.id;
  await unwrap(gateway.GET("/v1/organizers", { params: { query: { limit: 5 } } }));
  await unwrap(gateway.PATCH("/v1/organizers/{org_id}", { params: { path: { org_id } }, body: { name: "Packed" } }));

  const customer = await unwrap(
    gateway.POST("/v1/organizers/{org_id}/customers", {
      params: { path: { org_id } },
      body: { email, name: "Ana", metadata: { crm_id: "c-1" } },
    }),
  );
  const customer_id = customer.id;
  await unwrap(gateway.GET("/v1/organizers/{org_id}/customers/{customer_id}", { params: { path: { org_id, customer_id } } }));
  await unwrap(gateway.GET("/v1/organizers/{org_id}/customers", { params: { path: { org_id }, query: { email } } }));
  await unwrap(
    gateway.PATCH("/v1/organizers/{org_id}/customers/{customer_id}", {
      params: { path: { org_id, customer_id } },
      body: { phone: "+55 11 91234-5678" },
    }),
  );

  // A catalog price appears in Stripe; the mirror follows.
  await trigger(fake, { type: "product.created", account });
  let price: string | undefined;
  for (let attempt = 0; attempt < 100 && !price; attempt++) {
    const products = await unwrap(gateway.GET("/v1/organizers/{org_id}/products", { params: { path: { org_id } } }));
    price = products.data.flatMap((product) => product.prices).find((p) => p.recurring_interval === null)?.id;
    if (!price) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (!price) throw new Error("the catalog never showed the price");

  // A cart built apart from the call, as an app builds it: a catalog item and one priced inline.
  const cart: LineItem[] = [
    { price, quantity: 1 },
    { name: "Parking", unit_amount: 1500, currency: "eur", quantity: 1 },
  ];
  const session = await unwrap(
    gateway.POST("/v1/organizers/{org_id}/checkout-sessions", {
      params: { path: { org_id }, header: { "Idempotency-Key": `pack-${suffix}-1` } },
      body: {
        customer_id,
        mode: "payment",
        line_items: cart,
        success_url: "https://shop.example/thanks",
        cancel_url: "https://shop.example/cart",
        metadata: { order_id: "1042" },
      },
    }),
  );
  // And one written inline in the call.
  await unwrap(
    gateway.POST("/v1/organizers/{org_id}/checkout-sessions", {
      params: { path: { org_id }, header: { "Idempotency-Key": `pack-${suffix}-2` } },
      body: {
        email,
        mode: "payment",
        line_items: [{ name: "Festival pass", unit_amount: 4900, currency: "eur", quantity: 2 }],
        success_url: "https://shop.example/thanks",
        cancel_url: "https://shop.example/cart",
        billing_address_collection: "required",
      },
    }),
  );
  await unwrap(
    gateway.GET("/v1/organizers/{org_id}/checkout-sessions/{session_id}", {
      params: { path: { org_id, session_id: session.id } },
    }),
  );
  await unwrap(
    gateway.POST("/v1/organizers/{org_id}/payment-intents", {
      params: { path: { org_id }, header: { "Idempotency-Key": `pack-${suffix}-3` } },
      body: { customer_id, amount: 4900, currency: "eur", description: "Festival pass" },
    }),
  );
  await unwrap(
    gateway.POST("/v1/organizers/{org_id}/customers/{customer_id}/portal-sessions", {
      params: { path: { org_id, customer_id } },
      body: { return_url: "https://shop.example/account" },
    }),
  );
  await unwrap(
    gateway.GET("/v1/organizers/{org_id}/customers/{customer_id}/entitlements", {
      params: { path: { org_id, customer_id } },
    }),
  );
  await unwrap(
    gateway.GET("/v1/organizers/{org_id}/customers/{customer_id}/subscriptions", {
      params: { path: { org_id, customer_id } },
    }),
  );
  const run = await unwrap(
    gateway.POST("/v1/organizers/{org_id}/sync", { params: { path: { org_id } }, body: { dry_run: true } }),
  );
  await unwrap(gateway.GET("/v1/organizers/{org_id}/sync-runs", { params: { path: { org_id } } }));
  await unwrap(gateway.GET("/v1/organizers/{org_id}/sync-runs/{run_id}", { params: { path: { org_id, run_id: run.run_id } } }));
  await unwrap(gateway.GET("/v1/admin/sync-health"));
  await unwrap(gateway.GET("/v1/admin/webhook-events", { params: { query: { limit: 5 } } }));
  await unwrap(gateway.GET("/v1/admin/audit-log", { params: { query: { org_id } } }));
  await unwrap(
    gateway.DELETE("/v1/organizers/{org_id}/customers/{customer_id}", { params: { path: { org_id, customer_id } } }),
  );
  await unwrap(gateway.POST("/v1/erasures", { body: { email } }));
  console.log(`the packed client made every call against ${env("GATEWAY_URL")}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
