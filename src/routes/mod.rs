//! HTTP routes. Handlers extract, call one service function and map the result; every route
//! is registered through `utoipa_actix_web`, so a handler without an OpenAPI description
//! cannot be served.

// `list_legacy` is deprecated for clients (the OpenAPI document says so), not for the server.
#[allow(deprecated)]
mod audit_events;
mod customers;
mod erasures;
mod health;
mod organizers;

use actix_web::{HttpRequest, HttpResponse};
use serde::{Deserialize, Deserializer};
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

pub use health::OpenApiDocument;

use crate::error::ApiError;

#[allow(deprecated)]
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(health::openapi_yaml)
        .service(
            scope::scope("/v1")
                .service(organizers::create)
                .service(organizers::list)
                .service(organizers::get)
                .service(organizers::update)
                .service(customers::upsert)
                .service(customers::list)
                .service(customers::get)
                .service(customers::update)
                .service(customers::remove)
                .service(erasures::create)
                .service(audit_events::list)
                .service(audit_events::list_legacy),
        );
}

/// Requests that match no route: 405 when the path exists under another method, else 404.
pub async fn fallback(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if req.resource_map().has_resource(req.path()) {
        Err(ApiError::MethodNotAllowed)
    } else {
        Err(ApiError::NotFound {
            code: "route_not_found",
            message: format!("no route for {} {}", req.method(), req.path()),
        })
    }
}

/// For PATCH fields where `null` means something (clear it) and absence means "leave it":
/// absent stays `None` through `#[serde(default)]`, present becomes `Some(value or null)`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
