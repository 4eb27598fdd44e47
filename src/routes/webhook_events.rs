use actix_web::{get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::EventStatus;
use crate::domain::Principal;
use crate::domain::{PageLimit, StripeId};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Query;
use crate::services::webhooks::admin::{
    self, EventCursor, EventQuery, WebhookEventDetail, WebhookEventResponse,
};
use crate::services::AppState;

/// The inbox's cursors as `EventCursor::encode` writes them: base64url (unpadded) of `e1:` and
/// the id of the last event returned (a [`crate::domain::StripeId`]).
pub struct WebhookEventCursor;

impl utoipa::PartialSchema for WebhookEventCursor {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        const ID: &[u8] = crate::domain::STRIPE_ID_CHARS;
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .pattern(Some(crate::openapi::patterns::base64url_of_run("e1:", ID, 255)))
            .description(Some(
                "An opaque position in the inbox: pass back the `next_cursor` of the previous page; \
do not build one. (The pattern is the exact set of cursors the API writes.)",
            ))
            .into()
    }
}

impl ToSchema for WebhookEventCursor {}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WebhookEventQuery {
    /// Only events in this state.
    status: Option<EventStatus>,
    /// Only this event type, e.g. `customer.updated` (as Stripe ids are: 1 to 255 ASCII
    /// letters, digits or `-._~!$&'()*+,;=:@`).
    #[serde(rename = "type")]
    #[param(
        rename = "type",
        min_length = 1,
        max_length = 255,
        pattern = "^[A-Za-z0-9._~!$&'()*+,;=:@-]{1,255}$"
    )]
    event_type: Option<String>,
    /// Only events of this Stripe account (`acct_...`; as Stripe ids are).
    #[param(
        min_length = 1,
        max_length = 255,
        pattern = "^[A-Za-z0-9._~!$&'()*+,;=:@-]{1,255}$"
    )]
    account: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// `next_cursor` from the previous page.
    #[param(value_type = Option<WebhookEventCursor>)]
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEventPage {
    data: Vec<WebhookEventResponse>,
    /// Pass as `cursor` to get the next (older) page; null on the last page.
    #[schema(value_type = Option<WebhookEventCursor>)]
    next_cursor: Option<String>,
}

/// A filter's text: what ingestion stores in that column, an id as [`StripeId`] has it (other
/// text could match nothing, and PostgreSQL refuses a NUL in text).
fn check_text(field: &str, value: &Option<String>) -> Result<(), ApiError> {
    match value.as_deref().map(StripeId::check) {
        Some(Err(rule)) => Err(ApiError::validation(field, rule)),
        _ => Ok(()),
    }
}

/// The webhook inbox, newest first (admin).
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(WebhookEventQuery),
    responses(
        (status = 200, description = "One page of events", body = WebhookEventPage),
        (status = 400, description = "Unknown or malformed query parameters, e.g. an unknown `status` (`invalid_query`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "Not an admin token (`forbidden`)", body = ErrorBody),
        (status = 404, description = "The event `cursor` names is no longer in the inbox (`webhook_event_not_found`)", body = ErrorBody),
        (status = 422, description = "Invalid `limit`, `cursor`, `type` or `account` (`validation_failed`)", body = ErrorBody),
    )
)]
#[get("/admin/webhook-events")]
pub async fn list(
    principal: Principal,
    state: web::Data<AppState>,
    query: Result<Query<WebhookEventQuery>, ApiError>,
) -> Result<web::Json<WebhookEventPage>, ApiError> {
    principal.require_admin()?;
    let query = query?.0;
    let limit = PageLimit::parse(query.limit).map_err(|e| ApiError::validation("limit", e))?;
    let cursor = query
        .cursor
        .as_deref()
        .map(EventCursor::decode)
        .transpose()
        .map_err(|e| ApiError::validation("cursor", e.to_string()))?;
    check_text("type", &query.event_type)?;
    check_text("account", &query.account)?;
    let filter = EventQuery {
        status: query.status,
        event_type: query.event_type,
        account: query.account,
    };
    let page = admin::list(&state, filter, limit, cursor).await?;
    Ok(web::Json(WebhookEventPage {
        data: page.events,
        next_cursor: page.next_cursor,
    }))
}

/// One inbox event with every attempt and its body (admin).
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("event_id" = String, Path, description = "Stripe's event id")),
    responses(
        (status = 200, description = "The event", body = WebhookEventDetail),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "Not an admin token (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such event (`webhook_event_not_found`)", body = ErrorBody),
    )
)]
#[get("/admin/webhook-events/{event_id}")]
pub async fn get(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<WebhookEventDetail>, ApiError> {
    principal.require_admin()?;
    Ok(web::Json(admin::get(&state, path.into_inner()).await?))
}

/// Process an event again (admin): it becomes `pending` now with a fresh attempt budget, and a
/// worker re-fetches its object. For a dead event once the cause is fixed, or to refresh.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("event_id" = String, Path, description = "Stripe's event id")),
    responses(
        (status = 202, description = "Queued", body = WebhookEventResponse),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "Not an admin token (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such event (`webhook_event_not_found`)", body = ErrorBody),
    )
)]
#[post("/admin/webhook-events/{event_id}/replay")]
pub async fn replay(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<actix_web::HttpResponse, ApiError> {
    principal.require_admin()?;
    let event = admin::replay(&state, &principal, path.into_inner()).await?;
    Ok(actix_web::HttpResponse::Accepted().json(event))
}

#[cfg(test)]
mod tests {
    use super::check_text;

    #[test]
    fn filters_take_what_ingestion_stores() {
        let ok = |text: &str| check_text("type", &Some(text.to_string())).is_ok();
        assert!(ok("customer.updated"));
        assert!(ok("acct_1Nv0FGQ9RKHgCVdK"));
        assert!(ok(&"e".repeat(255)));
        assert!(!ok(&"e".repeat(256)));
        assert!(!ok(""));
        assert!(!ok("customer\u{0}"));
        assert!(!ok("x\u{FFFD}y"));
        assert!(!ok("a b"));
        assert!(check_text("type", &None).is_ok());
    }
}
