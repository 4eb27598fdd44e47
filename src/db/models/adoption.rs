//! Set-based look-ups for a listing page of Stripe customers: comparing it with the account's
//! rows (reconciliation), and adopting it in one transaction (`services::customers::adopt_page`,
//! whose audit rows go in with `AuditContext::record_all`).
//!
//! On PostgreSQL each of a page's keys is one probe of the key's unique index: the keys are
//! `unnest`ed and each looks its row up in a `LATERAL` subquery (`LIMIT 1`, which the key's
//! uniqueness makes free), an order of work the planner cannot turn round. Written as `key =
//! ANY(...)` beside the account, or as a plain join, they were planned on a table filling
//! during a backfill (no statistics yet: the account's rows guessed at a handful) as a scan of
//! every row of the account: each page slower than the one before, 0.4 s a page at 60,000 rows.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use diesel::sql_types::{Array, Text};

use super::{Customer, CustomerStatus, NewCustomer};
use crate::db::schema::customers;
use crate::db::{DbConnection, PlannedEachTime};
use crate::on_each_backend;

/// The rows of the account `$1` pointing at any of `$2` (the page's Stripe ids), as `c`.
const BY_STRIPE_IDS: &str = "unnest($2::text[]) AS wanted (id) CROSS JOIN LATERAL \
     (SELECT * FROM customers WHERE stripe_account_id = $1 AND stripe_customer_id = wanted.id \
      LIMIT 1) c";

/// The account's active rows pointing at any of `stripe_ids`, by Stripe id.
pub fn active_by_stripe_ids(
    conn: &mut DbConnection,
    stripe_account_id: &str,
    stripe_ids: &[&str],
) -> QueryResult<HashMap<String, Customer>> {
    let rows: Vec<Customer> = match conn {
        // The rows' ids by the join, then the rows by primary key.
        DbConnection::Postgresql(pg) => {
            let ids: Vec<String> = diesel::sql_query(format!(
                "SELECT c.id FROM {BY_STRIPE_IDS} WHERE c.status = $3"
            ))
            .bind::<Text, _>(stripe_account_id)
            .bind::<Array<Text>, _>(stripe_ids)
            .bind::<Text, _>(CustomerStatus::Active.as_str())
            .load::<RowId>(pg)?
            .into_iter()
            .map(|row| row.id)
            .collect();
            PlannedEachTime(
                customers::table
                    .filter(customers::stripe_account_id.eq(stripe_account_id))
                    .filter(customers::id.eq_any(ids))
                    .select(Customer::as_select()),
            )
            .load(pg)?
        }
        DbConnection::Sqlite(sqlite) => customers::table
            .filter(customers::stripe_account_id.eq(stripe_account_id))
            .filter(customers::stripe_customer_id.eq_any(stripe_ids))
            .filter(customers::status.eq(CustomerStatus::Active))
            .select(Customer::as_select())
            .load(sqlite)?,
    };
    Ok(rows
        .into_iter()
        .filter_map(|row| Some((row.stripe_customer_id.clone()?, row)))
        .collect())
}

/// A row's id, as [`active_by_stripe_ids`] finds it.
#[derive(QueryableByName)]
#[diesel(table_name = customers)]
struct RowId {
    id: String,
}

/// A row's Stripe customer, as [`taken_stripe_ids`] finds it.
#[derive(QueryableByName)]
#[diesel(table_name = customers)]
struct Taken {
    stripe_customer_id: Option<String>,
}

/// Which of `stripe_ids` rows of the account already point at (any status).
pub fn taken_stripe_ids(
    conn: &mut DbConnection,
    stripe_account_id: &str,
    stripe_ids: &[&str],
) -> QueryResult<HashSet<String>> {
    let found: Vec<Option<String>> = match conn {
        DbConnection::Postgresql(pg) => {
            diesel::sql_query(format!("SELECT c.stripe_customer_id FROM {BY_STRIPE_IDS}"))
                .bind::<Text, _>(stripe_account_id)
                .bind::<Array<Text>, _>(stripe_ids)
                .load::<Taken>(pg)?
                .into_iter()
                .map(|taken| taken.stripe_customer_id)
                .collect()
        }
        DbConnection::Sqlite(sqlite) => customers::table
            .filter(customers::stripe_account_id.eq(stripe_account_id))
            .filter(customers::stripe_customer_id.eq_any(stripe_ids))
            .select(customers::stripe_customer_id)
            .load(sqlite)?,
    };
    Ok(found.into_iter().flatten().collect())
}

