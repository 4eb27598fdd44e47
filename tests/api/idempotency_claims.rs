//! The customers' upsert claims its `Idempotency-Key` without waiting for the disk and makes the
//! claim durable before its first effect (the effect gate). A claim lost in a crash of the
//! database is simulated by a trigger that deletes each claim as it is inserted: the insert
//! reports success, and the row is gone, as a claim whose commit never reached the disk is
//! after PostgreSQL's recovery. Claims and answers of concurrent requests share statements;
//! each request still gets its own. The answer of an upsert that ran no effect is kept without
//! a flush too; a crash that loses it only lets the retry run again, repeating nothing.

use serde_json::json;

use crate::customers::{customers_path, upsert};
use crate::helpers::{backend_tests, error_body, Backend, TestApp};

backend_tests!(
    a_request_whose_claim_was_lost_runs_no_effect_and_its_retry_runs_once,
    a_change_whose_claim_was_lost_is_not_sent_to_stripe,
    an_upsert_that_changes_nothing_needs_no_durable_claim,
    concurrent_first_requests_each_keep_their_own_answer,
    only_an_upsert_that_ran_an_effect_waits_for_the_disk_for_its_answer,
    a_lost_answer_of_an_upsert_that_changed_nothing_is_answered_again_without_an_effect,
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

/// On PostgreSQL a trigger notes the `synchronous_commit` each answer was kept under: off for
/// the upsert that changed nothing, on for those that changed or created a customer. On both
/// backends every answer is replayed.
async fn only_an_upsert_that_ran_an_effect_waits_for_the_disk_for_its_answer(app: TestApp) {
    let org = app
        .create_organizer("Claims", "acct_1ClaimsQuiet0001")
        .await;
    let path = customers_path(&org);
    let (status, created) = upsert(&app, &org, json!({ "email": "ana@example.com" })).await;
    assert_eq!(status, 201, "{created}");
    app.execute_sql(
        "CREATE TABLE answer_commits (key text, synchronous_commit text);
         CREATE FUNCTION note_answer() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF NEW.response_status IS NOT NULL AND OLD.response_status IS NULL THEN
                 INSERT INTO answer_commits
                     VALUES (NEW.key, current_setting('synchronous_commit'));
             END IF;
             RETURN NEW;
         END $$;
         CREATE TRIGGER note_answers AFTER UPDATE ON idempotency_keys
             FOR EACH ROW EXECUTE FUNCTION note_answer();",
        "SELECT 1;",
    )
    .await;

    let requests = [
        ("unchanged", json!({ "email": "ana@example.com" }), 200),
        (
            "changed",
            json!({ "email": "ana@example.com", "name": "Ana" }),
            200,
        ),
        ("created", json!({ "email": "bia@example.com" }), 201),
    ];
    for (key, body, status) in &requests {
        let first = app.post_keyed(&path, &app.admin_token(), key, body).await;
        assert_eq!(first.status(), *status, "{key}");
        let first: serde_json::Value = first.json().await.unwrap();
        let again = app.post_keyed(&path, &app.admin_token(), key, body).await;
        assert_eq!(again.status(), *status, "{key}");
        assert_eq!(again.headers()["idempotent-replayed"], "true", "{key}");
        assert_eq!(again.json::<serde_json::Value>().await.unwrap(), first);
    }
    if app.backend == Backend::Postgres {
        assert_eq!(
            app.select_texts(
                "key || '=' || synchronous_commit AS value FROM answer_commits ORDER BY key"
            )
            .await,
            ["changed=on", "created=on", "unchanged=off"]
        );
    }
}

/// The crash is simulated by taking the kept answer away and ending the claim's lease, as for a
/// claim some other commit made durable while its answer's commit never reached the disk: the
/// retry takes the key over when the lease ends, runs the upsert again, calls Stripe for
/// nothing, and answers from the rows as they are now.
async fn a_lost_answer_of_an_upsert_that_changed_nothing_is_answered_again_without_an_effect(
    app: TestApp,
) {
    let org = app
        .create_organizer("Claims", "acct_1ClaimsQuiet0002")
        .await;
    let path = customers_path(&org);
    let body = json!({ "email": "ana@example.com" });
    let (status, created) = upsert(&app, &org, body.clone()).await;
    assert_eq!(status, 201, "{created}");
    let response = app
        .post_keyed(&path, &app.admin_token(), "lost", &body)
        .await;
    assert_eq!(response.status(), 200);
    app.execute_sql(
        "UPDATE idempotency_keys SET response_status = NULL, response_headers = NULL,
             response_body = NULL, lease_owner = 'died', lease_until = now() - interval '1 minute'
         WHERE key = 'lost'",
        "UPDATE idempotency_keys SET response_status = NULL, response_headers = NULL,
             response_body = NULL, lease_owner = 'died', lease_until = datetime('now', '-1 minute')
         WHERE key = 'lost'",
    )
    .await;
    let (status, renamed) = upsert(
        &app,
        &org,
        json!({ "email": "ana@example.com", "name": "Ana Lima" }),
    )
    .await;
    assert_eq!(status, 200, "{renamed}");
    let stripe_calls = app.stripe.requests().len();

    let retry = app
        .post_keyed(&path, &app.admin_token(), "lost", &body)
        .await;
    assert_eq!(retry.status(), 200);
    assert!(retry.headers().get("idempotent-replayed").is_none());
    let retried: serde_json::Value = retry.json().await.unwrap();
    assert_eq!(
        retried, renamed,
        "the retry answers from the rows as they are"
    );
    assert_eq!(
        app.stripe.requests().len(),
        stripe_calls,
        "Stripe was called"
    );
    let again = app
        .post_keyed(&path, &app.admin_token(), "lost", &body)
        .await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<serde_json::Value>().await.unwrap(), retried);
    assert_eq!(app.count_rows("customers").await, 1);
}
