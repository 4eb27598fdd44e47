//! `Idempotency-Key` on POSTs that existed before it (customers upsert, organizers): replays,
//! conflicting and in-flight keys, caller scopes, what is kept, and the purge.

use reqwest::Response;
use serde_json::{json, Value};

use crate::customers::{customers_path, stripe_path, upsert};
use crate::helpers::{backend_tests, error_body, spawn_app_with, Backend, TestApp};
use crate::support::fake_stripe::Fault;

backend_tests!(
    a_retry_with_the_same_key_replays_the_first_answer,
    the_same_key_with_another_request_is_refused,
    a_retry_while_the_first_runs_is_told_to_wait,
    keys_of_different_callers_never_meet,
    malformed_keys_are_refused_and_nothing_runs,
    client_errors_are_kept_and_server_errors_are_not,
    expired_keys_are_purged,
    organizers_honour_the_key,
    an_answer_that_asks_for_a_retry_is_not_kept,
    a_refused_caller_is_not_kept,
    erasing_a_customer_forgets_the_answers_about_it,
    an_expired_key_is_free_again_before_the_purge,
);

fn replayed(response: &Response) -> bool {
    response
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true")
}

async fn keyed(app: &TestApp, path: &str, key: &str, body: &Value) -> (u16, bool, Value) {
    let response = app.post_keyed(path, &app.admin_token(), key, body).await;
    let status = response.status().as_u16();
    let replay = replayed(&response);
    (status, replay, response.json().await.unwrap())
}

async fn a_retry_with_the_same_key_replays_the_first_answer(app: TestApp) {
    let org = app.create_organizer("Keys", "acct_1KeysReplay00001").await;
    let path = customers_path(&org);
    let body = json!({ "email": "ana@example.com", "name": "Ana" });
    let (status, replay, first) = keyed(&app, &path, "key-1", &body).await;
    assert_eq!((status, replay), (201, false), "{first}");
    let (status, replay, again) = keyed(&app, &path, "key-1", &body).await;
    assert_eq!((status, replay), (201, true), "{again}");
    assert_eq!(
        again, first,
        "the replay is the first answer, byte for byte"
    );
    assert_eq!(app.stripe.requests_to("POST", "/v1/customers").len(), 1);
    // Without a key the request runs as usual: the customer exists now.
    let response = app.post(&path, &app.admin_token(), &body).await;
    assert_eq!(response.status(), 200);
    assert!(!replayed(&response));
}

async fn the_same_key_with_another_request_is_refused(app: TestApp) {
    let org = app.create_organizer("Keys", "acct_1KeysReused00001").await;
    let path = customers_path(&org);
    let (status, _, _) = keyed(&app, &path, "key-1", &json!({ "email": "a@example.com" })).await;
    assert_eq!(status, 201);
    let response = app
        .post_keyed(
            &path,
            &app.admin_token(),
            "key-1",
            &json!({ "email": "b@example.com" }),
        )
        .await;
    error_body(response, 422, "idempotency_key_reused").await;
    assert_eq!(
        app.stripe.requests_to("POST", "/v1/customers").len(),
        1,
        "the second body never reached Stripe"
    );
}

async fn a_retry_while_the_first_runs_is_told_to_wait(app: TestApp) {
    let org = app.create_organizer("Keys", "acct_1KeysFlight00001").await;
    let path = customers_path(&org);
    let body = json!({ "email": "ana@example.com" });
    let gate = app.stripe.hold_next("POST", "/v1/customers");
    let first = keyed(&app, &path, "key-1", &body);
    let retry = async {
        gate.arrived().await;
        let response = app
            .post_keyed(&path, &app.admin_token(), "key-1", &body)
            .await;
        let retry_after = response.headers().get("retry-after").cloned();
        let error = error_body(response, 409, "idempotency_key_in_flight").await;
        gate.release();
        (retry_after, error)
    };
    let ((status, replay, created), (retry_after, _)) = tokio::join!(first, retry);
    assert_eq!((status, replay), (201, false), "{created}");
    assert_eq!(retry_after.unwrap(), "1");
    let (status, replay, again) = keyed(&app, &path, "key-1", &body).await;
    assert_eq!((status, replay, &again), (201, true, &created));
    assert_eq!(app.stripe.requests_to("POST", "/v1/customers").len(), 1);
}

async fn keys_of_different_callers_never_meet(app: TestApp) {
    let a = app.create_organizer("A", "acct_1KeysScopeA00001").await;
    let b = app.create_organizer("B", "acct_1KeysScopeB00001").await;
    let body = json!({ "email": "ana@example.com" });
    // One key, two organizers, each on its own path: two customers, no refusal.
    for org in [&a, &b] {
        let token = app.organizer_token(org["id"].as_str().unwrap());
        let response = app
            .post_keyed(&customers_path(org), &token, "shared", &body)
            .await;
        assert_eq!(response.status(), 201);
        assert!(!replayed(&response));
    }
    // The admins' key of the same name, same path and body: not the organizer's answer.
    let response = app
        .post_keyed(&customers_path(&a), &app.admin_token(), "shared", &body)
        .await;
    assert_eq!(response.status(), 200, "ran again, found the customer");
    assert!(!replayed(&response));
}

