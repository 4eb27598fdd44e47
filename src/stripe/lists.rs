//! Listings of an account's objects, one page of 100 at a time, for reconciliation and
//! backfill: the SDK builds each request, serde reads the fields the mirror keeps.

use stripe_billing::subscription::{ListSubscription, ListSubscriptionStatus};
use stripe_core::customer::ListCustomer;
use stripe_product::price::ListPrice;
use stripe_product::product::ListProduct;

use super::customers::RemoteCustomer;
pub use super::mirror::Page;
use super::mirror::{RemotePrice, RemoteProduct, RemoteSubscription};
use super::{AccountClient, StripeError};

/// Stripe's largest page.
pub const PAGE_SIZE: i64 = 100;

pub async fn products(
    client: &AccountClient<'_>,
    after: Option<&str>,
) -> Result<Page<RemoteProduct>, StripeError> {
    let mut request = ListProduct::new().limit(PAGE_SIZE);
    if let Some(after) = after {
        request = request.starting_after(after);
    }
    client.read_json::<_, Page<_>>(&request).await
}

/// Active and inactive prices alike (Stripe lists both when `active` is not given).
/// The account's prices that are `active`, or not: Stripe lists only the active ones unless
/// asked for the inactive ones, so a full listing takes both.
pub async fn prices(
    client: &AccountClient<'_>,
    active: bool,
    after: Option<&str>,
) -> Result<Page<RemotePrice>, StripeError> {
    let mut request = ListPrice::new().active(active).limit(PAGE_SIZE);
    if let Some(after) = after {
        request = request.starting_after(after);
    }
    client.read_json::<_, Page<_>>(&request).await
}

/// Subscriptions in every status: canceled ones included, which Stripe leaves out by default.
pub async fn subscriptions(
    client: &AccountClient<'_>,
    after: Option<&str>,
) -> Result<Page<RemoteSubscription>, StripeError> {
    let mut request = ListSubscription::new()
        .status(ListSubscriptionStatus::All)
        .limit(PAGE_SIZE);
    if let Some(after) = after {
        request = request.starting_after(after);
    }
    client.read_json::<_, Page<_>>(&request).await
}

pub async fn customers(
    client: &AccountClient<'_>,
    after: Option<&str>,
) -> Result<Page<RemoteCustomer>, StripeError> {
    let mut request = ListCustomer::new().limit(PAGE_SIZE);
    if let Some(after) = after {
        request = request.starting_after(after);
    }
    let page = client.read(&request).await?;
    Ok(Page {
        data: page.data.into_iter().map(RemoteCustomer::from).collect(),
        has_more: page.has_more,
    })
}

/// `GET /v1/events`: the pinned SDK build has the request type only behind a feature that
/// compiles every event's typed payload, which the gateway never reads; this one is written
/// with the SDK's own builder, and each event is kept as the JSON Stripe sent.
struct ListEvents<'a> {
    created_gte: i64,
    starting_after: Option<&'a str>,
}

#[derive(serde::Serialize)]
struct EventParams<'a> {
    #[serde(rename = "created[gte]")]
    created_gte: i64,
    limit: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    starting_after: Option<&'a str>,
}

impl stripe_client_core::StripeRequest for ListEvents<'_> {
    type Output = miniserde::json::Value;

    fn build(&self) -> stripe_client_core::RequestBuilder {
        stripe_client_core::RequestBuilder::new(stripe_client_core::StripeMethod::Get, "/events")
            .query(&EventParams {
                created_gte: self.created_gte,
                limit: PAGE_SIZE,
                starting_after: self.starting_after,
            })
    }
}

/// One page of the account's events created at or after `created_gte` (unix seconds), newest
/// first, as Stripe lists them; delivered or not.
pub async fn events(
    client: &AccountClient<'_>,
    created_gte: i64,
    after: Option<&str>,
) -> Result<Page<serde_json::Value>, StripeError> {
    let request = ListEvents {
        created_gte,
        starting_after: after,
    };
    client.read_json::<_, Page<_>>(&request).await
}
