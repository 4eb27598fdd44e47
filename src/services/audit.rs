use diesel::result::QueryResult;
use uuid::Uuid;

use crate::auth::Principal;
use crate::db::models::{AuditEvent, NewAuditEvent};
use crate::db::DbConnection;
use crate::domain::{Cursor, OrganizerId, PageLimit};
use crate::error::ApiError;
use crate::services::AppState;

/// The request-scoped facts every audit row carries, captured on the async side (the request id
/// lives in a task-local that blocking database threads cannot see).
#[derive(Clone, Debug)]
pub struct AuditContext {
    pub actor: String,
    pub actor_role: &'static str,
    pub request_id: String,
}

impl AuditContext {
    pub fn new(principal: &Principal) -> Self {
        Self {
            actor: principal.sub().to_string(),
            actor_role: principal.role().as_str(),
            request_id: crate::telemetry::current_request_id(),
        }
    }

    /// Writes one audit row; call it inside the transaction of the change it records.
    pub fn record(
        &self,
        conn: &mut DbConnection,
        action: &str,
        organizer_id: Option<&str>,
        details: &serde_json::Value,
    ) -> QueryResult<()> {
        let id = Uuid::now_v7().to_string();
        AuditEvent::insert(
            conn,
            &NewAuditEvent {
                id: &id,
                occurred_at: crate::db::now(),
                actor: &self.actor,
                actor_role: self.actor_role,
                action,
                organizer_id,
                request_id: &self.request_id,
                details: &details.to_string(),
            },
        )
    }
}

pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    pub next_cursor: Option<Cursor>,
}

/// Newest first, optionally for one organizer.
pub async fn list(
    state: &AppState,
    organizer: Option<OrganizerId>,
    limit: PageLimit,
    cursor: Option<Cursor>,
) -> Result<AuditPage, ApiError> {
    let events = state
        .db
        .run(move |conn| {
            let organizer = organizer.map(|id| id.to_string());
            let before = cursor.as_ref().map(Cursor::key);
            Ok::<_, ApiError>(AuditEvent::list_for_organizer_before(
                conn,
                organizer.as_deref(),
                before,
                limit.fetch_size(),
            )?)
        })
        .await?;
    let (events, next_cursor) = limit.split(events, |event| &event.id);
    Ok(AuditPage {
        events,
        next_cursor,
    })
}
