//! Request and response bodies of the payment routes, and their parsing into domain values:
//! every problem is reported at once, per field (`line_items[2].quantity`). A checkout's line
//! items are `line_items.rs`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::line_items::{line_item, text, LineItemBody};
use crate::domain::payment::{
    AddressCollection, Amount, CheckoutMode, Currency, CustomerUpdate, HttpUrl, LineItem,
    PortalConfiguration, Save,
};
use crate::domain::{CustomerId, Email, Metadata};
use crate::error::{ApiError, FieldError};
use crate::extract::Whole;
use crate::routes::customers::body::{metadata, optional};
use crate::services::payments::{Buyer, CheckoutInput, PaymentIntentInput};

/// Who pays: exactly one of `customer_id` (a customer of this organizer) or `email` (found or
/// created like `POST .../customers` does).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCheckoutSession {
    customer_id: Option<String>,
    email: Option<String>,
    application_fee_amount: Option<Whole>,
    mode: String,
    line_items: Vec<LineItemBody>,
    success_url: String,
    cancel_url: String,
    metadata: Option<BTreeMap<String, String>>,
    allow_promotion_codes: Option<bool>,
    customer_update: Option<CustomerUpdateBody>,
    automatic_tax: Option<AutomaticTaxBody>,
    billing_address_collection: Option<String>,
}

/// What Checkout saves onto the customer: each `auto` or `never` (Stripe's default).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerUpdateBody {
    address: Option<String>,
    name: Option<String>,
    shipping: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutomaticTaxBody {
    enabled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatePaymentIntent {
    customer_id: Option<String>,
    email: Option<String>,
    application_fee_amount: Option<Whole>,
    amount: Whole,
    currency: String,
    description: Option<String>,
    metadata: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePortalSession {
    /// Where the portal's "back" link goes: an absolute http(s) URL.
    #[schema(value_type = HttpUrl, example = "https://shop.example/account")]
    return_url: String,
    /// A portal configuration of the organizer's account (`bpc_...`); the account's default
    /// configuration when absent.
    #[schema(
        nullable,
        pattern = "^bpc_[A-Za-z0-9_]{1,251}$",
        example = "bpc_1PqRst"
    )]
    configuration: Option<String>,
}

// The request bodies' schemas are written out: their rules span fields (exactly one buyer; a
// catalog price or an item priced here; recurring items only in `subscription` mode; the most
// intervals per unit), which the derive cannot state.

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckoutSessionCreated {
    #[schema(example = "cs_test_a1B2c3")]
    pub id: String,
    /// Send the buyer here.
    pub url: Option<String>,
    /// The account the session lives on (a direct charge on the organizer's account).
    #[schema(example = "acct_1Nv0FGQ9RKHgCVdK")]
    pub stripe_account_id: String,
    /// The gateway's customer who pays.
    pub customer_id: String,
    pub expires_at: Option<DateTime<Utc>>,
    /// The platform's fee on the payment (`payment` mode), in minor units; null when none.
    pub application_fee_amount: Option<i64>,
    /// The platform's share of each invoice (`subscription` mode), in percent; null when none.
    pub application_fee_percent: Option<f64>,
}

/// Start the card form with `Stripe(publishable_key, { stripeAccount: stripe_js_account })`
/// (no options when it is null) and confirm with `client_secret`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentIntentCreated {
    #[schema(example = "pi_3PqRst")]
    pub id: String,
    /// For Stripe.js only; do not log or store it.
    pub client_secret: Option<String>,
    /// The account the payment is on: the organizer's for a direct charge, the platform's for
    /// a destination charge or the platform's own organizer.
    #[schema(example = "acct_1Nv0FGQ9RKHgCVdK")]
    pub stripe_account_id: String,
    /// Stripe.js's `stripeAccount` option: the connected account the payment is on; null when
    /// it is on the platform's own account, where Stripe.js is started without one.
    #[schema(example = "acct_1Nv0FGQ9RKHgCVdK")]
    pub stripe_js_account: Option<String>,
    /// The platform's publishable key (`STRIPE_PUBLISHABLE_KEY`); null when it is not set.
    #[schema(example = "pk_test_51Abc")]
    pub publishable_key: Option<String>,
    pub customer_id: String,
    /// The platform's fee on the payment, in minor units; null when none.
    pub application_fee_amount: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PortalSessionCreated {
    /// Send the customer here; it works once, for a short time.
    pub url: String,
}

pub(super) const MAX_DESCRIPTION_CHARS: usize = 1000;

