//! Products: one row per Stripe product of the account.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use stripe_product::product::{ListProduct, RetrieveProduct};
use utoipa::ToSchema;

use super::price::{Price, PriceResponse};
use super::{found, Fetched, Page, Rows, PAGE_SIZE};
use crate::db::columns::JsonColumn;
use crate::db::schema::products;
use crate::db::DbConnection;
use crate::stripe::{AccountClient, StripeError};

pub struct Products;

// A product as the API serves it, with its active prices.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductResponse {
    #[schema(example = "prod_PqRst")]
    id: String,
    name: String,
    description: Option<String>,
    metadata: BTreeMap<String, String>,
    /// The product's active prices.
    prices: Vec<PriceResponse>,
}

impl ProductResponse {
    pub fn new(product: Product, prices: Vec<Price>) -> Self {
        Self {
            metadata: product.metadata.into_inner(),
            prices: prices.into_iter().map(Into::into).collect(),
            id: product.id,
            name: product.name,
            description: product.description,
        }
    }
}

/// What the mirror reads of a Stripe product.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RemoteProduct {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub description: Option<String>,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub deleted: bool,
}

#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = products, treat_none_as_null = true)]
pub struct Product {
    pub stripe_account_id: String,
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub active: bool,
    pub metadata: JsonColumn<BTreeMap<String, String>>,
    pub deleted: bool,
    pub fetched_at: NaiveDateTime,
}

crate::mirror_row!(Product, products);

impl Rows for Products {
    const NAME: &'static str = "products";
    const EVENTS: &'static [&'static str] =
        &["product.created", "product.updated", "product.deleted"];
    const LISTINGS: usize = 1;
    type Remote = RemoteProduct;
    type Row = Product;

    async fn fetch<'a>(
        client: &'a AccountClient<'a>,
        id: &'a str,
    ) -> Result<Fetched<RemoteProduct>, StripeError> {
        found(
            client.read_json(&RetrieveProduct::new(id)).await,
            |p: &RemoteProduct| p.deleted,
        )
    }

    async fn page<'a>(
        client: &'a AccountClient<'a>,
        _listing: usize,
        after: Option<&'a str>,
    ) -> Result<Page<RemoteProduct>, StripeError> {
        let mut request = ListProduct::new().limit(PAGE_SIZE);
        if let Some(after) = after {
            request = request.starting_after(after);
        }
        client.read_json(&request).await
    }

    fn row(account: &str, p: RemoteProduct, fetched_at: NaiveDateTime) -> Product {
        Product {
            stripe_account_id: account.to_string(),
            id: p.id,
            name: p.name,
            description: p.description,
            active: p.active,
            metadata: JsonColumn::new(p.metadata),
            deleted: false,
            fetched_at,
        }
    }
}

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
