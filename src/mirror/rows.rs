//! The kinds kept as one row per Stripe object, keyed by (account, Stripe id): what such a
//! kind says about itself ([`Rows`]), the row's writes ([`MirrorRow`], made by
//! [`mirror_row!`]); their writes, with what apps hear of them, are `writes.rs`. Their reconciliation is `listing.rs`; `mod.rs` makes each a [`Kind`](super::Kind).

use std::future::Future;

use chrono::NaiveDateTime;
use diesel::QueryResult;

use super::{EventRef, Fetched, Page};
use crate::db::DbConnection;
use crate::domain::GatewayEventType;
use crate::stripe::{AccountClient, StripeError};

/// A kind kept as one row per object. Implementing it makes the kind a [`Kind`].
pub trait Rows: Sync + 'static {
    /// The kind's name in sync runs and drift reports.
    const NAME: &'static str;
    /// The event types whose object is of this kind.
    const EVENTS: &'static [&'static str];
    /// How many listings together hold every object of the kind (prices take two: Stripe
    /// lists only the active ones unless asked for the inactive ones); 0 when reconciliation
    /// does not list the kind.
    const LISTINGS: usize;
    type Remote: Send + 'static;
    type Row: MirrorRow + Clone + Send + Sync + 'static;

    /// The objects an event names: the event's own object, unless the kind says otherwise.
    fn targets(event: &EventRef<'_>) -> Vec<String> {
        vec![event.object_id.to_string()]
    }
    fn fetch<'a>(
        client: &'a AccountClient<'a>,
        id: &'a str,
    ) -> impl Future<Output = Result<Fetched<Self::Remote>, StripeError>> + Send + 'a;
    /// A page of listing `listing` (0 to `LISTINGS - 1`) after the object `after`.
    fn page<'a>(
        client: &'a AccountClient<'a>,
        listing: usize,
        after: Option<&'a str>,
    ) -> impl Future<Output = Result<Page<Self::Remote>, StripeError>> + Send + 'a;
    fn row(account: &str, remote: Self::Remote, fetched_at: NaiveDateTime) -> Self::Row;

    /// Whether the platform's apps hear of this kind's changes (gateway events, see `heard`);
    /// when they do, [`Rows::notes`], [`Rows::heard_by`] and [`Rows::served`] say what they hear.
    const HEARD: bool = false;

    /// The gateway event types a change of a row makes, from the row stored before it (`None`:
    /// there was none) to `after`; none when an app does not care about this change.
    fn notes(_before: Option<&Self::Row>, _after: &Self::Row) -> Vec<GatewayEventType> {
        Vec::new()
    }

    /// The account whose organizer hears of `row`: the row's own, unless the kind says; `None`
    /// when the kind cannot tell whose the row is on an account organizers share (no one hears).
    fn heard_by(_conn: &mut DbConnection, row: &Self::Row) -> QueryResult<Option<String>> {
        Ok(Some(row.account().to_string()))
    }

    /// `row` as the gateway's read API serves it: an event's `data`.
    fn served(_conn: &mut DbConnection, _row: &Self::Row) -> QueryResult<serde_json::Value> {
        Ok(serde_json::Value::Null)
    }
}

/// A mirror row keyed by (account, Stripe id), written only from a fetch.
pub trait MirrorRow: Sized {
    /// The table the rows are stored in.
    const TABLE: &'static str;

    fn id(&self) -> &str;

    /// The account the row is of.
    fn account(&self) -> &str;

    /// The account's row `id` as stored, marked deleted or not.
    fn stored(conn: &mut DbConnection, account: &str, id: &str) -> QueryResult<Option<Self>>;

    /// Whether two rows hold the same content, whenever they were fetched.
    fn same(&self, other: &Self) -> bool;

    /// Inserts or overwrites the row, unless the stored one came from a fetch that began
    /// later. Returns whether it was written.
    fn upsert(conn: &mut DbConnection, row: &Self) -> QueryResult<bool>;

    /// Marks the row deleted (Stripe no longer has the object), unless a later fetch wrote it.
    fn mark_deleted(
        conn: &mut DbConnection,
        account: &str,
        id: &str,
        fetched_at: NaiveDateTime,
    ) -> QueryResult<bool>;

    /// The account's rows not marked deleted among `ids`: what a listed page is compared with.
    fn live_among(conn: &mut DbConnection, account: &str, ids: &[&str]) -> QueryResult<Vec<Self>>;

    /// Leaves `mark` on the account's rows among `ids` that lack it: a listing has seen them.
    fn mark_listed(
        conn: &mut DbConnection,
        account: &str,
        ids: &[&str],
        mark: &str,
    ) -> QueryResult<usize>;

    /// The ids of up to `limit` of the account's rows not marked deleted and without `mark`,
    /// after `after` in id order: what the listing marked `mark` did not see.
    fn unlisted_after(
        conn: &mut DbConnection,
        account: &str,
        mark: &str,
        after: Option<&str>,
        limit: i64,
    ) -> QueryResult<Vec<String>>;
}

