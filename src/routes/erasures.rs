use actix_web::http::header;
use actix_web::{post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::models::ErasureAccount;
use crate::domain::Email;
use crate::domain::ErasureOutcome;
use crate::domain::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;
use crate::services::erasures::{self, Receipt};
use crate::services::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateErasure {
    /// The person's email; every organizer's customer with it (compared trimmed and
    /// lowercased) is erased.
    #[schema(value_type = crate::domain::Email, example = "ana.lima@example.com")]
    email: String,
}

/// `completed` once every account is done; `partial` while some failed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErasureStatus {
    Completed,
    Partial,
}

/// `erased`: deleted in Stripe (or already gone there) and erased locally. `failed`: the
/// Stripe call failed; the customer is untouched and the request can be repeated.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountOutcome {
    Erased,
    Failed,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErasureAccountResponse {
    organizer_id: String,
    stripe_account_id: String,
    /// The gateway's id of the erased customer.
    customer_id: String,
    stripe_customer_id: Option<String>,
    outcome: AccountOutcome,
    /// For `failed`: the error code, e.g. `stripe_unavailable`, `stripe_account_inaccessible`,
    /// or `customer_being_created` (an upsert was creating the customer at that moment).
    error_code: Option<String>,
    updated_at: DateTime<Utc>,
}

impl From<ErasureAccount> for ErasureAccountResponse {
    fn from(item: ErasureAccount) -> Self {
        Self {
            outcome: match item.outcome {
                ErasureOutcome::Erased => AccountOutcome::Erased,
                ErasureOutcome::Failed => AccountOutcome::Failed,
            },
            organizer_id: item.organizer_id,
            stripe_account_id: item.stripe_account_id,
            customer_id: item.customer_id,
            stripe_customer_id: item.stripe_customer_id,
            error_code: item.error_code,
            updated_at: item.updated_at.and_utc(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErasureReceipt {
    /// The same id when a `partial` erasure is resumed by repeating the request.
    id: String,
    /// Keyed hash (HMAC-SHA256) of the normalized email; the audit log's `subject_hash` for
    /// this person. The email itself is not kept.
    subject_hash: String,
    status: ErasureStatus,
    /// Every customer found for the person, across organizers, with what happened to it.
    accounts: Vec<ErasureAccountResponse>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Receipt> for ErasureReceipt {
    fn from(receipt: Receipt) -> Self {
        Self {
            status: if receipt.is_complete() {
                ErasureStatus::Completed
            } else {
                ErasureStatus::Partial
            },
            id: receipt.erasure.id,
            subject_hash: receipt.erasure.subject_hash,
            accounts: receipt.accounts.into_iter().map(Into::into).collect(),
            created_at: receipt.erasure.created_at.and_utc(),
            updated_at: receipt.erasure.updated_at.and_utc(),
        }
    }
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
    Ok(response.json(ErasureReceipt::from(receipt)))
}
