use chrono::{DateTime, Utc};
use diesel::result::QueryResult;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::models::{AuditEvent, AuditFilter, NewAuditEvent};
use crate::db::{DbConnection, DbError};
pub use crate::domain::Outcome;
use crate::domain::Principal;
use crate::domain::{Cursor, Email, OrganizerId, PageLimit};
use crate::services::AppState;

/// The request-scoped facts every audit row carries, captured on the async side (the request id
/// lives in a task-local that blocking database threads cannot see).
#[derive(Clone, Debug)]
pub struct AuditContext {
    pub actor: String,
    pub actor_role: &'static str,
    pub request_id: String,
}

/// One audit row's content. Never put an email, a name or a phone number in `details` or
/// `targets`: a person is identified by `subject_hash` only.
#[derive(Debug)]
pub struct AuditEntry {
    /// e.g. `customer.created`.
    pub action: &'static str,
    pub organizer_id: Option<String>,
    /// Ids of what the action touched, as a JSON object.
    pub targets: Value,
    pub outcome: Outcome,
    pub subject_hash: Option<String>,
    pub details: Value,
}

impl AuditContext {
    pub fn new(principal: &Principal) -> Self {
        Self {
            actor: principal.sub().to_string(),
            actor_role: principal.role().as_str(),
            request_id: crate::telemetry::current_request_id(),
        }
    }

    /// The gateway itself acting, e.g. the webhook worker on event `event_id`: the event id
    /// stands where a request id would.
    pub fn system(actor: &str, event_id: &str) -> Self {
        Self {
            actor: actor.to_string(),
            actor_role: "system",
            request_id: event_id.to_string(),
        }
    }

    /// Writes one audit row. Call it inside the transaction of the change it records, so that
    /// a change and its audit row exist together or not at all.
    pub fn record(&self, conn: &mut DbConnection, entry: &AuditEntry) -> QueryResult<()> {
        self.record_all(conn, std::slice::from_ref(entry))
    }

    /// Writes several audit rows in one statement, as [`AuditContext::record`].
    pub fn record_all(&self, conn: &mut DbConnection, entries: &[AuditEntry]) -> QueryResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let occurred_at = crate::db::now();
        let texts: Vec<(String, String, String)> = entries
            .iter()
            .map(|entry| {
                let id = Uuid::now_v7().to_string();
                (id, entry.details.to_string(), entry.targets.to_string())
            })
            .collect();
        let rows: Vec<NewAuditEvent<'_>> = entries
            .iter()
            .zip(&texts)
            .map(|(entry, (id, details, targets))| NewAuditEvent {
                id,
                occurred_at,
                actor: &self.actor,
                actor_role: self.actor_role,
                action: entry.action,
                organizer_id: entry.organizer_id.as_deref(),
                request_id: &self.request_id,
                details,
                target_ids: targets,
                outcome: entry.outcome,
                subject_hash: entry.subject_hash.as_deref(),
            })
            .collect();
        AuditEvent::insert_all(conn, &rows)
    }

    /// Records an attempt that failed after reaching Stripe. Best effort: the failure being
    /// reported to the client matters more than its audit row, so a database error here is
    /// logged, not returned.
    pub async fn record_failure(&self, state: &AppState, entry: AuditEntry) {
        let audit = self.clone();
        let result = state
            .db
            .run(move |conn| Ok::<_, DbError>(audit.record(conn, &entry)?))
            .await;
        if let Err(err) = result {
            tracing::error!(error = %err, "could not write the audit row of a failed action");
        }
    }
}

/// `succeeded`, or `failed` for an attempt that reached Stripe and failed there.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    Succeeded,
    Failed,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventResponse {
    id: String,
    occurred_at: DateTime<Utc>,
    /// The `sub` of the token that made the change.
    actor: String,
    /// `admin` or `organizer`.
    actor_role: String,
    /// What happened, e.g. `organizer.created`, `customer.updated`, `customer.erased`.
    #[schema(example = "customer.created")]
    action: String,
    organizer_id: Option<String>,
    /// Ids of what the action touched, e.g. `customer_id` and `stripe_customer_id`.
    #[schema(value_type = Object)]
    target_ids: serde_json::Value,
    outcome: AuditOutcome,
    /// For actions about a person: the keyed hash (HMAC-SHA256) of their normalized email.
    /// Emails, names and phone numbers are never stored in the audit log.
    subject_hash: Option<String>,
    /// The request that made the change (its `x-request-id`).
    request_id: String,
    /// What changed (field names, never personal data), or the error code of a failure.
    #[schema(value_type = Object)]
    details: serde_json::Value,
}

impl From<AuditEvent> for AuditEventResponse {
    fn from(event: AuditEvent) -> Self {
        Self {
            occurred_at: event.occurred_at.and_utc(),
            details: event.details.0.into(),
            target_ids: event.target_ids.0.into(),
            outcome: match event.outcome {
                Outcome::Failed => AuditOutcome::Failed,
                Outcome::Succeeded => AuditOutcome::Succeeded,
            },
            subject_hash: event.subject_hash,
            id: event.id,
            actor: event.actor,
            actor_role: event.actor_role,
            action: event.action,
            organizer_id: event.organizer_id,
            request_id: event.request_id,
        }
    }
}

/// What to list from the audit log.
pub struct AuditQuery {
    pub organizer: Option<OrganizerId>,
    pub action: Option<String>,
    /// Only events about this person (matched by the keyed hash of the email).
    pub email: Option<Email>,
}

pub struct AuditPage {
    pub events: Vec<AuditEventResponse>,
    pub next_cursor: Option<Cursor>,
}

/// Newest first.
pub async fn list(
    state: &AppState,
    query: AuditQuery,
    limit: PageLimit,
    cursor: Option<Cursor>,
) -> Result<AuditPage, DbError> {
    let filter = AuditFilter {
        organizer_id: query.organizer.map(|id| id.to_string()),
        action: query.action,
        subject_hash: query.email.map(|email| state.subject_hasher.hash(&email)),
        before_id: cursor.map(|cursor| cursor.key().to_string()),
    };
    let events = state
        .db
        .run(move |conn| Ok::<_, DbError>(AuditEvent::list(conn, filter, limit.fetch_size())?))
        .await?;
    let (events, next_cursor) = limit.split(events, |event| &event.id);
    Ok(AuditPage {
        events: events.into_iter().map(Into::into).collect(),
        next_cursor,
    })
}
