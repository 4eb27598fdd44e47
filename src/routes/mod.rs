//! HTTP routes. Handlers extract, call one service function and map the result; every route
//! is registered through `utoipa_actix_web`, so a handler without an OpenAPI description
//! cannot be served.

// `list_legacy` is deprecated for clients (the OpenAPI document says so), not for the server.
#[allow(deprecated)]
mod audit_events;
mod billing;
pub mod console;
mod customers;
mod erasures;
mod events;
mod health;
mod invoices;
pub mod metrics;
mod onboarding;
mod organizers;
mod payments;
mod subscriptions;
mod sync;
mod webhook_endpoints;
mod webhook_events;
mod webhooks;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Deserializer};
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

pub use health::OpenApiDocument;
pub use webhooks::WebhookBodyLimit;

use crate::error::ApiError;

#[allow(deprecated)]
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(health::openapi_yaml)
        .service(webhooks::receive)
        .service(
            // The router tries routes in this order, a regex match for each path with a
            // parameter: the routes frontends call on every page view come first.
            scope::scope("/v1")
                .service(customers::list)
                .service(customers::get)
                .service(billing::entitlements)
                .service(customers::upsert)
                .service(organizers::create)
                .service(organizers::list)
                .service(organizers::get)
                .service(organizers::update)
                .service(onboarding::create_account)
                .service(onboarding::create_onboarding_link)
                .service(onboarding::create_login_link)
                .service(customers::update)
                .service(customers::remove)
                .service(billing::products)
                .service(billing::subscriptions)
                .service(subscriptions::update)
                .service(subscriptions::cancel)
                .service(subscriptions::preview)
                .service(invoices::list)
                .service(billing::checkout_session)
                .service(payments::create_checkout_session)
                .service(payments::create_payment_intent)
                .service(payments::create_portal_session)
                .service(payments::list_payments)
                .service(payments::get_payment)
                .service(payments::create_refund)
                .service(payments::list_refunds)
                .service(payments::list_disputes)
                .service(events::list)
                .service(webhook_endpoints::create)
                .service(webhook_endpoints::list)
                .service(webhook_endpoints::get)
                .service(webhook_endpoints::update)
                .service(webhook_endpoints::remove)
                .service(webhook_endpoints::rotate_secret)
                .service(webhook_endpoints::list_deliveries)
                .service(webhook_endpoints::replay)
                .service(sync::start)
                .service(sync::list)
                .service(sync::get)
                .service(sync::health)
                .service(erasures::create)
                .service(audit_events::list)
                .service(audit_events::list_legacy)
                .service(webhook_events::list)
                .service(webhook_events::get)
                .service(webhook_events::replay),
        );
}

/// Requests that match no route: 405 when the path exists under another method (with `Allow`
/// listing the methods it serves), else 404.
pub async fn fallback(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let allow = req
        .app_data::<web::Data<ServedMethods>>()
        .and_then(|served| served.allow(req.path()))
        .filter(|_| req.resource_map().has_resource(req.path()));
    if let Some(allow) = allow {
        Err(ApiError::MethodNotAllowed { allow })
    } else {
        Err(ApiError::NotFound {
            code: "route_not_found",
            message: format!("no route for {} {}", req.method(), req.path()),
        })
    }
}

/// The methods each path is served with, read from the OpenAPI document, which `configure`
/// builds from the same handlers it serves, so it cannot drift from them (start-up gives it).
/// actix answers a GET route's HEAD with the fallback too, so HEAD is never listed.
pub struct ServedMethods(Vec<(String, String)>);

impl ServedMethods {
    pub fn of(document: &utoipa::openapi::OpenApi) -> Self {
        Self(
            document
                .paths
                .paths
                .iter()
                .map(|(template, item)| {
                    let methods = [
                        ("GET", item.get.is_some()),
                        ("POST", item.post.is_some()),
                        ("PUT", item.put.is_some()),
                        ("PATCH", item.patch.is_some()),
                        ("DELETE", item.delete.is_some()),
                        ("OPTIONS", item.options.is_some()),
                        ("TRACE", item.trace.is_some()),
                    ];
                    let allow: Vec<&str> = methods
                        .into_iter()
                        .filter_map(|(method, served)| served.then_some(method))
                        .collect();
                    (template.clone(), allow.join(", "))
                })
                .collect(),
        )
    }

    /// The request path's methods, as an `Allow` header value (`GET, POST`); `None` when no
    /// route has the path.
    pub fn allow(&self, path: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(template, _)| matches_template(template, path))
            .map(|(_, allow)| allow.clone())
    }
}

/// `/v1/organizers/{org_id}` matches `/v1/organizers/abc`: a `{parameter}` stands for one
/// non-empty segment, as in actix's routing. (Cheaper than asking the router with
/// `match_pattern`, which tries the app's resource patterns one by one.)
pub(crate) fn matches_template(template: &str, path: &str) -> bool {
    let mut segments = path.split('/');
    template.split('/').all(|expected| {
        segments.next().is_some_and(|segment| {
            if expected.starts_with('{') && expected.ends_with('}') {
                !segment.is_empty()
            } else {
                segment == expected
            }
        })
    }) && segments.next().is_none()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_whole_segments() {
        let template = "/v1/organizers/{org_id}";
        assert!(matches_template(template, "/v1/organizers/abc"));
        assert!(!matches_template(template, "/v1/organizers/"));
        assert!(!matches_template(template, "/v1/organizers"));
        assert!(!matches_template(template, "/v1/organizers/abc/customers"));
        assert!(!matches_template(template, "/v1/organizer/abc"));
        let customers = "/v1/organizers/{org_id}/customers";
        assert!(matches_template(customers, "/v1/organizers/abc/customers"));
        assert!(!matches_template(customers, "/v1/organizers//customers"));
        assert!(!matches_template(
            customers,
            "/v1/organizers/abc/customers/x"
        ));
        assert!(matches_template("/healthz", "/healthz"));
        assert!(!matches_template("/healthz", "/healthz/"));
    }
}
