use std::collections::BTreeMap;

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::customers::{organizer_scope, parse_customer_id};
use crate::domain::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::mirror::price::Price;
use crate::mirror::subscription::{Subscription, SubscriptionItem};
use crate::services::billing::{self, ProductWithPrices};
use crate::services::AppState;

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

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductList {
    data: Vec<ProductResponse>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionResponse {
    #[schema(example = "sub_1PqRst")]
    id: String,
    /// Stripe's status: `active`, `trialing`, `past_due`, `canceled`, `unpaid`, `incomplete`,
    /// `incomplete_expired` or `paused`.
    status: String,
    items: Vec<SubscriptionItem>,
    current_period_end: Option<DateTime<Utc>>,
    cancel_at_period_end: bool,
    trial_end: Option<DateTime<Utc>>,
    metadata: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionList {
    data: Vec<SubscriptionResponse>,
}

fn price(price: Price) -> PriceResponse {
    PriceResponse {
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

fn product(entry: ProductWithPrices) -> ProductResponse {
    ProductResponse {
        metadata: entry.product.metadata.into_inner(),
        prices: entry.prices.into_iter().map(price).collect(),
        id: entry.product.id,
        name: entry.product.name,
        description: entry.product.description,
    }
}

fn subscription(row: Subscription) -> SubscriptionResponse {
    SubscriptionResponse {
        items: row.items.into_inner(),
        metadata: row.metadata.into_inner(),
        id: row.id,
        status: row.status,
        current_period_end: row.current_period_end.map(|t| t.and_utc()),
        cancel_at_period_end: row.cancel_at_period_end,
        trial_end: row.trial_end.map(|t| t.and_utc()),
    }
}

/// The organizer's catalog: active products with their active prices, from the mirror.
#[utoipa::path(
    tag = "billing",
    security(("bearer" = [])),
    params(("org_id" = uuid::Uuid, Path, description = "Organizer id")),
    responses(
        (status = 200, description = "Active products that have an active price, by name", body = ProductList),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A token of another organizer, or of a disabled one (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer (`organizer_not_found`)", body = ErrorBody),
    )
)]
#[get("/organizers/{org_id}/products")]
pub async fn products(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<ProductList>, ApiError> {
    let org_id = organizer_scope(&principal, &path)?;
    let entries = billing::products(&state, &principal, org_id).await?;
    Ok(web::Json(ProductList {
        data: entries.into_iter().map(product).collect(),
    }))
}

/// A customer's subscriptions in any status, from the mirror.
#[utoipa::path(
    tag = "billing",
    security(("bearer" = [])),
    params(
        ("org_id" = uuid::Uuid, Path, description = "Organizer id"),
        ("customer_id" = uuid::Uuid, Path, description = "Customer id"),
    ),
    responses(
        (status = 200, description = "The customer's subscriptions", body = SubscriptionList),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A token of another organizer, or of a disabled one (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer or customer (`organizer_not_found`, `customer_not_found`)", body = ErrorBody),
    )
)]
#[get("/organizers/{org_id}/customers/{customer_id}/subscriptions")]
pub async fn subscriptions(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<web::Json<SubscriptionList>, ApiError> {
    let org_id = organizer_scope(&principal, &path.0)?;
    let customer_id = parse_customer_id(&path.1)?;
    let rows = billing::subscriptions(&state, &principal, org_id, customer_id).await?;
    Ok(web::Json(SubscriptionList {
        data: rows.into_iter().map(subscription).collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntitlementResponse {
    /// True when the customer has a subscription that is `active` or `trialing`, or any active
    /// feature.
    active: bool,
    /// The subscriptions that grant access now.
    subscriptions: Vec<SubscriptionResponse>,
    /// Lookup keys of the customer's active features (Stripe Entitlements).
    #[schema(example = json!(["premium-seats", "early-access"]))]
    features: Vec<String>,
}

/// Is this customer subscribed, and to what: from the mirror, never from Stripe.
#[utoipa::path(
    tag = "billing",
    security(("bearer" = [])),
    params(
        ("org_id" = uuid::Uuid, Path, description = "Organizer id"),
        ("customer_id" = uuid::Uuid, Path, description = "Customer id"),
    ),
    responses(
        (status = 200, description = "The customer's access", body = EntitlementResponse),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A token of another organizer, or of a disabled one (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer or customer (`organizer_not_found`, `customer_not_found`)", body = ErrorBody),
    )
)]
#[get("/organizers/{org_id}/customers/{customer_id}/entitlements")]
pub async fn entitlements(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<web::Json<EntitlementResponse>, ApiError> {
    let org_id = organizer_scope(&principal, &path.0)?;
    let customer_id = parse_customer_id(&path.1)?;
    let view = billing::entitlements(&state, &principal, org_id, customer_id).await?;
    let features = view.features;
    let granting: Vec<SubscriptionResponse> =
        view.subscriptions.into_iter().map(subscription).collect();
    Ok(web::Json(EntitlementResponse {
        active: !granting.is_empty() || !features.is_empty(),
        subscriptions: granting,
        features,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckoutSessionResponse {
    #[schema(example = "cs_test_a1B2c3")]
    id: String,
    /// The account the session was created on (direct charges on the organizer's account).
    stripe_account_id: String,
    stripe_customer_id: Option<String>,
    /// `payment`, `subscription` or `setup`.
    mode: String,
    /// `open`, `complete` or `expired`.
    status: Option<String>,
    /// `paid`, `unpaid` or `no_payment_required`.
    payment_status: String,
    /// In the currency's minor unit.
    amount_total: Option<i64>,
    currency: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    metadata: BTreeMap<String, String>,
    /// The hosted payment page, while the session is open.
    url: Option<String>,
}

/// One of the organizer's checkout sessions: as created, then as the webhook mirror last fetched it.
#[utoipa::path(
    tag = "billing",
    security(("bearer" = [])),
    params(
        ("org_id" = uuid::Uuid, Path, description = "Organizer id"),
        ("session_id" = String, Path, description = "Stripe's checkout session id (`cs_...`)"),
    ),
    responses(
        (status = 200, description = "The checkout session", body = CheckoutSessionResponse),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A token of another organizer, or of a disabled one (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer or checkout session (`organizer_not_found`, `checkout_session_not_found`)", body = ErrorBody),
    )
)]
#[get("/organizers/{org_id}/checkout-sessions/{session_id}")]
pub async fn checkout_session(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<web::Json<CheckoutSessionResponse>, ApiError> {
    let org_id = organizer_scope(&principal, &path.0)?;
    let id = path.1.clone();
    let not_found = || ApiError::NotFound {
        code: "checkout_session_not_found",
        message: format!("no checkout session {id}"),
    };
    if id.is_empty() || id.len() > 255 {
        return Err(not_found());
    }
    let session = billing::checkout_session(&state, &principal, org_id, id.clone())
        .await?
        .ok_or_else(not_found)?;
    Ok(web::Json(CheckoutSessionResponse {
        metadata: session.metadata.into_inner(),
        id: session.id,
        stripe_account_id: session.stripe_account_id,
        stripe_customer_id: session.stripe_customer_id,
        mode: session.mode,
        status: session.status,
        payment_status: session.payment_status,
        amount_total: session.amount_total,
        currency: session.currency,
        expires_at: session.expires_at.map(|t| t.and_utc()),
        url: session.url,
    }))
}
