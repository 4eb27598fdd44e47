//! The inbox's events as the API serves them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::models::{EventAttempt, WebhookEvent};
use crate::domain::EventStatus;

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEventResponse {
    /// Stripe's event id.
    #[schema(example = "evt_1PqRstUvWxYz")]
    id: String,
    #[serde(rename = "type")]
    #[schema(example = "customer.updated")]
    event_type: String,
    /// The account the event is about; null when it has none and no platform account is set.
    stripe_account_id: Option<String>,
    /// The type of the object the event names, e.g. `customer`.
    object_type: String,
    object_id: Option<String>,
    livemode: bool,
    /// When Stripe created the event.
    created_at: DateTime<Utc>,
    received_at: DateTime<Utc>,
    status: EventStatus,
    /// Processing attempts since it was stored or last replayed.
    attempts: i32,
    /// When a pending event is tried next.
    next_attempt_at: DateTime<Utc>,
    processed_at: Option<DateTime<Utc>>,
    /// The event whose fetch settled this one: itself, or a later one about the same object.
    settled_by: Option<String>,
}

impl From<WebhookEvent> for WebhookEventResponse {
    fn from(event: WebhookEvent) -> Self {
        Self {
            stripe_account_id: event.account().map(str::to_string),
            id: event.id,
            event_type: event.event_type,
            object_type: event.object_type,
            object_id: event.object_id,
            livemode: event.livemode,
            created_at: event.created_at.and_utc(),
            received_at: event.received_at.and_utc(),
            status: event.status,
            attempts: event.attempts,
            next_attempt_at: event.next_attempt_at.and_utc(),
            processed_at: event.processed_at.map(|t| t.and_utc()),
            settled_by: event.settled_by,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptResponse {
    started_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
    /// Null when the attempt succeeded.
    error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEventDetail {
    #[serde(flatten)]
    event: WebhookEventResponse,
    /// Every attempt, oldest first.
    attempts_log: Vec<AttemptResponse>,
    /// The last attempt's error, if it failed.
    last_error: Option<String>,
    /// The body exactly as Stripe sent it.
    #[schema(value_type = Object)]
    payload: serde_json::Value,
}

impl WebhookEventDetail {
    pub(super) fn new(event: WebhookEvent, attempts: Vec<EventAttempt>, payload: String) -> Self {
        Self {
            last_error: attempts.last().and_then(|a| a.error.clone()),
            attempts_log: attempts.into_iter().map(Into::into).collect(),
            payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::String(payload)),
            event: event.into(),
        }
    }
}

impl From<EventAttempt> for AttemptResponse {
    fn from(attempt: EventAttempt) -> Self {
        Self {
            started_at: attempt.started_at.and_utc(),
            finished_at: attempt.finished_at.and_utc(),
            error: attempt.error,
        }
    }
}
