//! Connect onboarding: a connected account for an organizer registered without one, a fresh
//! onboarding link for each visit, and a login link into the Express dashboard. The account's
//! state (what it can do, what Stripe still needs) is served on `GET /v1/organizers/{org_id}`.

use std::str::FromStr;

use actix_web::{post, web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use super::customers::body::optional;
use super::customers::organizer_scope;
use crate::domain::payment::HttpUrl;
use crate::domain::{BusinessType, Country, Email, Principal};
use crate::error::{ApiError, ErrorBody, FieldError};
use crate::extract::Json;
use crate::services::organizers::onboarding::{self, LinkResponse, NewAccountInput};
use crate::services::organizers::OrganizerResponse;
use crate::services::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStripeAccount {
    /// Where the organizer's business is: ISO 3166-1 alpha-2 (either case).
    #[schema(example = "FR", pattern = "^[A-Za-z]{2}$")]
    country: String,
    #[schema(value_type = Option<BusinessType>)]
    business_type: Option<String>,
    /// The organizer's email, prefilled in Stripe's onboarding.
    #[schema(value_type = Option<Email>, example = "owner@acme-events.example")]
    email: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOnboardingLink {
    /// Where Stripe sends the organizer when the link has expired or was used: it should ask
    /// the gateway for a new link and redirect to it.
    #[schema(value_type = HttpUrl, example = "https://tickets.example/organizer/onboarding/refresh")]
    refresh_url: String,
    /// Where Stripe sends the organizer after onboarding (finished or left): read the account's
    /// state on the organizer to know which.
    #[schema(value_type = HttpUrl, example = "https://tickets.example/organizer/onboarding/done")]
    return_url: String,
}

fn parse_account(body: CreateStripeAccount) -> Result<NewAccountInput, ApiError> {
    let mut errors = Vec::new();
    let country = optional(Some(&body.country), "country", Country::parse, &mut errors);
    let business_type = optional(
        body.business_type.as_deref(),
        "business_type",
        |raw| {
            BusinessType::from_str(raw).map_err(|_| {
                "must be `individual`, `company`, `non_profit` or `government_entity`".to_string()
            })
        },
        &mut errors,
    );
    let email = optional(body.email.as_deref(), "email", Email::parse, &mut errors);
    match country {
        Some(country) if errors.is_empty() => Ok(NewAccountInput {
            country,
            business_type,
            email: email.map(|email| email.as_str().to_string()),
        }),
        _ => Err(ApiError::Validation(errors)),
    }
}

/// Create the organizer's connected account (Connect onboarding, step 1).
///
/// For an organizer registered without `stripe_account_id`: creates an account of the type
/// `STRIPE_CONNECT_ACCOUNT_TYPE` names (Express by default, with the `card_payments` and
/// `transfers` capabilities requested), gives it to the organizer and mirrors its state. The
/// account cannot take payments until the organizer finishes onboarding: send them to an
/// onboarding link next.
#[utoipa::path(
    operation_id = "create_stripe_account",
    tag = "organizers",
    security(("bearer" = [])),
    params(("org_id" = uuid::Uuid, Path, description = "Organizer id")),
    request_body = CreateStripeAccount,
    responses(
        (status = 201, description = "The organizer with its new account", body = OrganizerResponse),
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A token of another organizer, or of a disabled one (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer (`organizer_not_found`)", body = ErrorBody),
        (status = 409, description = "The organizer has an account already (`organizer_has_account`), or another request created or is creating it with other details (`account_creation_conflict`)", body = ErrorBody),
        (status = 413, description = "Body too large (`payload_too_large`)", body = ErrorBody),
        (status = 415, description = "Body is not JSON (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "Invalid fields (`validation_failed`); or Stripe refused the request, with its message: a country Connect does not serve, or Connect not enabled for the platform (`stripe_invalid_request`)", body = ErrorBody),
        (status = 502, description = "Stripe refused the gateway's key or its permissions (`stripe_error`)", body = ErrorBody),
        (status = 503, description = "Stripe unreachable or failing after retries (`stripe_unavailable`); retry with the same Idempotency-Key", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    )
)]
#[post("/organizers/{org_id}/stripe-account")]
pub async fn create_account(
    principal: Principal,
    state: web::Data<AppState>,
    org_id: web::Path<String>,
    body: Result<Json<CreateStripeAccount>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let org_id = organizer_scope(&principal, &org_id)?;
    let input = parse_account(body?.0)?;
    let organizer = onboarding::create_account(&state, &principal, org_id, input).await?;
    Ok(HttpResponse::Created().json(organizer))
}

/// A fresh onboarding link for the organizer's connected account (Connect onboarding, step 2).
///
/// Stripe's hosted onboarding collects what the account needs (`account.currently_due` on the
/// organizer). A link works once and expires within minutes: make one per visit, right before
/// redirecting. When Stripe sends `account.updated`, the organizer's `account` shows the result.
#[utoipa::path(
    operation_id = "create_onboarding_link",
    tag = "organizers",
    security(("bearer" = [])),
    params(("org_id" = uuid::Uuid, Path, description = "Organizer id")),
    request_body = CreateOnboardingLink,
    responses(
        (status = 201, description = "The link", body = LinkResponse),
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A token of another organizer, or of a disabled one (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer (`organizer_not_found`)", body = ErrorBody),
        (status = 409, description = "The organizer has no account yet (`account_not_ready`), it is the platform's own (`account_not_connected`), or it revoked the platform's access (`organizer_disconnected`)", body = ErrorBody),
        (status = 413, description = "Body too large (`payload_too_large`)", body = ErrorBody),
        (status = 415, description = "Body is not JSON (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "Invalid fields (`validation_failed`); or Stripe refused the data (`stripe_invalid_request`)", body = ErrorBody),
        (status = 502, description = "Stripe refused the gateway's call (`stripe_error`)", body = ErrorBody),
        (status = 503, description = "Stripe unreachable or failing after retries (`stripe_unavailable`)", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    )
)]
#[post("/organizers/{org_id}/onboarding-links")]
pub async fn create_onboarding_link(
    principal: Principal,
    state: web::Data<AppState>,
    org_id: web::Path<String>,
    body: Result<Json<CreateOnboardingLink>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let org_id = organizer_scope(&principal, &org_id)?;
    let body = body?.0;
    let mut errors: Vec<FieldError> = Vec::new();
    let refresh = optional(
        Some(&body.refresh_url),
        "refresh_url",
        HttpUrl::parse,
        &mut errors,
    );
    let back = optional(
        Some(&body.return_url),
        "return_url",
        HttpUrl::parse,
        &mut errors,
    );
    let (Some(refresh_url), Some(return_url)) = (refresh, back) else {
        return Err(ApiError::Validation(errors));
    };
    let link =
        onboarding::onboarding_link(&state, &principal, org_id, refresh_url, return_url).await?;
    Ok(HttpResponse::Created().json(link))
}

/// A login link into the Express dashboard of the organizer's account: payouts, balances and
/// the account's details, hosted by Stripe. Single-use; make one per visit.
#[utoipa::path(
    operation_id = "create_login_link",
    tag = "organizers",
    security(("bearer" = [])),
    params(("org_id" = uuid::Uuid, Path, description = "Organizer id")),
    responses(
        (status = 201, description = "The link", body = LinkResponse),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A token of another organizer, or of a disabled one (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer (`organizer_not_found`)", body = ErrorBody),
        (status = 409, description = "The organizer has no account yet, or it has not finished onboarding (`account_not_ready`); it is not an Express account (`account_not_express`), it is the platform's own (`account_not_connected`), or it revoked the platform's access (`organizer_disconnected`)", body = ErrorBody),
        (status = 422, description = "Stripe refused the request, with its message (`stripe_invalid_request`)", body = ErrorBody),
        (status = 502, description = "Stripe refused the gateway's call (`stripe_error`)", body = ErrorBody),
        (status = 503, description = "Stripe unreachable or failing after retries (`stripe_unavailable`)", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    )
)]
#[post("/organizers/{org_id}/login-links")]
pub async fn create_login_link(
    principal: Principal,
    state: web::Data<AppState>,
    org_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let org_id = organizer_scope(&principal, &org_id)?;
    let link = onboarding::login_link(&state, &principal, org_id).await?;
    Ok(HttpResponse::Created().json(link))
}
