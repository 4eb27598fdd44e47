//! Checkout Sessions, PaymentIntents and billing portal sessions on the organizer's account.
//! A client's `Idempotency-Key` makes each safe to retry (see `idempotency.rs`): the retry gets
//! the first answer, and the Stripe object the first attempt created is never made twice.

mod body;
mod disputes;
mod documented;
mod line_items;
mod reads;
mod refunds;

pub use disputes::list as list_disputes;
pub use reads::{get as get_payment, list as list_payments};
pub use refunds::{create as create_refund, list as list_refunds};

use actix_web::{post, web, HttpResponse};

use super::customers::{organizer_scope, parse_customer_id};
use crate::domain::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;
use crate::idempotency::{AnswerAbout, ClientKey};
use crate::services::payments;
use crate::services::AppState;
use body::{
    parse_checkout, parse_payment_intent, parse_portal, CheckoutSessionCreated,
    CreateCheckoutSession, CreatePaymentIntent, CreatePortalSession, PaymentIntentCreated,
    PortalSessionCreated,
};

/// Start a Stripe Checkout for one of the organizer's customers.
///
/// The session is a direct charge on the organizer's Stripe account, with that account's
/// customer (from `customer_id`, or found or created from `email`). When the organizer is a
/// connected account with a fee, the platform's fee is added: for `payment`, its share of the
/// total (`application_fee_bps`, rounded down) plus its fee per ticket in the session's currency
/// (`ticket_fees`) times the items' quantities; for `subscription`, its share of each invoice.
/// An admin may set `application_fee_amount` for one payment instead. The answer says what was
/// taken. The session is recorded, so `GET .../checkout-sessions/{id}` reads it at once;
/// webhooks keep it current.
#[utoipa::path(
    operation_id = "create_checkout_session",
    tag = "payments",
    security(("bearer" = [])),
    params(("org_id" = uuid::Uuid, Path, description = "Organizer id")),
    request_body = CreateCheckoutSession,
    responses(
        (status = 201, description = "Created; send the buyer to `url`", body = CheckoutSessionCreated),
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A token of another organizer, or of a disabled one; or `application_fee_amount` from an organizer's token (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer or customer (`organizer_not_found`, `customer_not_found`)", body = ErrorBody),
        (status = 409, description = "The organizer's account cannot take charges yet, or it has none (`account_not_ready`, naming what Stripe needs), revoked the platform's access (`organizer_disconnected`), or its fee is above `MAX_APPLICATION_FEE_BPS` (`organizer_fee_above_cap`)", body = ErrorBody),
        (status = 413, description = "Body too large (`payload_too_large`)", body = ErrorBody),
        (status = 415, description = "Body is not JSON (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "Invalid fields (`validation_failed`): also a price that is inactive, unknown to the account or of another account; items that do not fit the mode (a recurring item in `payment` mode; in `subscription` mode none recurring, or more than 20 recurring or 20 one-time); a total over 99,999,999 minor units; `allow_promotion_codes` with a payment's platform fee. Or Stripe refused the data (`stripe_invalid_request`, with Stripe's message)", body = ErrorBody),
        (status = 502, description = "Stripe refused the gateway's call (`stripe_error`)", body = ErrorBody),
        (status = 503, description = "Stripe unreachable or failing after retries (`stripe_unavailable`); retry with the same Idempotency-Key", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    )
)]
#[post("/organizers/{org_id}/checkout-sessions")]
pub async fn create_checkout_session(
    principal: Principal,
    state: web::Data<AppState>,
    org_id: web::Path<String>,
    key: Option<ClientKey>,
    body: Result<Json<CreateCheckoutSession>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let org_id = organizer_scope(&principal, &org_id)?;
    let input = parse_checkout(body?.0)?;
    let created = payments::create_checkout_session(&state, &principal, org_id, input, key).await?;
    let session = created.session;
    let about = AnswerAbout(created.customer_id.clone());
    let response = HttpResponse::Created().json(CheckoutSessionCreated {
        id: session.id,
        url: session.url,
        stripe_account_id: created.stripe_account_id,
        customer_id: created.customer_id,
        expires_at: session
            .expires_at
            .and_then(|at| chrono::DateTime::from_timestamp(at, 0)),
        application_fee_amount: created.application_fee_amount,
        application_fee_percent: created.application_fee_percent,
    });
    Ok(about_customer(response, about))
}

