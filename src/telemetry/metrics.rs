//! Prometheus metrics. Code records through the `metrics` facade where things happen; the
//! exporter's recorder keeps them and `GET /metrics` (`routes/metrics.rs`) renders them in
//! Prometheus' text format, with the gauges read from the database and the pool at scrape time.
//! The Stripe client's and the pool's own metrics are recorded where they happen
//! (`stripe/metrics.rs`, `db/mod.rs`), by the names described here.
//!
//! Label values come from small fixed sets (route templates, Stripe operations with ids
//! replaced by `{id}`, outcomes, kinds): never a customer, an event or an account. Per-account
//! detail is in `GET /v1/admin/sync-health`.

use std::sync::OnceLock;
use std::time::Duration;

use ::metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Label,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Histogram buckets (seconds) for every `*_seconds` metric: from a fast read to a slow
/// Stripe call with retries.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first use: every gateway a process builds (tests
/// build many) records into it.
pub fn recorder() -> &'static PrometheusHandle {
    RECORDER.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
            .expect("the buckets are not empty")
            .install_recorder()
            .expect("the gateway installs the only metrics recorder");
        describe();
        handle
    })
}

fn describe() {
    describe_counter!(
        "gateway_http_requests_total",
        "HTTP requests answered, by route template, method and status class"
    );
    describe_histogram!(
        "gateway_http_request_duration_seconds",
        "Time to answer an HTTP request"
    );
    describe_counter!(
        "gateway_stripe_requests_total",
        "Attempts of Stripe calls, by operation and outcome (ok, 4xx, 429, 5xx, timeout, error)"
    );
    describe_histogram!(
        "gateway_stripe_request_duration_seconds",
        "Time of one attempt of a Stripe call"
    );
    describe_counter!(
        "gateway_stripe_retries_total",
        "Stripe calls attempted again after a transient failure"
    );
    describe_histogram!(
        "gateway_stripe_limiter_wait_seconds",
        "Time a Stripe call waited for a permit of the rate budget, by priority"
    );
    describe_counter!(
        "gateway_webhook_deliveries_total",
        "Webhook deliveries: accepted, duplicate, or the error code they were refused with"
    );
    describe_gauge!(
        "gateway_webhook_inbox_pending",
        "Inbox events waiting to be processed (at scrape time)"
    );
    describe_gauge!(
        "gateway_webhook_inbox_oldest_pending_seconds",
        "Age of the oldest event waiting (0 when none)"
    );
    describe_gauge!("gateway_webhook_inbox_dead", "Dead-lettered inbox events");
    describe_counter!(
        "gateway_webhook_events_total",
        "Inbox events handled by this process's workers: processed, failed (to be retried), dead"
    );
    describe_counter!(
        "gateway_sync_runs_total",
        "Reconciliation runs finished, by status"
    );
    describe_counter!(
        "gateway_sync_drift_total",
        "Drift found by reconciliation runs, by object kind and finding"
    );
    describe_gauge!(
        "gateway_db_pool_connections",
        "Pooled database connections, by state (idle, in_use)"
    );
    describe_gauge!("gateway_db_pool_max", "Most pooled database connections");
    describe_histogram!(
        "gateway_db_pool_wait_seconds",
        "Time database work waited for a pooled connection"
    );
    describe_counter!(
        "gateway_db_pool_timeouts_total",
        "Database work that found no connection in time (503 database_unavailable)"
    );
}

/// `2xx`, `4xx`, ...: the status class label.
fn class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// The method label: a static name, so that labelling a request allocates nothing for it.
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "PUT" => "PUT",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// One answered HTTP request; `route` is the matched template (`None`: no route matched).
pub fn http_request(route: Option<String>, method: &str, status: u16, took: Duration) {
    // Built once for both metrics: only the route is an owned string.
    let labels = vec![
        Label::new("route", route.unwrap_or_else(|| "unmatched".to_string())),
        Label::from_static_parts("method", method_label(method)),
        Label::from_static_parts("status", class(status)),
    ];
    histogram!("gateway_http_request_duration_seconds", labels.clone()).record(took);
    counter!("gateway_http_requests_total", labels).increment(1);
}

/// A webhook delivery: `accepted`, `duplicate`, or the code of the error that refused it.
pub fn webhook_delivery(outcome: &'static str) {
    counter!("gateway_webhook_deliveries_total", "outcome" => outcome).increment(1);
}

/// An inbox event handled by a worker: `processed`, `failed` or `dead`.
pub fn webhook_event(outcome: &'static str) {
    counter!("gateway_webhook_events_total", "outcome" => outcome).increment(1);
}

/// A finished reconciliation run: `succeeded`, `failed` or `skipped`.
pub fn sync_run(status: &str) {
    counter!("gateway_sync_runs_total", "status" => status.to_string()).increment(1);
}

/// Drift a run found in one kind: `missing`, `different` or `deleted_in_stripe`.
pub fn sync_drift(kind: &str, finding: &'static str, count: u64) {
    counter!("gateway_sync_drift_total", "kind" => kind.to_string(), "finding" => finding)
        .increment(count);
}

/// The pool's connections now, as gauges (read when `GET /metrics` is scraped).
pub fn db_pool(idle: f64, in_use: f64, max: f64) {
    gauge!("gateway_db_pool_connections", "state" => "idle").set(idle);
    gauge!("gateway_db_pool_connections", "state" => "in_use").set(in_use);
    gauge!("gateway_db_pool_max").set(max);
}

/// The inbox's backlog now, as gauges (read when `GET /metrics` is scraped).
pub fn inbox_backlog(pending: i64, oldest_pending_seconds: f64, dead: i64) {
    gauge!("gateway_webhook_inbox_pending").set(pending as f64);
    gauge!("gateway_webhook_inbox_oldest_pending_seconds").set(oldest_pending_seconds);
    gauge!("gateway_webhook_inbox_dead").set(dead as f64);
}

/// Every metric in Prometheus' text format: what `GET /metrics` answers.
pub fn render() -> String {
    recorder().render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_fall_in_their_class() {
        assert_eq!(class(204), "2xx");
        assert_eq!(class(429), "4xx");
        assert_eq!(class(503), "5xx");
    }
}
