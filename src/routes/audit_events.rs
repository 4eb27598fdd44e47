use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::organizers::{parse_organizer_id, PageQuery};
use crate::auth::Principal;
use crate::db::models::AuditEvent;
use crate::error::{ApiError, ErrorBody};
use crate::services::audit;
use crate::services::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only events about this organizer.
    organizer_id: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// `next_cursor` from the previous page.
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventResponse {
    id: String,
    occurred_at: DateTime<Utc>,
    /// The `sub` of the token that made the change.
    actor: String,
    /// `admin` or `organizer`.
    actor_role: String,
    /// What happened, e.g. `organizer.created`.
    #[schema(example = "organizer.created")]
    action: String,
    organizer_id: Option<String>,
    /// The request that made the change (its `x-request-id`).
    request_id: String,
    /// What changed.
    #[schema(value_type = Object)]
    details: serde_json::Value,
}

impl From<AuditEvent> for AuditEventResponse {
    fn from(event: AuditEvent) -> Self {
        Self {
            occurred_at: event.occurred_at.and_utc(),
            details: serde_json::from_str(&event.details).unwrap_or(serde_json::Value::Null),
            id: event.id,
            actor: event.actor,
            actor_role: event.actor_role,
            action: event.action,
            organizer_id: event.organizer_id,
            request_id: event.request_id,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventPage {
    data: Vec<AuditEventResponse>,
    /// Pass as `cursor` to get the next (older) page; null on the last page.
    next_cursor: Option<String>,
}

/// The audit log, newest first (admin).
#[utoipa::path(
    operation_id = "list_audit_events",
    tag = "audit",
    security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "One page of audit events", body = AuditEventPage),
        (status = 400, description = "Unknown or malformed query parameters (`invalid_query`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "Not an admin token (`forbidden`)", body = ErrorBody),
        (status = 404, description = "`organizer_id` is not an organizer id (`organizer_not_found`)", body = ErrorBody),
        (status = 422, description = "Invalid `limit` or `cursor` (`validation_failed`)", body = ErrorBody),
    )
)]
#[get("/audit-events")]
pub async fn list(
    principal: Principal,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<web::Json<AuditEventPage>, ApiError> {
    principal.require_admin()?;
    let query = query.into_inner();
    let organizer = query
        .organizer_id
        .as_deref()
        .map(parse_organizer_id)
        .transpose()?;
    let (limit, cursor) = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .parse()?;
    let page = audit::list(&state, organizer, limit, cursor).await?;
    Ok(web::Json(AuditEventPage {
        data: page.events.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor.map(|cursor| cursor.encode()),
    }))
}
