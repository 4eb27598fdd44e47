import createClient, { type Client, type ClientOptions, type Middleware } from "openapi-fetch";

import type { components, paths } from "./schema.js";

export type { components, operations, paths } from "./schema.js";
export { GatewayError, isErrorBody, unwrap } from "./errors.js";
export type { ErrorBody, ErrorDetail, FieldError } from "./errors.js";
export { followEvents, readEvents } from "./events.js";
export type { EventPage, EventReadOptions, GatewayEvent, GatewayEventType } from "./events.js";
export { onboardingUrl, readiness } from "./onboarding.js";
export { verifyWebhook, WebhookVerificationError } from "./webhooks.js";
export type { EventPayloads, TypedGatewayEvent, VerifyOptions, WebhookHeaders } from "./webhooks.js";
export type { Readiness } from "./onboarding.js";

/** Every schema of the API by name, e.g. `Schemas["CustomerResponse"]`. */
export type Schemas = components["schemas"];

/** A client whose every call is checked against the gateway's OpenAPI document. */
export type GatewayClient = Client<paths>;

/** A JWT, or a function giving the current one (called once per request). */
export type TokenSource = string | (() => string | Promise<string>);

/** openapi-fetch's options, but for the base URL (e.g. a custom `fetch`, default `headers`). */
export type GatewayClientOptions = Omit<ClientOptions, "baseUrl">;

/** Sends `Authorization: Bearer <token>` with every request. */
export function bearerAuth(token: TokenSource): Middleware {
  return {
    async onRequest({ request }) {
      const value = typeof token === "string" ? token : await token();
      request.headers.set("Authorization", `Bearer ${value}`);
      return request;
    },
  };
}

/**
 * A typed client of the gateway at `baseUrl` (e.g. `https://billing.example.com`), calling as
 * the holder of `token`: an admin token, or an organizer's for that organizer's routes.
 *
 * ```ts
 * const gateway = createGatewayClient(url, token);
 * const { data, error } = await gateway.GET("/v1/organizers/{org_id}", {
 *   params: { path: { org_id } },
 * });
 * ```
 */
export function createGatewayClient(
  baseUrl: string,
  token: TokenSource,
  options: GatewayClientOptions = {},
): GatewayClient {
  const client = createClient<paths>({ ...options, baseUrl });
  client.use(bearerAuth(token));
  return client;
}