fn buyer(
    customer_id: Option<&str>,
    email: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Option<Buyer> {
    match (customer_id, email) {
        (Some(_), Some(_)) | (None, None) => {
            errors.push(FieldError::new(
                "customer_id",
                "send exactly one of `customer_id` and `email`",
            ));
            None
        }
        (Some(id), None) => optional(
            Some(id),
            "customer_id",
            |raw| CustomerId::parse(raw).map_err(|_| "is not a customer id".to_string()),
            errors,
        )
        .map(Buyer::Id),
        (None, Some(email)) => {
            optional(Some(email), "email", Email::parse, errors).map(Buyer::Email)
        }
    }
}

fn fields_or<T>(value: Option<T>, errors: Vec<FieldError>) -> Result<T, ApiError> {
    match value {
        Some(value) if errors.is_empty() => Ok(value),
        _ => Err(ApiError::Validation(errors)),
    }
}

pub fn parse_checkout(body: CreateCheckoutSession) -> Result<CheckoutInput, ApiError> {
    let mut errors = Vec::new();
    let buyer = buyer(
        body.customer_id.as_deref(),
        body.email.as_deref(),
        &mut errors,
    );
    let mode = match body.mode.as_str() {
        "payment" => Some(CheckoutMode::Payment),
        "subscription" => Some(CheckoutMode::Subscription),
        _ => {
            errors.push(FieldError::new(
                "mode",
                "must be `payment` or `subscription`",
            ));
            None
        }
    };
    if body.line_items.is_empty() || body.line_items.len() > LineItem::MAX {
        errors.push(FieldError::new(
            "line_items",
            format!("must hold 1 to {} items", LineItem::MAX),
        ));
    }
    let line_items: Vec<Option<LineItem>> = body
        .line_items
        .into_iter()
        .enumerate()
        .map(|(index, item)| line_item(index, item, &mut errors))
        .collect();
    let success_url = optional(
        Some(&body.success_url),
        "success_url",
        HttpUrl::parse,
        &mut errors,
    );
    let cancel_url = optional(
        Some(&body.cancel_url),
        "cancel_url",
        HttpUrl::parse,
        &mut errors,
    );
    let metadata = match body.metadata {
        None => Some(Metadata::default()),
        Some(raw) => metadata(raw, &mut errors),
    };
    let customer_update = body
        .customer_update
        .map_or_else(CustomerUpdate::default, |update| {
            let mut save = |raw: Option<&str>, field: &str| {
                optional(
                    raw,
                    &format!("customer_update.{field}"),
                    Save::parse,
                    &mut errors,
                )
            };
            CustomerUpdate {
                address: save(update.address.as_deref(), "address"),
                name: save(update.name.as_deref(), "name"),
                shipping: save(update.shipping.as_deref(), "shipping"),
            }
        });
    let billing_address_collection = optional(
        body.billing_address_collection.as_deref(),
        "billing_address_collection",
        AddressCollection::parse,
        &mut errors,
    );
    let fee_override = fee_override(body.application_fee_amount, &mut errors);
    let parsed = (|| {
        Some(CheckoutInput {
            buyer: buyer?,
            mode: mode?,
            line_items: line_items.into_iter().collect::<Option<Vec<_>>>()?,
            success_url: success_url?,
            cancel_url: cancel_url?,
            metadata: metadata?.into_inner(),
            allow_promotion_codes: body.allow_promotion_codes,
            customer_update,
            automatic_tax: body.automatic_tax.is_some_and(|tax| tax.enabled),
            billing_address_collection,
            application_fee_amount: fee_override?,
        })
    })();
    fields_or(parsed, errors)
}

pub fn parse_payment_intent(body: CreatePaymentIntent) -> Result<PaymentIntentInput, ApiError> {
    let mut errors = Vec::new();
    let buyer = buyer(
        body.customer_id.as_deref(),
        body.email.as_deref(),
        &mut errors,
    );
    let amount = Amount::parse(body.amount.0)
        .map_err(|e| errors.push(FieldError::new("amount", e)))
        .ok();
    let currency = optional(
        Some(&body.currency),
        "currency",
        Currency::parse,
        &mut errors,
    );
    let description = match body.description.as_deref() {
        None => Some(None),
        Some(raw) => optional(
            Some(raw),
            "description",
            |raw| text(raw, MAX_DESCRIPTION_CHARS),
            &mut errors,
        )
        .map(Some),
    };
    let metadata = match body.metadata {
        None => Some(Metadata::default()),
        Some(raw) => metadata(raw, &mut errors),
    };
    let fee_override = fee_override(body.application_fee_amount, &mut errors);
    let parsed = (|| {
        Some(PaymentIntentInput {
            buyer: buyer?,
            amount: amount?,
            currency: currency?,
            description: description?,
            metadata: metadata?.into_inner(),
            application_fee_amount: fee_override?,
        })
    })();
    fields_or(parsed, errors)
}

/// An admin's platform fee for one payment: 0 to Stripe's largest amount (the cap of the
/// payment is checked with the total).
fn fee_override(raw: Option<Whole>, errors: &mut Vec<FieldError>) -> Option<Option<i64>> {
    match raw {
        None => Some(None),
        Some(Whole(fee)) if (0..=Amount::MAX).contains(&fee) => Some(Some(fee)),
        Some(_) => {
            errors.push(FieldError::new(
                "application_fee_amount",
                format!(
                    "must be a whole number of minor units from 0 to {}",
                    Amount::MAX
                ),
            ));
            None
        }
    }
}

pub fn parse_portal(
    body: CreatePortalSession,
) -> Result<(HttpUrl, Option<PortalConfiguration>), ApiError> {
    let mut errors = Vec::new();
    let return_url = optional(
        Some(&body.return_url),
        "return_url",
        HttpUrl::parse,
        &mut errors,
    );
    let configuration = optional(
        body.configuration.as_deref(),
        "configuration",
        PortalConfiguration::parse,
        &mut errors,
    );
    fields_or(return_url.map(|url| (url, configuration)), errors)
}
