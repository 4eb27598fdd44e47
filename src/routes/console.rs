//! The admin console: one page, its scripts (ES modules importing each other as
//! `/admin/<name>.js`) and its style, embedded in the binary (a fresh `cargo run` needs no
//! Node.js, and there is no build step). The page holds the admin token in memory and calls the
//! JSON API like any client, so it needs no route of its own beyond `GET /admin` and
//! `GET /admin/{file}` for the files in `ASSETS`; it is not part of the API contract
//! (`openapi.yaml`).

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};

use crate::error::ApiError;

const PAGE: &str = include_str!("../console/index.html");

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// A file of `src/console/` as an `ASSETS` entry.
macro_rules! embed {
    ($name:literal, $content_type:expr) => {
        (
            $name,
            $content_type,
            include_str!(concat!("../console/", $name)),
        )
    };
}

/// What `GET /admin/{file}` serves: file name, content type, body. `console.js` is the entry
/// point the page loads; it imports the other modules.
const ASSETS: &[(&str, &str, &str)] = &[
    embed!("console.css", CSS),
    embed!("console.js", JAVASCRIPT),
    embed!("dom.js", JAVASCRIPT),
    embed!("api.js", JAVASCRIPT),
    embed!("organizers.js", JAVASCRIPT),
    embed!("dead-letters.js", JAVASCRIPT),
    embed!("sync.js", JAVASCRIPT),
    embed!("audit.js", JAVASCRIPT),
    embed!("app-webhooks.js", JAVASCRIPT),
];

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

/// One of `ASSETS`; any other name gets the same 404 as a path no route serves.
#[get("/admin/{file}")]
pub async fn file(name: web::Path<String>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    match ASSETS.iter().find(|(known, _, _)| *known == name.as_str()) {
        Some(&(_, content_type, body)) => Ok(asset(content_type, body)),
        None => super::fallback(req).await,
    }
}

/// The console's routes, outside the documented API.
pub fn configure(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.service(page).service(file);
}
