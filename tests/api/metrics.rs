//! `GET /metrics`: Prometheus' text format, moved by real requests through the gateway, with
//! labels from bounded sets only. The recorder is one per process and the suite's gateways
//! run in parallel, so every check is "went up by at least", never an exact value.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::webhooks::{event, signature};
use crate::helpers::{backend_tests, spawn_app_with, Backend, TestApp};
use crate::support::fake_stripe::billing::product_json;
use crate::support::fake_stripe::Fault;
use crate::sync::run_once;

backend_tests!(
    requests_move_the_counters_and_labels_stay_bounded,
    metrics_can_move_to_their_own_listener,
    a_worker_process_serves_its_own_metrics,
);

const ACCOUNT: &str = "acct_1MetricsMoved01";

/// Every sample of a scrape: `name{labels}` -> value.
pub(crate) async fn scrape(app: &TestApp, address: &str) -> (HashMap<String, f64>, String) {
    let response = app
        .client
        .get(format!("{address}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = response.text().await.unwrap();
    let samples = text
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample is `series value`");
            (
                series.to_string(),
                value.parse().expect("a sample's value is a number"),
            )
        })
        .collect();
    (samples, text)
}

fn value(samples: &HashMap<String, f64>, series: &str) -> f64 {
    samples.get(series).copied().unwrap_or(0.0)
}

/// Asserts `series` went up by at least `by` between the scrapes.
pub(crate) fn moved(
    before: &HashMap<String, f64>,
    after: &HashMap<String, f64>,
    series: &str,
    by: f64,
) {
    let (was, is) = (value(before, series), value(after, series));
    assert!(
        is - was >= by,
        "{series}: {was} -> {is}, expected +{by} at least"
    );
}

