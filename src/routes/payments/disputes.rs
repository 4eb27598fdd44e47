//! An organizer's disputes, read from the mirror: what is contested, and by when evidence is due.

use actix_web::{get, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::super::customers::organizer_scope;
use super::super::invoices::ObjectPageCursor;
use super::super::organizers::page_params;
use crate::domain::{DisputeStatus, ObjectCursor, Principal};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Query;
use crate::services::billing::{self, DisputeResponse};
use crate::services::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DisputeListQuery {
    /// Only disputes in this status, e.g. `needs_response`.
    #[param(value_type = Option<DisputeStatus>)]
    status: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// `next_cursor` from the previous page.
    #[param(value_type = Option<ObjectPageCursor>)]
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DisputePage {
    data: Vec<DisputeResponse>,
    /// Pass as `cursor` for older disputes; null on the last page.
    #[schema(value_type = Option<ObjectPageCursor>)]
    next_cursor: Option<String>,
}

/// The organizer's disputes, newest first: from the mirror, never from Stripe.
#[utoipa::path(
    operation_id = "list_disputes",
    tag = "payments",
    security(("bearer" = [])),
    params(
        ("org_id" = uuid::Uuid, Path, description = "Organizer id"),
        DisputeListQuery,
    ),
    responses(
        (status = 200, description = "One page of disputes", body = DisputePage),
        (status = 400, description = "Unknown or malformed query parameters (`invalid_query`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A token of another organizer, or of a disabled one (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer (`organizer_not_found`)", body = ErrorBody),
        (status = 422, description = "Invalid `status`, `limit` or `cursor` (`validation_failed`)", body = ErrorBody),
    )
)]
#[get("/organizers/{org_id}/disputes")]
pub async fn list(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: Result<Query<DisputeListQuery>, ApiError>,
) -> Result<web::Json<DisputePage>, ApiError> {
    let org_id = organizer_scope(&principal, &path)?;
    let query = query?.0;
    let (limit, cursor) = page_params(query.limit, query.cursor.as_deref(), ObjectCursor::decode)?;
    if let Some(status) = &query.status {
        if status.parse::<DisputeStatus>().is_err() {
            return Err(ApiError::validation("status", "must be a dispute status"));
        }
    }
    let (data, next) =
        billing::disputes(&state, &principal, org_id, query.status, cursor, limit).await?;
    Ok(web::Json(DisputePage {
        data,
        next_cursor: next.map(|cursor| cursor.encode()),
    }))
}