async fn malformed_keys_are_refused_and_nothing_runs(app: TestApp) {
    let org = app.create_organizer("Keys", "acct_1KeysBadKey00001").await;
    let path = customers_path(&org);
    let body = json!({ "email": "ana@example.com" });
    for key in ["x".repeat(256), "\"\"".to_string(), "tab\there".to_string()] {
        let response = app.post_keyed(&path, &app.admin_token(), &key, &body).await;
        error_body(response, 400, "invalid_idempotency_key").await;
    }
    let twice = app
        .client
        .post(format!("{}{path}", app.address))
        .bearer_auth(app.admin_token())
        .header("Idempotency-Key", "a")
        .header("Idempotency-Key", "b")
        .json(&body)
        .send()
        .await
        .unwrap();
    error_body(twice, 400, "invalid_idempotency_key").await;
    assert!(app.stripe.requests_to("POST", "/v1/customers").is_empty());
    // Without a valid token the key changes nothing: 401, and nothing is kept for it.
    let response = app.post_keyed(&path, "not-a-token", "key-1", &body).await;
    error_body(response, 401, "unauthenticated").await;
    assert_eq!(app.count_rows("idempotency_keys").await, 0);
}

async fn client_errors_are_kept_and_server_errors_are_not(app: TestApp) {
    let org = app.create_organizer("Keys", "acct_1KeysKept000001").await;
    let path = customers_path(&org);
    let (status, _, first) = keyed(&app, &path, "bad", &json!({ "email": "not-an-email" })).await;
    assert_eq!(status, 422, "{first}");
    let (status, replay, again) =
        keyed(&app, &path, "bad", &json!({ "email": "not-an-email" })).await;
    assert_eq!((status, replay), (422, true));
    assert_eq!(again["error"]["code"], first["error"]["code"]);
    // Refused before its first read, a request is still answered as its key says.
    let (status, replay, reused) = keyed(&app, &path, "bad", &json!({ "email": "other" })).await;
    assert_eq!((status, replay), (422, false));
    assert_eq!(reused["error"]["code"], "idempotency_key_reused");

    // Stripe fails every attempt: 503, not kept; the retry with the key finishes the work.
    app.stripe
        .fail_next_to("POST", "/v1/customers", 3, Fault::Status(500));
    let body = json!({ "email": "ana@example.com" });
    let (status, _, failed) = keyed(&app, &path, "key-1", &body).await;
    assert_eq!(status, 503, "{failed}");
    let (status, replay, created) = keyed(&app, &path, "key-1", &body).await;
    assert_eq!((status, replay), (201, false), "{created}");
    assert_eq!(app.stripe.customers(Some("acct_1KeysKept000001")).len(), 1);
}

async fn expired_keys_are_purged(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        // A key is kept at least as long as its lease, so both are short here.
        s.server.idempotency_keep_secs = 1;
        s.server.idempotency_lease_secs = 1;
        s.server.idempotency_purge_secs = 1;
    })
    .await;
    let org = app.create_organizer("Keys", "acct_1KeysPurge00001").await;
    let (status, _, _) = keyed(
        &app,
        &customers_path(&org),
        "key-1",
        &json!({ "email": "a@example.com" }),
    )
    .await;
    assert_eq!(status, 201);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while app.count_rows("idempotency_keys").await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the purge never removed the key"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn organizers_honour_the_key(app: TestApp) {
    app.stripe.add_connected_account("acct_1KeysOrgs0000001");
    let body = json!({ "name": "Org", "stripe_account_id": "acct_1KeysOrgs0000001" });
    let (status, replay, first) = keyed(&app, "/v1/organizers", "org-1", &body).await;
    assert_eq!((status, replay), (201, false), "{first}");
    let (status, replay, again) = keyed(&app, "/v1/organizers", "org-1", &body).await;
    assert_eq!((status, replay, &again), (201, true, &first));
    // Without the key, the same request is a conflict: the key is what made it safe.
    let response = app.post("/v1/organizers", &app.admin_token(), &body).await;
    error_body(response, 409, "organizer_exists").await;
    // A conflict says how things stood at that moment: it is not kept for the key.
    for _ in 0..2 {
        let (status, replay, _) = keyed(&app, "/v1/organizers", "org-2", &body).await;
        assert_eq!((status, replay), (409, false));
    }
}

