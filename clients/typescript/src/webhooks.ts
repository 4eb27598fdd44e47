import type { components } from "./schema.js";
import type { GatewayEvent, GatewayEventType } from "./events.js";

type Schemas = components["schemas"];

/** The object each event type carries in `data`, as the gateway's read API serves it. */
export interface EventPayloads {
  "checkout.completed": Schemas["CheckoutSessionResponse"];
  "checkout.expired": Schemas["CheckoutSessionResponse"];
  "payment.succeeded": Schemas["PaymentResponse"];
  "payment.failed": Schemas["PaymentResponse"];
  "payment.canceled": Schemas["PaymentResponse"];
  "refund.updated": Schemas["RefundResponse"];
  "dispute.updated": Schemas["DisputeResponse"];
  "subscription.created": Schemas["SubscriptionResponse"];
  "subscription.updated": Schemas["SubscriptionResponse"];
  "subscription.canceled": Schemas["SubscriptionResponse"];
  "invoice.paid": Schemas["InvoiceResponse"];
  "invoice.payment_failed": Schemas["InvoiceResponse"];
  "entitlements.changed": Schemas["EntitlementResponse"];
  "organizer.account_updated": Schemas["AccountStatus"];
  "organizer.disconnected": Schemas["OrganizerResponse"];
  "customer.updated": Schemas["CustomerResponse"];
  "customer.deleted": Schemas["DeletedCustomer"];
  "endpoint.disabled": Schemas["WebhookEndpointResponse"];
}

/**
 * A gateway event whose `data` is typed by its `type`: narrow with `switch (event.type)`.
 * Every event type of the API has its entry (the compiler checks `EventPayloads` against it).
 */
export type TypedGatewayEvent = {
  [T in GatewayEventType]: Omit<GatewayEvent, "type" | "data"> & { type: T; data: EventPayloads[T] };
}[GatewayEventType];

// Fails to compile when the API gains an event type `EventPayloads` does not name, or loses one.
type Exactly<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const payloadsCoverEveryType: Exactly<keyof EventPayloads, GatewayEventType> = true;
void payloadsCoverEveryType;

/** Why a delivery was refused: `code` says which check failed. */
export class WebhookVerificationError extends Error {
  constructor(
    readonly code: "missing_header" | "bad_timestamp" | "stale_timestamp" | "bad_signature" | "bad_secret" | "bad_body",
    message: string,
  ) {
    super(message);
    this.name = "WebhookVerificationError";
  }
}

export interface VerifyOptions {
  /** How far the delivery's `webhook-timestamp` may be from now, in seconds (default 300). */
  toleranceSecs?: number;
  /** The time to check against, in seconds since the epoch (default: now). */
  now?: number;
}

/** Headers as `fetch` (`Headers`), Node's `IncomingMessage.headers` or a plain object give them. */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof (headers as Headers).get === "function") return (headers as Headers).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const value = record[name] ?? Object.entries(record).find(([key]) => key.toLowerCase() === name)?.[1];
  return Array.isArray(value) ? value[0] : value;
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

async function hmac(secret: string, payload: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  let key: Uint8Array<ArrayBuffer>;
  try {
    key = fromBase64(secret.startsWith("whsec_") ? secret.slice("whsec_".length) : secret);
  } catch {
    throw new WebhookVerificationError("bad_secret", "the secret is not a whsec_ secret");
  }
  const cryptoKey = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, payload));
}

/**
 * Checks a delivery of the gateway's webhooks (Standard Webhooks: `webhook-id`,
 * `webhook-timestamp`, `webhook-signature`) against the endpoint's secret, or several during a
 * rotation, and returns its event. `body` must be the raw body as received, before any JSON
 * parsing. Throws `WebhookVerificationError` when the delivery is not the gateway's.
 *
 * The same event may arrive more than once (a retry whose answer was lost, a replay): its `id`
 * (also `webhook-id`) is the same each time, so handle each id once.
 *
 * ```ts
 * const event = await verifyWebhook(process.env.GATEWAY_WEBHOOK_SECRET!, req.headers, rawBody);
 * if (event.type === "checkout.completed") await issueTickets(event.data);
 * ```
 */
export async function verifyWebhook(
  secret: string | readonly string[],
  headers: WebhookHeaders,
  body: string | Uint8Array,
  options: VerifyOptions = {},
): Promise<TypedGatewayEvent> {
  const id = header(headers, "webhook-id");
  const timestamp = header(headers, "webhook-timestamp");
  const signatures = header(headers, "webhook-signature");
  if (!id || !timestamp || !signatures) {
    throw new WebhookVerificationError("missing_header", "webhook-id, webhook-timestamp and webhook-signature are required");
  }
  if (!/^\d+$/.test(timestamp)) {
    throw new WebhookVerificationError("bad_timestamp", "webhook-timestamp is not a number of seconds");
  }
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - Number(timestamp)) > (options.toleranceSecs ?? 300)) {
    throw new WebhookVerificationError("stale_timestamp", "webhook-timestamp is too far from now");
  }
  const raw = typeof body === "string" ? new TextEncoder().encode(body) : body;
  const prefix = new TextEncoder().encode(`${id}.${timestamp}.`);
  const signed = new Uint8Array(prefix.length + raw.length);
  signed.set(prefix);
  signed.set(raw, prefix.length);
  const given = signatures
    .split(" ")
    .map((entry) => entry.split(","))
    .flatMap(([version, value]) => (version === "v1" && value ? [value] : []))
    .map((value) => {
      try {
        return fromBase64(value);
      } catch {
        return new Uint8Array(0);
      }
    });
  const secrets = typeof secret === "string" ? [secret] : secret;
  for (const candidate of secrets) {
    const expected = await hmac(candidate, signed);
    if (given.some((signature) => equal(signature, expected))) {
      try {
        return JSON.parse(new TextDecoder().decode(raw)) as TypedGatewayEvent;
      } catch {
        throw new WebhookVerificationError("bad_body", "the body is not JSON");
      }
    }
  }
  throw new WebhookVerificationError("bad_signature", "no signature matches the secret");
}