async fn requests_move_the_counters_and_labels_stay_bounded(app: TestApp) {
    let (before, _) = scrape(&app, &app.address).await;

    let org = app.create_organizer("Metrics", ACCOUNT).await;
    let org_id = org["id"].as_str().unwrap();
    // An upsert whose Stripe create is rate-limited once, then retried.
    app.stripe
        .fail_next_to("POST", "/v1/customers", 1, Fault::Status(429));
    let upsert = app
        .post(
            &format!("/v1/organizers/{org_id}/customers"),
            &app.admin_token(),
            &json!({"email": "counted@example.com"}),
        )
        .await;
    assert_eq!(upsert.status(), 201);
    let missing = app
        .get(
            &format!("/v1/organizers/{org_id}/customers/{}", uuid::Uuid::nil()),
            &app.admin_token(),
        )
        .await;
    assert_eq!(missing.status(), 404);
    // A delivery processed by the workers, and a forged one.
    app.stripe.put_object(
        Some(ACCOUNT),
        product_json("prod_1Counted", "Counted", true),
    );
    let sent = event(
        "product.created",
        Some(ACCOUNT),
        &product_json("prod_1Counted", "Counted", true),
    );
    app.deliver(&sent).await;
    assert_eq!(
        app.settled(sent["id"].as_str().unwrap()).await["status"],
        "processed"
    );
    let body = serde_json::to_vec(&sent).unwrap();
    let forged = app
        .deliver_raw(body, Some(signature(&["whsec_forged"], b"other")))
        .await;
    assert_eq!(forged.status(), 400);
    let run = run_once(&app, &org, json!({"kinds": ["products"]})).await;
    assert_eq!(run["status"], "succeeded", "{run}");

    // A worker counts its event once the event is settled, just after the inbox says so.
    let processed = r#"gateway_webhook_events_total{outcome="processed"}"#;
    let deadline = Instant::now() + Duration::from_secs(10);
    while value(&scrape(&app, &app.address).await.0, processed) <= value(&before, processed) {
        assert!(Instant::now() < deadline, "{processed} never moved");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (after, text) = scrape(&app, &app.address).await;
    moved(
        &before,
        &after,
        r#"gateway_http_requests_total{route="/v1/organizers/{org_id}/customers",method="POST",status="2xx"}"#,
        1.0,
    );
    moved(
        &before,
        &after,
        r#"gateway_http_requests_total{route="/v1/organizers/{org_id}/customers/{customer_id}",method="GET",status="4xx"}"#,
        1.0,
    );
    moved(
        &before,
        &after,
        r#"gateway_http_request_duration_seconds_count{route="/v1/organizers",method="POST",status="2xx"}"#,
        1.0,
    );
    moved(
        &before,
        &after,
        r#"gateway_stripe_requests_total{operation="POST /v1/customers",outcome="429"}"#,
        1.0,
    );
    moved(
        &before,
        &after,
        r#"gateway_stripe_requests_total{operation="POST /v1/customers",outcome="ok"}"#,
        1.0,
    );
    moved(
        &before,
        &after,
        r#"gateway_stripe_retries_total{operation="POST /v1/customers"}"#,
        1.0,
    );
    moved(
        &before,
        &after,
        r#"gateway_stripe_requests_total{operation="GET /v1/accounts/{id}",outcome="ok"}"#,
        1.0,
    );
    moved(
        &before,
        &after,
        r#"gateway_stripe_limiter_wait_seconds_count{priority="interactive"}"#,
        3.0,
    );
    moved(
        &before,
        &after,
        r#"gateway_stripe_limiter_wait_seconds_count{priority="background"}"#,
        1.0,
    );
    moved(
        &before,
        &after,
        r#"gateway_webhook_deliveries_total{outcome="accepted"}"#,
        1.0,
    );
    moved(
        &before,
        &after,
        r#"gateway_webhook_deliveries_total{outcome="invalid_signature"}"#,
        1.0,
    );
    moved(
        &before,
        &after,
        r#"gateway_sync_runs_total{status="succeeded"}"#,
        1.0,
    );
    moved(
        &before,
        &after,
        r#"gateway_db_pool_wait_seconds_count{pool="shared"}"#,
        5.0,
    );
    // The accepted delivery went through a committer, whose wait is labelled apart (its own
    // connections on PostgreSQL, the shared ones on SQLite).
    moved(
        &before,
        &after,
        r#"gateway_db_pool_wait_seconds_count{pool="committers"}"#,
        1.0,
    );
    for gauge in [
        "gateway_webhook_inbox_pending",
        "gateway_webhook_inbox_oldest_pending_seconds",
        "gateway_webhook_inbox_dead",
        r#"gateway_db_pool_connections{state="idle"}"#,
        "gateway_db_pool_max",
    ] {
        assert!(after.contains_key(gauge), "{gauge} missing from:\n{text}");
    }
    // No tenant, customer or event in any label.
    for private in [
        ACCOUNT,
        org_id,
        "counted@example.com",
        "prod_1Counted",
        sent["id"].as_str().unwrap(),
    ] {
        assert!(!text.contains(private), "{private} is in the metrics");
    }
}

async fn metrics_can_move_to_their_own_listener(backend: Backend) {
    let app = spawn_app_with(backend, |settings| {
        settings.server.metrics_bind_address = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let main = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(
        main.status(),
        404,
        "the main listener no longer serves them"
    );
    let own = app.metrics_address.clone().expect("a metrics listener");
    let (samples, _) = scrape(&app, &own).await;
    assert!(samples
        .keys()
        .any(|series| series.starts_with("gateway_http_requests_total")));
    let other: Value = app.get_json("/v1/organizers", &app.admin_token()).await;
    assert!(other["data"].is_array());
}

async fn a_worker_process_serves_its_own_metrics(backend: Backend) {
    let app = spawn_app_with(backend, |settings| settings.worker.run_workers = false).await;
    app.create_organizer("Worker metrics", ACCOUNT).await;
    let product = product_json("prod_1WorkerCounted", "Counted", true);
    app.stripe.put_object(Some(ACCOUNT), product.clone());
    let worker = app
        .spawn_worker_process_with(
            60,
            &[("METRICS_BIND_ADDRESS", "127.0.0.1:0")],
            "metrics listening",
        )
        .await;
    let sent = event("product.created", Some(ACCOUNT), &product);
    app.deliver(&sent).await;
    assert_eq!(
        app.settled(sent["id"].as_str().unwrap()).await["status"],
        "processed"
    );

    // Its own process: the counts are exactly its work. It counts the event just after the
    // inbox says it is settled.
    let processed = r#"gateway_webhook_events_total{outcome="processed"}"#;
    let deadline = Instant::now() + Duration::from_secs(10);
    let samples = loop {
        let (samples, _) = scrape(&app, &worker.address).await;
        if value(&samples, processed) >= 1.0 {
            break samples;
        }
        assert!(Instant::now() < deadline, "{processed} never moved");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(value(&samples, processed), 1.0);
    let fetched =
        r#"gateway_stripe_requests_total{operation="GET /v1/products/{id}",outcome="ok"}"#;
    assert_eq!(value(&samples, fetched), 1.0);
}
