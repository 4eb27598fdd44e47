//! The workers' claim on the webhook inbox: the next due event, the accounts in turns.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::webhook_event::{WebhookEvent, NO_ACCOUNT};
use crate::db::schema::webhook_events::dsl as e;
use crate::db::DbConnection;
use crate::domain::EventStatus;

impl WebhookEvent {
    /// Claims the next due event in the accounts' turns for `owner` until `until`: the oldest
    /// due event of the first account after `after` that has one, going round to the first
    /// account when none after it has; the accounts in `full` (holding their share of the
    /// workers) only when no other account has a due event. One account's backlog then gets
    /// a turn like any other account instead of delaying every event stored after it. The
    /// claimed event is this worker's alone until it settles, gives back or its lease runs out
    /// (a worker that died). On PostgreSQL `FOR UPDATE SKIP LOCKED` lets concurrent claimers
    /// pass each other; SQLite serializes them with a write transaction. The workers' one
    /// query across tenants (docs/design.md, "Past one database").
    pub fn claim_next_across_accounts(
        conn: &mut DbConnection,
        owner: &str,
        after: Option<&str>,
        full: &[String],
        now: NaiveDateTime,
        until: NaiveDateTime,
    ) -> QueryResult<Option<WebhookEvent>> {
        // The accounts from `bound` on, each's due events oldest first (webhook_events_turns_idx).
        macro_rules! due {
            ($bound:expr) => {
                e::webhook_events
                    .filter($bound)
                    .filter(e::status.eq(EventStatus::Pending))
                    .filter(e::next_attempt_at.le(now))
                    .filter(
                        e::lease_until
                            .is_null()
                            .or(e::lease_until.lt(now).assume_not_null()),
                    )
                    .order((e::stripe_account_id.asc(), e::next_attempt_at.asc()))
                    .select((e::stripe_account_id, e::id))
            };
        }
        macro_rules! next {
            ($c:expr, |$q:ident| $lock:expr) => {{
                let others = || diesel::dsl::not(e::stripe_account_id.eq_any(full));
                let mut found: Option<(String, String)> = None;
                if let Some(after) = after {
                    let $q = due!(e::stripe_account_id.gt(after).and(others()));
                    found = $lock.optional()?;
                }
                if found.is_none() {
                    let $q = due!(e::stripe_account_id.ge(NO_ACCOUNT).and(others()));
                    found = $lock.optional()?;
                }
                if found.is_none() && !full.is_empty() {
                    let $q = due!(e::stripe_account_id.ge(NO_ACCOUNT));
                    found = $lock.optional()?;
                }
                let Some((account, id)) = found else {
                    return Ok(None);
                };
                diesel::update(
                    e::webhook_events
                        .filter(e::stripe_account_id.eq(account))
                        .filter(e::id.eq(id)),
                )
                .set((
                    e::lease_owner.eq(owner),
                    e::lease_until.eq(until),
                    e::attempts.eq(e::attempts + 1),
                ))
                .returning(WebhookEvent::as_returning())
                .get_result($c)
                .optional()
            }};
        }
        match conn {
            DbConnection::Postgresql(pg) => {
                pg.transaction(|pg| next!(pg, |query| query.for_update().skip_locked().first(pg)))
            }
            DbConnection::Sqlite(sqlite) => {
                sqlite.immediate_transaction(|sqlite| next!(sqlite, |query| query.first(sqlite)))
            }
        }
    }
}
