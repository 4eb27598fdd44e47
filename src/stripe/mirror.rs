//! Reads of the objects the gateway mirrors: products, prices and subscriptions, each fetched
//! whole with the SDK's request and read into the few fields the mirror keeps.
//!
//! A fetch answers [`Fetched::Gone`] when Stripe no longer has the object (404
//! `resource_missing`, or `deleted: true`): the mirror marks its row deleted.

use std::collections::BTreeMap;

use serde::Deserialize;
use stripe_billing::subscription::{
    ListSubscription, ListSubscriptionStatus, RetrieveSubscription,
};
use stripe_product::price::RetrievePrice;
use stripe_product::product::RetrieveProduct;

use crate::stripe::{AccountClient, StripeError};

/// What a fetch found.
#[derive(Clone, Debug, PartialEq)]
pub enum Fetched<T> {
    Found(T),
    Gone,
}

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

/// A field Stripe sends as an id, or as the object when expanded.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Expandable {
    Id(String),
    Object { id: String },
}

impl Expandable {
    pub fn id(&self) -> &str {
        match self {
            Self::Id(id) | Self::Object { id } => id,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RemoteSubscription {
    pub id: String,
    pub customer: Expandable,
    pub status: String,
    pub items: ItemList,
    /// On the subscription up to API version 2025-03-31; on each item since.
    pub current_period_end: Option<i64>,
    #[serde(default)]
    pub cancel_at_period_end: bool,
    pub trial_end: Option<i64>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ItemList {
    pub data: Vec<RemoteItem>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RemoteItem {
    pub id: String,
    pub price: Expandable,
    pub quantity: Option<u64>,
    pub current_period_end: Option<i64>,
}

impl RemoteSubscription {
    /// The end of the current period: the subscription's own, or its items' latest.
    pub fn period_end(&self) -> Option<i64> {
        self.current_period_end.or_else(|| {
            self.items
                .data
                .iter()
                .filter_map(|item| item.current_period_end)
                .max()
        })
    }
}

/// One page of a listing, oldest or newest first as Stripe lists the kind; the next page
/// starts after the last item's id.
#[derive(Deserialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub has_more: bool,
}

/// Whether Stripe's error says the object does not exist (in this account).
fn is_missing(err: &StripeError) -> bool {
    matches!(err, StripeError::Api { status: 404, .. })
}

pub(super) fn found<T>(
    result: Result<T, StripeError>,
    deleted: impl Fn(&T) -> bool,
) -> Result<Fetched<T>, StripeError> {
    match result {
        Ok(object) if deleted(&object) => Ok(Fetched::Gone),
        Ok(object) => Ok(Fetched::Found(object)),
        Err(err) if is_missing(&err) => Ok(Fetched::Gone),
        Err(err) => Err(err),
    }
}

pub async fn product(
    client: &AccountClient<'_>,
    id: &str,
) -> Result<Fetched<RemoteProduct>, StripeError> {
    found(
        client.read_json(&RetrieveProduct::new(id)).await,
        |p: &RemoteProduct| p.deleted,
    )
}

pub async fn price(
    client: &AccountClient<'_>,
    id: &str,
) -> Result<Fetched<RemotePrice>, StripeError> {
    found(
        client.read_json(&RetrievePrice::new(id)).await,
        |p: &RemotePrice| p.deleted,
    )
}

pub async fn subscription(
    client: &AccountClient<'_>,
    id: &str,
) -> Result<Fetched<RemoteSubscription>, StripeError> {
    found(
        client.read_json(&RetrieveSubscription::new(id)).await,
        |_| false,
    )
}

/// Every subscription of a customer, whatever its status, page by page to the end.
pub async fn customer_subscriptions(
    client: &AccountClient<'_>,
    customer: &str,
) -> Result<Vec<RemoteSubscription>, StripeError> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut request = ListSubscription::new()
            .customer(customer)
            .status(ListSubscriptionStatus::All)
            .limit(super::lists::PAGE_SIZE);
        if let Some(last) = &after {
            request = request.starting_after(last.as_str());
        }
        let page: Page<RemoteSubscription> = client.read_json(&request).await?;
        after = page.data.last().map(|s| s.id.clone());
        all.extend(page.data);
        if !page.has_more || after.is_none() {
            return Ok(all);
        }
    }
}
