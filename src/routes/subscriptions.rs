//! Subscription changes from the platform's backend: upgrade or downgrade (a new price or
//! quantity, with Stripe's proration), cancel at the period's end or resume, and cancel now.

use std::str::FromStr;

use actix_web::{delete, get, patch, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::customers::organizer_scope;
use crate::domain::payment::{Proration, Quantity};
use crate::domain::Principal;
use crate::error::{ApiError, ErrorBody, FieldError};
use crate::extract::{Json, Query, Whole};
use crate::idempotency::ClientKey;
use crate::services::billing::SubscriptionResponse;
use crate::services::payments::subscriptions::{self, ChangeInput, SubscriptionPreview};
use crate::services::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeSubscription {
    /// The new price of the subscription's item (`price_...`): an active recurring price of the
    /// organizer's account. Only a subscription with a single item changes price here.
    #[schema(example = "price_1PqRst", pattern = "^price_[A-Za-z0-9_]{1,249}$")]
    price: Option<String>,
    /// The item's new quantity, 1 to 1,000,000.
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1000000)]
    quantity: Option<Whole>,
    /// How Stripe prorates a new price or quantity (its default: `create_prorations`).
    #[schema(value_type = Option<Proration>)]
    proration_behavior: Option<String>,
    /// `true` cancels at the end of the current period; `false` resumes a subscription set to.
    cancel_at_period_end: Option<bool>,
}

fn parse(body: ChangeSubscription) -> Result<ChangeInput, ApiError> {
    let mut errors = Vec::new();
    if let Some(price) = &body.price {
        let id = price.strip_prefix("price_").unwrap_or_default();
        let valid = (1..=249).contains(&id.len())
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            errors.push(FieldError::new("price", "must be a price id (`price_...`)"));
        }
    }
    let quantity = match body.quantity {
        None => None,
        Some(raw) => Quantity::parse(raw.0)
            .map_err(|e| errors.push(FieldError::new("quantity", e)))
            .ok()
            .map(Quantity::get),
    };
    let proration = match body.proration_behavior.as_deref() {
        None => None,
        Some(raw) => Proration::from_str(raw)
            .map_err(|_| {
                let rule = "must be `create_prorations`, `none` or `always_invoice`";
                errors.push(FieldError::new("proration_behavior", rule))
            })
            .ok(),
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok(ChangeInput {
        price: body.price,
        quantity,
        proration,
        cancel_at_period_end: body.cancel_at_period_end,
    })
}

