import type { Client } from "openapi-fetch";

import { unwrap } from "./errors.js";
import type { components, paths } from "./schema.js";

/** One of the gateway's events: `data` is the object as its read route serves it. */
export type GatewayEvent = components["schemas"]["GatewayEventResponse"];
export type GatewayEventType = components["schemas"]["GatewayEventType"];

export interface EventReadOptions {
  /** Read after this cursor (a `cursor` stored from an earlier read); from the oldest event kept when absent. */
  after?: string;
  /** Only these types. */
  types?: GatewayEventType[];
  /** Seconds a read waits for an event when none is new, 0 to 30. */
  wait?: number;
  /** Events per read, 1 to 100. */
  limit?: number;
}

/** A read of the feed: its events in order, and the cursor to read on from (store it once they are handled). */
export interface EventPage {
  events: GatewayEvent[];
  cursor: string;
}

/** One read of an organizer's event feed (`GET /v1/organizers/{org_id}/events`). */
export async function readEvents(
  gateway: Client<paths>,
  org_id: string,
  options: EventReadOptions = {},
): Promise<EventPage> {
  const query: paths["/v1/organizers/{org_id}/events"]["get"]["parameters"]["query"] = {};
  if (options.after !== undefined) query.after = options.after;
  if (options.types?.length) query.types = options.types.join(",");
  if (options.wait !== undefined) query.wait = options.wait;
  if (options.limit !== undefined) query.limit = options.limit;
  const page = await unwrap(
    gateway.GET("/v1/organizers/{org_id}/events", { params: { path: { org_id }, query } }),
  );
  return { events: page.data, cursor: page.next_cursor };
}

/**
 * Follows an organizer's events from `options.after`: yields each read that found events, in
 * order, long-polling (`options.wait`, default 30 s) between them. Handle a page's events, then
 * store its `cursor` to resume from after a restart. Stop with `break`.
 *
 * ```ts
 * for await (const page of followEvents(gateway, org_id, { after: stored })) {
 *   for (const event of page.events) await handle(event);
 *   await store(page.cursor);
 * }
 * ```
 */
export async function* followEvents(
  gateway: Client<paths>,
  org_id: string,
  options: EventReadOptions = {},
): AsyncGenerator<EventPage> {
  let read: EventReadOptions = { ...options, wait: options.wait ?? 30 };
  for (;;) {
    const page = await readEvents(gateway, org_id, read);
    read = { ...read, after: page.cursor };
    if (page.events.length > 0) yield page;
  }
}
