use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::{has_pending_migrations, Db};
use crate::error::{ApiError, ErrorBody};
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

/// Ready: the database answers and every migration is applied.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve traffic", body = Readiness),
        (status = 503, description = "Database unreachable or migrations pending (`not_ready`)", body = ErrorBody),
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<web::Json<Readiness>, ApiError> {
    let backend = state.db.backend();
    state
        .db
        .run(|conn| {
            Db::ping(conn)
                .map_err(|e| ApiError::NotReady(format!("the database is unreachable: {e}")))?;
            match has_pending_migrations(conn) {
                Ok(false) => Ok(()),
                Ok(true) => Err(ApiError::NotReady(
                    "database migrations are pending; run `stripe-gateway migrate`".into(),
                )),
                Err(e) => Err(ApiError::NotReady(format!("migration state unknown: {e}"))),
            }
        })
        .await
        .map_err(|err| match err {
            ApiError::NotReady(_) => err,
            other => ApiError::NotReady(format!("the database is unreachable: {other}")),
        })?;
    Ok(web::Json(Readiness {
        status: "ready",
        database: backend.as_str(),
    }))
}

/// The OpenAPI document, rendered once at start-up.
pub struct OpenApiDocument(pub String);

/// This API's OpenAPI 3.1 description.
#[utoipa::path(tag = "operations", responses((status = 200, description = "OpenAPI document", content_type = "application/yaml", body = String)))]
#[get("/openapi.yaml")]
pub async fn openapi_yaml(document: web::Data<OpenApiDocument>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/yaml")
        .body(document.0.clone())
}
