//! The customers' upsert claims its `Idempotency-Key` without waiting for the disk and makes the
//! claim durable before its first effect (the effect gate). A claim lost in a crash of the
//! database is simulated by a trigger that deletes each claim as it is inserted: the insert
//! reports success, and the row is gone, as a claim whose commit never reached the disk is
//! after PostgreSQL's recovery. Claims and answers of concurrent requests share statements;
//! each request still gets its own.

use serde_json::json;

use crate::customers::{customers_path, upsert};
use crate::helpers::{backend_tests, error_body, TestApp};

backend_tests!(
    a_request_whose_claim_was_lost_runs_no_effect_and_its_retry_runs_once,
    a_change_whose_claim_was_lost_is_not_sent_to_stripe,
    an_upsert_that_changes_nothing_needs_no_durable_claim,
    concurrent_first_requests_each_keep_their_own_answer,
);

/// From now on every claim of a key is lost as soon as it is made.
async fn lose_every_claim(app: &TestApp) {
    app.execute_sql(
        "CREATE FUNCTION lose_claim() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             DELETE FROM idempotency_keys WHERE scope = NEW.scope AND key = NEW.key;
             RETURN NULL;
         END $$;
         CREATE TRIGGER lose_claims AFTER INSERT ON idempotency_keys
             FOR EACH ROW EXECUTE FUNCTION lose_claim();",
        "CREATE TRIGGER lose_claims AFTER INSERT ON idempotency_keys
         BEGIN
             DELETE FROM idempotency_keys WHERE scope = NEW.scope AND key = NEW.key;
         END;",
    )
    .await;
}

async fn keep_claims_again(app: &TestApp) {
    app.execute_sql(
        "DROP TRIGGER lose_claims ON idempotency_keys; DROP FUNCTION lose_claim();",
        "DROP TRIGGER lose_claims;",
    )
    .await;
}

async fn a_request_whose_claim_was_lost_runs_no_effect_and_its_retry_runs_once(app: TestApp) {
    let org = app
        .create_organizer("Claims", "acct_1ClaimsLost00001")
        .await;
    let path = customers_path(&org);
    let body = json!({ "email": "ana@example.com", "name": "Ana" });
    lose_every_claim(&app).await;

    let response = app
        .post_keyed(&path, &app.admin_token(), "key-1", &body)
        .await;
    let error = error_body(response, 409, "idempotency_claim_lost").await;
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("repeat the request"),
        "{error}"
    );
    assert!(
        app.stripe.requests_to("POST", "/v1/customers").is_empty(),
        "a request whose claim was lost called Stripe"
    );
    assert_eq!(app.count_rows("customers").await, 0, "nor reserved a row");

    keep_claims_again(&app).await;
    let response = app
        .post_keyed(&path, &app.admin_token(), "key-1", &body)
        .await;
    assert_eq!(response.status(), 201);
    let created: serde_json::Value = response.json().await.unwrap();
    let response = app
        .post_keyed(&path, &app.admin_token(), "key-1", &body)
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["idempotent-replayed"], "true");
    assert_eq!(response.json::<serde_json::Value>().await.unwrap(), created);
    assert_eq!(app.stripe.requests_to("POST", "/v1/customers").len(), 1);
    assert_eq!(app.count_rows("customers").await, 1);
}

async fn a_change_whose_claim_was_lost_is_not_sent_to_stripe(app: TestApp) {
    let org = app
        .create_organizer("Claims", "acct_1ClaimsChange001")
        .await;
    let (status, created) = upsert(&app, &org, json!({ "email": "ana@example.com" })).await;
    assert_eq!(status, 201, "{created}");
    let stripe_path = format!(
        "/v1/customers/{}",
        created["stripe_customer_id"].as_str().unwrap()
    );
    lose_every_claim(&app).await;

    let body = json!({ "email": "ana@example.com", "name": "Ana Lima" });
    let response = app
        .post_keyed(&customers_path(&org), &app.admin_token(), "key-2", &body)
        .await;
    error_body(response, 409, "idempotency_claim_lost").await;
    assert!(
        app.stripe.requests_to("POST", &stripe_path).is_empty(),
        "the change reached Stripe"
    );
    let (_, unchanged) = upsert(&app, &org, json!({ "email": "ana@example.com" })).await;
    assert_eq!(unchanged["name"], serde_json::Value::Null);
}

/// Nothing to protect: the request runs and answers; its answer is not kept (the claim it would
/// be kept under is gone), so a retry runs it again, with the same answer.
async fn an_upsert_that_changes_nothing_needs_no_durable_claim(app: TestApp) {
    let org = app
        .create_organizer("Claims", "acct_1ClaimsRead00001")
        .await;
    let body = json!({ "email": "ana@example.com" });
    let (status, created) = upsert(&app, &org, body.clone()).await;
    assert_eq!(status, 201, "{created}");
    let stripe_calls = app.stripe.requests().len();
    lose_every_claim(&app).await;

    for _ in 0..2 {
        let response = app
            .post_keyed(&customers_path(&org), &app.admin_token(), "key-3", &body)
            .await;
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("idempotent-replayed").is_none());
        assert_eq!(response.json::<serde_json::Value>().await.unwrap(), created);
    }
    assert_eq!(
        app.stripe.requests().len(),
        stripe_calls,
        "Stripe was not called"
    );
    assert_eq!(app.count_rows("idempotency_keys").await, 0);
}

async fn concurrent_first_requests_each_keep_their_own_answer(app: TestApp) {
    let org = app
        .create_organizer("Claims", "acct_1ClaimsMany00001")
        .await;
    let path = customers_path(&org);
    let send = |n: usize| {
        let (app, path) = (&app, &path);
        async move {
            let body = json!({ "email": format!("buyer{n}@example.com") });
            let key = format!("many-{n}");
            let response = app.post_keyed(path, &app.admin_token(), &key, &body).await;
            let status = response.status().as_u16();
            let replayed = response.headers().contains_key("idempotent-replayed");
            (
                status,
                replayed,
                response.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    let first = futures_util::future::join_all((0..24).map(send)).await;
    let again = futures_util::future::join_all((0..24).map(send)).await;
    for (n, ((status, replayed, created), (again_status, again_replayed, kept))) in
        first.into_iter().zip(again).enumerate()
    {
        assert_eq!((status, replayed), (201, false), "{created}");
        assert_eq!(created["email"], format!("buyer{n}@example.com"));
        assert_eq!((again_status, again_replayed), (201, true), "{kept}");
        assert_eq!(
            kept, created,
            "request {n} replayed another request's answer"
        );
    }
    assert_eq!(app.stripe.requests_to("POST", "/v1/customers").len(), 24);
    assert_eq!(
        app.count_rows("idempotency_keys WHERE response_status = 201")
            .await,
        24
    );
}
