import { randomInt } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";

/** The value of a required environment variable; throws naming it when it is unset. */
export function requireEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") {
    throw new Error(
      `${name} is not set: export GATEWAY_URL, ADMIN_TOKEN and FAKE_STRIPE_URL ` +
        "(`source .ci/stack.sh` from the repository root starts a gateway and a fake Stripe)",
    );
  }
  return value;
}

const ALPHANUMERICS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

export function randomAlphanumeric(length: number): string {
  const pick = () => ALPHANUMERICS.charAt(randomInt(ALPHANUMERICS.length));
  return Array.from({ length }, pick).join("");
}

/** A value an earlier step of the suite produced; throws naming it when that step failed. */
export function given<T>(value: T | undefined, what: string): T {
  if (value === undefined) {
    throw new Error(`needs ${what} from an earlier step, which failed`);
  }
  return value;
}

export interface PollOptions {
  timeoutMs: number;
  intervalMs: number;
}

/**
 * Reads until `done` holds for what was read, or throws once `timeoutMs` has passed, showing
 * the last value read.
 */
export async function pollUntil<T>(
  what: string,
  read: () => Promise<T>,
  done: (value: T) => boolean,
  { timeoutMs, intervalMs }: PollOptions = { timeoutMs: 20_000, intervalMs: 100 },
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) {
      return value;
    }
    if (Date.now() >= deadline) {
      throw new Error(`${what}: not within ${timeoutMs} ms; last read: ${JSON.stringify(value)}`);
    }
    await delay(intervalMs);
  }
}

/** What the fake Stripe answers to `POST /_fake/trigger`. */
export interface Triggered {
  event_id: string;
  object_id: string;
  /** The status the webhook delivery got from the gateway. */
  delivery_status: number;
}

/**
 * Has the fake Stripe act as Stripe would on its own (e.g. create a subscription) and deliver the
 * event, signed, to the gateway; throws unless the gateway accepted the delivery.
 */
export async function triggerFakeStripe(
  fakeStripeUrl: string,
  event: { type: string; account?: string; customer?: string; lookup_key?: string; name?: string },
): Promise<Triggered> {
  const response = await fetch(`${fakeStripeUrl.replace(/\/+$/, "")}/_fake/trigger`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(event),
  });
  const text = await response.text();
  if (!response.ok) {
    const sent = JSON.stringify(event);
    throw new Error(`fake Stripe refused the trigger ${sent}: ${response.status} ${text}`);
  }
  const triggered = JSON.parse(text) as Triggered;
  if (triggered.delivery_status !== 200) {
    const status = triggered.delivery_status;
    throw new Error(`the gateway answered the webhook delivery with ${status}: ${text}`);
  }
  return triggered;
}