/// Implements [`MirrorRow`] for a row type over its table, whose key is (stripe_account_id,
/// id) and which has `deleted` and `fetched_at` columns. The row's changeset must treat `None`
/// as NULL (`treat_none_as_null = true`): a field Stripe cleared is cleared in the mirror, not
/// kept from an older fetch.
#[macro_export]
macro_rules! mirror_row {
    ($row:ty, $table:ident) => {
        impl $crate::mirror::MirrorRow for $row {
            const TABLE: &'static str = stringify!($table);

            fn id(&self) -> &str {
                &self.id
            }

            fn account(&self) -> &str {
                &self.stripe_account_id
            }

            fn stored(
                conn: &mut $crate::db::DbConnection,
                account: &str,
                id: &str,
            ) -> diesel::QueryResult<Option<Self>> {
                diesel::OptionalExtension::optional(
                    $table::table
                        .filter($table::stripe_account_id.eq(account))
                        .filter($table::id.eq(id))
                        .select(<Self as diesel::SelectableHelper<_>>::as_select())
                        .first(conn),
                )
            }

            fn same(&self, other: &Self) -> bool {
                let mut other = other.clone();
                other.fetched_at = self.fetched_at;
                *self == other
            }

            fn upsert(
                conn: &mut $crate::db::DbConnection,
                row: &Self,
            ) -> diesel::QueryResult<bool> {
                $crate::on_each_backend!(conn, |c| diesel::query_dsl::methods::FilterDsl::filter(
                    diesel::insert_into($table::table)
                        .values(row)
                        .on_conflict(($table::stripe_account_id, $table::id))
                        .do_update()
                        .set(row),
                    $table::fetched_at.le(diesel::upsert::excluded($table::fetched_at))
                )
                .execute(c))
                .map(|written| written > 0)
            }

            fn mark_deleted(
                conn: &mut $crate::db::DbConnection,
                account: &str,
                id: &str,
                fetched_at: chrono::NaiveDateTime,
            ) -> diesel::QueryResult<bool> {
                diesel::update(
                    $table::table
                        .filter($table::stripe_account_id.eq(account))
                        .filter($table::id.eq(id))
                        .filter($table::fetched_at.le(fetched_at)),
                )
                .set(($table::deleted.eq(true), $table::fetched_at.eq(fetched_at)))
                .execute(conn)
                .map(|written| written > 0)
            }

            fn live_among(
                conn: &mut $crate::db::DbConnection,
                account: &str,
                ids: &[&str],
            ) -> diesel::QueryResult<Vec<Self>> {
                // Planned each time: a page look-up in a table a backfill fills.
                $crate::db::PlannedEachTime(
                    $table::table
                        .filter($table::stripe_account_id.eq(account))
                        .filter($table::id.eq_any(ids))
                        .filter($table::deleted.eq(false))
                        .select(<Self as diesel::SelectableHelper<_>>::as_select()),
                )
                .load(conn)
            }

            fn mark_listed(
                conn: &mut $crate::db::DbConnection,
                account: &str,
                ids: &[&str],
                mark: &str,
            ) -> diesel::QueryResult<usize> {
                $crate::db::PlannedEachTime(
                    diesel::update(
                        $table::table
                            .filter($table::stripe_account_id.eq(account))
                            .filter($table::id.eq_any(ids))
                            .filter($table::listed_by.is_null().or($table::listed_by.ne(mark))),
                    )
                    .set($table::listed_by.eq(mark)),
                )
                .execute(conn)
            }

            fn unlisted_after(
                conn: &mut $crate::db::DbConnection,
                account: &str,
                mark: &str,
                after: Option<&str>,
                limit: i64,
            ) -> diesel::QueryResult<Vec<String>> {
                let mut query = $table::table
                    .filter($table::stripe_account_id.eq(account))
                    .filter($table::deleted.eq(false))
                    .filter($table::listed_by.is_null().or($table::listed_by.ne(mark)))
                    .select($table::id)
                    .order($table::id.asc())
                    .limit(limit)
                    .into_boxed();
                if let Some(after) = after {
                    query = query.filter($table::id.gt(after.to_string()));
                }
                $crate::db::PlannedEachTime(query).load(conn)
            }
        }

        impl $row {
            /// The account's row `id`, unless it is marked deleted. Text that is no Stripe id
            /// names no row, and is not sent to the database (which may refuse it outright:
            /// PostgreSQL takes no NUL in text).
            pub fn find(
                conn: &mut $crate::db::DbConnection,
                account: &str,
                id: &str,
            ) -> diesel::QueryResult<Option<Self>> {
                if $crate::domain::StripeId::check(id).is_err() {
                    return Ok(None);
                }
                $crate::on_each_backend!(conn, |c| diesel::OptionalExtension::optional(
                    $table::table
                        .filter($table::stripe_account_id.eq(account))
                        .filter($table::id.eq(id))
                        .filter($table::deleted.eq(false))
                        .select(<Self as diesel::SelectableHelper<_>>::as_select())
                        .first(c),
                ))
            }
        }
    };
}

/// Continues a newest-first listing of `$table` (by `created`, then `id`, both descending) after
/// the account's row `$after`: evaluates to `$query` narrowed to the rows after it, or to `None`
/// when `$after` names no row of the account with a creation time (nothing follows it).
#[macro_export]
macro_rules! newest_after {
    ($conn:expr, $table:ident, $query:expr, $account:expr, $after:expr) => {{
        let created = diesel::OptionalExtension::optional(
            $table::table
                .filter($table::stripe_account_id.eq($account))
                .filter($table::id.eq($after))
                .select($table::created)
                .first::<Option<chrono::NaiveDateTime>>($conn),
        )?
        .flatten();
        // `created <= created` is the tie-break's range, which the (account, created, id)
        // index starts its scan at; with the `OR` alone a deep page read every newer row first.
        created.map(|created| {
            $query.filter($table::created.le(created)).filter(
                $table::created.lt(created).or($table::created
                    .eq(created)
                    .and($table::id.lt($after.to_string()))),
            )
        })
    }};
}
