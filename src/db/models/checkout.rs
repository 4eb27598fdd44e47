//! The mirror of checkout sessions and of customers' active entitlements; like the rest of the
//! mirror (see `mirror.rs`), written only from fetches, the later fetch winning.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::upsert::excluded;

use super::mirror::mirror_row;

use crate::db::schema::{checkout_sessions, entitlements};
use crate::db::DbConnection;
use crate::on_each_backend;

#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = checkout_sessions)]
pub struct CheckoutSession {
    pub stripe_account_id: String,
    pub id: String,
    pub stripe_customer_id: Option<String>,
    pub mode: String,
    pub status: Option<String>,
    pub payment_status: String,
    pub amount_total: Option<i64>,
    pub currency: Option<String>,
    pub expires_at: Option<NaiveDateTime>,
    /// JSON object of strings.
    pub metadata: String,
    pub deleted: bool,
    pub fetched_at: NaiveDateTime,
    /// The hosted page that takes the payment, while the session is open.
    pub url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = entitlements)]
pub struct Entitlements {
    pub stripe_account_id: String,
    pub stripe_customer_id: String,
    /// JSON array of the lookup keys of the customer's active features.
    pub features: String,
    pub fetched_at: NaiveDateTime,
}

mirror_row!(CheckoutSession, checkout_sessions);

impl CheckoutSession {
    /// Records a session as its create answered, unless the mirror has it already: a create
    /// retried with the same idempotency key gets Stripe's first answer again, which may be
    /// older than what a webhook's fetch stored meanwhile.
    pub fn insert_if_absent(conn: &mut DbConnection, row: &CheckoutSession) -> QueryResult<bool> {
        on_each_backend!(conn, |c| diesel::insert_into(checkout_sessions::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c))
        .map(|written| written > 0)
    }

    pub fn find_by_account_and_id(
        conn: &mut DbConnection,
        account: &str,
        id: &str,
    ) -> QueryResult<Option<CheckoutSession>> {
        checkout_sessions::table
            .filter(checkout_sessions::stripe_account_id.eq(account))
            .filter(checkout_sessions::id.eq(id))
            .select(CheckoutSession::as_select())
            .first(conn)
            .optional()
    }
}

impl Entitlements {
    /// Stores the customer's active features, unless a later fetch stored them already.
    pub fn upsert(conn: &mut DbConnection, row: &Entitlements) -> QueryResult<bool> {
        on_each_backend!(conn, |c| diesel::query_dsl::methods::FilterDsl::filter(
            diesel::insert_into(entitlements::table)
                .values(row)
                .on_conflict((
                    entitlements::stripe_account_id,
                    entitlements::stripe_customer_id
                ))
                .do_update()
                .set(row),
            entitlements::fetched_at.le(excluded(entitlements::fetched_at))
        )
        .execute(c))
        .map(|written| written > 0)
    }

    /// Every customer of the account the mirror holds entitlements for.
    pub fn list_by_account(
        conn: &mut DbConnection,
        account: &str,
    ) -> QueryResult<Vec<Entitlements>> {
        entitlements::table
            .filter(entitlements::stripe_account_id.eq(account))
            .order(entitlements::stripe_customer_id.asc())
            .select(Entitlements::as_select())
            .load(conn)
    }

    pub fn find_by_account_and_customer(
        conn: &mut DbConnection,
        account: &str,
        stripe_customer_id: &str,
    ) -> QueryResult<Option<Entitlements>> {
        entitlements::table
            .filter(entitlements::stripe_account_id.eq(account))
            .filter(entitlements::stripe_customer_id.eq(stripe_customer_id))
            .select(Entitlements::as_select())
            .first(conn)
            .optional()
    }
}