/// Create a PaymentIntent for an embedded card form.
///
/// Created on the account the organizer charges on (its own, or the platform's for destination
/// charges) with its customer there; the answer holds all a frontend needs:
/// `Stripe(publishable_key, { stripeAccount: stripe_js_account })` (no options when null), then
/// confirm with `client_secret`. The platform fee applies as for checkouts, with one ticket.
#[utoipa::path(
    operation_id = "create_payment_intent",
    tag = "payments",
    security(("bearer" = [])),
    params(("org_id" = uuid::Uuid, Path, description = "Organizer id")),
    request_body = CreatePaymentIntent,
    responses(
        (status = 201, description = "Created", body = PaymentIntentCreated),
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A token of another organizer, or of a disabled one; or `application_fee_amount` from an organizer's token (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer or customer (`organizer_not_found`, `customer_not_found`)", body = ErrorBody),
        (status = 409, description = "The organizer's account cannot take charges yet, or it has none (`account_not_ready`, naming what Stripe needs), revoked the platform's access (`organizer_disconnected`), or its fee is above `MAX_APPLICATION_FEE_BPS` (`organizer_fee_above_cap`)", body = ErrorBody),
        (status = 413, description = "Body too large (`payload_too_large`)", body = ErrorBody),
        (status = 415, description = "Body is not JSON (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "Invalid fields (`validation_failed`), or Stripe refused the data (`stripe_invalid_request`)", body = ErrorBody),
        (status = 502, description = "Stripe refused the gateway's call (`stripe_error`)", body = ErrorBody),
        (status = 503, description = "Stripe unreachable or failing after retries (`stripe_unavailable`); retry with the same Idempotency-Key", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    )
)]
#[post("/organizers/{org_id}/payment-intents")]
pub async fn create_payment_intent(
    principal: Principal,
    state: web::Data<AppState>,
    org_id: web::Path<String>,
    key: Option<ClientKey>,
    body: Result<Json<CreatePaymentIntent>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let org_id = organizer_scope(&principal, &org_id)?;
    let input = parse_payment_intent(body?.0)?;
    let created = payments::create_payment_intent(&state, &principal, org_id, input, key).await?;
    let about = AnswerAbout(created.customer_id.clone());
    let response = HttpResponse::Created().json(PaymentIntentCreated {
        id: created.intent.id,
        client_secret: created.intent.client_secret,
        stripe_js_account: (!state.stripe.is_platform_account(&created.stripe_account_id))
            .then(|| created.stripe_account_id.clone()),
        stripe_account_id: created.stripe_account_id,
        publishable_key: created.publishable_key,
        customer_id: created.customer_id,
        application_fee_amount: created.application_fee_amount,
    });
    Ok(about_customer(response, about))
}

/// Open Stripe's billing portal for one of the organizer's customers.
#[utoipa::path(
    operation_id = "create_portal_session",
    tag = "payments",
    security(("bearer" = [])),
    params(
        ("org_id" = uuid::Uuid, Path, description = "Organizer id"),
        ("customer_id" = uuid::Uuid, Path, description = "Customer id"),
    ),
    request_body = CreatePortalSession,
    responses(
        (status = 201, description = "Created; send the customer to `url`", body = PortalSessionCreated),
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A token of another organizer, or of a disabled one (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer or customer (`organizer_not_found`, `customer_not_found`)", body = ErrorBody),
        (status = 409, description = "The organizer's account revoked the platform's access (`organizer_disconnected`)", body = ErrorBody),
        (status = 413, description = "Body too large (`payload_too_large`)", body = ErrorBody),
        (status = 415, description = "Body is not JSON (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "Invalid `return_url` or `configuration` (`validation_failed`), or Stripe refused the data (`stripe_invalid_request`, e.g. no portal configuration in the account, or no such configuration)", body = ErrorBody),
        (status = 502, description = "Stripe refused the gateway's call (`stripe_error`)", body = ErrorBody),
        (status = 503, description = "Stripe unreachable or failing after retries (`stripe_unavailable`)", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    )
)]
#[post("/organizers/{org_id}/customers/{customer_id}/portal-sessions")]
pub async fn create_portal_session(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    key: Option<ClientKey>,
    body: Result<Json<CreatePortalSession>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let org_id = organizer_scope(&principal, &path.0)?;
    let customer_id = parse_customer_id(&path.1)?;
    let about = AnswerAbout(customer_id.to_string());
    let (return_url, configuration) = parse_portal(body?.0)?;
    let url = payments::create_portal_session(
        &state,
        &principal,
        org_id,
        customer_id,
        return_url,
        configuration,
        key,
    )
    .await?;
    let response = HttpResponse::Created().json(PortalSessionCreated { url });
    Ok(about_customer(response, about))
}

/// Marks the answer as about `about`'s customer: a kept replay of it (the checkout URL, the
/// client secret) is forgotten when the customer is erased.
fn about_customer(mut response: HttpResponse, about: AnswerAbout) -> HttpResponse {
    response.extensions_mut().insert(about);
    response
}