/// An erasure left `partial` says `Retry-After`, and the same request resumes it: with a key,
/// the retry must resume it too, not replay the partial receipt.
async fn an_answer_that_asks_for_a_retry_is_not_kept(app: TestApp) {
    let ok = app.create_organizer("Ok", "acct_1KeysEraseOk0001").await;
    let down = app.create_organizer("Down", "acct_1KeysEraseDown01").await;
    upsert(&app, &ok, json!({ "email": "gdpr@example.com" })).await;
    let (_, customer) = upsert(&app, &down, json!({ "email": "gdpr@example.com" })).await;
    app.stripe
        .fail_next_to("DELETE", &stripe_path(&customer), 3, Fault::Status(503));
    let body = json!({ "email": "gdpr@example.com" });
    let response = app
        .post_keyed("/v1/erasures", &app.admin_token(), "erase-1", &body)
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["retry-after"], "5");
    let receipt: Value = response.json().await.unwrap();
    assert_eq!(receipt["status"], "partial", "{receipt}");
    let (status, replay, resumed) = keyed(&app, "/v1/erasures", "erase-1", &body).await;
    assert_eq!((status, replay), (200, false));
    assert_eq!(resumed["status"], "completed", "{resumed}");
    // The finished receipt is final: from now on it is replayed.
    let (_, replay, again) = keyed(&app, "/v1/erasures", "erase-1", &body).await;
    assert!(replay);
    assert_eq!(again, resumed);
}

/// A disabled organizer's token is refused (403); once it is enabled again, the same request
/// with the same key runs.
async fn a_refused_caller_is_not_kept(app: TestApp) {
    let org = app.create_organizer("Keys", "acct_1KeysRefused00001").await;
    let org_path = format!("/v1/organizers/{}", org["id"].as_str().unwrap());
    let token = app.organizer_token(org["id"].as_str().unwrap());
    let body = json!({ "email": "ana@example.com" });
    for status in ["disabled", "active"] {
        let response = app
            .patch(&org_path, &app.admin_token(), &json!({ "status": status }))
            .await;
        assert_eq!(response.status(), 200);
        let response = app
            .post_keyed(&customers_path(&org), &token, "key-1", &body)
            .await;
        let expected = if status == "disabled" { 403 } else { 201 };
        assert_eq!(response.status(), expected, "while {status}");
        assert!(!replayed(&response));
    }
    // Disabled again: its kept answer is not replayed to it either.
    let response = app
        .patch(
            &org_path,
            &app.admin_token(),
            &json!({ "status": "disabled" }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let response = app
        .post_keyed(&customers_path(&org), &token, "key-1", &body)
        .await;
    error_body(response, 403, "forbidden").await;
}

/// An answer about a customer may hold the person's details: erasing the customer forgets it.
async fn erasing_a_customer_forgets_the_answers_about_it(app: TestApp) {
    let org = app.create_organizer("Keys", "acct_1KeysForget00001").await;
    let body = json!({ "email": "ana@example.com", "name": "Ana Lima" });
    let (status, _, customer) = keyed(&app, &customers_path(&org), "key-1", &body).await;
    assert_eq!(status, 201);
    let id = customer["id"].as_str().unwrap();
    let about = format!("idempotency_keys WHERE customer_id = '{id}'");
    assert_eq!(app.count_rows(&about).await, 1);
    let response = app
        .delete(
            &format!("{}/{id}", customers_path(&org)),
            &app.admin_token(),
        )
        .await;
    assert_eq!(response.status(), 204);
    assert_eq!(app.count_rows("idempotency_keys").await, 0);
    // The same request again runs anew: a new customer, not the erased one's answer.
    let (status, replay, again) = keyed(&app, &customers_path(&org), "key-1", &body).await;
    assert_eq!((status, replay), (201, false));
    assert_ne!(again["id"], customer["id"]);
}

async fn an_expired_key_is_free_again_before_the_purge(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.server.idempotency_keep_secs = 1;
        s.server.idempotency_lease_secs = 1;
    })
    .await;
    let org = app.create_organizer("Keys", "acct_1KeysExpired0001").await;
    let path = customers_path(&org);
    let (status, _, _) = keyed(&app, &path, "key-1", &json!({ "email": "a@example.com" })).await;
    assert_eq!(status, 201);
    // Until the key expires, another body with it is refused; then it is a new request.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (status, replay, body) =
            keyed(&app, &path, "key-1", &json!({ "email": "b@example.com" })).await;
        if status != 422 {
            assert_eq!((status, replay), (201, false), "{body}");
            break;
        }
        assert_eq!(body["error"]["code"], "idempotency_key_reused");
        assert!(
            tokio::time::Instant::now() < deadline,
            "the key never expired"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.count_rows("idempotency_keys").await,
        1,
        "taken over in place"
    );
}
