//! Webhook endpoints as callers manage them: URLs that would reach private addresses are
//! refused when registered, or at the attempt once DNS says so; an organizer manages its own
//! endpoints only, and never sees another's or the platform's.

use serde_json::{json, Value};

use crate::helpers::receiver::Receiver;
use crate::helpers::{backend_tests, error_body, error_fields, TestApp};
use crate::outbound_webhooks::{deliveries, endpoint, id, settle, Customer, ACCOUNT_A, ACCOUNT_B};

backend_tests!(
    urls_reaching_private_addresses_are_refused,
    organizers_manage_only_their_own_endpoints,
);

async fn urls_reaching_private_addresses_are_refused(app: TestApp) {
    let receiver = Receiver::start().await;
    let a = app.create_organizer("A", ACCOUNT_A).await;
    let admin = app.admin_token();
    for url in [
        "http://hooks.example/plain-http",
        "https://10.0.0.1/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://127.0.0.2/hooks",
        "https://[::1]/hooks",
        "https://user:pw@hooks.example/",
        "not a url",
    ] {
        let body = json!({ "url": url, "organizer_id": id(&a) });
        let response = app.post("/v1/webhook-endpoints", &admin, &body).await;
        let body = error_body(response, 422, "validation_failed").await;
        assert_eq!(error_fields(&body), ["url"], "{url}: {body}");
    }
    // A name is judged after DNS, at each attempt: `localhost` resolves to loopback.
    let port = receiver.base.rsplit(':').next().unwrap();
    let rebinding = endpoint(
        &app,
        &admin,
        json!({ "url": format!("https://localhost:{port}/a"), "organizer_id": id(&a) }),
    )
    .await;
    Customer::new(&app, &a, "ana@example.com")
        .await
        .rename(&app, "Ana")
        .await;
    settle(&app).await;
    let log = deliveries(&app, &rebinding).await;
    let error = log[0]["attempt_log"][0]["error"].as_str().unwrap();
    assert!(error.contains("is not a public address"), "{error}");
    assert!(receiver.received().is_empty());
}

async fn organizers_manage_only_their_own_endpoints(app: TestApp) {
    let a = app.create_organizer("A", ACCOUNT_A).await;
    let b = app.create_organizer("B", ACCOUNT_B).await;
    let (token_a, token_b) = (app.organizer_token(id(&a)), app.organizer_token(id(&b)));
    let url = "http://127.0.0.1:9/hooks";
    let own = endpoint(&app, &token_a, json!({ "url": url })).await;
    let platform = endpoint(&app, &app.admin_token(), json!({ "url": url })).await;

    let response = app
        .post(
            "/v1/webhook-endpoints",
            &token_a,
            &json!({ "url": url, "organizer_id": id(&b) }),
        )
        .await;
    error_body(response, 403, "forbidden").await;
    let listed = json!({ "url": url, "organizer_ids": [id(&b)] });
    let response = app.post("/v1/webhook-endpoints", &token_a, &listed).await;
    error_body(response, 403, "forbidden").await;
    let admin = app.admin_token();
    let both = json!({ "url": url, "organizer_id": id(&a), "organizer_ids": [id(&b)] });
    let response = app.post("/v1/webhook-endpoints", &admin, &both).await;
    let body = error_body(response, 422, "validation_failed").await;
    assert_eq!(error_fields(&body), ["organizer_ids"]);
    let unknown = json!({ "url": url, "organizer_ids": [uuid::Uuid::now_v7().to_string()] });
    let response = app.post("/v1/webhook-endpoints", &admin, &unknown).await;
    error_body(response, 404, "organizer_not_found").await;
    let bad =
        json!({ "url": url, "event_types": ["payment.exploded"], "description": "x".repeat(501) });
    let response = app.post("/v1/webhook-endpoints", &token_a, &bad).await;
    let body = error_body(response, 422, "validation_failed").await;
    assert_eq!(error_fields(&body), ["description", "event_types"]);

    for other in [&own, &platform] {
        let path = format!("/v1/webhook-endpoints/{}", id(other));
        if other["organizer_id"].is_null() {
            let response = app.get(&path, &token_a).await;
            error_body(response, 404, "webhook_endpoint_not_found").await;
        }
        let response = app.get(&path, &token_b).await;
        error_body(response, 404, "webhook_endpoint_not_found").await;
        let response = app.delete(&path, &token_b).await;
        error_body(response, 404, "webhook_endpoint_not_found").await;
    }
    let mine = app.get_json("/v1/webhook-endpoints", &token_a).await;
    assert_eq!(mine["data"].as_array().unwrap().len(), 1, "{mine}");
    let everyone = app
        .get_json("/v1/webhook-endpoints", &app.admin_token())
        .await;
    assert_eq!(everyone["data"].as_array().unwrap().len(), 2);
    let response = app.get("/v1/webhook-endpoints/not-an-id", &token_a).await;
    error_body(response, 404, "webhook_endpoint_not_found").await;

    let path = format!("/v1/webhook-endpoints/{}", id(&own));
    let response = app
        .patch(
            &path,
            &token_a,
            &json!({ "description": "tickets", "event_types": ["checkout.completed"] }),
        )
        .await;
    let changed: Value = response.json().await.unwrap();
    assert_eq!(changed["description"], "tickets");
    assert_eq!(changed["event_types"], json!(["checkout.completed"]));
    let response = app.delete(&path, &token_a).await;
    assert_eq!(response.status(), 204);
    let response = app.get(&path, &token_a).await;
    error_body(response, 404, "webhook_endpoint_not_found").await;
}
