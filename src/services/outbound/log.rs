//! What was delivered where: an endpoint's deliveries with each attempt, newest first; and
//! replay, which delivers an event again (one, or every one the endpoint hears from a span of
//! time) as new deliveries, with the event's own id so that receivers recognise it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{authorized, changing, EndpointError};
use crate::db::models::gateway_event::{GatewayEvent, APPENDED};
use crate::db::models::webhook_delivery::{DeliveryAttempt, WebhookDelivery};
use crate::domain::{DeliveryState, GatewayEventType, PageLimit, Principal};
use crate::services::audit::{AuditEntry, Outcome};
use crate::services::AppState;

/// The most events one replay sends again.
pub const REPLAY_MAX: i64 = 10_000;

/// One delivery of an event to an endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryResponse {
    pub id: String,
    /// The event's id: the `webhook-id` header of every attempt, and of any replay.
    pub event_id: String,
    #[schema(value_type = GatewayEventType)]
    pub event_type: String,
    pub object_id: String,
    #[schema(value_type = DeliveryState)]
    pub state: String,
    pub attempts: i32,
    /// When it is tried next (while pending).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// When it was delivered, or when its last attempt failed.
    pub finished_at: Option<DateTime<Utc>>,
    /// Each attempt, in order.
    pub attempt_log: Vec<AttemptResponse>,
}

/// One attempt of a delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptResponse {
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    pub latency_ms: i32,
    /// The endpoint's answer; `null` when none came.
    pub status_code: Option<i32>,
    /// Why no answer came (`timed out`, `could not connect: ...`, a refused address).
    pub error: Option<String>,
    /// The start of the answer's body (at most 1 KiB).
    pub response: Option<String>,
}

impl From<DeliveryAttempt> for AttemptResponse {
    fn from(attempt: DeliveryAttempt) -> Self {
        Self {
            attempt: attempt.attempt,
            started_at: attempt.started_at.and_utc(),
            latency_ms: attempt.latency_ms,
            status_code: attempt.status_code,
            error: attempt.error,
            response: attempt.response,
        }
    }
}

impl DeliveryResponse {
    fn new(delivery: WebhookDelivery, attempts: Vec<DeliveryAttempt>) -> Self {
        Self {
            next_attempt_at: (delivery.state == DeliveryState::Pending)
                .then(|| delivery.next_attempt_at.and_utc()),
            id: delivery.id,
            event_id: delivery.event_id,
            event_type: delivery.event_type,
            object_id: delivery.object_id,
            state: delivery.state.as_str().to_string(),
            attempts: delivery.attempts,
            created_at: delivery.created_at.and_utc(),
            finished_at: delivery.finished_at.map(|at| at.and_utc()),
            attempt_log: attempts.into_iter().map(Into::into).collect(),
        }
    }
}

/// The endpoint's deliveries, newest first, before the delivery `before`.
pub async fn deliveries(
    state: &AppState,
    principal: &Principal,
    id: String,
    before: Option<String>,
    limit: PageLimit,
) -> Result<Vec<DeliveryResponse>, EndpointError> {
    let principal = principal.clone();
    let limit = i64::try_from(limit.get()).unwrap_or(i64::MAX);
    state
        .db
        .run(move |conn| {
            authorized(conn, &principal, &id)?;
            let log = WebhookDelivery::log(conn, &id, before.as_deref(), limit)?;
            Ok(log
                .into_iter()
                .map(|(delivery, attempts)| DeliveryResponse::new(delivery, attempts))
                .collect())
        })
        .await
}

/// What to deliver again.
pub enum Replay {
    /// One event.
    Event(String),
    /// Every event the endpoint hears, created in this span (up to [`REPLAY_MAX`]).
    Between {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
}

/// Delivers events to the endpoint again, as new deliveries due now; returns how many.
pub async fn replay(
    state: &AppState,
    principal: &Principal,
    id: String,
    replay: Replay,
) -> Result<usize, EndpointError> {
    let replayed = changing(state, principal, id, move |conn, endpoint, audit| {
        if !endpoint.enabled {
            return Err(EndpointError::Disabled(endpoint.id.clone()));
        }
        let events = match &replay {
            Replay::Event(event_id) => {
                let event = GatewayEvent::find(conn, event_id)?
                    .filter(|event| endpoint.hears(&event.organizer_id, &event.event_type))
                    .ok_or_else(|| EndpointError::EventNotFound(event_id.clone()))?;
                vec![event]
            }
            Replay::Between { from, to } => WebhookDelivery::events_between(
                conn,
                &endpoint,
                from.naive_utc(),
                to.naive_utc(),
                REPLAY_MAX,
            )?,
        };
        let now = crate::db::now();
        let deliveries: Vec<WebhookDelivery> = events
            .iter()
            .map(|event| WebhookDelivery::of(&endpoint.id, event, now))
            .collect();
        let replayed = WebhookDelivery::insert(conn, &deliveries)?;
        audit.record(
            conn,
            &AuditEntry {
                action: "webhook_endpoint.replayed",
                organizer_id: endpoint.organizer_id.clone(),
                targets: json!({ "webhook_endpoint_id": endpoint.id }),
                outcome: Outcome::Succeeded,
                subject_hash: None,
                details: json!({ "events": replayed }),
            },
        )?;
        Ok(replayed)
    })
    .await?;
    APPENDED.notify_waiters();
    Ok(replayed)
}
