use actix_web::http::header;
use actix_web::{post, web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::domain::Email;
use crate::domain::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;
use crate::services::erasures::{self, ErasureReceipt};
use crate::services::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateErasure {
    /// The person's email; every organizer's customer with it (compared trimmed and
    /// lowercased) is erased.
    #[schema(value_type = crate::domain::Email, example = "ana.lima@example.com")]
    email: String,
}

/// Erase a person across every organizer (GDPR), by email (admin).
///
/// Deletes the person's customer in each Stripe account that has one, then erases it in the
/// gateway; the audit log keeps only a keyed hash of the email. The receipt lists every
/// account's outcome. When one failed, the status is `partial` and the response carries
/// `Retry-After`: repeat the same request to resume; what succeeded stays done.
#[utoipa::path(
    operation_id = "create_erasure",
    tag = "erasures",
    security(("bearer" = [])),
    request_body = CreateErasure,
    responses(
        (status = 200, description = "The receipt: `completed`, or `partial` with `Retry-After`", body = ErasureReceipt, headers(("Retry-After" = u64, description = "Sent with a `partial` receipt: seconds to wait before repeating the request"))),
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "Not an admin token (`forbidden`)", body = ErrorBody),
        (status = 413, description = "Body too large (`payload_too_large`)", body = ErrorBody),
        (status = 415, description = "Body is not JSON (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "Invalid or unknown fields (`validation_failed`)", body = ErrorBody),
    )
)]
#[post("/erasures")]
pub async fn create(
    principal: Principal,
    state: web::Data<AppState>,
    body: Result<Json<CreateErasure>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    // Before the body: a non-admin gets 403 whatever it sent.
    principal.require_admin()?;
    let email = Email::parse(&body?.0.email).map_err(|e| ApiError::validation("email", e))?;
    let receipt = erasures::erase(&state, &principal, email).await?;
    let mut response = HttpResponse::Ok();
    if !receipt.is_complete() {
        response.insert_header((header::RETRY_AFTER, ApiError::RETRY_AFTER_SECS.to_string()));
    }
    Ok(response.json(receipt))
}
