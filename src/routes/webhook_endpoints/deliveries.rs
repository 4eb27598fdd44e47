//! An endpoint's secret rotation, its delivery log and replay.

use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{cursor_id, endpoint_id};
use crate::domain::Principal;
use crate::error::{ApiError, ErrorBody, FieldError};
use crate::extract::{Json, Query, Whole};
use crate::routes::organizers::page_params;
use crate::services::outbound::log::{self, DeliveryResponse, Replay, REPLAY_MAX};
use crate::services::outbound::{endpoints, WebhookEndpointResponse};
use crate::services::AppState;

/// How long the secrets signing until a rotation go on signing, unless the request says.
const PREVIOUS_FOR_SECS: i64 = 86_400;
/// The longest they may.
const PREVIOUS_FOR_MAX_SECS: i64 = 7 * 86_400;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// How long the secrets signing until now go on signing, in seconds: 0 (they stop at once)
    /// to 604800 (a week); a day when left out. Deliveries meanwhile carry both signatures.
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 604800)]
    previous_expires_in_secs: Option<Whole>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Deliver this event again (its `id`, as delivered and in the feed).
    #[schema(value_type = Option<uuid::Uuid>)]
    event_id: Option<String>,
    /// Or every event the endpoint hears created from this time on (up to 10,000)...
    since: Option<DateTime<Utc>>,
    /// ...until this time (now when left out).
    until: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayAnswer {
    /// How many deliveries were queued.
    replayed: usize,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryLogQuery {
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// `next_cursor` from the previous page.
    #[param(value_type = Option<uuid::Uuid>)]
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    /// Newest first.
    data: Vec<DeliveryResponse>,
    /// Pass as `cursor` to get the next (older) page; null on the last page.
    next_cursor: Option<String>,
}

/// Make a new signing secret (shown this once); the previous ones go on signing for a while.
/// The body may be `{}`.
#[utoipa::path(
    operation_id = "rotate_webhook_endpoint_secret",
    tag = "webhook-endpoints",
    security(("bearer" = [])),
    params(("endpoint_id" = uuid::Uuid, Path, description = "Webhook endpoint id")),
    request_body = RotateSecret,
    responses(
        (status = 200, description = "The endpoint with its new `secret`", body = WebhookEndpointResponse),
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A disabled organizer's token (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such endpoint, or another organizer's (`webhook_endpoint_not_found`)", body = ErrorBody),
        (status = 413, description = "Body too large (`payload_too_large`)", body = ErrorBody),
        (status = 415, description = "Body is not JSON (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "Invalid `previous_expires_in_secs` (`validation_failed`)", body = ErrorBody),
    )
)]
#[post("/webhook-endpoints/{endpoint_id}/rotate-secret")]
pub async fn rotate_secret(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Result<Json<RotateSecret>, ApiError>,
) -> Result<web::Json<WebhookEndpointResponse>, ApiError> {
    let id = endpoint_id(&path)?;
    let body = body?.0;
    let secs = body
        .previous_expires_in_secs
        .map_or(PREVIOUS_FOR_SECS, |secs| secs.0);
    if !(0..=PREVIOUS_FOR_MAX_SECS).contains(&secs) {
        return Err(ApiError::Validation(vec![FieldError::new(
            "previous_expires_in_secs",
            format!("must be 0 to {PREVIOUS_FOR_MAX_SECS}"),
        )]));
    }
    let previous_for = chrono::Duration::seconds(secs);
    let rotated = endpoints::rotate_secret(&state, &principal, id, previous_for).await?;
    Ok(web::Json(rotated))
}

/// An endpoint's deliveries, newest first, each with its attempts.
#[utoipa::path(
    operation_id = "list_webhook_deliveries",
    tag = "webhook-endpoints",
    security(("bearer" = [])),
    params(
        ("endpoint_id" = uuid::Uuid, Path, description = "Webhook endpoint id"),
        DeliveryLogQuery,
    ),
    responses(
        (status = 200, description = "One page of deliveries", body = DeliveryPage),
        (status = 400, description = "Unknown or malformed query parameters (`invalid_query`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A disabled organizer's token (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such endpoint, or another organizer's (`webhook_endpoint_not_found`)", body = ErrorBody),
        (status = 422, description = "Invalid `limit` or `cursor` (`validation_failed`)", body = ErrorBody),
    )
)]
#[get("/webhook-endpoints/{endpoint_id}/deliveries")]
pub async fn list_deliveries(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: Result<Query<DeliveryLogQuery>, ApiError>,
) -> Result<web::Json<DeliveryPage>, ApiError> {
    let id = endpoint_id(&path)?;
    let query = query?.0;
    let (limit, cursor) = page_params(query.limit, query.cursor.as_deref(), cursor_id)?;
    let data = log::deliveries(&state, &principal, id, cursor, limit).await?;
    let next_cursor = (data.len() == limit.get())
        .then(|| data.last().map(|delivery| delivery.id.clone()))
        .flatten();
    Ok(web::Json(DeliveryPage { data, next_cursor }))
}

/// Deliver events to the endpoint again: one (`event_id`), or every one it hears from a span
/// of time (`since`, `until`). Each goes as a new delivery with the event's own id.
#[utoipa::path(
    operation_id = "replay_webhook_deliveries",
    tag = "webhook-endpoints",
    security(("bearer" = [])),
    params(("endpoint_id" = uuid::Uuid, Path, description = "Webhook endpoint id")),
    request_body = ReplayRequest,
    responses(
        (status = 202, description = "Queued", body = ReplayAnswer),
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A disabled organizer's token (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such endpoint, or another organizer's (`webhook_endpoint_not_found`); no such event for it (`event_not_found`)", body = ErrorBody),
        (status = 409, description = "The endpoint is disabled (`endpoint_disabled`)", body = ErrorBody),
        (status = 413, description = "Body too large (`payload_too_large`)", body = ErrorBody),
        (status = 415, description = "Body is not JSON (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "Neither or both of `event_id` and `since`, or `until` before `since` (`validation_failed`)", body = ErrorBody),
    )
)]
#[post("/webhook-endpoints/{endpoint_id}/replay")]
pub async fn replay(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Result<Json<ReplayRequest>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let id = endpoint_id(&path)?;
    let body = body?.0;
    let invalid = |field: &str, message: &str| {
        Err(ApiError::Validation(vec![FieldError::new(field, message)]))
    };
    let replay = match (body.event_id, body.since, body.until) {
        (Some(event), None, None) => match uuid::Uuid::parse_str(&event) {
            Ok(event) => Replay::Event(event.to_string()),
            Err(_) => return invalid("event_id", "is not an event id"),
        },
        (None, Some(from), until) => {
            let to = until.unwrap_or_else(Utc::now);
            if to < from {
                return invalid("until", "must not be before `since`");
            }
            Replay::Between { from, to }
        }
        (Some(_), _, _) => {
            return invalid(
                "event_id",
                "give either `event_id` or `since` (with `until`), not both",
            )
        }
        (None, None, _) => return invalid("since", "give `event_id`, or `since` (and `until`)"),
    };
    let replayed = log::replay(&state, &principal, id, replay).await?;
    debug_assert!(replayed as i64 <= REPLAY_MAX);
    Ok(HttpResponse::Accepted().json(ReplayAnswer { replayed }))
}
