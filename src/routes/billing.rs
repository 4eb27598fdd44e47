use actix_web::{get, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::customers::{organizer_scope, parse_customer_id};
use crate::domain::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::services::billing::{
    self, CheckoutSessionResponse, EntitlementResponse, ProductResponse, SubscriptionResponse,
};
use crate::services::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductList {
    data: Vec<ProductResponse>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionList {
    data: Vec<SubscriptionResponse>,
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
    Ok(web::Json(ProductList { data: entries }))
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
    Ok(web::Json(SubscriptionList { data: rows }))
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
    Ok(web::Json(
        billing::entitlements(&state, &principal, org_id, customer_id).await?,
    ))
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
    Ok(web::Json(session))
}
