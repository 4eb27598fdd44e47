//! The Stripe rate budget, counted at the fake Stripe: background work stays within its share,
//! interactive calls keep their headroom during it, 429s fail a run and are reported, and
//! instances on one database register to share the budget.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::customers::customers_path;
use crate::helpers::{backend_tests, spawn_app_with, spawn_two_instances, Backend, TestApp};
use crate::support::fake_stripe::billing::product_json;
use crate::support::fake_stripe::{Fault, RecordedRequest};

backend_tests!(
    background_work_stays_within_its_share_and_interactive_calls_pass_it,
    a_429_that_outlasts_the_retries_fails_the_run_and_is_reported,
    instances_on_one_database_share_the_budget,
);

/// Budget of the throttled app: 20 calls/s, of which background work may use a tenth.
const BUDGET: u32 = 20;
const BACKGROUND_PER_SECOND: usize = 2;

async fn sync(app: &TestApp, org: &Value, kinds: Value) -> String {
    let path = format!("/v1/organizers/{}/sync", org["id"].as_str().unwrap());
    let response = app
        .post(&path, &app.admin_token(), &json!({ "kinds": kinds }))
        .await;
    assert_eq!(response.status(), 202);
    let started: Value = response.json().await.unwrap();
    started["run_id"].as_str().unwrap().to_string()
}

async fn finished(app: &TestApp, org: &Value, run_id: &str) -> Value {
    let path = format!(
        "/v1/organizers/{}/sync-runs/{run_id}",
        org["id"].as_str().unwrap()
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let run = app.get_json(&path, &app.admin_token()).await;
        if !["queued", "running"].contains(&run["status"].as_str().unwrap_or("")) {
            return run;
        }
        assert!(Instant::now() < deadline, "run never ended: {run}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The most requests in any one-second window.
fn busiest_second(requests: &[RecordedRequest]) -> usize {
    let mut times: Vec<Instant> = requests.iter().map(|r| r.at).collect();
    times.sort();
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|t| t.duration_since(times[i]) < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0)
}

async fn background_work_stays_within_its_share_and_interactive_calls_pass_it(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.stripe.budget.per_second = BUDGET;
        s.stripe.budget.background_share = 0.1;
    })
    .await;
    let account = "acct_1BudgetShare00001";
    let org = app.create_organizer("Budget", account).await;
    for n in 0..12 {
        let id = format!("prod_{n:02}");
        app.stripe
            .put_object(Some(account), product_json(&id, &id, true));
    }
    let first = sync(&app, &org, json!(["products"])).await;
    assert_eq!(finished(&app, &org, &first).await["status"], "succeeded");
    // Deleted in Stripe behind the gateway's back: the next run confirms each with a fetch,
    // 12 background calls at 2 a second.
    for n in 0..12 {
        app.stripe
            .remove_object(Some(account), &format!("prod_{n:02}"));
    }
    let started = Instant::now();
    let run = sync(&app, &org, json!(["products"])).await;
    // Meanwhile a client upserts five customers: interactive calls, not queued behind the run.
    for n in 0..5 {
        let response = app
            .post(
                &customers_path(&org),
                &app.admin_token(),
                &json!({ "email": format!("c{n}@example.com") }),
            )
            .await;
        assert_eq!(response.status(), 201);
    }
    let run = finished(&app, &org, &run).await;
    let run_took = started.elapsed();
    assert_eq!(
        run["report"]["kinds"]["products"]["deleted_in_stripe"], 12,
        "{run}"
    );
    let fetches: Vec<RecordedRequest> = app
        .stripe
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/v1/products/"))
        .collect();
    assert_eq!(fetches.len(), 12);
    // Its share, and the three permits it may hold in hand (the background burst).
    assert!(
        busiest_second(&fetches) <= BACKGROUND_PER_SECOND + 3,
        "background calls in one second: {}",
        busiest_second(&fetches)
    );
    // The listing and 12 fetches: 4 at once (the burst), the other 9 spaced at 2 a second, at
    // least 4.5 seconds whatever the machine's speed.
    assert!(run_took >= Duration::from_millis(4_400), "{run_took:?}");
    // The five creates reached Stripe while the run still had fetches to make.
    let creates: Vec<_> = app.stripe.requests_to("POST", "/v1/customers");
    assert_eq!(creates.len(), 5);
    let last_fetch = fetches.iter().map(|r| r.at).max().unwrap();
    assert!(
        creates.iter().all(|r| r.at < last_fetch),
        "an upsert waited behind the run's fetches"
    );
    let all = app.stripe.requests();
    assert!(
        busiest_second(&all) <= BUDGET as usize + 1,
        "calls in one second: {}",
        busiest_second(&all)
    );
}

async fn a_429_that_outlasts_the_retries_fails_the_run_and_is_reported(app: TestApp) {
    let account = "acct_1Budget429000001";
    let org = app.create_organizer("Budget", account).await;
    app.stripe
        .put_object(Some(account), product_json("prod_a", "A", true));
    // Test gateways retry twice: three 429s in a row outlast them.
    app.stripe
        .fail_next_to("GET", "/v1/products", 3, Fault::Status(429));
    let run = sync(&app, &org, json!(["products"])).await;
    let run = finished(&app, &org, &run).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["report"]["rate_limited"], 1, "{run}");
    assert!(run["error"].as_str().unwrap().contains("429"), "{run}");
    // Two 429s are absorbed by the retries: the run succeeds and counts no failure.
    app.stripe
        .fail_next_to("GET", "/v1/products", 2, Fault::Status(429));
    let run = sync(&app, &org, json!(["products"])).await;
    let run = finished(&app, &org, &run).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["report"]["rate_limited"], 0);
}

async fn instances_on_one_database_share_the_budget(backend: Backend) {
    let (first, second) = spawn_two_instances(backend).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    // Each instance beats every 5 s and counts the live ones: both end up taking half.
    while first.limiter.instances() < 2 || second.limiter.instances() < 2 {
        assert!(
            Instant::now() < deadline,
            "the instances never shared the budget"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(first.count_rows("stripe_instances").await, 2);
}
