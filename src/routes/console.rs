//! The admin console: one page, its script and its style, embedded in the binary (a fresh
//! `cargo run` needs no Node.js). The page holds the admin token in memory and calls the JSON
//! API like any client, so it needs no route of its own beyond these three; it is not part of
//! the API contract (`openapi.yaml`).

use actix_web::http::header;
use actix_web::{get, HttpResponse};

const PAGE: &str = include_str!("../console/index.html");
const SCRIPT: &str = include_str!("../console/console.js");
const STYLE: &str = include_str!("../console/console.css");

/// Only the gateway's own script, style and API: an injected `<script>` or a third-party
/// origin does not run, and no other site may frame the page.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(body)
}

#[get("/admin")]
pub async fn page() -> HttpResponse {
    asset("text/html; charset=utf-8", PAGE)
}

#[get("/admin/console.js")]
pub async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

#[get("/admin/console.css")]
pub async fn style() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE)
}

/// The console's routes, outside the documented API.
pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.service(page).service(script).service(style);
}
