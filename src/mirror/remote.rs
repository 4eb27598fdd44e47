//! What every kind reads from Stripe the same way: a fetch that may find the object gone, a
//! page of a listing, and a field that is an id or the object it names.

use chrono::{DateTime, NaiveDateTime};
use serde::Deserialize;

use crate::stripe::{AccountClient, Get, StripeError};

pub use crate::stripe::PAGE_SIZE;

/// What a fetch found.
#[derive(Clone, Debug, PartialEq)]
pub enum Fetched<T> {
    Found(T),
    /// Stripe no longer has the object (404 `resource_missing`, or `deleted: true`): the
    /// mirror marks its row deleted.
    Gone,
}

/// One page of a listing, oldest or newest first as Stripe lists the kind; the next page
/// starts after the last item's id.
#[derive(Deserialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub has_more: bool,
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

/// A fetch's answer as [`Fetched`]: `deleted` says whether a found object is a deleted one.
pub fn found<T>(
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

/// The object `id` of the collection Stripe serves at `/{collection}/{id}`; gone when Stripe
/// answers 404. (A kind whose objects can also come back `deleted: true` calls [`found`].)
pub async fn retrieve<T: serde::de::DeserializeOwned>(
    client: &AccountClient<'_>,
    collection: &str,
    id: &str,
) -> Result<Fetched<T>, StripeError> {
    let request = Get::new(format!("/{collection}/{id}"));
    found(client.read_json(&request).await, |_| false)
}

/// A page of Stripe's listing `/{collection}`, of its largest size, after the object `after`.
pub async fn list_page<T: serde::de::DeserializeOwned>(
    client: &AccountClient<'_>,
    collection: &str,
    after: Option<&str>,
) -> Result<Page<T>, StripeError> {
    let request = Get::new(format!("/{collection}")).page(after);
    client.read_json(&request).await
}

/// Whether Stripe's error says the object does not exist (in this account).
pub fn is_missing(err: &StripeError) -> bool {
    matches!(err, StripeError::Api { status: 404, .. })
}

/// A Stripe timestamp (unix seconds) as the database keeps it.
pub fn timestamp(seconds: Option<i64>) -> Option<NaiveDateTime> {
    seconds
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .map(|t| t.naive_utc())
}
