use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::audit_events;
use crate::db::DbConnection;

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
    pub details: String,
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
}

impl AuditEvent {
    /// Audit rows are written in the transaction of the change they describe.
    pub fn insert(conn: &mut DbConnection, new: &NewAuditEvent<'_>) -> QueryResult<()> {
        diesel::insert_into(audit_events::table)
            .values(new)
            .execute(conn)
            .map(drop)
    }

    /// The newest first, optionally for one organizer, starting before `before_id`.
    pub fn list_for_organizer_before(
        conn: &mut DbConnection,
        organizer_id: Option<&str>,
        before_id: Option<&str>,
        limit: usize,
    ) -> QueryResult<Vec<AuditEvent>> {
        let mut query = audit_events::table
            .select(AuditEvent::as_select())
            .order(audit_events::id.desc())
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .into_boxed();
        if let Some(organizer_id) = organizer_id {
            query = query.filter(audit_events::organizer_id.eq(organizer_id.to_string()));
        }
        if let Some(before_id) = before_id {
            query = query.filter(audit_events::id.lt(before_id.to_string()));
        }
        query.load(conn)
    }
}
