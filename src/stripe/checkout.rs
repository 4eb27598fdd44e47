//! Reads of checkout sessions and of a customer's active entitlements, for the mirror.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use stripe_checkout::checkout_session::RetrieveCheckoutSession;
use stripe_client_core::{RequestBuilder, StripeMethod, StripeRequest};

use super::mirror::{found, Expandable, Fetched, Page};
use crate::stripe::{AccountClient, StripeError};

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RemoteCheckoutSession {
    pub id: String,
    pub customer: Option<Expandable>,
    pub mode: String,
    pub status: Option<String>,
    pub payment_status: String,
    pub amount_total: Option<i64>,
    pub currency: Option<String>,
    pub expires_at: Option<i64>,
    pub metadata: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RemoteEntitlement {
    pub id: String,
    pub lookup_key: String,
}

pub async fn checkout_session(
    client: &AccountClient<'_>,
    id: &str,
) -> Result<Fetched<RemoteCheckoutSession>, StripeError> {
    found(
        client.read_json(&RetrieveCheckoutSession::new(id)).await,
        |_| false,
    )
}

/// `GET /v1/entitlements/active_entitlements`: the SDK build this gateway pins has no request
/// type for it in the crates it uses, so this one is written with the SDK's own builder.
struct ListActiveEntitlements<'a> {
    customer: &'a str,
    starting_after: Option<&'a str>,
}

#[derive(Serialize)]
struct ListParams<'a> {
    customer: &'a str,
    limit: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    starting_after: Option<&'a str>,
}

impl StripeRequest for ListActiveEntitlements<'_> {
    type Output = miniserde::json::Value;

    fn build(&self) -> RequestBuilder {
        RequestBuilder::new(StripeMethod::Get, "/entitlements/active_entitlements").query(
            &ListParams {
                customer: self.customer,
                limit: 100,
                starting_after: self.starting_after,
            },
        )
    }
}

/// Every active entitlement of `customer`, page by page to the end.
pub async fn active_entitlements(
    client: &AccountClient<'_>,
    customer: &str,
) -> Result<Vec<RemoteEntitlement>, StripeError> {
    let mut all: Vec<RemoteEntitlement> = Vec::new();
    loop {
        let request = ListActiveEntitlements {
            customer,
            starting_after: all.last().map(|e| e.id.as_str()),
        };
        let page: Page<RemoteEntitlement> = client.read_json(&request).await?;
        let more = page.has_more && !page.data.is_empty();
        all.extend(page.data);
        if !more {
            return Ok(all);
        }
    }
}
