//! Customers when Stripe fails or changes behind the gateway's back: a customer deleted in
//! Stripe is recreated, outages and timeouts are retried then reported, and Stripe's refusal
//! of the data is the client's error.

use serde_json::{json, Value};

use crate::customers::{customer_path, customers_path, find_by_email, upsert};
use crate::helpers::{
    backend_tests, error_body, short_stripe_timeout, spawn_app_with, Backend, TestApp, STALL,
};
use crate::support::fake_stripe::Fault;

backend_tests!(
    a_customer_deleted_in_stripe_is_recreated_by_the_next_upsert,
    stripe_outages_are_retried_then_reported_and_store_nothing,
    stripe_refusing_the_data_is_a_client_error_with_stripes_message,
);

async fn a_customer_deleted_in_stripe_is_recreated_by_the_next_upsert(app: TestApp) {
    let org = app.create_organizer("Heal", "acct_1Heal").await;
    let (_, customer) = upsert(
        &app,
        &org,
        json!({ "email": "zombie@example.com", "name": "Zed" }),
    )
    .await;
    let old_stripe_id = customer["stripe_customer_id"].as_str().unwrap().to_string();
    app.stripe
        .delete_customer(Some("acct_1Heal"), &old_stripe_id);

    // Using it finds out: Stripe answers 404.
    let path = customer_path(&org, &customer);
    let body = error_body(
        app.patch(&path, &app.admin_token(), &json!({ "name": "Zoe" }))
            .await,
        404,
        "customer_not_found",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("deleted in Stripe"),
        "{body}"
    );

    // The next upsert makes a new Stripe customer for the same gateway customer.
    let (status, healed) = upsert(&app, &org, json!({ "email": "zombie@example.com" })).await;
    assert_eq!(status, 200, "{healed}");
    assert_eq!(healed["id"], customer["id"]);
    assert_ne!(healed["stripe_customer_id"], customer["stripe_customer_id"]);
    assert_eq!(healed["name"], "Zed");
    let live = app.stripe.customers(Some("acct_1Heal"));
    assert_eq!(live.len(), 1);
    assert_eq!(live[0]["id"], healed["stripe_customer_id"]);
    assert_eq!(live[0]["metadata"]["gateway_customer_id"], customer["id"]);
    let fetched: Value = app.get_json(&path, &app.admin_token()).await;
    assert_eq!(fetched, healed);

    // An upsert with new details heals in one go, too.
    app.stripe.delete_customer(
        Some("acct_1Heal"),
        healed["stripe_customer_id"].as_str().unwrap(),
    );
    let (status, again) = upsert(
        &app,
        &org,
        json!({ "email": "zombie@example.com", "name": "Zoe" }),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["id"], customer["id"]);
    assert_eq!(again["name"], "Zoe");
    assert_eq!(app.stripe.customers(Some("acct_1Heal")).len(), 1);
    assert_eq!(app.stripe.created_customers(Some("acct_1Heal")), 3);
}

async fn stripe_outages_are_retried_then_reported_and_store_nothing(backend: Backend) {
    // About Stripe calls timing out: a short timeout, and stalls far longer than it.
    let app = spawn_app_with(backend, short_stripe_timeout).await;
    let org = app.create_organizer("Flaky", "acct_1Flaky").await;
    // One failure is absorbed by the retries.
    app.stripe
        .fail_next_to("POST", "/v1/customers", 1, Fault::Status(500));
    let (status, first) = upsert(&app, &org, json!({ "email": "retried@example.com" })).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(app.stripe.created_customers(Some("acct_1Flaky")), 1);

    // Failures past the retries: 503 with Retry-After, no row claims a customer.
    app.stripe
        .fail_next_to("POST", "/v1/customers", 3, Fault::Status(429));
    let response = app
        .post(
            &customers_path(&org),
            &app.admin_token(),
            &json!({ "email": "later@example.com" }),
        )
        .await;
    assert_eq!(response.headers()["retry-after"], "5");
    error_body(response, 503, "stripe_unavailable").await;
    assert_eq!(
        app.stripe
            .requests_to("POST", "/v1/customers")
            .iter()
            .filter(|r| r.fault == Some(Fault::Status(429)))
            .count(),
        3
    );
    assert!(find_by_email(&app, &org, "later@example.com")
        .await
        .is_empty());
    assert_eq!(app.stripe.created_customers(Some("acct_1Flaky")), 1);

    // Timeouts after Stripe acted: the retry replays the same create instead of a second.
    app.stripe
        .fail_next_to("POST", "/v1/customers", 3, Fault::StallAfterApply(STALL));
    let response = app
        .post(
            &customers_path(&org),
            &app.admin_token(),
            &json!({ "email": "later@example.com" }),
        )
        .await;
    error_body(response, 503, "stripe_unavailable").await;
    assert!(find_by_email(&app, &org, "later@example.com")
        .await
        .is_empty());
    assert_eq!(
        app.stripe.created_customers(Some("acct_1Flaky")),
        2,
        "one customer, made by the first attempt"
    );

    // Stripe is back: the next upsert finishes that customer, not a new one.
    let (status, done) = upsert(&app, &org, json!({ "email": "later@example.com" })).await;
    assert_eq!(status, 201, "{done}");
    assert_eq!(app.stripe.created_customers(Some("acct_1Flaky")), 2);
    assert_eq!(
        app.stripe
            .customers(Some("acct_1Flaky"))
            .iter()
            .filter(|c| c["email"] == "later@example.com")
            .count(),
        1
    );
    assert_eq!(
        find_by_email(&app, &org, "later@example.com").await,
        vec![done]
    );

    // Stripe's refusal to retry is 502.
    app.stripe
        .fail_next_to("POST", "/v1/customers", 1, Fault::StatusNoRetry(500));
    error_body(
        app.post(
            &customers_path(&org),
            &app.admin_token(),
            &json!({ "email": "no@example.com" }),
        )
        .await,
        502,
        "stripe_error",
    )
    .await;
    assert!(find_by_email(&app, &org, "no@example.com").await.is_empty());
}

async fn stripe_refusing_the_data_is_a_client_error_with_stripes_message(app: TestApp) {
    let org = app.create_organizer("Picky", "acct_1Picky").await;
    app.stripe.fail_next_to(
        "POST",
        "/v1/customers",
        1,
        Fault::InvalidEmail("Invalid email address: ana@exa-mple.com"),
    );
    let response = app
        .post(
            &customers_path(&org),
            &app.admin_token(),
            &json!({ "email": "ana@exa-mple.com" }),
        )
        .await;
    let body = error_body(response, 422, "stripe_invalid_request").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Invalid email address"),
        "{body}"
    );
    assert!(find_by_email(&app, &org, "ana@exa-mple.com")
        .await
        .is_empty());
    assert_eq!(app.stripe.created_customers(Some("acct_1Picky")), 0);
    // Nothing was kept that blocks a corrected request.
    let (status, _) = upsert(&app, &org, json!({ "email": "ana@exa-mple.com" })).await;
    assert_eq!(status, 201);
}
