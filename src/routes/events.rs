//! The event feed: what happened to an organizer's payments, subscriptions and account, in the
//! gateway's words, for apps that pull (`after` a cursor, long-polling with `wait`).

use std::time::Duration;

use actix_web::{get, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::customers::organizer_scope;
use crate::domain::{GatewayEventType, PageLimit, Principal};
use crate::error::{ApiError, ErrorBody, FieldError};
use crate::extract::Query;
use crate::openapi::patterns::EventTypeList;
use crate::services::events::{self, FeedQuery, GatewayEventResponse};
use crate::services::AppState;

/// The longest a read waits for an event, in seconds.
const MAX_WAIT_SECS: i64 = 30;

/// The feed's cursor: opaque; pass back the `next_cursor` a read gave.
#[derive(ToSchema)]
#[schema(value_type = String, example = "42", pattern = "^[0-9]{1,18}$")]
pub struct EventCursor(#[allow(dead_code)] String);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventFeedQuery {
    /// `next_cursor` of the previous read; leave it out to start from the oldest event kept.
    #[param(value_type = Option<EventCursor>)]
    after: Option<String>,
    /// Only these types, comma-separated (e.g. `checkout.completed,refund.updated`).
    #[param(value_type = Option<EventTypeList>)]
    types: Option<String>,
    /// Events per read, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// Seconds to wait for an event when none is new, 0 (the default) to 30.
    #[param(minimum = 0, maximum = 30)]
    wait: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventFeedPage {
    /// In the order they were recorded.
    data: Vec<GatewayEventResponse>,
    /// Pass as `after` to read on: always present (the same cursor when nothing was new).
    #[schema(value_type = EventCursor)]
    next_cursor: String,
}

/// Every field problem of the query at once.
fn parse(query: EventFeedQuery) -> Result<FeedQuery, ApiError> {
    let mut errors = Vec::new();
    let after = match query.after.as_deref() {
        None => 0,
        // Digits only, as the cursors the feed writes (no sign, no spaces).
        Some(raw) if (1..=18).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_digit()) => {
            raw.parse::<i64>().unwrap_or_default()
        }
        Some(_) => {
            errors.push(FieldError::new(
                "after",
                "must be a `next_cursor` of this feed",
            ));
            0
        }
    };
    let types = match query.types.as_deref() {
        None => Vec::new(),
        Some(raw) => GatewayEventType::parse_list(raw).unwrap_or_else(|e| {
            errors.push(FieldError::new("types", e));
            Vec::new()
        }),
    };
    let limit = PageLimit::parse(query.limit).map_err(|e| errors.push(FieldError::new("limit", e)));
    let wait = query.wait.unwrap_or(0);
    if !(0..=MAX_WAIT_SECS).contains(&wait) {
        errors.push(FieldError::new(
            "wait",
            format!("must be 0 to {MAX_WAIT_SECS} seconds"),
        ));
    }
    match limit {
        Ok(limit) if errors.is_empty() => Ok(FeedQuery {
            after,
            types,
            limit,
            wait: Duration::from_secs(wait.unsigned_abs()),
        }),
        _ => Err(ApiError::Validation(errors)),
    }
}

/// The organizer's gateway events after a cursor, in order; waits up to `wait` seconds for one
/// when none is new. Events are kept at least `GATEWAY_EVENTS_RETENTION_DAYS` days.
#[utoipa::path(
    operation_id = "list_events",
    tag = "events",
    security(("bearer" = [])),
    params(
        ("org_id" = uuid::Uuid, Path, description = "Organizer id"),
        EventFeedQuery,
    ),
    responses(
        (status = 200, description = "The events after the cursor (none when `wait` passed without one)", body = EventFeedPage),
        (status = 400, description = "Unknown or malformed query parameters (`invalid_query`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A token of another organizer, or of a disabled one (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer (`organizer_not_found`)", body = ErrorBody),
        (status = 422, description = "Invalid `after`, `types`, `limit` or `wait` (`validation_failed`)", body = ErrorBody),
    )
)]
#[get("/organizers/{org_id}/events")]
pub async fn list(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: Result<Query<EventFeedQuery>, ApiError>,
) -> Result<web::Json<EventFeedPage>, ApiError> {
    let org_id = organizer_scope(&principal, &path)?;
    let query = parse(query?.0)?;
    let page = events::feed(&state, &principal, org_id, query).await?;
    Ok(web::Json(EventFeedPage {
        data: page.events,
        next_cursor: page.cursor.to_string(),
    }))
}
