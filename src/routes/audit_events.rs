use actix_web::{get, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::organizers::{parse_organizer_id, PageQuery};
use crate::domain::Email;
use crate::domain::Principal;
use crate::error::{ApiError, ErrorBody, FieldError};
use crate::extract::Query;
use crate::openapi::patterns::PageCursor;
use crate::services::audit::{self, AuditEventResponse, AuditQuery};
use crate::services::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditLogQuery {
    /// Only events about this organizer.
    #[param(value_type = Option<uuid::Uuid>)]
    org_id: Option<String>,
    /// Only this action, e.g. `customer.erased`: 1 to 64 lowercase letters, dots and
    /// underscores.
    #[param(pattern = "^[a-z._]{1,64}$", example = "customer.erased")]
    action: Option<String>,
    /// Only events about this person: the gateway hashes the email with its audit key and
    /// matches `subject_hash`, which is how an erasure is proven.
    #[param(value_type = Option<Email>)]
    email: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// `next_cursor` from the previous page.
    #[param(value_type = Option<PageCursor>)]
    cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LegacyAuditQuery {
    /// Only events about this organizer.
    #[param(value_type = Option<uuid::Uuid>)]
    organizer_id: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// `next_cursor` from the previous page.
    #[param(value_type = Option<PageCursor>)]
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventPage {
    data: Vec<AuditEventResponse>,
    /// Pass as `cursor` to get the next (older) page; null on the last page.
    #[schema(value_type = Option<PageCursor>)]
    next_cursor: Option<String>,
}

async fn page(
    principal: &Principal,
    state: &AppState,
    query: AuditQuery,
    limit: Option<i64>,
    cursor: Option<String>,
) -> Result<web::Json<AuditEventPage>, ApiError> {
    principal.require_admin()?;
    let (limit, cursor) = PageQuery { limit, cursor }.parse()?;
    let page = audit::list(state, query, limit, cursor).await?;
    Ok(web::Json(AuditEventPage {
        data: page.events,
        next_cursor: page.next_cursor.map(|cursor| cursor.encode()),
    }))
}

/// The audit log, newest first (admin).
///
/// Every change through the gateway, and every attempt that failed against Stripe: when, who,
/// which organizer, the action, its targets and outcome, and the request id.
#[utoipa::path(
    operation_id = "list_audit_log",
    tag = "audit",
    security(("bearer" = [])),
    params(AuditLogQuery),
    responses(
        (status = 200, description = "One page of audit events", body = AuditEventPage),
        (status = 400, description = "Unknown or malformed query parameters (`invalid_query`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "Not an admin token (`forbidden`)", body = ErrorBody),
        (status = 404, description = "`org_id` is not an organizer id (`organizer_not_found`)", body = ErrorBody),
        (status = 422, description = "Invalid `email`, `action`, `limit` or `cursor` (`validation_failed`)", body = ErrorBody),
    )
)]
#[get("/admin/audit-log")]
pub async fn list(
    principal: Principal,
    state: web::Data<AppState>,
    query: Result<Query<AuditLogQuery>, ApiError>,
) -> Result<web::Json<AuditEventPage>, ApiError> {
    // The role before the query string: a non-admin gets 403 whatever it sent.
    principal.require_admin()?;
    let query = query?.0;
    let organizer = query
        .org_id
        .as_deref()
        .map(parse_organizer_id)
        .transpose()?;
    let email = query
        .email
        .as_deref()
        .map(Email::parse)
        .transpose()
        .map_err(|e| ApiError::Validation(vec![FieldError::new("email", e)]))?;
    if let Some(action) = &query.action {
        let valid = !action.is_empty()
            && action.len() <= 64
            && action
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_');
        if !valid {
            return Err(ApiError::validation(
                "action",
                "must be an action name such as `customer.created`",
            ));
        }
    }
    let filter = AuditQuery {
        organizer,
        action: query.action,
        email,
    };
    page(&principal, &state, filter, query.limit, query.cursor).await
}

/// The audit log by its former path; use `GET /v1/admin/audit-log`.
#[utoipa::path(
    operation_id = "list_audit_events",
    tag = "audit",
    security(("bearer" = [])),
    params(LegacyAuditQuery),
    responses(
        (status = 200, description = "One page of audit events", body = AuditEventPage),
        (status = 400, description = "Unknown or malformed query parameters (`invalid_query`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "Not an admin token (`forbidden`)", body = ErrorBody),
        (status = 404, description = "`organizer_id` is not an organizer id (`organizer_not_found`)", body = ErrorBody),
        (status = 422, description = "Invalid `limit` or `cursor` (`validation_failed`)", body = ErrorBody),
    )
)]
#[deprecated = "use GET /v1/admin/audit-log"]
#[get("/audit-events")]
pub async fn list_legacy(
    principal: Principal,
    state: web::Data<AppState>,
    query: Result<Query<LegacyAuditQuery>, ApiError>,
) -> Result<web::Json<AuditEventPage>, ApiError> {
    principal.require_admin()?;
    let query = query?.0;
    let organizer = query
        .organizer_id
        .as_deref()
        .map(parse_organizer_id)
        .transpose()?;
    let filter = AuditQuery {
        organizer,
        action: None,
        email: None,
    };
    page(&principal, &state, filter, query.limit, query.cursor).await
}
