//! The inbox's retention: settled events past it are deleted, oldest first, a batch at a time.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::webhook_event::WebhookEvent;
use crate::db::schema::webhook_events::dsl as e;
use crate::db::DbConnection;
use crate::domain::EventStatus;

/// What a purge may delete: the events that need nothing more. Pending events wait for their
/// processing and dead ones for an operator, whatever their age.
const SETTLED: [EventStatus; 3] = [
    EventStatus::Processed,
    EventStatus::Ignored,
    EventStatus::UnknownAccount,
];

impl WebhookEvent {
    /// Deletes up to `limit` settled events of any account received before `before`, oldest
    /// first, with their attempts; returns how many. A look across tenants, as the claim's
    /// read is, then one delete by key.
    pub fn purge_settled_across_accounts_before(
        conn: &mut DbConnection,
        before: NaiveDateTime,
        limit: i64,
    ) -> QueryResult<usize> {
        let oldest: Vec<(String, String)> = e::webhook_events
            .filter(e::received_at.lt(before))
            .filter(e::status.eq_any(SETTLED))
            .order((e::received_at.asc(), e::id.asc()))
            .limit(limit)
            .select((e::id, e::stripe_account_id))
            .load(conn)?;
        if oldest.is_empty() {
            return Ok(0);
        }
        let (ids, mut accounts): (Vec<String>, Vec<String>) = oldest.into_iter().unzip();
        accounts.sort_unstable();
        accounts.dedup();
        diesel::delete(
            e::webhook_events
                .filter(e::id.eq_any(&ids))
                .filter(e::stripe_account_id.eq_any(&accounts))
                .filter(e::status.eq_any(SETTLED)),
        )
        .execute(conn)
    }
}
