//! Checkouts retried with an `Idempotency-Key`: racing retries, Stripe failing, and a gateway
//! dying between Stripe's answer and its own write. Never a second session in Stripe.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::checkout::{checkout_by_email, organizer_with_fee, sessions_path, ticket};
use crate::helpers::{backend_tests, error_body, TestApp};
use crate::support::fake_stripe::Fault;

backend_tests!(
    twenty_concurrent_retries_with_one_key_make_one_session,
    a_retry_after_stripe_failed_finishes_without_a_duplicate,
    a_retry_after_a_crash_between_stripe_and_the_database_adopts_the_first_session,
    keys_are_scoped_and_replays_keep_status_and_body,
    a_key_freed_by_a_failure_can_carry_another_request,
    a_payment_intent_retried_with_its_key_is_the_same_intent,
);

async fn send(app: &TestApp, path: &str, key: &str, body: &Value) -> (u16, bool, Value) {
    let response = app.post_keyed(path, &app.admin_token(), key, body).await;
    let status = response.status().as_u16();
    let replayed = response.headers().get("idempotent-replayed").is_some();
    (status, replayed, response.json().await.unwrap())
}

async fn twenty_concurrent_retries_with_one_key_make_one_session(app: TestApp) {
    let org = organizer_with_fee(&app, "acct_1KeysTwenty000001", Some(100)).await;
    let path = sessions_path(&org);
    let body = checkout_by_email("ana@example.com", json!([ticket(1)]));
    // The first request is held in Stripe until the other 19 have their answers: they all
    // arrive while it is in flight.
    let gate = app.stripe.hold_next("POST", "/v1/checkout/sessions");
    let (done, mut finished) = tokio::sync::mpsc::unbounded_channel();
    let requests = (0..20).map(|_| {
        let done = done.clone();
        let (path, body) = (path.clone(), body.clone());
        let app = &app;
        async move {
            let answer = send(app, &path, "order-1042", &body).await;
            let _ = done.send(());
            answer
        }
    });
    let release = async {
        gate.arrived().await;
        for _ in 0..19 {
            finished.recv().await.unwrap();
        }
        gate.release();
    };
    let (answers, ()) = tokio::join!(join_all(requests), release);
    let created: Vec<&Value> = answers
        .iter()
        .filter(|(s, _, _)| *s == 201)
        .map(|(_, _, b)| b)
        .collect();
    let waiting = answers
        .iter()
        .filter(|(s, _, b)| *s == 409 && b["error"]["code"] == "idempotency_key_in_flight")
        .count();
    assert_eq!((created.len(), waiting), (1, 19), "{answers:?}");
    assert_eq!(
        app.stripe
            .requests_to("POST", "/v1/checkout/sessions")
            .len(),
        1
    );
    // Once it answered, a retry gets the same session.
    let (status, replayed, again) = send(&app, &path, "order-1042", &body).await;
    assert_eq!((status, replayed), (201, true));
    assert_eq!(&again, created[0]);
}

async fn a_retry_after_stripe_failed_finishes_without_a_duplicate(app: TestApp) {
    let account = "acct_1KeysStripeDown01";
    let org = organizer_with_fee(&app, account, None).await;
    let path = sessions_path(&org);
    let body = checkout_by_email("ana@example.com", json!([ticket(1)]));
    // Every attempt of the first request fails: a clean 503, and nothing is kept.
    app.stripe
        .fail_next_to("POST", "/v1/checkout/sessions", 3, Fault::Status(500));
    let response = app
        .post_keyed(&path, &app.admin_token(), "order-1", &body)
        .await;
    assert_eq!(response.headers().get("retry-after").unwrap(), "5");
    error_body(response, 503, "stripe_unavailable").await;
    let (status, replayed, created) = send(&app, &path, "order-1", &body).await;
    assert_eq!((status, replayed), (201, false), "{created}");
    let stored = app.stripe.requests_to("POST", "/v1/checkout/sessions");
    let reached: Vec<_> = stored.iter().filter(|r| r.fault.is_none()).collect();
    assert_eq!(
        reached.len(),
        1,
        "one create reached Stripe's logic: {stored:?}"
    );
    // Every attempt, the failed ones included, carried the same Stripe key.
    assert!(stored
        .iter()
        .all(|r| r.idempotency_key == stored[0].idempotency_key));
}

