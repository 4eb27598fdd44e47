//! Set-based look-ups for a listing page of Stripe customers: comparing it with the account's
//! rows (reconciliation), and adopting it in one transaction (`services::customers::adopt_page`,
//! whose audit rows go in with `AuditContext::record_all`).

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;

use super::{Customer, CustomerStatus, NewCustomer};
use crate::db::schema::customers;
use crate::db::DbConnection;
use crate::on_each_backend;

/// The account's active rows pointing at any of `stripe_ids`, by Stripe id.
pub fn active_by_stripe_ids(
    conn: &mut DbConnection,
    stripe_account_id: &str,
    stripe_ids: &[&str],
) -> QueryResult<HashMap<String, Customer>> {
    let rows: Vec<Customer> = customers::table
        .filter(customers::stripe_account_id.eq(stripe_account_id))
        .filter(customers::stripe_customer_id.eq_any(stripe_ids))
        .filter(customers::status.eq(CustomerStatus::Active))
        .select(Customer::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|row| Some((row.stripe_customer_id.clone()?, row)))
        .collect())
}

/// Which of `stripe_ids` rows of the account already point at (any status).
pub fn taken_stripe_ids(
    conn: &mut DbConnection,
    stripe_account_id: &str,
    stripe_ids: &[&str],
) -> QueryResult<HashSet<String>> {
    let found: Vec<Option<String>> = customers::table
        .filter(customers::stripe_account_id.eq(stripe_account_id))
        .filter(customers::stripe_customer_id.eq_any(stripe_ids))
        .select(customers::stripe_customer_id)
        .load(conn)?;
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
    let found: Vec<(String, String, Option<String>)> = customers::table
        .filter(customers::stripe_account_id.eq(stripe_account_id))
        .filter(customers::organizer_id.eq(organizer_id))
        .filter(customers::email_normalized.eq_any(emails))
        .select((
            customers::email_normalized,
            customers::id,
            customers::stripe_customer_id,
        ))
        .load(conn)?;
    Ok(found
        .into_iter()
        .map(|(email, id, stripe_id)| (email, (id, stripe_id)))
        .collect())
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
    diesel::update(
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
    .execute(conn)
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
    query.load(conn)
}
