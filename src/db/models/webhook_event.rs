//! The webhook inbox: rows stored by ingestion, claimed and settled by workers.

use std::collections::HashSet;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{organizers, webhook_event_attempts, webhook_events};
use crate::db::DbConnection;
use crate::domain::EventStatus;

/// The account of an event that names none when no platform account is configured: no
/// tenant's. Stored as such (not NULL) so that every row has the account its key leads with.
pub const NO_ACCOUNT: &str = "";

/// An inbox row as ingestion writes it.
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = webhook_events)]
pub struct NewWebhookEvent {
    pub id: String,
    /// The event's account, or [`NO_ACCOUNT`].
    pub stripe_account_id: String,
    pub event_type: String,
    pub object_type: String,
    pub object_id: Option<String>,
    pub livemode: bool,
    pub created_at: NaiveDateTime,
    pub received_at: NaiveDateTime,
    pub status: EventStatus,
    pub next_attempt_at: NaiveDateTime,
    pub payload: String,
}

/// An inbox row without its body.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = webhook_events)]
pub struct WebhookEvent {
    pub id: String,
    /// The event's account, or [`NO_ACCOUNT`]: see [`WebhookEvent::account`].
    pub stripe_account_id: String,
    pub event_type: String,
    pub object_type: String,
    pub object_id: Option<String>,
    pub livemode: bool,
    pub created_at: NaiveDateTime,
    pub received_at: NaiveDateTime,
    pub status: EventStatus,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub lease_owner: Option<String>,
    pub lease_until: Option<NaiveDateTime>,
    pub processed_at: Option<NaiveDateTime>,
    pub settled_by: Option<String>,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_event_attempts)]
pub struct EventAttempt {
    pub stripe_account_id: String,
    pub id: String,
    pub event_id: String,
    pub started_at: NaiveDateTime,
    pub finished_at: NaiveDateTime,
    pub error: Option<String>,
}

/// Filters of the admin list.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub status: Option<EventStatus>,
    pub event_type: Option<String>,
    pub account: Option<String>,
    /// Rows after this event in the list (older ones): the cursor of the previous page.
    pub after_event: Option<String>,
}

use webhook_events::dsl as e;

impl WebhookEvent {
    /// The tenant the event belongs to; `None` for an event of no tenant's.
    pub fn account(&self) -> Option<&str> {
        Some(self.stripe_account_id.as_str()).filter(|account| *account != NO_ACCOUNT)
    }

    /// Stores `rows` and returns the ids that were new; an id already stored is a redelivery and
    /// is left as it is. Rows for an account no organizer has are stored as `unknown_account`.
    /// On PostgreSQL this is one prepared statement whatever the batch size (the rows go as
    /// arrays), atomic on its own: one round trip and one commit.
    pub fn insert_batch(
        conn: &mut DbConnection,
        rows: &[&NewWebhookEvent],
    ) -> QueryResult<Vec<String>> {
        match conn {
            DbConnection::Postgresql(pg) => super::webhook_insert::insert_batch_pg(pg, rows),
            // diesel runs a SQLite batch insert with RETURNING row by row, and a row skipped
            // as a duplicate fails it with NotFound: one statement per row, in one transaction.
            DbConnection::Sqlite(sqlite) => sqlite.immediate_transaction(|sqlite| {
                let mut accounts: Vec<&str> = rows
                    .iter()
                    .map(|row| row.stripe_account_id.as_str())
                    .filter(|account| *account != NO_ACCOUNT)
                    .collect();
                accounts.sort_unstable();
                accounts.dedup();
                let known: HashSet<String> = organizers::table
                    .filter(organizers::stripe_account_id.eq_any(&accounts))
                    .select(organizers::stripe_account_id)
                    .load::<Option<String>>(sqlite)?
                    .into_iter()
                    .flatten()
                    .collect();
                let mut inserted = Vec::with_capacity(rows.len());
                for &row in rows {
                    let known = known.contains(&row.stripe_account_id);
                    let id = if row.status == EventStatus::Pending && !known {
                        let row = NewWebhookEvent {
                            status: EventStatus::UnknownAccount,
                            ..row.clone()
                        };
                        insert_one_sqlite(sqlite, &row)?
                    } else {
                        insert_one_sqlite(sqlite, row)?
                    };
                    inserted.extend(id);
                }
                Ok(inserted)
            }),
        }
    }

    /// The ids of the events about one object that are still pending: one fetch settles them.
    pub fn pending_for_object(
        conn: &mut DbConnection,
        account: &str,
        object_type: &str,
        object_id: &str,
    ) -> QueryResult<Vec<String>> {
        e::webhook_events
            .filter(e::stripe_account_id.eq(account))
            .filter(e::object_id.eq(object_id))
            .filter(e::object_type.eq(object_type))
            .filter(e::status.eq(EventStatus::Pending))
            .select(e::id)
            .load(conn)
    }

