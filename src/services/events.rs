//! The event feed, for apps that pull: an organizer's gateway events in the order they were
//! committed, after a cursor. A read that finds nothing new waits, up to the time it asks, for
//! an event to be appended (a long poll): woken at once by an append in this process, and
//! looking again every second for those of other instances.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::customers::{CustomerResponse, DeletedCustomer};
use super::organizers::{self, OrganizerError, OrganizerResponse};
use super::outbound::WebhookEndpointResponse;
use super::AppState;
use crate::db::models::gateway_event::{GatewayEvent, APPENDED};
use crate::domain::{GatewayEventType, OrganizerId, PageLimit, Principal};
use crate::mirror::account::AccountStatus;
use crate::mirror::checkout_session::CheckoutSessionResponse;
use crate::mirror::dispute::DisputeResponse;
use crate::mirror::entitlements::EntitlementResponse;
use crate::mirror::invoice::InvoiceResponse;
use crate::mirror::payment_intent::PaymentResponse;
use crate::mirror::refund::RefundResponse;
use crate::mirror::subscription::SubscriptionResponse;

/// How often a long poll looks again for events another instance appended.
const LOOK_AGAIN: Duration = Duration::from_secs(1);

/// One event as the feed (and, later, a webhook delivery) serves it.
#[derive(Debug, Serialize, ToSchema)]
pub struct GatewayEventResponse {
    /// The event's id: the same wherever the event is read or delivered.
    #[schema(example = "0193a7c0-5b1e-7c3a-9f10-2d4e6f8a0b1c")]
    pub id: String,
    #[serde(rename = "type")]
    #[schema(value_type = GatewayEventType)]
    pub event_type: String,
    pub organizer_id: String,
    /// The Stripe id of the object it is about (`pi_...`, `cs_...`, `re_...`, `acct_...`).
    pub object_id: String,
    /// The object's events in order, from 1: an app that has seen a higher one of this object
    /// can drop this one.
    pub sequence: i64,
    /// When the change was recorded.
    pub timestamp: DateTime<Utc>,
    /// The object as the gateway's read API serves it (see `type`).
    #[schema(value_type = EventObject)]
    pub data: serde_json::Value,
}

/// The objects an event may carry, each as its read API serves it.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // a schema only: events carry the stored JSON
pub enum EventObject {
    CheckoutSession(CheckoutSessionResponse),
    Payment(PaymentResponse),
    Refund(RefundResponse),
    Dispute(DisputeResponse),
    Subscription(SubscriptionResponse),
    Invoice(InvoiceResponse),
    Account(AccountStatus),
    Entitlements(EntitlementResponse),
    Organizer(OrganizerResponse),
    Customer(CustomerResponse),
    DeletedCustomer(DeletedCustomer),
    WebhookEndpoint(WebhookEndpointResponse),
}

impl From<GatewayEvent> for GatewayEventResponse {
    fn from(event: GatewayEvent) -> Self {
        let data = serde_json::from_str(&event.data).unwrap_or_else(|err| {
            tracing::error!(event_id = %event.id, error = %err, "a stored event's data does not read");
            serde_json::Value::Null
        });
        Self {
            id: event.id,
            event_type: event.event_type,
            organizer_id: event.organizer_id,
            object_id: event.object_id,
            sequence: event.object_seq,
            timestamp: event.created_at.and_utc(),
            data,
        }
    }
}

/// What a read of the feed asks.
pub struct FeedQuery {
    /// The cursor: events after this one (0: from the oldest kept).
    pub after: i64,
    /// Only these types; every type when empty.
    pub types: Vec<GatewayEventType>,
    pub limit: PageLimit,
    /// How long to wait for an event when none is new.
    pub wait: Duration,
}

/// A page of the feed, and the cursor to read on from (the same one when nothing was new).
pub struct FeedPage {
    pub events: Vec<GatewayEventResponse>,
    pub cursor: i64,
}

/// The organizer's events after `query.after`, waiting up to `query.wait` for one.
pub async fn feed(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    query: FeedQuery,
) -> Result<FeedPage, OrganizerError> {
    let deadline = tokio::time::Instant::now() + query.wait;
    let types: Vec<String> = query.types.iter().map(|t| t.as_str().to_string()).collect();
    let limit = i64::try_from(query.limit.get()).unwrap_or(i64::MAX);
    loop {
        // Listening before looking: an append between the look and the wait still wakes it.
        let appended = APPENDED.notified();
        tokio::pin!(appended);
        appended.as_mut().enable();
        let wanted = types.clone();
        let after = query.after;
        let events = organizers::with_organizer(state, principal, org_id, move |conn, org| {
            Ok::<_, OrganizerError>(GatewayEvent::page(conn, &org.id, after, &wanted, limit)?)
        })
        .await?;
        let now = tokio::time::Instant::now();
        if !events.is_empty() || now >= deadline {
            let cursor = events.last().map_or(query.after, |event| event.seq);
            let events = events.into_iter().map(Into::into).collect();
            return Ok(FeedPage { events, cursor });
        }
        let next_look = deadline.min(now + LOOK_AGAIN);
        tokio::select! {
            () = &mut appended => {}
            () = tokio::time::sleep_until(next_look) => {}
        }
    }
}