/// Change one of the organizer's subscriptions.
///
/// A new price or quantity of its item (an upgrade or downgrade, prorated as
/// `proration_behavior` says), `cancel_at_period_end: true` to cancel when the period ends, or
/// `false` to resume. Checked against the mirror before Stripe is called (the organizer's
/// subscription, not canceled; the price active, recurring and the account's); then sent, and
/// the mirror's row written from Stripe's answer. Fields left out stay as they are; an empty
/// object changes nothing. Entitlements follow through the subscription's webhooks.
#[utoipa::path(
    operation_id = "update_subscription",
    tag = "billing",
    security(("bearer" = [])),
    params(
        ("org_id" = uuid::Uuid, Path, description = "Organizer id"),
        ("subscription_id" = String, Path, description = "Stripe's subscription id (`sub_...`)"),
    ),
    request_body = ChangeSubscription,
    responses(
        (status = 200, description = "The subscription as Stripe answered", body = SubscriptionResponse),
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A token of another organizer, or of a disabled one (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer or subscription (`organizer_not_found`, `subscription_not_found`)", body = ErrorBody),
        (status = 409, description = "The subscription is canceled (`subscription_canceled`), or the organizer's account revoked the platform's access (`organizer_disconnected`)", body = ErrorBody),
        (status = 413, description = "Body too large (`payload_too_large`)", body = ErrorBody),
        (status = 415, description = "Body is not JSON (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "Invalid fields: also a price that is not an active recurring price of the account, or a new price for a subscription of several items (`validation_failed`); or Stripe refused the data (`stripe_invalid_request`)", body = ErrorBody),
        (status = 502, description = "Stripe refused the gateway's call (`stripe_error`)", body = ErrorBody),
        (status = 503, description = "Stripe unreachable or failing after retries (`stripe_unavailable`); retry with the same Idempotency-Key", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    )
)]
#[patch("/organizers/{org_id}/subscriptions/{subscription_id}")]
pub async fn update(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    key: Option<ClientKey>,
    body: Result<Json<ChangeSubscription>, ApiError>,
) -> Result<web::Json<SubscriptionResponse>, ApiError> {
    let org_id = organizer_scope(&principal, &path.0)?;
    let input = parse(body?.0)?;
    let id = path.1.clone();
    let changed = subscriptions::change(&state, &principal, org_id, id, input, key).await?;
    Ok(web::Json(changed))
}

/// Cancel one of the organizer's subscriptions now.
///
/// Checked against the mirror first (the organizer's subscription, not canceled yet); Stripe
/// answers with it `canceled`, and the mirror's row follows.
#[utoipa::path(
    operation_id = "cancel_subscription",
    tag = "billing",
    security(("bearer" = [])),
    params(
        ("org_id" = uuid::Uuid, Path, description = "Organizer id"),
        ("subscription_id" = String, Path, description = "Stripe's subscription id (`sub_...`)"),
    ),
    responses(
        (status = 200, description = "The subscription, canceled", body = SubscriptionResponse),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A token of another organizer, or of a disabled one (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer or subscription (`organizer_not_found`, `subscription_not_found`)", body = ErrorBody),
        (status = 409, description = "Already canceled (`subscription_canceled`), or the organizer's account revoked the platform's access (`organizer_disconnected`)", body = ErrorBody),
        (status = 502, description = "Stripe refused the gateway's call (`stripe_error`)", body = ErrorBody),
        (status = 503, description = "Stripe unreachable or failing after retries (`stripe_unavailable`); retry", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    )
)]
#[delete("/organizers/{org_id}/subscriptions/{subscription_id}")]
pub async fn cancel(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<web::Json<SubscriptionResponse>, ApiError> {
    let org_id = organizer_scope(&principal, &path.0)?;
    let id = path.1.clone();
    let canceled = subscriptions::cancel(&state, &principal, org_id, id).await?;
    Ok(web::Json(canceled))
}

/// A proposed change, in the query string.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PreviewQuery {
    /// The item's new price (`price_...`), as for `PATCH`.
    #[param(pattern = "^price_[A-Za-z0-9_]{1,249}$")]
    price: Option<String>,
    /// The item's new quantity, 1 to 1,000,000.
    #[param(minimum = 1, maximum = 1000000)]
    quantity: Option<i64>,
    #[param(value_type = Option<Proration>)]
    proration_behavior: Option<String>,
    cancel_at_period_end: Option<bool>,
}

/// Preview a change: the subscription's next invoice if it were made (Stripe's invoice
/// preview). Nothing changes; the same checks as `PATCH` apply first.
#[utoipa::path(
    operation_id = "preview_subscription_change",
    tag = "billing",
    security(("bearer" = [])),
    params(
        ("org_id" = uuid::Uuid, Path, description = "Organizer id"),
        ("subscription_id" = String, Path, description = "Stripe's subscription id (`sub_...`)"),
        PreviewQuery,
    ),
    responses(
        (status = 200, description = "The next invoice after the change", body = SubscriptionPreview),
        (status = 400, description = "Unknown or malformed query parameters (`invalid_query`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A token of another organizer, or of a disabled one (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer or subscription (`organizer_not_found`, `subscription_not_found`)", body = ErrorBody),
        (status = 409, description = "The subscription is canceled (`subscription_canceled`), or the organizer's account revoked the platform's access (`organizer_disconnected`)", body = ErrorBody),
        (status = 422, description = "Invalid parameters, as for `PATCH` (`validation_failed`); or Stripe refused them (`stripe_invalid_request`)", body = ErrorBody),
        (status = 502, description = "Stripe refused the gateway's call (`stripe_error`)", body = ErrorBody),
        (status = 503, description = "Stripe unreachable or failing after retries (`stripe_unavailable`); retry", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    )
)]
#[get("/organizers/{org_id}/subscriptions/{subscription_id}/preview")]
pub async fn preview(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: Result<Query<PreviewQuery>, ApiError>,
) -> Result<web::Json<SubscriptionPreview>, ApiError> {
    let org_id = organizer_scope(&principal, &path.0)?;
    let query = query?.0;
    let input = parse(ChangeSubscription {
        price: query.price,
        quantity: query.quantity.map(Whole),
        proration_behavior: query.proration_behavior,
        cancel_at_period_end: query.cancel_at_period_end,
    })?;
    let id = path.1.clone();
    let preview = subscriptions::preview(&state, &principal, org_id, id, input).await?;
    Ok(web::Json(preview))
}
