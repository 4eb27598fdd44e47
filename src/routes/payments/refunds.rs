//! Refunds of an organizer's payments: create one (all or part of what is left), and list a
//! payment's refunds from the mirror.

use std::collections::BTreeMap;
use std::str::FromStr;

use actix_web::{get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::super::customers::body::{metadata, optional};
use super::super::customers::organizer_scope;
use crate::domain::payment::{Amount, RefundReason};
use crate::domain::{Metadata, Principal};
use crate::error::{ApiError, ErrorBody, FieldError};
use crate::extract::{Json, Whole};
use crate::idempotency::ClientKey;
use crate::services::payments::refunds::{self, RefundInput, RefundResponse};
use crate::services::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRefund {
    /// In the payment's currency's minor unit; all that is left to refund when absent.
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 99999999)]
    amount: Option<Whole>,
    #[schema(value_type = Option<RefundReason>)]
    reason: Option<String>,
    /// Give the platform's application fee back in proportion (a direct charge with a fee);
    /// the organizer's `refund_application_fee` when absent.
    refund_application_fee: Option<bool>,
    /// Stripe metadata for the refund; the gateway adds `gateway_organizer_id` and
    /// `gateway_payment_id`.
    #[schema(value_type = Option<Metadata>, example = json!({"ticket": "T-7"}))]
    metadata: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefundList {
    /// Newest first.
    data: Vec<RefundResponse>,
}

fn parse(body: CreateRefund) -> Result<RefundInput, ApiError> {
    let mut errors = Vec::new();
    let amount = match body.amount {
        None => Some(None),
        Some(raw) => Amount::parse(raw.0)
            .map(Some)
            .map_err(|e| errors.push(FieldError::new("amount", e)))
            .ok(),
    };
    let reason = match body.reason.as_deref() {
        None => Some(None),
        Some(raw) => optional(
            Some(raw),
            "reason",
            |raw| {
                RefundReason::from_str(raw).map_err(|_| {
                    "must be `duplicate`, `fraudulent` or `requested_by_customer`".to_string()
                })
            },
            &mut errors,
        )
        .map(Some),
    };
    let metadata = match body.metadata {
        None => Some(Metadata::default()),
        Some(raw) => metadata(raw, &mut errors),
    };
    match (amount, reason, metadata) {
        (Some(amount), Some(reason), Some(metadata)) if errors.is_empty() => Ok(RefundInput {
            amount,
            reason,
            refund_application_fee: body.refund_application_fee,
            metadata: metadata.into_inner(),
        }),
        _ => Err(ApiError::Validation(errors)),
    }
}

/// Refund one of the organizer's payments, in whole or in part.
///
/// Checked against the mirror before Stripe is called: the payment is the organizer's, it
/// succeeded, and `amount` is at most what is left to refund (what it received, less its
/// refunds that did not fail). Created on the organizer's account, then recorded, so
/// `GET .../refunds` lists it at once; webhooks keep its status.
#[utoipa::path(
    operation_id = "create_refund",
    tag = "payments",
    security(("bearer" = [])),
    params(
        ("org_id" = uuid::Uuid, Path, description = "Organizer id"),
        ("payment_id" = String, Path, description = "Stripe's PaymentIntent id (`pi_...`)"),
    ),
    request_body = CreateRefund,
    responses(
        (status = 201, description = "Created (`pending` or `succeeded`)", body = RefundResponse),
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A token of another organizer, or of a disabled one (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer or payment (`organizer_not_found`, `payment_not_found`)", body = ErrorBody),
        (status = 409, description = "The payment has not succeeded (`payment_not_refundable`), is refunded in full (`payment_fully_refunded`), or the organizer's account revoked the platform's access (`organizer_disconnected`)", body = ErrorBody),
        (status = 413, description = "Body too large (`payload_too_large`)", body = ErrorBody),
        (status = 415, description = "Body is not JSON (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "Invalid fields, or an `amount` above what is left to refund (`validation_failed`); or Stripe refused the data (`stripe_invalid_request`)", body = ErrorBody),
        (status = 502, description = "Stripe refused the gateway's call (`stripe_error`)", body = ErrorBody),
        (status = 503, description = "Stripe unreachable or failing after retries (`stripe_unavailable`); retry with the same Idempotency-Key", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    )
)]
#[post("/organizers/{org_id}/payments/{payment_id}/refunds")]
pub async fn create(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    key: Option<ClientKey>,
    body: Result<Json<CreateRefund>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let org_id = organizer_scope(&principal, &path.0)?;
    let input = parse(body?.0)?;
    let payment_id = path.1.clone();
    let refund = refunds::refund(&state, &principal, org_id, payment_id, input, key).await?;
    Ok(HttpResponse::Created().json(refund))
}

/// A payment's refunds, newest first: from the mirror, never from Stripe.
#[utoipa::path(
    operation_id = "list_refunds",
    tag = "payments",
    security(("bearer" = [])),
    params(
        ("org_id" = uuid::Uuid, Path, description = "Organizer id"),
        ("payment_id" = String, Path, description = "Stripe's PaymentIntent id (`pi_...`)"),
    ),
    responses(
        (status = 200, description = "The payment's refunds", body = RefundList),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A token of another organizer, or of a disabled one (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer or payment (`organizer_not_found`, `payment_not_found`)", body = ErrorBody),
    )
)]
#[get("/organizers/{org_id}/payments/{payment_id}/refunds")]
pub async fn list(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<web::Json<RefundList>, ApiError> {
    let org_id = organizer_scope(&principal, &path.0)?;
    let data = refunds::refunds(&state, &principal, org_id, path.1.clone()).await?;
    Ok(web::Json(RefundList { data }))
}
