//! Reconciliation runs of an organizer's account: start one, list them, read one's drift report.

use actix_web::{get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::customers::organizer_scope;
use super::organizers::PageQuery;
use crate::domain::Principal;
use crate::domain::{RunStatus, RunTrigger};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Query};
use crate::openapi::patterns::PageCursor;
use crate::services::sync::health::AccountHealth;
use crate::services::sync::{self, RunRequest, SyncKind, SyncRunResponse};
use crate::services::AppState;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartSync {
    /// Compare and report, write nothing (default false).
    dry_run: Option<bool>,
    /// What to compare (default all): `customers`, `products`, `prices`, `subscriptions`,
    /// `entitlements`, and `events` (those Stripe's Events API has and the inbox lacks).
    #[schema(min_items = 1)]
    kinds: Option<Vec<SyncKind>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SyncStarted {
    /// Read its report at `GET .../sync-runs/{run_id}`.
    run_id: String,
    status: RunStatus,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SyncRunPage {
    data: Vec<SyncRunResponse>,
    /// Pass as `cursor` for older runs; null on the last page.
    #[schema(value_type = Option<PageCursor>)]
    next_cursor: Option<String>,
}

/// Reconcile the organizer's account with Stripe now.
///
/// Lists the account's objects from Stripe, compares them with the gateway's mirror and repairs
/// what is missing, different or deleted in Stripe (unless `dry_run`), in the background; the
/// run's drift report grows as it goes. One run per account at a time, across instances: a
/// request while one runs gets `202` with a run `queued` to start when that one ends, so what
/// was changed in Stripe before asking is in it. At most one run waits per account: a later
/// request of the same run (`kinds`, `dry_run`) joins it and gets its id; one of another run
/// is refused with `sync_in_progress`, naming the waiting run.
#[utoipa::path(
    operation_id = "start_sync",
    tag = "sync",
    security(("bearer" = [])),
    params(("org_id" = uuid::Uuid, Path, description = "Organizer id")),
    request_body = StartSync,
    responses(
        (status = 202, description = "Queued: it starts now, or when the run in progress ends (a request joining the waiting run gets that run)", body = SyncStarted),
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A token of another organizer, or of a disabled one (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer (`organizer_not_found`)", body = ErrorBody),
        (status = 409, description = "Another kind of run is already waiting for the account (`sync_in_progress`, naming it), or the account revoked the platform's access (`organizer_disconnected`)", body = ErrorBody),
        (status = 413, description = "Body too large (`payload_too_large`)", body = ErrorBody),
        (status = 415, description = "Body is not JSON (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "Unknown fields or kinds, or an empty `kinds` (`validation_failed`)", body = ErrorBody),
    )
)]
#[post("/organizers/{org_id}/sync")]
pub async fn start(
    principal: Principal,
    state: web::Data<AppState>,
    org_id: web::Path<String>,
    body: Result<Json<StartSync>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let org_id = organizer_scope(&principal, &org_id)?;
    let body = body?.0;
    let kinds = match body.kinds {
        None => SyncKind::all(),
        Some(kinds) if kinds.is_empty() => {
            return Err(ApiError::validation("kinds", "must name at least one kind"))
        }
        Some(kinds) => kinds,
    };
    let request = RunRequest {
        dry_run: body.dry_run.unwrap_or(false),
        kinds,
        trigger: RunTrigger::Api,
    };
    let run = sync::request_run(&state, &principal, org_id, request).await?;
    Ok(HttpResponse::Accepted().json(SyncStarted {
        run_id: run.id,
        status: run.status,
    }))
}

/// The organizer's reconciliation runs, newest first.
#[utoipa::path(
    operation_id = "list_sync_runs",
    tag = "sync",
    security(("bearer" = [])),
    params(("org_id" = uuid::Uuid, Path, description = "Organizer id"), PageQuery),
    responses(
        (status = 200, description = "One page of runs", body = SyncRunPage),
        (status = 400, description = "Unknown or malformed query parameters (`invalid_query`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A token of another organizer, or of a disabled one (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer (`organizer_not_found`)", body = ErrorBody),
        (status = 422, description = "Invalid `limit` or `cursor` (`validation_failed`)", body = ErrorBody),
    )
)]
#[get("/organizers/{org_id}/sync-runs")]
pub async fn list(
    principal: Principal,
    state: web::Data<AppState>,
    org_id: web::Path<String>,
    query: Query<PageQuery>,
) -> Result<web::Json<SyncRunPage>, ApiError> {
    let org_id = organizer_scope(&principal, &org_id)?;
    let (limit, cursor) = query.0.parse()?;
    let (runs, next) = sync::list_runs(&state, &principal, org_id, cursor, limit).await?;
    Ok(web::Json(SyncRunPage {
        data: runs,
        next_cursor: next.map(|cursor| cursor.encode()),
    }))
}

/// One reconciliation run with its drift report.
#[utoipa::path(
    operation_id = "get_sync_run",
    tag = "sync",
    security(("bearer" = [])),
    params(
        ("org_id" = uuid::Uuid, Path, description = "Organizer id"),
        ("run_id" = uuid::Uuid, Path, description = "Run id"),
    ),
    responses(
        (status = 200, description = "The run", body = SyncRunResponse),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A token of another organizer, or of a disabled one (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer or run (`organizer_not_found`, `sync_run_not_found`)", body = ErrorBody),
    )
)]
#[get("/organizers/{org_id}/sync-runs/{run_id}")]
pub async fn get(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<web::Json<SyncRunResponse>, ApiError> {
    let org_id = organizer_scope(&principal, &path.0)?;
    Ok(web::Json(
        sync::get_run(&state, &principal, org_id, path.1.clone()).await?,
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SyncHealthPage {
    data: Vec<AccountHealth>,
    /// Pass as `cursor` for the next organizers; null on the last page.
    #[schema(value_type = Option<PageCursor>)]
    next_cursor: Option<String>,
}

/// Whether each organizer's mirror can be trusted now (admin).
///
/// Per organizer, oldest first: its last reconciliation and last successful one with the drift
/// found, the age of its events cursor, its inbox backlog and dead letters, its disconnection,
/// and `concerns`, empty when nothing needs an operator.
#[utoipa::path(
    operation_id = "sync_health",
    tag = "sync",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "One page of organizers' health", body = SyncHealthPage),
        (status = 400, description = "Unknown or malformed query parameters (`invalid_query`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "Not an admin token (`forbidden`)", body = ErrorBody),
        (status = 422, description = "Invalid `limit` or `cursor` (`validation_failed`)", body = ErrorBody),
    )
)]
#[get("/admin/sync-health")]
pub async fn health(
    principal: Principal,
    state: web::Data<AppState>,
    query: Result<Query<PageQuery>, ApiError>,
) -> Result<web::Json<SyncHealthPage>, ApiError> {
    // The role before the input: a non-admin gets 403 whatever it sent.
    principal.require_admin()?;
    let (limit, cursor) = query?.0.parse()?;
    let (data, next) = sync::health::health(&state, cursor, limit, state.reconcile_every).await?;
    Ok(web::Json(SyncHealthPage {
        data,
        next_cursor: next.map(|cursor| cursor.encode()),
    }))
}
