//! What clients send that the gateway must neither lose nor half-apply: repeated JSON keys,
//! and metadata within Stripe's limit of keys per customer, with removal.

use reqwest::header::CONTENT_TYPE;
use serde_json::{json, Map, Value};

use crate::customers::{customers_path, find_by_email, upsert};
use crate::helpers::{backend_tests, error_body, TestApp};

/// `n` metadata keys `prefix0..prefix{n-1}`.
fn keys(prefix: &str, n: usize) -> Value {
    Value::Object(
        (0..n)
            .map(|i| (format!("{prefix}{i}"), json!("v")))
            .collect::<Map<_, _>>(),
    )
}

backend_tests!(
    a_field_sent_twice_is_refused_rather_than_half_read,
    metadata_stays_within_stripes_limit_and_keys_can_be_removed,
);

async fn a_field_sent_twice_is_refused_rather_than_half_read(app: TestApp) {
    let org = app.create_organizer("Twice", "acct_1Twice").await;
    let response = app
        .client
        .post(format!("{}{}", app.address, customers_path(&org)))
        .bearer_auth(app.admin_token())
        .header(CONTENT_TYPE, "application/json")
        .body(r#"{"email": "first@example.com", "email": "second@example.com"}"#)
        .send()
        .await
        .unwrap();
    let body = error_body(response, 422, "validation_failed").await;
    assert_eq!(body["error"]["fields"][0]["field"], "email", "{body}");
    assert!(app.stripe.requests_to("POST", "/v1/customers").is_empty());
    assert!(find_by_email(&app, &org, "second@example.com")
        .await
        .is_empty());
}

async fn metadata_stays_within_stripes_limit_and_keys_can_be_removed(app: TestApp) {
    let org = app.create_organizer("Meta", "acct_1Meta").await;
    let (status, customer) = upsert(
        &app,
        &org,
        json!({ "email": "meta@example.com", "metadata": keys("a", 48) }),
    )
    .await;
    assert_eq!(status, 201, "{customer}");
    assert_eq!(customer["metadata"].as_object().unwrap().len(), 48);
    let error = error_body(
        app.post(
            &customers_path(&org),
            &app.admin_token(),
            &json!({ "email": "meta@example.com", "metadata": keys("a", 49) }),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error["error"]["fields"][0]["field"], "metadata");

    // One more key would be 49 in Stripe: refused before Stripe is asked.
    let updates = app
        .stripe
        .requests_to(
            "POST",
            &format!(
                "/v1/customers/{}",
                customer["stripe_customer_id"].as_str().unwrap()
            ),
        )
        .len();
    let error = error_body(
        app.post(
            &customers_path(&org),
            &app.admin_token(),
            &json!({ "email": "meta@example.com", "metadata": { "extra": "1" } }),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error["error"]["fields"][0]["field"], "metadata", "{error}");
    assert!(
        error["error"]["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("49"),
        "{error}"
    );

    // Removing one makes room for it, in one upsert.
    let (status, changed) = upsert(
        &app,
        &org,
        json!({ "email": "meta@example.com", "metadata": { "a0": "", "extra": "1" } }),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    let metadata = changed["metadata"].as_object().unwrap();
    assert_eq!(metadata.len(), 48);
    assert!(
        !metadata.contains_key("a0") && metadata["extra"] == "1",
        "{changed}"
    );
    let stripe = app.stripe.customers(Some("acct_1Meta"))[0].clone();
    assert_eq!(
        stripe["metadata"].as_object().unwrap().len(),
        50,
        "48 of the client's and the gateway's 2"
    );
    assert!(stripe["metadata"].get("a0").is_none());
    assert_eq!(
        app.stripe
            .requests_to(
                "POST",
                &format!(
                    "/v1/customers/{}",
                    customer["stripe_customer_id"].as_str().unwrap()
                )
            )
            .len(),
        updates + 1
    );

    // Removing a key the customer does not have changes nothing and calls nobody.
    let (status, same) = upsert(
        &app,
        &org,
        json!({ "email": "meta@example.com", "metadata": { "never": "" } }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(same, changed);
    assert_eq!(
        app.stripe
            .requests_to(
                "POST",
                &format!(
                    "/v1/customers/{}",
                    customer["stripe_customer_id"].as_str().unwrap()
                )
            )
            .len(),
        updates + 1
    );
    // On a new customer, an empty value sets nothing.
    let (status, fresh) = upsert(
        &app,
        &org,
        json!({ "email": "fresh@example.com", "metadata": { "gone": "", "kept": "1" } }),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(fresh["metadata"], json!({ "kept": "1" }));
}
