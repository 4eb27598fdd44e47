//! Waiting for another request's create is bounded, and repeating a request that gave up
//! finishes the create without a second Stripe customer, whether the creator is alive or died.

use std::time::Duration;

use serde_json::{json, Value};

use crate::customers::{customers_path, upsert};
use crate::helpers::{backend_tests, error_body, spawn_app_with, Backend};

backend_tests!(
    a_waiting_upsert_gives_up_after_the_create_wait_and_its_repeat_finds_the_customer,
    a_create_whose_holder_died_is_finished_by_a_repeated_upsert_without_a_second_customer,
);

/// How long test gateways here wait for another request's create.
const CREATE_WAIT_MS: u64 = 300;

/// The 503 a waiter answers with once the create wait is over.
async fn assert_gave_up(response: reqwest::Response) {
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("5"),
        "Retry-After"
    );
    error_body(response, 503, "stripe_unavailable").await;
}

async fn a_waiting_upsert_gives_up_after_the_create_wait_and_its_repeat_finds_the_customer(
    backend: Backend,
) {
    let app = spawn_app_with(backend, |s| s.server.create_wait_ms = CREATE_WAIT_MS).await;
    let org = app.create_organizer("Wait", "acct_1Wait").await;
    let body = json!({ "email": "wait@example.com" });
    let token = app.admin_token();
    let path = customers_path(&org);
    let gate = app.stripe.hold_next("POST", "/v1/customers");
    let creator = app.post(&path, &token, &body);
    let waiter = async {
        gate.arrived().await;
        // The create is in Stripe, held there: this request waits for it, then gives up.
        let asked = std::time::Instant::now();
        let response = app.post(&path, &token, &body).await;
        let waited = asked.elapsed();
        gate.release();
        (response, waited)
    };
    let (created, (gave_up, waited)) = tokio::join!(creator, waiter);
    // It gave up because its wait was over, not for another reason.
    assert!(
        waited >= Duration::from_millis(CREATE_WAIT_MS),
        "{waited:?}"
    );
    assert_gave_up(gave_up).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();

    let (status, repeated) = upsert(&app, &org, body).await;
    assert_eq!(status, 200, "{repeated}");
    assert_eq!(repeated, created);
    assert_eq!(app.stripe.created_customers(Some("acct_1Wait")), 1);
    assert_eq!(app.stripe.requests_to("POST", "/v1/customers").len(), 1);
}

async fn a_create_whose_holder_died_is_finished_by_a_repeated_upsert_without_a_second_customer(
    backend: Backend,
) {
    // One Stripe attempt of at most 2 s: the create lease lasts 4 s.
    let app = spawn_app_with(backend, |s| {
        s.server.create_wait_ms = CREATE_WAIT_MS;
        s.stripe.timeout = Duration::from_secs(2);
        s.stripe.max_retries = 0;
    })
    .await;
    let org = app.create_organizer("Died", "acct_1Died").await;
    let body = json!({ "email": "died@example.com", "name": "Dee" });
    let token = app.admin_token();

    // Another gateway process reserves the customer and sends the create, then dies with the
    // create in Stripe.
    let doomed = app.spawn_process().await;
    let gate = app.stripe.hold_next("POST", "/v1/customers");
    let request = app
        .client
        .post(format!("{}{}", doomed.address, customers_path(&org)))
        .bearer_auth(&token)
        .json(&body)
        .send();
    let orphan = tokio::spawn(request);
    gate.arrived().await;
    drop(doomed);
    assert!(
        orphan.await.unwrap().is_err(),
        "the process died before answering"
    );

    // Its lease is still live: a request waits, then gives up.
    assert_gave_up(app.post(&customers_path(&org), &token, &body).await).await;
    gate.release();

    // Repeating the request takes the create over once the dead holder's lease ends.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let (status, customer) = loop {
        let response = app.post(&customers_path(&org), &token, &body).await;
        if response.status() != 503 {
            let status = response.status().as_u16();
            break (status, response.json::<Value>().await.unwrap());
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still 503 after a minute"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(status, 201, "{customer}");
    assert_eq!(customer["name"], "Dee");
    let in_stripe = app.stripe.customers(Some("acct_1Died"));
    assert_eq!(in_stripe.len(), 1, "{in_stripe:?}");
    assert_eq!(customer["stripe_customer_id"], in_stripe[0]["id"]);
    assert_eq!(app.stripe.created_customers(Some("acct_1Died")), 1);
    // Every create that reached Stripe carried the one idempotency key.
    let keys: Vec<_> = app
        .stripe
        .requests_to("POST", "/v1/customers")
        .into_iter()
        .map(|r| r.idempotency_key)
        .collect();
    assert!(!keys.is_empty());
    assert!(
        keys.iter().all(|key| key.is_some() && *key == keys[0]),
        "{keys:?}"
    );
}
