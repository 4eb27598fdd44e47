//! The workers' claim on the webhook inbox: the next due event, the accounts in turns.
//!
//! A claim takes two statements, neither in a transaction: a read of the account whose turn it
//! is (the first after the last one served with an event due), then one `UPDATE` that takes that
//! account's oldest due event. Only the read looks across accounts; the write names its account,
//! so on a database sharded by account it runs on that account's node alone (docs/design.md,
//! "Past one database"), and on one database a claim costs two round trips where a transaction
//! took four.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::webhook_event::{WebhookEvent, NO_ACCOUNT};
use crate::db::schema::webhook_events::dsl as e;
use crate::db::DbConnection;
use crate::domain::EventStatus;
use crate::on_each_backend;

/// How many times a claim looks for the account whose turn it is, when the one it found had
/// nothing left to take (other workers took its due events between the two statements) or
/// reached its share of the workers meanwhile.
const LOOKS_PER_CLAIM: usize = 3;

/// The process's turns, as a claim uses them (`services/webhooks/turns.rs`).
pub trait ClaimTurns {
    /// What holding a claimed event's turn takes; given back when dropped.
    type Held;
    /// The account the next claim starts after, and the accounts holding their share of the
    /// workers (passed over while another account has an event due).
    fn next(&self) -> (Option<String>, Vec<String>);
    /// Takes `account`'s turn for one event, before the claim's write, so that concurrent
    /// claimers see it: `None` when the account reached its share since `full` was read (the
    /// claim then looks again).
    fn take(&self, account: &str, full: &[String]) -> Option<Self::Held>;
}

impl WebhookEvent {
    /// Claims the next due event in the accounts' turns for `owner` until `until`: the oldest
    /// due event of the first account after the last one served that has one, going round to
    /// the first account when none after it has; the accounts holding their share of the
    /// workers only when no other account has a due event. One account's backlog then gets a
    /// turn like any other account instead of delaying every event stored after it. The
    /// claimed event is this worker's alone until it settles, gives back or its lease runs out
    /// (a worker that died); its turn is held until the returned `Held` is dropped. The read
    /// of whose turn it is is the workers' one query across tenants (docs/design.md, "Past one
    /// database").
    pub fn claim_next_across_accounts<T: ClaimTurns>(
        conn: &mut DbConnection,
        owner: &str,
        turns: &T,
        now: NaiveDateTime,
        until: NaiveDateTime,
    ) -> QueryResult<Option<(WebhookEvent, T::Held)>> {
        for _ in 0..LOOKS_PER_CLAIM {
            let (after, full) = turns.next();
            let Some(account) =
                Self::next_turn_across_accounts(conn, after.as_deref(), &full, now)?
            else {
                return Ok(None);
            };
            let Some(held) = turns.take(&account, &full) else {
                continue;
            };
            if let Some(event) = Self::claim_oldest_due(conn, &account, owner, now, until)? {
                return Ok(Some((event, held)));
            }
        }
        Ok(None)
    }

    /// The account whose turn it is: the first after `after` with an event due, else the first
    /// with one; the accounts in `full` only when no other has one. A read without a lock: the
    /// claim that follows takes what is still there.
    fn next_turn_across_accounts(
        conn: &mut DbConnection,
        after: Option<&str>,
        full: &[String],
        now: NaiveDateTime,
    ) -> QueryResult<Option<String>> {
        // The accounts from `bound` on, in order (webhook_events_turns_idx).
        macro_rules! first_due {
            ($bound:expr) => {
                on_each_backend!(&mut *conn, |c| e::webhook_events
                    .filter($bound)
                    .filter(e::status.eq(EventStatus::Pending))
                    .filter(e::next_attempt_at.le(now))
                    .filter(
                        e::lease_until
                            .is_null()
                            .or(e::lease_until.lt(now).assume_not_null()),
                    )
                    .order(e::stripe_account_id.asc())
                    .select(e::stripe_account_id)
                    .first::<String>(c)
                    .optional())
            };
        }
        let others = || diesel::dsl::not(e::stripe_account_id.eq_any(full));
        if let Some(after) = after {
            if let Some(account) = first_due!(e::stripe_account_id.gt(after).and(others()))? {
                return Ok(Some(account));
            }
        }
        if let Some(account) = first_due!(e::stripe_account_id.ge(NO_ACCOUNT).and(others()))? {
            return Ok(Some(account));
        }
        if full.is_empty() {
            return Ok(None);
        }
        first_due!(e::stripe_account_id.ge(NO_ACCOUNT))
    }

    /// Takes the account's oldest due event for `owner` until `until`, in one statement. On
    /// PostgreSQL `FOR UPDATE SKIP LOCKED` lets concurrent claimers pass each other (the one
    /// that finds the event taken gets `None`, not a wait); SQLite runs the statement alone.
    fn claim_oldest_due(
        conn: &mut DbConnection,
        account: &str,
        owner: &str,
        now: NaiveDateTime,
        until: NaiveDateTime,
    ) -> QueryResult<Option<WebhookEvent>> {
        // The event to take, read from the inbox under another name (diesel's subselects
        // of the table they update). A scalar subquery (`id = (SELECT ...)`), run once: as
        // `id IN (SELECT ...)` PostgreSQL may run it again for each of the account's rows, and
        // `SKIP LOCKED` passes over the row the statement just took, so it would take them all.
        let due = diesel::alias!(crate::db::schema::webhook_events as due);
        let oldest_due = due
            .filter(due.field(e::stripe_account_id).eq(account))
            .filter(due.field(e::status).eq(EventStatus::Pending))
            .filter(due.field(e::next_attempt_at).le(now))
            .filter(
                due.field(e::lease_until)
                    .is_null()
                    .or(due.field(e::lease_until).lt(now).assume_not_null()),
            )
            .order(due.field(e::next_attempt_at).asc())
            .select(due.field(e::id))
            .limit(1);
        macro_rules! take {
            ($c:expr, $oldest:expr) => {
                diesel::update(
                    e::webhook_events
                        .filter(e::stripe_account_id.eq(account))
                        .filter(e::id.nullable().eq($oldest.single_value())),
                )
                .set((
                    e::lease_owner.eq(owner),
                    e::lease_until.eq(until),
                    e::attempts.eq(e::attempts + 1),
                ))
                .returning(WebhookEvent::as_returning())
                .get_result($c)
                .optional()
            };
        }
        match conn {
            DbConnection::Postgresql(pg) => take!(pg, oldest_due.for_update().skip_locked()),
            DbConnection::Sqlite(sqlite) => take!(sqlite, oldest_due),
        }
    }
}
