//! `GET /metrics`: every metric in Prometheus' text format, with the pool's and the inbox's
//! gauges read now. Outside the documented API (Prometheus reads text, not JSON), on the API's
//! listener or on `METRICS_BIND_ADDRESS`'s own. Carries no tenant data and no secrets.

use actix_web::{get, web, HttpResponse};

use crate::services::webhooks::admin;
use crate::services::AppState;
use crate::telemetry::metrics;

#[get("/metrics")]
pub async fn scrape(state: web::Data<AppState>) -> HttpResponse {
    let pool = state.db.pool_state();
    metrics::db_pool(pool.idle, pool.in_use, pool.max);
    match admin::backlog(&state).await {
        Ok((pending, oldest, dead)) => metrics::inbox_backlog(pending, oldest, dead),
        // The other metrics still say what they know; the inbox gauges keep their last value.
        Err(error) => tracing::warn!(%error, "metrics: the inbox could not be read"),
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics::render())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(scrape);
}
