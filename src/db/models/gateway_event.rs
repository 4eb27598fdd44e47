//! The gateway's own events, for the platform's apps (the outbox). An event is appended in the
//! transaction of the change it tells of, while the organizer's row is locked: its `seq` is then
//! one past the organizer's last, and the order of `seq` is the order of commits, so a reader
//! that has seen `seq` n never finds a later-committed event below it.

use std::sync::{Arc, LazyLock};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use tokio::sync::Notify;

use crate::db::schema::{gateway_events, organizers};
use crate::db::DbConnection;

/// Woken after events were appended in this process: the feed's long polls and the webhook
/// senders (which also look again on their own, for events appended by other instances).
pub static APPENDED: LazyLock<Arc<Notify>> = LazyLock::new(|| Arc::new(Notify::new()));

#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = gateway_events)]
pub struct GatewayEvent {
    pub organizer_id: String,
    pub seq: i64,
    pub id: String,
    pub event_type: String,
    pub object_id: String,
    pub object_seq: i64,
    pub created_at: NaiveDateTime,
    pub data: String,
}

/// An event to append: what happened to which object, and the object as served.
pub(super) struct NewEvent<'a> {
    pub event_type: &'a str,
    pub object_id: &'a str,
    pub data: &'a str,
}

impl GatewayEvent {
    /// The organizer whose account is `account`, its row locked until the transaction ends
    /// (on SQLite the write transaction holds the whole database already); `None` when no
    /// organizer has the account.
    pub fn lock_organizer_of(
        conn: &mut DbConnection,
        account: &str,
    ) -> QueryResult<Option<String>> {
        let query = organizers::table
            .filter(organizers::stripe_account_id.eq(account))
            .select(organizers::id);
        match conn {
            DbConnection::Postgresql(pg) => query.for_update().first(pg).optional(),
            DbConnection::Sqlite(sqlite) => query.first(sqlite).optional(),
        }
    }

    /// Locks the organizer `organizer_id`'s row until the transaction ends, as
    /// [`GatewayEvent::lock_organizer_of`] does; false when there is no such organizer.
    pub fn lock_organizer(conn: &mut DbConnection, organizer_id: &str) -> QueryResult<bool> {
        let query = organizers::table
            .filter(organizers::id.eq(organizer_id))
            .select(organizers::id);
        let found: Option<String> = match conn {
            DbConnection::Postgresql(pg) => query.for_update().first(pg).optional()?,
            DbConnection::Sqlite(sqlite) => query.first(sqlite).optional()?,
        };
        Ok(found.is_some())
    }

    /// Appends `new` for `organizer_id`, whose row the caller holds locked
    /// ([`GatewayEvent::lock_organizer_of`]).
    pub(super) fn append(
        conn: &mut DbConnection,
        organizer_id: &str,
        new: &NewEvent<'_>,
        at: NaiveDateTime,
    ) -> QueryResult<GatewayEvent> {
        let last: Option<i64> = gateway_events::table
            .filter(gateway_events::organizer_id.eq(organizer_id))
            .select(diesel::dsl::max(gateway_events::seq))
            .first(conn)?;
        let last_of_object: Option<i64> = gateway_events::table
            .filter(gateway_events::organizer_id.eq(organizer_id))
            .filter(gateway_events::object_id.eq(new.object_id))
            .select(diesel::dsl::max(gateway_events::object_seq))
            .first(conn)?;
        let event = GatewayEvent {
            organizer_id: organizer_id.to_string(),
            seq: last.unwrap_or(0) + 1,
            id: uuid::Uuid::now_v7().to_string(),
            event_type: new.event_type.to_string(),
            object_id: new.object_id.to_string(),
            object_seq: last_of_object.unwrap_or(0) + 1,
            created_at: at,
            data: new.data.to_string(),
        };
        diesel::insert_into(gateway_events::table)
            .values(&event)
            .execute(conn)?;
        Ok(event)
    }

    /// The event `id`, of any organizer.
    pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<GatewayEvent>> {
        gateway_events::table
            .filter(gateway_events::id.eq(id))
            .select(GatewayEvent::as_select())
            .first(conn)
            .optional()
    }

    /// Up to `limit` of the organizer's events after `after` (a `seq`), in order, of the
    /// `types` given (every type when empty).
    pub fn page(
        conn: &mut DbConnection,
        organizer_id: &str,
        after: i64,
        types: &[String],
        limit: i64,
    ) -> QueryResult<Vec<GatewayEvent>> {
        let mut query = gateway_events::table
            .filter(gateway_events::organizer_id.eq(organizer_id))
            .filter(gateway_events::seq.gt(after))
            .order(gateway_events::seq.asc())
            .limit(limit)
            .select(GatewayEvent::as_select())
            .into_boxed();
        if !types.is_empty() {
            query = query.filter(gateway_events::event_type.eq_any(types.to_vec()));
        }
        query.load(conn)
    }

    /// Deletes up to `limit` events of any organizer created before `before`, oldest first;
    /// returns how many.
    pub fn purge_across_organizers_before(
        conn: &mut DbConnection,
        before: NaiveDateTime,
        limit: i64,
    ) -> QueryResult<usize> {
        let oldest: Vec<String> = gateway_events::table
            .filter(gateway_events::created_at.lt(before))
            .order(gateway_events::created_at.asc())
            .limit(limit)
            .select(gateway_events::id)
            .load(conn)?;
        if oldest.is_empty() {
            return Ok(0);
        }
        diesel::delete(gateway_events::table.filter(gateway_events::id.eq_any(&oldest)))
            .execute(conn)
    }
}
