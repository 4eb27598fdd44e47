//! Prices: one row per Stripe price of the account, active or not.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use stripe_product::price::{ListPrice, RetrievePrice};
use utoipa::ToSchema;

use super::{found, Expandable, Fetched, Page, Rows, PAGE_SIZE};
use crate::db::columns::JsonColumn;
use crate::db::schema::prices;
use crate::db::DbConnection;
use crate::stripe::{AccountClient, StripeError};

pub struct Prices;

// A price as the API serves it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PriceResponse {
    #[schema(example = "price_1PqRst")]
    id: String,
    /// ISO 4217, lowercase.
    #[schema(example = "eur")]
    currency: String,
    /// In the currency's minor unit; null for prices that are not a fixed amount.
    unit_amount: Option<i64>,
    /// `day`, `week`, `month` or `year` for recurring prices; null for one-time prices.
    recurring_interval: Option<String>,
    recurring_interval_count: Option<i32>,
    lookup_key: Option<String>,
    nickname: Option<String>,
    metadata: BTreeMap<String, String>,
}

impl From<Price> for PriceResponse {
    fn from(price: Price) -> Self {
        Self {
            metadata: price.metadata.into_inner(),
            id: price.id,
            currency: price.currency,
            unit_amount: price.unit_amount,
            recurring_interval: price.recurring_interval,
            recurring_interval_count: price.recurring_interval_count,
            lookup_key: price.lookup_key,
            nickname: price.nickname,
        }
    }
}

/// What the mirror reads of a Stripe price.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RemotePrice {
    pub id: String,
    #[serde(default)]
    pub product: Option<Expandable>,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub currency: String,
    pub unit_amount: Option<i64>,
    pub recurring: Option<Recurring>,
    pub lookup_key: Option<String>,
    pub nickname: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub deleted: bool,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Recurring {
    pub interval: String,
    pub interval_count: Option<i32>,
}

#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = prices, treat_none_as_null = true)]
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
    pub metadata: JsonColumn<BTreeMap<String, String>>,
    pub deleted: bool,
    pub fetched_at: NaiveDateTime,
}

crate::mirror_row!(Price, prices);

/// Fetches one price: a checkout asks about a price the mirror does not know yet.
pub async fn fetch(
    client: &AccountClient<'_>,
    id: &str,
) -> Result<Fetched<RemotePrice>, StripeError> {
    found(
        client.read_json(&RetrievePrice::new(id)).await,
        |p: &RemotePrice| p.deleted,
    )
}

impl Rows for Prices {
    const NAME: &'static str = "prices";
    const EVENTS: &'static [&'static str] = &["price.created", "price.updated", "price.deleted"];
    /// Stripe lists only the active prices unless asked for the inactive ones: both listings.
    const LISTINGS: usize = 2;
    type Remote = RemotePrice;
    type Row = Price;

    async fn fetch<'a>(
        client: &'a AccountClient<'a>,
        id: &'a str,
    ) -> Result<Fetched<RemotePrice>, StripeError> {
        fetch(client, id).await
    }

    async fn page<'a>(
        client: &'a AccountClient<'a>,
        listing: usize,
        after: Option<&'a str>,
    ) -> Result<Page<RemotePrice>, StripeError> {
        let mut request = ListPrice::new().active(listing == 0).limit(PAGE_SIZE);
        if let Some(after) = after {
            request = request.starting_after(after);
        }
        client.read_json(&request).await
    }

    fn row(account: &str, p: RemotePrice, fetched_at: NaiveDateTime) -> Price {
        Price {
            stripe_account_id: account.to_string(),
            product_id: p
                .product
                .as_ref()
                .map(|p| p.id().to_string())
                .unwrap_or_default(),
            id: p.id,
            active: p.active,
            currency: p.currency,
            unit_amount: p.unit_amount,
            recurring_interval: p.recurring.as_ref().map(|r| r.interval.clone()),
            recurring_interval_count: p.recurring.as_ref().and_then(|r| r.interval_count),
            lookup_key: p.lookup_key,
            nickname: p.nickname,
            metadata: JsonColumn::new(p.metadata),
            deleted: false,
            fetched_at,
        }
    }
}

impl Price {
    /// The prices with these ids in `accounts` (the organizer's, and the platform's that
    /// destination charges sell from): a checkout names prices by id alone. A price of another
    /// tenant is not read here (nor told to exist): Stripe, asked on the charging account, has
    /// no such price.
    pub fn find_by_ids_in_accounts(
        conn: &mut DbConnection,
        accounts: &[&str],
        ids: &[String],
    ) -> QueryResult<Vec<Price>> {
        crate::on_each_backend!(conn, |c| prices::table
            .filter(prices::stripe_account_id.eq_any(accounts))
            .filter(prices::id.eq_any(ids))
            .select(Price::as_select())
            .load(c))
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
