//! Bad input of every kind gets a 4xx with the one error shape, never a 500 or a dropped connection.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{backend_tests, error_body, TestApp, MAX_BODY_BYTES};

backend_tests!(
    malformed_json_is_a_400,
    a_body_that_is_not_json_is_a_415,
    an_oversized_body_is_a_413,
    a_json_array_or_scalar_body_is_a_field_error,
    unknown_routes_are_a_json_404,
    a_known_route_with_another_method_is_a_405,
    a_server_error_body_stays_opaque,
    ids_no_stripe_object_can_have_are_not_found,
);

async fn malformed_json_is_a_400(app: TestApp) {
    for body in ["{\"name\": ", "not json", "", "{\"name\":\"a\"} {}"] {
        let response = app
            .client
            .post(format!("{}/v1/organizers", app.address))
            .bearer_auth(app.admin_token())
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        error_body(response, 400, "malformed_json").await;
    }
}

async fn a_body_that_is_not_json_is_a_415(app: TestApp) {
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut request = app
            .client
            .post(format!("{}/v1/organizers", app.address))
            .bearer_auth(app.admin_token())
            .body(r#"{"name":"A","stripe_account_id":"acct_1A"}"#);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        error_body(request.send().await.unwrap(), 415, "unsupported_media_type").await;
    }
    // A charset parameter is fine.
    app.stripe.add_connected_account("acct_1Charset");
    let response = app
        .client
        .post(format!("{}/v1/organizers", app.address))
        .bearer_auth(app.admin_token())
        .header("content-type", "application/json; charset=utf-8")
        .body(r#"{"name":"A","stripe_account_id":"acct_1Charset"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

async fn an_oversized_body_is_a_413(app: TestApp) {
    let huge = json!({ "name": "x".repeat(MAX_BODY_BYTES), "stripe_account_id": "acct_1Big" });
    let response = app.post("/v1/organizers", &app.admin_token(), &huge).await;
    let body = error_body(response, 413, "payload_too_large").await;
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains(&MAX_BODY_BYTES.to_string()));
    assert!(app.stripe.requests().is_empty());
}

async fn a_json_array_or_scalar_body_is_a_field_error(app: TestApp) {
    for body in [json!([1, 2]), json!("text"), json!(null)] {
        let response = app.post("/v1/organizers", &app.admin_token(), &body).await;
        let error = error_body(response, 422, "validation_failed").await;
        assert_eq!(error["error"]["fields"][0]["field"], "body");
    }
}

async fn unknown_routes_are_a_json_404(app: TestApp) {
    for path in ["/nope", "/v1", "/v1/organizers/x/y", "/v2/organizers"] {
        let response = app
            .request(Method::GET, path, Some(&app.admin_token()), None)
            .await;
        error_body(response, 404, "route_not_found").await;
    }
}

async fn a_known_route_with_another_method_is_a_405(app: TestApp) {
    let id = uuid::Uuid::now_v7();
    for (method, path) in [
        (Method::DELETE, "/v1/organizers".to_string()),
        (Method::PUT, format!("/v1/organizers/{id}")),
        (Method::POST, "/healthz".to_string()),
    ] {
        let response = app
            .request(method, &path, Some(&app.admin_token()), None)
            .await;
        error_body(response, 405, "method_not_allowed").await;
    }
}

async fn a_server_error_body_stays_opaque(app: TestApp) {
    // Breaking the database under a running gateway makes the next query fail.
    let organizer = app.create_organizer("Doomed", "acct_1Opaque").await;
    break_database(&app).await;
    let response = app
        .get(
            &format!("/v1/organizers/{}", organizer["id"].as_str().unwrap()),
            &app.admin_token(),
        )
        .await;
    let body = error_body(response, 500, "internal_error").await;
    assert_eq!(body["error"]["message"], "internal error");
    let text = body.to_string().to_lowercase();
    assert!(
        !text.contains("organizers") && !text.contains("table") && !text.contains("sql"),
        "{body}"
    );
}

/// Renames the organizers table behind the gateway's back (waiting, on SQLite, for a write
/// the gateway's background work may hold).
async fn break_database(app: &crate::helpers::TestApp) {
    let statement = "ALTER TABLE organizers RENAME TO organizers_gone";
    app.execute_sql(statement, statement).await;
}

/// A NUL or a space in a Stripe id names nothing: 404, never a database error (PostgreSQL
/// refuses a NUL in text).
async fn ids_no_stripe_object_can_have_are_not_found(app: TestApp) {
    let org = app.create_organizer("Ids", "acct_1Ids").await;
    let token = app.admin_token();
    for id in ["evt_%00x", "evt%20x", "%C3%A9vt"] {
        let path = format!("/v1/admin/webhook-events/{id}");
        let response = app.get(&path, &token).await;
        error_body(response, 404, "webhook_event_not_found").await;
        let response = app
            .post(&format!("{path}/replay"), &token, &json!({}))
            .await;
        error_body(response, 404, "webhook_event_not_found").await;
        let path = format!(
            "/v1/organizers/{}/checkout-sessions/cs_{id}",
            org["id"].as_str().unwrap()
        );
        let response = app.get(&path, &token).await;
        error_body(response, 404, "checkout_session_not_found").await;
    }
}
