import type { Client } from "openapi-fetch";

import { unwrap } from "./errors.js";
import type { components, paths } from "./schema.js";

type Organizer = components["schemas"]["OrganizerResponse"];
type NewAccount = components["schemas"]["CreateStripeAccount"];
type LinkUrls = components["schemas"]["CreateOnboardingLink"];

/** Whether the organizer's Stripe account can take payments now, and what Stripe still needs. */
export interface Readiness {
  /** True once Stripe enabled charges: checkouts and payment intents then go through. */
  ready: boolean;
  /** What Stripe needs now and what is overdue (Stripe's requirement names). */
  due: string[];
  /** Why the account is restricted, in Stripe's words; null when it is not. */
  disabledReason: string | null;
}

/**
 * Reads an organizer's onboarding state as the gateway last mirrored it. An organizer without
 * an account, or whose account the gateway has not fetched yet, is not ready.
 */
export function readiness(organizer: Organizer): Readiness {
  const account = organizer.account;
  if (!account) {
    return { ready: false, due: [], disabledReason: null };
  }
  return {
    ready: account.charges_enabled,
    due: [...account.past_due, ...account.currently_due],
    disabledReason: account.disabled_reason ?? null,
  };
}

/**
 * The URL to send an organizer to for Stripe's hosted onboarding, created for this visit (a
 * link works once and expires within minutes). An organizer registered without a Stripe account
 * gets one first, with `account`. Returns the URL and the organizer as it now stands.
 */
export async function onboardingUrl(
  gateway: Client<paths>,
  org_id: string,
  account: NewAccount,
  urls: LinkUrls,
): Promise<{ url: string; organizer: Organizer }> {
  const path = { params: { path: { org_id } } };
  let organizer = await unwrap(gateway.GET("/v1/organizers/{org_id}", path));
  if (organizer.stripe_account_id == null) {
    organizer = await unwrap(
      gateway.POST("/v1/organizers/{org_id}/stripe-account", { ...path, body: account }),
    );
  }
  const link = await unwrap(
    gateway.POST("/v1/organizers/{org_id}/onboarding-links", { ...path, body: urls }),
  );
  return { url: link.url, organizer };
}
