//! The inbox as operators see it: list, one event with its attempts, and replay.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;

use crate::db::models::{EventAttempt, EventFilter, WebhookEvent};
use crate::db::{now, DbError, QueryFailure};
use crate::domain::EventStatus;
use crate::domain::Principal;
use crate::domain::{PageLimit, StripeId};
use crate::services::audit::{AuditContext, AuditEntry, Outcome};
use crate::services::AppState;

mod view;
pub use view::{WebhookEventDetail, WebhookEventResponse};

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("no webhook event {0}")]
    NotFound(String),
    #[error("`cursor` is not a cursor this API returned")]
    BadCursor,
    /// The cursor decoded, but names an event the inbox no longer has: the position it stands
    /// for is gone, as a path naming that event would be.
    #[error("the event `cursor` names is not in the inbox; list from the start")]
    CursorGone,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for EventsError {
    fn from(err: diesel::result::Error) -> Self {
        Self::Db(err.into())
    }
}

impl QueryFailure for EventsError {
    fn is_query_failure(&self) -> bool {
        matches!(self, Self::Db(db) if db.is_query_failure())
    }
}

/// A list cursor: the id of the last event of the previous page.
pub struct EventCursor(String);

impl EventCursor {
    const VERSION: &'static str = "e1:";

    pub fn decode(raw: &str) -> Result<Self, EventsError> {
        let text = URL_SAFE_NO_PAD
            .decode(raw)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or(EventsError::BadCursor)?;
        let id = text
            .strip_prefix(Self::VERSION)
            .ok_or(EventsError::BadCursor)?;
        StripeId::check(id).map_err(|_| EventsError::BadCursor)?;
        Ok(Self(id.to_string()))
    }

    pub fn encode(id: &str) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}{id}", Self::VERSION))
    }
}

pub struct EventQuery {
    pub status: Option<EventStatus>,
    pub event_type: Option<String>,
    pub account: Option<String>,
}

pub struct EventPage {
    pub events: Vec<WebhookEventResponse>,
    pub next_cursor: Option<String>,
}

pub async fn list(
    state: &AppState,
    query: EventQuery,
    limit: PageLimit,
    cursor: Option<EventCursor>,
) -> Result<EventPage, EventsError> {
    let filter = EventFilter {
        status: query.status,
        event_type: query.event_type,
        account: query.account,
        after_event: cursor.map(|cursor| cursor.0),
    };
    let fetch = limit.fetch_size() as i64;
    let mut events = state
        .db
        .run(move |conn| {
            WebhookEvent::list_across_accounts(conn, &filter, fetch).map_err(EventsError::from)
        })
        .await?
        .ok_or(EventsError::CursorGone)?;
    let next_cursor = (events.len() > limit.get()).then(|| {
        events.truncate(limit.get());
        EventCursor::encode(&events[limit.get() - 1].id)
    });
    Ok(EventPage {
        events: events.into_iter().map(Into::into).collect(),
        next_cursor,
    })
}

/// One event, its attempts (oldest first) and its raw body.
pub async fn get(state: &AppState, id: String) -> Result<WebhookEventDetail, EventsError> {
    if StripeId::check(&id).is_err() {
        return Err(EventsError::NotFound(id));
    }
    state
        .db
        .run(move |conn| {
            let event = WebhookEvent::find_across_accounts(conn, &id)?
                .ok_or_else(|| EventsError::NotFound(id.clone()))?;
            let account = &event.stripe_account_id;
            let attempts = EventAttempt::for_event(conn, account, &id)?;
            let payload = WebhookEvent::payload(conn, account, &id)?.unwrap_or_default();
            Ok(WebhookEventDetail::new(event, attempts, payload))
        })
        .await
}

/// Makes an event due again now with a fresh attempt budget, whatever its state (a dead
/// event after the cause is fixed, or a processed one to re-fetch its object), audited.
pub async fn replay(
    state: &AppState,
    principal: &Principal,
    id: String,
) -> Result<WebhookEventResponse, EventsError> {
    if StripeId::check(&id).is_err() {
        return Err(EventsError::NotFound(id));
    }
    let audit = AuditContext::new(principal);
    state
        .db
        .run(move |conn| {
            crate::db::write_transaction(conn, |conn| {
                let missing = || EventsError::NotFound(id.clone());
                let found = WebhookEvent::find_across_accounts(conn, &id)?.ok_or_else(missing)?;
                let event = WebhookEvent::replay(conn, &found.stripe_account_id, &id, now())?
                    .ok_or_else(missing)?;
                audit.record(
                    conn,
                    &AuditEntry {
                        action: "webhook_event.replayed",
                        organizer_id: None,
                        targets: json!({ "event_id": event.id }),
                        outcome: Outcome::Succeeded,
                        subject_hash: None,
                        details: json!({ "event_type": event.event_type }),
                    },
                )?;
                Ok(event.into())
            })
        })
        .await
}

/// The whole inbox's backlog now: events pending, how long the oldest has waited (seconds),
/// and events dead-lettered.
pub async fn backlog(state: &AppState) -> Result<(i64, f64, i64), DbError> {
    let (pending, oldest, dead) = state
        .db
        .run(|conn| Ok::<_, DbError>(WebhookEvent::backlog_across_accounts(conn)?))
        .await?;
    let age = oldest.map_or(0.0, |at| (now() - at).as_seconds_f64().max(0.0));
    Ok((pending, age, dead))
}