async fn a_retry_after_a_crash_between_stripe_and_the_database_adopts_the_first_session(
    app: TestApp,
) {
    let account = "acct_1KeysCrash000001";
    let org = organizer_with_fee(&app, account, None).await;
    let path = sessions_path(&org);
    let body = checkout_by_email("ana@example.com", json!([ticket(1)]));
    // The customer exists first, so the only Stripe write the crashing request makes is the
    // session's.
    let (status, _, _) = send(
        &app,
        &format!("/v1/organizers/{}/customers", org["id"].as_str().unwrap()),
        "c",
        &json!({"email": "ana@example.com"}),
    )
    .await;
    assert_eq!(status, 201);

    // A second gateway process, whose keys' leases last one second, takes the request. Stripe
    // creates the session; before its answer reaches the process, the process dies.
    let process = app
        .spawn_process_with(&[("IDEMPOTENCY_LEASE_SECS", "1")])
        .await;
    let gate = app.stripe.hold_next_answer("POST", "/v1/checkout/sessions");
    let doomed = app
        .client
        .post(format!("{}{path}", process.address))
        .bearer_auth(app.admin_token())
        .header("Idempotency-Key", "order-7")
        .json(&body)
        .send();
    let crash = async {
        gate.arrived().await;
        drop(process);
        gate.release();
    };
    let (lost, ()) = tokio::join!(doomed, crash);
    assert!(
        lost.is_err(),
        "the client saw the connection drop: {lost:?}"
    );
    assert_eq!(
        app.stripe
            .requests_to("POST", "/v1/checkout/sessions")
            .len(),
        1
    );

    // The retry waits out the dead process's lease, then runs: Stripe answers with the
    // session it already made, and the gateway records that one.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let (status, replayed, adopted) = loop {
        let answer = send(&app, &path, "order-7", &body).await;
        if answer.0 != 409 {
            break answer;
        }
        assert_eq!(answer.2["error"]["code"], "idempotency_key_in_flight");
        assert!(
            tokio::time::Instant::now() < deadline,
            "the key stayed in flight"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!((status, replayed), (201, false), "{adopted}");
    let creates = app.stripe.requests_to("POST", "/v1/checkout/sessions");
    assert_eq!(creates.len(), 2);
    assert!(
        creates[1].replayed,
        "Stripe replayed the first create: {creates:?}"
    );
    assert_eq!(creates[0].idempotency_key, creates[1].idempotency_key);
    let read = app
        .get_json(
            &format!("{path}/{}", adopted["id"].as_str().unwrap()),
            &app.admin_token(),
        )
        .await;
    assert_eq!(read["id"], adopted["id"], "{read}");
}

async fn keys_are_scoped_and_replays_keep_status_and_body(app: TestApp) {
    let org = organizer_with_fee(&app, "acct_1KeysScopedA0001", None).await;
    let body = checkout_by_email("ana@example.com", json!([ticket(1)]));
    // One key, one organizer, two callers (the admins and the organizer): two requests.
    let org_token = app.organizer_token(org["id"].as_str().unwrap());
    let mut ids = Vec::new();
    for token in [app.admin_token(), org_token] {
        let response = app
            .post_keyed(&sessions_path(&org), &token, "same-key", &body)
            .await;
        assert_eq!(response.status(), 201);
        assert!(response.headers().get("idempotent-replayed").is_none());
        ids.push(response.json::<Value>().await.unwrap()["id"].clone());
    }
    assert_ne!(ids[0], ids[1]);
    let creates = app.stripe.requests_to("POST", "/v1/checkout/sessions");
    assert_ne!(
        creates[0].idempotency_key, creates[1].idempotency_key,
        "Stripe keys differ per caller"
    );
    // A refused request is kept too: the same key gets the same 422 without a look at Stripe.
    let bad = checkout_by_email("ana@example.com", json!([ticket(0)]));
    let (status, _, first) = send(&app, &sessions_path(&org), "bad-key", &bad).await;
    let (again_status, replayed, again) = send(&app, &sessions_path(&org), "bad-key", &bad).await;
    assert_eq!((status, again_status, replayed), (422, 422, true));
    assert_eq!(first, again);
}

/// After a 5xx freed the key, the client may send it with another body: that is another
/// request, with another Stripe key, not Stripe's `idempotency_error`.
async fn a_key_freed_by_a_failure_can_carry_another_request(app: TestApp) {
    let org = organizer_with_fee(&app, "acct_1KeysChanged0001", None).await;
    let path = sessions_path(&org);
    app.stripe
        .fail_next_to("POST", "/v1/checkout/sessions", 3, Fault::Status(500));
    let first = checkout_by_email("ana@example.com", json!([ticket(1)]));
    let (status, _, _) = send(&app, &path, "order-1", &first).await;
    assert_eq!(status, 503);
    let second = checkout_by_email("ana@example.com", json!([ticket(2)]));
    let (status, replayed, created) = send(&app, &path, "order-1", &second).await;
    assert_eq!((status, replayed), (201, false), "{created}");
    let creates = app.stripe.requests_to("POST", "/v1/checkout/sessions");
    assert_ne!(
        creates[0].idempotency_key,
        creates.last().unwrap().idempotency_key
    );
}

/// A payment intent's replay hands the same client secret to the retrying frontend.
async fn a_payment_intent_retried_with_its_key_is_the_same_intent(app: TestApp) {
    let org = organizer_with_fee(&app, "acct_1KeysIntent00001", Some(100)).await;
    let path = format!(
        "/v1/organizers/{}/payment-intents",
        org["id"].as_str().unwrap()
    );
    let body = json!({ "email": "ana@example.com", "amount": 2500, "currency": "eur" });
    let (status, replayed, first) = send(&app, &path, "pay-1", &body).await;
    assert_eq!((status, replayed), (201, false), "{first}");
    let (status, replayed, again) = send(&app, &path, "pay-1", &body).await;
    assert_eq!((status, replayed), (201, true));
    assert_eq!(again["client_secret"], first["client_secret"]);
    assert_eq!(
        app.stripe.requests_to("POST", "/v1/payment_intents").len(),
        1
    );
}
