//! The mirror of each account's products, prices and subscriptions. Rows are written only from
//! what a fetch from Stripe answered, whole. `fetched_at` is when that fetch began, and a write
//! whose fetch began before the stored one's is dropped: two workers racing on one object
//! cannot leave the older state.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{prices, products, subscriptions};
use crate::db::DbConnection;

#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = products)]
pub struct Product {
    pub stripe_account_id: String,
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub active: bool,
    /// JSON object of strings.
    pub metadata: String,
    pub deleted: bool,
    pub fetched_at: NaiveDateTime,
}

#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = prices)]
pub struct Price {
    pub stripe_account_id: String,
    pub id: String,
    pub product_id: String,
    pub active: bool,
    pub currency: String,
    pub unit_amount: Option<i64>,
    pub recurring_interval: Option<String>,
    pub recurring_interval_count: Option<i32>,
    pub lookup_key: Option<String>,
    pub nickname: Option<String>,
    /// JSON object of strings.
    pub metadata: String,
    pub deleted: bool,
    pub fetched_at: NaiveDateTime,
}

/// One item of a subscription as the mirror keeps it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct SubscriptionItem {
    /// Stripe's subscription item id (`si_...`).
    pub id: String,
    /// The price (`price_...`).
    pub price: String,
    pub quantity: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = subscriptions)]
pub struct Subscription {
    pub stripe_account_id: String,
    pub id: String,
    pub stripe_customer_id: String,
    pub status: String,
    /// JSON array of [`SubscriptionItem`].
    pub items: String,
    pub current_period_end: Option<NaiveDateTime>,
    pub cancel_at_period_end: bool,
    pub trial_end: Option<NaiveDateTime>,
    /// JSON object of strings.
    pub metadata: String,
    pub deleted: bool,
    pub fetched_at: NaiveDateTime,
}

/// A mirror row keyed by (account, Stripe id), written only from a fetch.
pub trait MirrorRow: Sized {
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

    /// Every row of the account not marked deleted: what reconciliation compares with Stripe.
    fn live_by_account(conn: &mut DbConnection, account: &str) -> QueryResult<Vec<Self>>;
}

/// Implements [`MirrorRow`] for a row type over its table.
macro_rules! mirror_row {
    ($row:ty, $table:ident) => {
        impl $crate::db::models::mirror::MirrorRow for $row {
            fn upsert(conn: &mut DbConnection, row: &Self) -> QueryResult<bool> {
                $crate::db::models::mirror::upsert_newer!(conn, $table, row)
            }

            fn mark_deleted(
                conn: &mut DbConnection,
                account: &str,
                id: &str,
                fetched_at: NaiveDateTime,
            ) -> QueryResult<bool> {
                $crate::db::models::mirror::mark_deleted!(conn, $table, account, id, fetched_at)
            }

            fn live_by_account(conn: &mut DbConnection, account: &str) -> QueryResult<Vec<Self>> {
                $table::table
                    .filter($table::stripe_account_id.eq(account))
                    .filter($table::deleted.eq(false))
                    .order($table::id.asc())
                    .select(<Self as diesel::SelectableHelper<_>>::as_select())
                    .load(conn)
            }
        }
    };
}
pub(super) use mirror_row;

mirror_row!(Product, products);
mirror_row!(Price, prices);
mirror_row!(Subscription, subscriptions);

/// Inserts or overwrites a mirror row, unless the stored row came from a fetch that began
/// later. Returns whether the row was written.
macro_rules! upsert_newer {
    ($conn:expr, $table:ident, $row:expr) => {{
        let row = $row;
        $crate::on_each_backend!($conn, |c| diesel::query_dsl::methods::FilterDsl::filter(
            diesel::insert_into($table::table)
                .values(row)
                .on_conflict(($table::stripe_account_id, $table::id))
                .do_update()
                .set(row),
            $table::fetched_at.le(diesel::upsert::excluded($table::fetched_at))
        )
        .execute(c))
        .map(|written| written > 0)
    }};
}
pub(super) use upsert_newer;

/// Marks a row deleted (Stripe no longer has the object), unless a later fetch wrote it.
macro_rules! mark_deleted {
    ($conn:expr, $table:ident, $account:expr, $id:expr, $fetched_at:expr) => {
        diesel::update(
            $table::table
                .filter($table::stripe_account_id.eq($account))
                .filter($table::id.eq($id))
                .filter($table::fetched_at.le($fetched_at)),
        )
        .set(($table::deleted.eq(true), $table::fetched_at.eq($fetched_at)))
        .execute($conn)
        .map(|written| written > 0)
    };
}
pub(super) use mark_deleted;

impl Product {
    /// The account's active, undeleted products, by name.
    pub fn list_active_by_account(
        conn: &mut DbConnection,
        account: &str,
    ) -> QueryResult<Vec<Product>> {
        products::table
            .filter(products::stripe_account_id.eq(account))
            .filter(products::active.eq(true))
            .filter(products::deleted.eq(false))
            .order((products::name.asc(), products::id.asc()))
            .select(Product::as_select())
            .load(conn)
    }
}

impl Price {
    /// The prices with these ids in any account: a checkout names prices by id alone, and one
    /// that belongs to another tenant must be refused, not sent.
    pub fn find_by_ids_across_accounts(
        conn: &mut DbConnection,
        ids: &[String],
    ) -> QueryResult<Vec<Price>> {
        prices::table
            .filter(prices::id.eq_any(ids))
            .select(Price::as_select())
            .load(conn)
    }

    /// The account's active, undeleted prices of active products.
    pub fn list_active_by_account(
        conn: &mut DbConnection,
        account: &str,
    ) -> QueryResult<Vec<Price>> {
        prices::table
            .filter(prices::stripe_account_id.eq(account))
            .filter(prices::active.eq(true))
            .filter(prices::deleted.eq(false))
            .order((
                prices::product_id.asc(),
                prices::unit_amount.asc(),
                prices::id.asc(),
            ))
            .select(Price::as_select())
            .load(conn)
    }
}

impl Subscription {
    /// A customer's subscriptions in the account, newest fetch last.
    pub fn list_by_account_and_customer(
        conn: &mut DbConnection,
        account: &str,
        stripe_customer_id: &str,
    ) -> QueryResult<Vec<Subscription>> {
        subscriptions::table
            .filter(subscriptions::stripe_account_id.eq(account))
            .filter(subscriptions::stripe_customer_id.eq(stripe_customer_id))
            .filter(subscriptions::deleted.eq(false))
            .order(subscriptions::id.asc())
            .select(Subscription::as_select())
            .load(conn)
    }
}
