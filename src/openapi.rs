//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` attributes through the
//! same `routes::configure` that serves them. `openapi.yaml` at the repository root is this
//! document; a test fails when they differ.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use crate::error::{ErrorBody, ErrorDetail, FieldError};
use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Stripe Connect billing gateway",
        description = "Multi-tenant billing gateway between platform apps and Stripe. Every `/v1` route needs \
`Authorization: Bearer <JWT>`. Every error has the body `{\"error\": {\"code\", \"message\", \"request_id\", \"fields\"?}}`; \
`code` values are stable.",
        version = env!("CARGO_PKG_VERSION"),
        license(name = "Proprietary")
    ),
    components(schemas(ErrorBody, ErrorDetail, FieldError)),
    modifiers(&BearerAuth),
    tags(
        (name = "organizers", description = "Tenants: one Stripe account each"),
        (name = "customers", description = "An organizer's customers, keyed by (email, the organizer's Stripe account)"),
        (name = "billing", description = "An organizer's products, prices and subscriptions, mirrored from Stripe"),
        (name = "erasures", description = "GDPR erasure of a person across every organizer"),
        (name = "audit", description = "Who changed what"),
        (name = "webhooks", description = "Stripe's deliveries (signed by Stripe, no JWT) and their inbox"),
        (name = "operations", description = "Health, readiness and this document"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("JWT".to_string());
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The document for every route `routes::configure` registers.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, document) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes::configure)
        .split_for_parts();
    document
}

pub fn document_yaml() -> String {
    document()
        .to_yaml()
        .expect("the OpenAPI document serializes to YAML")
}
