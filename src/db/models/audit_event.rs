use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::columns::JsonObject;
use crate::db::schema::audit_events;
use crate::db::DbConnection;
use crate::domain::Outcome;
use crate::on_each_backend;

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub id: String,
    pub occurred_at: NaiveDateTime,
    pub actor: String,
    pub actor_role: String,
    pub action: String,
    pub organizer_id: Option<String>,
    pub request_id: String,
    pub details: JsonObject,
    /// What the action touched, e.g. `{"customer_id": ..., "stripe_customer_id": ...}`.
    pub target_ids: JsonObject,
    pub outcome: Outcome,
    /// The keyed hash of the person's email, for actions about a person.
    pub subject_hash: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = audit_events)]
pub struct NewAuditEvent<'a> {
    pub id: &'a str,
    pub occurred_at: NaiveDateTime,
    pub actor: &'a str,
    pub actor_role: &'a str,
    pub action: &'a str,
    pub organizer_id: Option<&'a str>,
    pub request_id: &'a str,
    pub details: &'a str,
    pub target_ids: &'a str,
    pub outcome: Outcome,
    pub subject_hash: Option<&'a str>,
}

/// Which audit rows to list; `None` fields do not filter.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub organizer_id: Option<String>,
    pub action: Option<String>,
    pub subject_hash: Option<String>,
    /// Only rows older than this id (the cursor).
    pub before_id: Option<String>,
}

impl AuditEvent {
    /// Audit rows are written in the transaction of the change they describe; several rows
    /// in one statement.
    pub fn insert_all(conn: &mut DbConnection, rows: &[NewAuditEvent<'_>]) -> QueryResult<()> {
        if let [row] = rows {
            // One row: a statement diesel prepares once per connection and finds by its type.
            return on_each_backend!(conn, |c| diesel::insert_into(audit_events::table)
                .values(row)
                .execute(c))
            .map(drop);
        }
        // Batch inserts are the backends' own (diesel writes SQLite's row by row).
        let insert = diesel::insert_into(audit_events::table).values(rows);
        on_each_backend!(conn, |c| insert.execute(c)).map(drop)
    }

    /// The newest first.
    pub fn list(
        conn: &mut DbConnection,
        filter: AuditFilter,
        limit: usize,
    ) -> QueryResult<Vec<AuditEvent>> {
        let mut query = audit_events::table
            .select(AuditEvent::as_select())
            .order(audit_events::id.desc())
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .into_boxed();
        if let Some(organizer_id) = filter.organizer_id {
            query = query.filter(audit_events::organizer_id.eq(organizer_id));
        }
        if let Some(action) = filter.action {
            query = query.filter(audit_events::action.eq(action));
        }
        if let Some(subject_hash) = filter.subject_hash {
            query = query.filter(audit_events::subject_hash.eq(subject_hash));
        }
        if let Some(before_id) = filter.before_id {
            query = query.filter(audit_events::id.lt(before_id));
        }
        query.load(conn)
    }
}