/// The rows of the account's organizer `organizer_id` holding any of `emails` (normalized), by
/// email: the row's id and its Stripe customer.
pub fn holders_of_emails(
    conn: &mut DbConnection,
    stripe_account_id: &str,
    organizer_id: &str,
    emails: &[&str],
) -> QueryResult<HashMap<String, (String, Option<String>)>> {
    let found: Vec<Holder> = match conn {
        DbConnection::Postgresql(pg) => diesel::sql_query(
            "SELECT c.email_normalized, c.id, c.stripe_customer_id \
             FROM unnest($3::text[]) AS wanted (email) CROSS JOIN LATERAL \
             (SELECT * FROM customers WHERE stripe_account_id = $1 AND organizer_id = $2 \
                 AND email_normalized = wanted.email LIMIT 1) c",
        )
        .bind::<Text, _>(stripe_account_id)
        .bind::<Text, _>(organizer_id)
        .bind::<Array<Text>, _>(emails)
        .load(pg)?,
        DbConnection::Sqlite(sqlite) => customers::table
            .filter(customers::stripe_account_id.eq(stripe_account_id))
            .filter(customers::organizer_id.eq(organizer_id))
            .filter(customers::email_normalized.eq_any(emails))
            .select(Holder::as_select())
            .load(sqlite)?,
    };
    Ok(found
        .into_iter()
        .map(|holder| {
            (
                holder.email_normalized,
                (holder.id, holder.stripe_customer_id),
            )
        })
        .collect())
}

/// A row holding an email, as [`holders_of_emails`] finds it.
#[derive(QueryableByName, Queryable, Selectable)]
#[diesel(table_name = customers)]
struct Holder {
    email_normalized: String,
    id: String,
    stripe_customer_id: Option<String>,
}

/// Inserts the customers in one statement (on SQLite, diesel writes a batch row by row).
pub fn insert_customers(conn: &mut DbConnection, rows: &[NewCustomer<'_>]) -> QueryResult<()> {
    match rows {
        [] => return Ok(()),
        // One row (an adoption from a webhook): a statement diesel prepares once and caches.
        [row] => {
            let insert = diesel::insert_into(customers::table).values(row);
            return on_each_backend!(conn, |c| insert.execute(c)).map(drop);
        }
        _ => {}
    }
    let insert = diesel::insert_into(customers::table).values(rows);
    on_each_backend!(conn, |c| insert.execute(c)).map(drop)
}

/// Leaves `mark` on the account's rows pointing at any of `stripe_ids` that lack it: a listing
/// has seen them.
pub fn mark_listed(
    conn: &mut DbConnection,
    stripe_account_id: &str,
    stripe_ids: &[&str],
    mark: &str,
) -> QueryResult<usize> {
    match conn {
        DbConnection::Postgresql(pg) => diesel::sql_query(format!(
            "UPDATE customers SET listed_by = $3 FROM (SELECT c.id FROM {BY_STRIPE_IDS}) listed \
             WHERE customers.stripe_account_id = $1 AND customers.id = listed.id \
               AND customers.listed_by IS DISTINCT FROM $3"
        ))
        .bind::<Text, _>(stripe_account_id)
        .bind::<Array<Text>, _>(stripe_ids)
        .bind::<Text, _>(mark)
        .execute(pg),
        DbConnection::Sqlite(sqlite) => diesel::update(
            customers::table
                .filter(customers::stripe_account_id.eq(stripe_account_id))
                .filter(customers::stripe_customer_id.eq_any(stripe_ids))
                .filter(
                    customers::listed_by
                        .is_null()
                        .or(customers::listed_by.ne(mark)),
                ),
        )
        .set(customers::listed_by.eq(mark))
        .execute(sqlite),
    }
}

/// Up to `limit` of the account's active rows with a Stripe customer and without `mark`, after
/// the row `after` in id order, as (row id, Stripe id): what the listing marked `mark` did not
/// see.
pub fn unlisted_after(
    conn: &mut DbConnection,
    stripe_account_id: &str,
    mark: &str,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<(String, String)>> {
    let mut query = customers::table
        .filter(customers::stripe_account_id.eq(stripe_account_id))
        .filter(customers::status.eq(CustomerStatus::Active))
        .filter(customers::stripe_customer_id.is_not_null())
        .filter(
            customers::listed_by
                .is_null()
                .or(customers::listed_by.ne(mark)),
        )
        .select((
            customers::id,
            customers::stripe_customer_id.assume_not_null(),
        ))
        .order(customers::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(customers::id.gt(after.to_string()));
    }
    PlannedEachTime(query).load(conn)
}
