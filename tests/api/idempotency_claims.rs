//! The customers' upsert only looks at its `Idempotency-Key` before it runs, and claims it,
//! durably, at its effect gate, before its first effect; an upsert that runs no effect never
//! claims, and its answer is inserted where the key is still free, without waiting for the
//! disk. Another request that claims the key between the look and the gate is simulated by a
//! trigger that puts that request's claim in place of this one's. Looks and answers of
//! concurrent requests share statements; each request still gets its own.

use serde_json::json;

use crate::customers::{customers_path, upsert};
use crate::helpers::{backend_tests, error_body, Backend, TestApp};

backend_tests!(
    a_request_whose_key_was_claimed_after_its_look_runs_no_effect,
    a_change_whose_key_was_claimed_after_its_look_is_not_sent_to_stripe,
    concurrent_first_requests_each_keep_their_own_answer,
    only_an_upsert_that_ran_an_effect_claims_its_key_and_waits_for_the_disk,
    a_lost_answer_of_an_upsert_that_changed_nothing_is_answered_again_without_an_effect,
);

/// From now on every claim of a key finds it claimed by another request first (with
/// `fingerprint`, the request's own when `None`), which holds it for a minute.
async fn claim_every_key_first(app: &TestApp, fingerprint: Option<&str>) {
    let postgres_fingerprint =
        fingerprint.map_or("NEW.fingerprint".to_string(), |f| format!("'{f}'"));
    app.execute_sql(
        &format!(
            "CREATE FUNCTION claim_first() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF NEW.lease_owner IS NULL OR pg_trigger_depth() > 1 THEN RETURN NEW; END IF;
                 INSERT INTO idempotency_keys
                     (scope, key, fingerprint, lease_owner, lease_until, created_at, expires_at)
                 VALUES (NEW.scope, NEW.key, {postgres_fingerprint}, 'another',
                         now() + interval '1 minute', now(), now() + interval '1 day');
                 RETURN NULL;
             END $$;
             CREATE TRIGGER claim_first BEFORE INSERT ON idempotency_keys
                 FOR EACH ROW EXECUTE FUNCTION claim_first();"
        ),
        &format!(
            "CREATE TRIGGER claim_first BEFORE INSERT ON idempotency_keys
             WHEN NEW.lease_owner IS NOT NULL AND NEW.lease_owner != 'another'
             BEGIN
                 INSERT INTO idempotency_keys
                     (scope, key, fingerprint, lease_owner, lease_until, created_at, expires_at)
                 VALUES (NEW.scope, NEW.key, {}, 'another',
                         datetime('now', '+1 minute'), datetime('now'), datetime('now', '+1 day'));
                 SELECT RAISE(IGNORE);
             END;",
            fingerprint.map_or("NEW.fingerprint".to_string(), |f| format!("'{f}'"))
        ),
    )
    .await;
}

async fn stop_claiming_first(app: &TestApp) {
    app.execute_sql(
        "DROP TRIGGER claim_first ON idempotency_keys; DROP FUNCTION claim_first();",
        "DROP TRIGGER claim_first;",
    )
    .await;
}

async fn a_request_whose_key_was_claimed_after_its_look_runs_no_effect(app: TestApp) {
    let org = app
        .create_organizer("Claims", "acct_1ClaimsLost00001")
        .await;
    let path = customers_path(&org);
    let body = json!({ "email": "ana@example.com", "name": "Ana" });
    claim_every_key_first(&app, None).await;

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
        "a request whose key another request claimed called Stripe"
    );
    assert_eq!(app.count_rows("customers").await, 0, "nor reserved a row");
    stop_claiming_first(&app).await;

    // The other request holds the key: the retry is told to wait, then (its holder gone)
    // takes the key over and runs, once.
    let response = app
        .post_keyed(&path, &app.admin_token(), "key-1", &body)
        .await;
    error_body(response, 409, "idempotency_key_in_flight").await;
    app.execute_sql(
        "UPDATE idempotency_keys SET lease_until = now() - interval '1 minute'",
        "UPDATE idempotency_keys SET lease_until = datetime('now', '-1 minute')",
    )
    .await;
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

    // Claimed first by a request with another body: the key was reused.
    claim_every_key_first(&app, Some("another-body")).await;
    let response = app
        .post_keyed(
            &path,
            &app.admin_token(),
            "key-2",
            &json!({ "email": "bia@example.com" }),
        )
        .await;
    error_body(response, 422, "idempotency_key_reused").await;
    assert_eq!(app.stripe.requests_to("POST", "/v1/customers").len(), 1);
}

async fn a_change_whose_key_was_claimed_after_its_look_is_not_sent_to_stripe(app: TestApp) {
    let org = app
        .create_organizer("Claims", "acct_1ClaimsChange001")
        .await;
    let (status, created) = upsert(&app, &org, json!({ "email": "ana@example.com" })).await;
    assert_eq!(status, 201, "{created}");
    let stripe_path = format!(
        "/v1/customers/{}",
        created["stripe_customer_id"].as_str().unwrap()
    );
    claim_every_key_first(&app, None).await;

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

/// On PostgreSQL a trigger notes each claim and answer with the `synchronous_commit` it was
/// written under: the upsert that changed nothing never claims and keeps its answer without a
/// flush; those that changed or created a customer claim durably and keep their answers
/// durably. On both backends every answer is replayed.
async fn only_an_upsert_that_ran_an_effect_claims_its_key_and_waits_for_the_disk(app: TestApp) {
    let org = app
        .create_organizer("Claims", "acct_1ClaimsQuiet0001")
        .await;
    let path = customers_path(&org);
    let (status, created) = upsert(&app, &org, json!({ "email": "ana@example.com" })).await;
    assert_eq!(status, 201, "{created}");
    app.execute_sql(
        "CREATE TABLE key_writes (key text, write text, synchronous_commit text,
                                  at timestamp DEFAULT clock_timestamp());
         CREATE FUNCTION note_key_write() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF TG_OP = 'INSERT' AND NEW.response_status IS NULL THEN
                 INSERT INTO key_writes VALUES (NEW.key, 'claim', current_setting('synchronous_commit'));
             ELSIF NEW.response_status IS NOT NULL
                   AND (TG_OP = 'INSERT' OR OLD.response_status IS NULL) THEN
                 INSERT INTO key_writes VALUES (NEW.key, 'answer', current_setting('synchronous_commit'));
             END IF;
             RETURN NEW;
         END $$;
         CREATE TRIGGER note_key_writes AFTER INSERT OR UPDATE ON idempotency_keys
             FOR EACH ROW EXECUTE FUNCTION note_key_write();",
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
                "key || ' ' || write || '=' || synchronous_commit AS value FROM key_writes \
                 ORDER BY key, at"
            )
            .await,
            [
                "changed claim=on",
                "changed answer=on",
                "created claim=on",
                "created answer=on",
                "unchanged answer=off",
            ]
        );
    }
}

/// The crash is simulated by deleting the kept answer, whose commit did not wait for the disk:
/// the retry runs the upsert again, calls Stripe for nothing, and answers from the rows as they
/// are now.
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
    let lost = "DELETE FROM idempotency_keys WHERE key = 'lost'";
    app.execute_sql(lost, lost).await;
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
