use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::services::readiness::{self, NotReady};
use crate::services::webhooks::Ingest;
use crate::services::AppState;

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    status: &'static str,
}

/// Alive: the process answers HTTP.
#[utoipa::path(tag = "operations", responses((status = 200, description = "The gateway is running", body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> web::Json<Health> {
    web::Json(Health { status: "ok" })
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    #[schema(example = "ready")]
    status: &'static str,
    /// `sqlite` or `postgres`.
    database: &'static str,
}

/// Ready: the database answers, on the shared pool and on the webhook committers' own
/// connections, and every migration is applied.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve traffic", body = Readiness),
        (status = 503, description = "Database unreachable or migrations pending (`not_ready`)", body = ErrorBody),
    )
)]
#[get("/readyz")]
pub async fn readyz(
    state: web::Data<AppState>,
    ingest: web::Data<Ingest>,
) -> Result<web::Json<Readiness>, ApiError> {
    let backend = state.db.backend();
    match readiness::check(&state, &ingest).await {
        Ok(()) => {}
        Err(NotReady::MigrationsPending) => {
            return Err(ApiError::NotReady(NotReady::MigrationsPending.to_string()))
        }
        Err(err @ NotReady::Unreachable(_)) => {
            // The cause names hosts and users: it goes to the log, not to an unauthenticated caller.
            tracing::warn!(error = %crate::domain::chain(&err), "readiness check failed");
            return Err(ApiError::NotReady(err.to_string()));
        }
    }
    Ok(web::Json(Readiness {
        status: "ready",
        database: backend.as_str(),
    }))
}

/// The OpenAPI document, rendered once at start-up.
pub struct OpenApiDocument(pub web::Bytes);

/// This API's OpenAPI 3.1 description.
#[utoipa::path(tag = "operations", responses((status = 200, description = "OpenAPI document (a YAML mapping)", content_type = "application/yaml", body = Object)))]
#[get("/openapi.yaml")]
pub async fn openapi_yaml(document: web::Data<OpenApiDocument>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/yaml")
        .body(document.0.clone())
}