    /// Marks `ids` processed, settled by `settled_by`'s fetch.
    pub fn settle(
        conn: &mut DbConnection,
        account: &str,
        ids: &[String],
        settled_by: &str,
        now: NaiveDateTime,
    ) -> QueryResult<usize> {
        diesel::update(
            e::webhook_events
                .filter(e::stripe_account_id.eq(account))
                .filter(e::id.eq_any(ids))
                .filter(e::status.eq(EventStatus::Pending)),
        )
        .set((
            e::status.eq(EventStatus::Processed),
            e::processed_at.eq(Some(now)),
            e::settled_by.eq(Some(settled_by)),
            e::lease_owner.eq(None::<String>),
            e::lease_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)
    }

    /// Marks the claimed event failed: retried at `retry_at`, or dead-lettered. The other
    /// pending events about the same object (`others`), which the same fetch would have
    /// settled, wait until then too instead of each failing on its own.
    pub fn fail(
        conn: &mut DbConnection,
        account: &str,
        claimed: &str,
        owner: &str,
        others: &[String],
        retry_at: NaiveDateTime,
        dead: bool,
    ) -> QueryResult<()> {
        let status = if dead {
            EventStatus::Dead
        } else {
            EventStatus::Pending
        };
        diesel::update(
            e::webhook_events
                .filter(e::stripe_account_id.eq(account))
                .filter(e::id.eq(claimed))
                .filter(e::lease_owner.eq(owner)),
        )
        .set((
            e::status.eq(status),
            e::next_attempt_at.eq(retry_at),
            e::lease_owner.eq(None::<String>),
            e::lease_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
        diesel::update(
            e::webhook_events
                .filter(e::stripe_account_id.eq(account))
                .filter(e::id.eq_any(others))
                .filter(e::id.ne(claimed))
                .filter(e::status.eq(EventStatus::Pending))
                .filter(e::lease_owner.is_null())
                .filter(e::next_attempt_at.lt(retry_at)),
        )
        .set(e::next_attempt_at.eq(retry_at))
        .execute(conn)?;
        Ok(())
    }

    /// Gives a claimed event back untried (another worker holds its object): it becomes due
    /// again at `retry_at`, and this claim does not count as an attempt.
    pub fn give_back(
        conn: &mut DbConnection,
        account: &str,
        claimed: &str,
        owner: &str,
        retry_at: NaiveDateTime,
    ) -> QueryResult<()> {
        diesel::update(
            e::webhook_events
                .filter(e::stripe_account_id.eq(account))
                .filter(e::id.eq(claimed))
                .filter(e::lease_owner.eq(owner))
                .filter(e::status.eq(EventStatus::Pending)),
        )
        .set((
            e::attempts.eq(e::attempts - 1),
            e::next_attempt_at.eq(retry_at),
            e::lease_owner.eq(None::<String>),
            e::lease_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
        Ok(())
    }

    /// Makes an event due now, whatever its state, with a fresh attempt budget.
    pub fn replay(
        conn: &mut DbConnection,
        account: &str,
        id: &str,
        now: NaiveDateTime,
    ) -> QueryResult<Option<WebhookEvent>> {
        let target = e::webhook_events
            .filter(e::stripe_account_id.eq(account))
            .filter(e::id.eq(id));
        crate::on_each_backend!(conn, |c| diesel::update(target)
            .set((
                e::status.eq(EventStatus::Pending),
                e::attempts.eq(0),
                e::next_attempt_at.eq(now),
                e::lease_owner.eq(None::<String>),
                e::lease_until.eq(None::<NaiveDateTime>),
                e::processed_at.eq(None::<NaiveDateTime>),
                e::settled_by.eq(None::<String>),
            ))
            .returning(WebhookEvent::as_returning())
            .get_result(c))
        .optional()
    }

    /// Which of `ids` the inbox holds for `account`, in one query.
    pub fn known_ids(
        conn: &mut DbConnection,
        account: &str,
        ids: &[String],
    ) -> QueryResult<HashSet<String>> {
        e::webhook_events
            .filter(e::stripe_account_id.eq(account))
            .filter(e::id.eq_any(ids))
            .select(e::id)
            .load::<String>(conn)
            .map(|found| found.into_iter().collect())
    }

    /// The event `id`, whichever account it is of (the admin's look-up: Stripe's event ids are
    /// unique, the admin does not know the account).
    pub fn find_across_accounts(
        conn: &mut DbConnection,
        id: &str,
    ) -> QueryResult<Option<WebhookEvent>> {
        e::webhook_events
            .filter(e::id.eq(id))
            .select(WebhookEvent::as_select())
            .first(conn)
            .optional()
    }

    pub fn payload(
        conn: &mut DbConnection,
        account: &str,
        id: &str,
    ) -> QueryResult<Option<String>> {
        e::webhook_events
            .filter(e::stripe_account_id.eq(account))
            .filter(e::id.eq(id))
            .select(e::payload)
            .first(conn)
            .optional()
    }

    /// The admin's list, newest first, `limit` rows, of every account unless the filter names
    /// one. `None` when the cursor's event does not exist.
    pub fn list_across_accounts(
        conn: &mut DbConnection,
        filter: &EventFilter,
        limit: i64,
    ) -> QueryResult<Option<Vec<WebhookEvent>>> {
        let before = match &filter.after_event {
            Some(id) => match Self::find_across_accounts(conn, id)? {
                Some(event) => Some((event.received_at, event.id)),
                None => return Ok(None),
            },
            None => None,
        };
        let mut query = e::webhook_events
            .select(WebhookEvent::as_select())
            .order((e::received_at.desc(), e::id.desc()))
            .limit(limit)
            .into_boxed();
        if let Some(status) = filter.status {
            query = query.filter(e::status.eq(status));
        }
        if let Some(event_type) = &filter.event_type {
            query = query.filter(e::event_type.eq(event_type.clone()));
        }
        if let Some(account) = &filter.account {
            query = query.filter(e::stripe_account_id.eq(account.clone()));
        }
        if let Some((received, id)) = before {
            // `received_at <= received` says the same as the tie-break below, as a range the
            // index on (received_at, id) starts its scan at: with the `OR` alone, a page deep
            // in the list read every newer event first (3.5 s at 620,000 newer ones).
            query = query.filter(e::received_at.le(received)).filter(
                e::received_at
                    .lt(received)
                    .or(e::received_at.eq(received).and(e::id.lt(id))),
            );
        }
        query.load(conn).map(Some)
    }

    /// One account's inbox at a glance: events waiting, when the oldest of them arrived, and
    /// events dead-lettered.
    pub fn backlog(
        conn: &mut DbConnection,
        account: &str,
    ) -> QueryResult<(i64, Option<NaiveDateTime>, i64)> {
        Self::backlog_of(conn, Some(account))
    }

    /// [`WebhookEvent::backlog`] of the whole inbox (the metrics and the admin's overview).
    pub fn backlog_across_accounts(
        conn: &mut DbConnection,
    ) -> QueryResult<(i64, Option<NaiveDateTime>, i64)> {
        Self::backlog_of(conn, None)
    }

    fn backlog_of(
        conn: &mut DbConnection,
        account: Option<&str>,
    ) -> QueryResult<(i64, Option<NaiveDateTime>, i64)> {
        let of_account = || {
            let mut query = e::webhook_events.into_boxed();
            if let Some(account) = account {
                query = query.filter(e::stripe_account_id.eq(account.to_string()));
            }
            query
        };
        let (pending, oldest) = of_account()
            .filter(e::status.eq(EventStatus::Pending))
            .select((diesel::dsl::count_star(), diesel::dsl::min(e::received_at)))
            .first::<(i64, Option<NaiveDateTime>)>(conn)?;
        let dead = of_account()
            .filter(e::status.eq(EventStatus::Dead))
            .count()
            .get_result(conn)?;
        Ok((pending, oldest, dead))
    }
}

impl EventAttempt {
    pub fn record(conn: &mut DbConnection, attempt: &EventAttempt) -> QueryResult<()> {
        diesel::insert_into(webhook_event_attempts::table)
            .values(attempt)
            .execute(conn)?;
        Ok(())
    }

    pub fn for_event(
        conn: &mut DbConnection,
        account: &str,
        event_id: &str,
    ) -> QueryResult<Vec<EventAttempt>> {
        webhook_event_attempts::table
            .filter(webhook_event_attempts::stripe_account_id.eq(account))
            .filter(webhook_event_attempts::event_id.eq(event_id))
            .order(webhook_event_attempts::started_at.asc())
            .select(EventAttempt::as_select())
            .load(conn)
    }
}

/// Inserts one row unless its id is stored; returns its id when it was new.
fn insert_one_sqlite(
    sqlite: &mut diesel::SqliteConnection,
    row: &NewWebhookEvent,
) -> QueryResult<Option<String>> {
    diesel::insert_into(webhook_events::table)
        .values(row)
        .on_conflict_do_nothing()
        .returning(e::id)
        .get_result::<String>(sqlite)
        .optional()
}
