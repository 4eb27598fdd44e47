use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::services::webhooks::Ingest;

/// The largest webhook body read, registered as app data beside [`Ingest`].
#[derive(Clone, Copy, Debug)]
pub struct WebhookBodyLimit(pub usize);

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookReceipt {
    /// Always true: the event is stored.
    received: bool,
    /// The event id.
    #[schema(example = "evt_1PqRstUvWxYz")]
    id: String,
    /// True when the event was already stored (a redelivery); it is not stored twice.
    duplicate: bool,
}

/// Receive a Stripe webhook delivery (platform or Connect endpoint).
///
/// The raw body is verified against `Stripe-Signature` with every configured signing secret,
/// reduced to its envelope (id, type, account, object) and stored durably; the 200 goes out
/// only after the commit that holds it. Processing happens later, off the request: a worker
/// re-fetches the object the event names from Stripe. Any API version's payload is accepted.
#[utoipa::path(
    tag = "webhooks",
    request_body(content = String, description = "The event exactly as Stripe sent it.", content_type = "application/json"),
    params(("Stripe-Signature" = String, Header, description = "`t=<unix time>,v1=<HMAC-SHA256 hex>`; several `v1` during a secret rotation.")),
    responses(
        (status = 200, description = "Stored (or already stored)", body = WebhookReceipt),
        (status = 400, description = "Missing, bad or stale signature (`invalid_signature`), not an event (`invalid_event`), a livemode other than the key's (`livemode_mismatch`), or a body over the limit (`payload_too_large`); nothing is stored", body = ErrorBody),
        (status = 503, description = "No signing secret configured (`not_ready`) or the database is unavailable (`database_unavailable`): Stripe retries", body = ErrorBody),
    )
)]
#[post("/webhooks/stripe")]
pub async fn receive(
    req: HttpRequest,
    payload: web::Payload,
    ingest: web::Data<Ingest>,
    limit: web::Data<WebhookBodyLimit>,
) -> Result<HttpResponse, ApiError> {
    let limit = limit.0;
    let body = payload
        .to_bytes_limited(limit)
        .await
        .map_err(|_| ApiError::Refused {
            code: "payload_too_large",
            message: format!("the body is larger than the {limit} bytes accepted for webhooks"),
        })?
        .map_err(|err| ApiError::Refused {
            code: "invalid_event",
            message: format!("the body could not be read: {err}"),
        })?;
    let signature = req
        .headers()
        .get("stripe-signature")
        .and_then(|value| value.to_str().ok());
    let receipt = ingest.receive(signature, body).await?;
    Ok(HttpResponse::Ok().json(WebhookReceipt {
        received: true,
        id: receipt.id,
        duplicate: receipt.duplicate,
    }))
}
