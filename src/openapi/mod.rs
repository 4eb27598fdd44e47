//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` attributes through the
//! same `routes::configure` that serves them. `openapi.yaml` at the repository root is this
//! document; a test fails when they differ.

pub mod patterns;
mod vocabularies;

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use crate::domain::{DisputeStatus, GatewayEventType, PaymentStatus};
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
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    // The vocabularies only query parameters name, which no body brings into the document.
    components(schemas(
        ErrorBody,
        ErrorDetail,
        FieldError,
        PaymentStatus,
        DisputeStatus,
        GatewayEventType,
        patterns::EventTypeList
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "organizers", description = "Tenants: one Stripe account each"),
        (name = "customers", description = "An organizer's customers, keyed by (email, the organizer's Stripe account)"),
        (name = "billing", description = "An organizer's products, prices and subscriptions, mirrored from Stripe"),
        (name = "payments", description = "Checkout Sessions, PaymentIntents and billing portal sessions on the organizer's own Stripe account"),
        (name = "events", description = "What happened to an organizer's payments, subscriptions and account, in the gateway's words: a feed to pull"),
        (name = "sync", description = "Reconciliation of an organizer's account with Stripe, with drift reports"),
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
    with_idempotency_keys(document)
}

/// Every POST under `/v1` takes an `Idempotency-Key` (the middleware in `idempotency.rs`
/// serves them all), so the header, its answers and `Idempotent-Replayed` are added here, to
/// each such operation, rather than written on every handler.
fn with_idempotency_keys(mut document: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::header::HeaderBuilder;
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::{ObjectBuilder, RefOr, Required, ResponseBuilder, Type};

    let key = ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Makes the request safe to retry: 1 to 255 printable ASCII characters, unique per request (a UUID). \
A structured-field string (`\"...\"`) counts without its quotes. \
A retry with the same key and the same request gets the first answer again, with `Idempotent-Replayed: true`, \
without acting twice. Keys are scoped to the caller (the organizer, or the admins) and kept for 24 hours by default. \
5xx answers are not kept, so a retry after one finishes the work.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                // 1 to 255 printable ASCII characters (HTTP drops spaces at either end), or
                // those in double quotes; `""` is empty.
                .pattern(Some(
                    r#"^(?:"[ -~]{1,255}"|"(?:[ -~]{0,253}[!#-~])?|[!#-~](?:[ -~]{0,253}[!-~])?)$"#,
                ))
                .examples([serde_json::json!("8e03978e-40d5-43e8-bc93-6894a57f9324")]),
        ))
        .build();
    let replayed = HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["true"]))))
        .description(Some("Present when this is the kept answer of an earlier request with the same Idempotency-Key"))
        .build();
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                utoipa::openapi::ContentBuilder::new()
                    .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                        "ErrorBody",
                    ))))
                    .build(),
            )
            .build()
    };
    let extra = [
        ("400", "A malformed Idempotency-Key header (`invalid_idempotency_key`)", false),
        ("409", "A request with this Idempotency-Key is still running (`idempotency_key_in_flight`; retry after `Retry-After`)", true),
        ("422", "This Idempotency-Key was used with another request (`idempotency_key_reused`)", false),
    ];
    for (path, item) in document.paths.paths.iter_mut() {
        let Some(operation) = item.post.as_mut().filter(|_| path.starts_with("/v1/")) else {
            continue;
        };
        operation
            .parameters
            .get_or_insert_with(Vec::new)
            .push(RefOr::T(key.clone()));
        for (status, response) in operation.responses.responses.iter_mut() {
            if let (true, RefOr::T(response)) = (status.starts_with('2'), response) {
                response.headers.insert(
                    "Idempotent-Replayed".to_string(),
                    RefOr::T(replayed.clone()),
                );
            }
        }
        for (status, description, retry_after) in extra {
            let responses = &mut operation.responses.responses;
            match responses.get_mut(status) {
                Some(RefOr::T(existing)) => {
                    existing.description = format!(
                        "{}; or {}",
                        existing.description,
                        description
                            .replacen('A', "a", 1)
                            .replacen("This", "this", 1)
                    );
                    if retry_after && !existing.headers.contains_key("Retry-After") {
                        existing
                            .headers
                            .insert("Retry-After".to_string(), RefOr::T(retry_after_header()));
                    }
                }
                _ => {
                    let mut response = error(description);
                    if retry_after {
                        response
                            .headers
                            .insert("Retry-After".to_string(), RefOr::T(retry_after_header()));
                    }
                    responses.insert(status.to_string(), RefOr::T(response));
                }
            }
        }
    }
    document
}

fn retry_after_header() -> utoipa::openapi::header::Header {
    utoipa::openapi::header::HeaderBuilder::new()
        .schema(Some(
            utoipa::openapi::ObjectBuilder::new()
                .schema_type(utoipa::openapi::Type::Integer)
                .minimum(Some(0)),
        ))
        .description(Some("Seconds to wait before retrying"))
        .build()
}

/// The document with the default fee cap (`openapi`, and `openapi.yaml`).
pub fn document_yaml() -> String {
    document_yaml_with_fee_cap(crate::configuration::DEFAULT_MAX_APPLICATION_FEE_BPS)
}

/// The document a gateway serves: an organizer's `application_fee_bps` at most its
/// `MAX_APPLICATION_FEE_BPS`, so a client generated from it sends what the gateway takes.
pub fn document_yaml_with_fee_cap(cap: u16) -> String {
    document_with_fee_cap(cap)
        .to_yaml()
        .expect("the OpenAPI document serializes to YAML")
}

/// [`document`] with the fee cap stated (see [`document_yaml_with_fee_cap`]).
pub fn document_with_fee_cap(cap: u16) -> utoipa::openapi::OpenApi {
    let mut document = document();
    let mut schemas = document
        .components
        .as_mut()
        .map(|components| &mut components.schemas);
    for name in ["CreateOrganizer", "UpdateOrganizer"] {
        let property = schemas
            .as_deref_mut()
            .and_then(|schemas| schemas.get_mut(name))
            .and_then(|schema| match schema {
                RefOr::T(Schema::Object(object)) => {
                    object.properties.get_mut("application_fee_bps")
                }
                _ => None,
            });
        if let Some(RefOr::T(Schema::Object(fee))) = property {
            fee.maximum = Some(cap.into());
        }
    }
    document
}

#[cfg(test)]
mod tests {
    #[test]
    fn served_methods_come_from_the_handlers() {
        let served = crate::routes::ServedMethods::of(&super::document());
        assert_eq!(served.allow("/v1/organizers").as_deref(), Some("GET, POST"));
        assert_eq!(
            served.allow("/v1/organizers/x/customers/y").as_deref(),
            Some("GET, PATCH, DELETE")
        );
        assert_eq!(served.allow("/v1/nothing"), None);
    }
}
