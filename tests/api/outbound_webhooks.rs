//! The gateway's own webhooks, received by a real HTTP server in the test that checks each
//! signature with its own Standard Webhooks verifier: delivery to the endpoints that hear an
//! event (and to no other), rotation, retries after errors, timeouts and refused
//! connections, order per object, replay, disabling, and URLs that would reach private
//! addresses. Retries wait until the test makes them due, so no test waits on time.

use serde_json::{json, Value};

use crate::helpers::receiver::{verify, Answer, Receiver};
use crate::helpers::{backend_tests, error_body, error_fields, TestApp};
use crate::metrics::{moved, scrape};

backend_tests!(
    a_change_is_delivered_signed_to_the_endpoints_that_hear_it,
    a_rotated_secret_signs_beside_the_old_one_until_it_expires,
    failed_attempts_are_retried_and_logged,
    an_objects_events_arrive_in_order,
    events_are_replayed_one_or_a_span_at_a_time,
    an_endpoint_failing_for_days_is_disabled_and_its_organizer_told,
);

pub(crate) const ACCOUNT_A: &str = "acct_1Outbound00000001";
pub(crate) const ACCOUNT_B: &str = "acct_1Outbound00000002";

pub(crate) fn id(value: &Value) -> &str {
    value["id"].as_str().unwrap()
}

/// Registers an endpoint as `token`; asserts 201 and a secret.
pub(crate) async fn endpoint(app: &TestApp, token: &str, body: Value) -> Value {
    let response = app.post("/v1/webhook-endpoints", token, &body).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert!(
        created["secret"].as_str().unwrap().starts_with("whsec_"),
        "{created}"
    );
    created
}

/// A customer of `org` and a change to its name: one `customer.updated` per call to `rename`.
pub(crate) struct Customer {
    path: String,
}

impl Customer {
    pub(crate) async fn new(app: &TestApp, org: &Value, email: &str) -> Self {
        let customer = app.create_customer(id(org), email).await;
        Self {
            path: format!("/v1/organizers/{}/customers/{}", id(org), id(&customer)),
        }
    }

    pub(crate) async fn rename(&self, app: &TestApp, name: &str) {
        let response = app
            .patch(&self.path, &app.admin_token(), &json!({ "name": name }))
            .await;
        assert_eq!(response.status(), 200);
    }
}

/// Every due delivery is sent and recorded (the senders run until they find nothing).
pub(crate) async fn settle(app: &TestApp) {
    app.jobs.drain().await;
}

/// Makes every pending delivery due now, and sends them.
pub(crate) async fn retry_now(app: &TestApp) {
    let sql = "UPDATE webhook_deliveries SET next_attempt_at = '2000-01-01 00:00:00' WHERE state = 'pending'";
    app.execute_sql(sql, sql).await;
    settle(app).await;
}

pub(crate) async fn deliveries(app: &TestApp, endpoint: &Value) -> Vec<Value> {
    let path = format!("/v1/webhook-endpoints/{}/deliveries", id(endpoint));
    let page = app.get_json(&path, &app.admin_token()).await;
    page["data"].as_array().unwrap().clone()
}

async fn a_change_is_delivered_signed_to_the_endpoints_that_hear_it(app: TestApp) {
    let receiver = Receiver::start().await;
    let a = app.create_organizer("A", ACCOUNT_A).await;
    let b = app.create_organizer("B", ACCOUNT_B).await;
    let admin = app.admin_token();
    let own = endpoint(
        &app,
        &app.organizer_token(id(&a)),
        json!({ "url": receiver.url("/a") }),
    )
    .await;
    let refunds_only = endpoint(
        &app,
        &admin,
        json!({ "url": receiver.url("/a-refunds"), "organizer_id": id(&a), "event_types": ["refund.updated"] }),
    )
    .await;
    let _b_own = endpoint(
        &app,
        &admin,
        json!({ "url": receiver.url("/b"), "organizer_id": id(&b) }),
    )
    .await;
    let platform = endpoint(&app, &admin, json!({ "url": receiver.url("/platform") })).await;
    let _platform_b = endpoint(
        &app,
        &admin,
        json!({ "url": receiver.url("/platform-b"), "organizer_ids": [id(&b)] }),
    )
    .await;
    assert_eq!(own["organizer_id"], id(&a));
    assert_eq!(refunds_only["event_types"], json!(["refund.updated"]));

    Customer::new(&app, &a, "ana@example.com")
        .await
        .rename(&app, "Ana Lima")
        .await;
    let got = receiver.wait_for("/a", 1).await;
    settle(&app).await;
    let delivery = &got[0];
    assert!(
        verify(own["secret"].as_str().unwrap(), delivery),
        "{delivery:?}"
    );
    assert!(!verify(platform["secret"].as_str().unwrap(), delivery));
    assert_eq!(delivery.body["type"], "customer.updated");
    assert_eq!(delivery.body["id"], delivery.id.as_str());
    assert_eq!(delivery.body["data"]["name"], "Ana Lima");
    // The same event, as the feed serves it.
    let feed = app
        .get_json(
            &format!("/v1/organizers/{}/events?types=customer.updated", id(&a)),
            &admin,
        )
        .await;
    assert_eq!(feed["data"][0], delivery.body, "{feed}");
    let platform_got = receiver.wait_for("/platform", 1).await;
    assert!(verify(
        platform["secret"].as_str().unwrap(),
        &platform_got[0]
    ));
    assert_eq!(platform_got[0].id, delivery.id);
    // Nothing for the endpoints that do not hear it, once every delivery has been sent.
    let paths: Vec<String> = receiver.received().into_iter().map(|r| r.path).collect();
    let mut paths = paths;
    paths.sort();
    assert_eq!(paths, ["/a", "/platform"]);
    let log = deliveries(&app, &own).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["state"], "delivered");
    assert_eq!(log[0]["attempt_log"][0]["status_code"], 200);
    assert_eq!(log[0]["attempt_log"][0]["response"], "thanks");
    // The secret is shown once.
    let read = app
        .get_json(&format!("/v1/webhook-endpoints/{}", id(&own)), &admin)
        .await;
    assert_eq!(read.get("secret"), None, "{read}");
}

async fn a_rotated_secret_signs_beside_the_old_one_until_it_expires(app: TestApp) {
    let receiver = Receiver::start().await;
    let a = app.create_organizer("A", ACCOUNT_A).await;
    let admin = app.admin_token();
    let created = endpoint(
        &app,
        &admin,
        json!({ "url": receiver.url("/a"), "organizer_id": id(&a) }),
    )
    .await;
    let old = created["secret"].as_str().unwrap().to_string();
    let rotate = format!("/v1/webhook-endpoints/{}/rotate-secret", id(&created));
    let response = app
        .post(
            &rotate,
            &admin,
            &json!({ "previous_expires_in_secs": 3600 }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let rotated: Value = response.json().await.unwrap();
    let new = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(new, old);

    let customer = Customer::new(&app, &a, "ana@example.com").await;
    customer.rename(&app, "Ana 1").await;
    let got = receiver.wait_for("/a", 1).await;
    assert!(verify(&old, &got[0]) && verify(&new, &got[0]), "{got:?}");
    assert_eq!(got[0].signature.split(' ').count(), 2);

    // Rotated again at once: only the newest signs.
    let response = app
        .post(&rotate, &admin, &json!({ "previous_expires_in_secs": 0 }))
        .await;
    let newest: Value = response.json().await.unwrap();
    customer.rename(&app, "Ana 2").await;
    let got = receiver.wait_for("/a", 2).await;
    let last = &got[1];
    assert!(verify(newest["secret"].as_str().unwrap(), last));
    assert!(!verify(&new, last) && !verify(&old, last), "{last:?}");

    let response = app
        .post(&rotate, &admin, &json!({ "previous_expires_in_secs": -1 }))
        .await;
    let body = error_body(response, 422, "validation_failed").await;
    assert_eq!(error_fields(&body), ["previous_expires_in_secs"]);
}

async fn failed_attempts_are_retried_and_logged(app: TestApp) {
    let receiver = Receiver::start().await;
    let stalled = Receiver::start().await;
    stalled.answer(Answer::Stall);
    // A port nothing listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!(
            "http://127.0.0.1:{}/gone",
            listener.local_addr().unwrap().port()
        )
    };
    let a = app.create_organizer("A", ACCOUNT_A).await;
    let admin = app.admin_token();
    let erring = endpoint(
        &app,
        &admin,
        json!({ "url": receiver.url("/a"), "organizer_id": id(&a) }),
    )
    .await;
    let slow = endpoint(
        &app,
        &admin,
        json!({ "url": stalled.url("/slow"), "organizer_id": id(&a) }),
    )
    .await;
    let refused = endpoint(
        &app,
        &admin,
        json!({ "url": closed, "organizer_id": id(&a) }),
    )
    .await;
    receiver.answer(Answer::Status(500));

    Customer::new(&app, &a, "ana@example.com")
        .await
        .rename(&app, "Ana")
        .await;
    receiver.wait_for("/a", 1).await;
    settle(&app).await;
    let first = &deliveries(&app, &erring).await[0];
    assert_eq!(first["state"], "pending", "{first}");
    assert_eq!(first["attempts"], 1);
    assert_eq!(first["attempt_log"][0]["status_code"], 500);
    assert!(first["next_attempt_at"].is_string());
    let timed_out = &deliveries(&app, &slow).await[0];
    assert_eq!(
        timed_out["attempt_log"][0]["error"], "timed out",
        "{timed_out}"
    );
    assert_eq!(timed_out["attempt_log"][0]["status_code"], Value::Null);
    let not_connected = &deliveries(&app, &refused).await[0];
    let error = not_connected["attempt_log"][0]["error"].as_str().unwrap();
    assert!(error.starts_with("could not connect"), "{error}");

    // The receiver is back: the retry delivers, with the same id.
    receiver.answer(Answer::Ok);
    retry_now(&app).await;
    let got = receiver.wait_for("/a", 2).await;
    assert_eq!(got[0].id, got[1].id);
    let done = &deliveries(&app, &erring).await[0];
    assert_eq!(done["state"], "delivered", "{done}");
    let statuses: Vec<&Value> = done["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|attempt| &attempt["status_code"])
        .collect();
    assert_eq!(statuses, [&json!(500), &json!(200)]);
    assert_eq!(done["next_attempt_at"], Value::Null);
}

async fn an_objects_events_arrive_in_order(app: TestApp) {
    let receiver = Receiver::start().await;
    let a = app.create_organizer("A", ACCOUNT_A).await;
    let admin = app.admin_token();
    let _endpoint = endpoint(
        &app,
        &admin,
        json!({ "url": receiver.url("/a"), "organizer_id": id(&a) }),
    )
    .await;
    receiver.answer(Answer::Status(503));
    let customer = Customer::new(&app, &a, "ana@example.com").await;
    customer.rename(&app, "Ana 1").await;
    receiver.wait_for("/a", 1).await;
    settle(&app).await;
    customer.rename(&app, "Ana 2").await;
    customer.rename(&app, "Ana 3").await;
    settle(&app).await;
    // The later changes wait while the first is being retried.
    assert_eq!(receiver.received().len(), 1);

    receiver.answer(Answer::Ok);
    for _ in 0..3 {
        retry_now(&app).await;
    }
    let got = receiver.wait_for("/a", 4).await;
    let names: Vec<&str> = got[1..]
        .iter()
        .map(|r| r.body["data"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Ana 1", "Ana 2", "Ana 3"]);
    let sequences: Vec<i64> = got[1..]
        .iter()
        .map(|r| r.body["sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(sequences, [1, 2, 3]);
}

async fn events_are_replayed_one_or_a_span_at_a_time(app: TestApp) {
    let receiver = Receiver::start().await;
    let a = app.create_organizer("A", ACCOUNT_A).await;
    let token = app.organizer_token(id(&a));
    let created = endpoint(&app, &token, json!({ "url": receiver.url("/a") })).await;
    // After the organizer's registration (told as `organizer.account_updated`).
    let start = chrono::Utc::now();
    let customer = Customer::new(&app, &a, "ana@example.com").await;
    customer.rename(&app, "Ana 1").await;
    customer.rename(&app, "Ana 2").await;
    let got = receiver.wait_for("/a", 2).await;
    settle(&app).await;
    let replay = format!("/v1/webhook-endpoints/{}/replay", id(&created));

    let response = app
        .post(&replay, &token, &json!({ "event_id": got[0].id }))
        .await;
    assert_eq!(response.status(), 202);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["replayed"], 1);
    let again = receiver.wait_for("/a", 3).await;
    assert_eq!(again[2].id, got[0].id);
    assert!(verify(created["secret"].as_str().unwrap(), &again[2]));

    let response = app.post(&replay, &token, &json!({ "since": start })).await;
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["replayed"], 2, "{answer}");
    receiver.wait_for("/a", 5).await;

    let unknown = json!({ "event_id": uuid::Uuid::now_v7().to_string() });
    let response = app.post(&replay, &token, &unknown).await;
    error_body(response, 404, "event_not_found").await;
    let both = json!({ "event_id": got[0].id, "since": start });
    let response = app.post(&replay, &token, &both).await;
    let body = error_body(response, 422, "validation_failed").await;
    assert_eq!(error_fields(&body), ["event_id"]);
    let response = app.post(&replay, &token, &json!({})).await;
    error_body(response, 422, "validation_failed").await;
}

async fn an_endpoint_failing_for_days_is_disabled_and_its_organizer_told(app: TestApp) {
    let receiver = Receiver::start().await;
    let a = app.create_organizer("A", ACCOUNT_A).await;
    let admin = app.admin_token();
    let created = endpoint(
        &app,
        &admin,
        json!({ "url": receiver.url("/a"), "organizer_id": id(&a) }),
    )
    .await;
    receiver.answer(Answer::Status(500));
    let customer = Customer::new(&app, &a, "ana@example.com").await;
    customer.rename(&app, "Ana 1").await;
    receiver.wait_for("/a", 1).await;
    settle(&app).await;
    let path = format!("/v1/webhook-endpoints/{}", id(&created));
    let failing = app.get_json(&path, &admin).await;
    assert!(failing["failing_since"].is_string(), "{failing}");
    assert_eq!(failing["enabled"], true);

    // It has been failing for six days: the next failure disables it.
    let (before, _) = scrape(&app, &app.address).await;
    let sql = "UPDATE webhook_endpoints SET failing_since = '2000-01-01 00:00:00'";
    app.execute_sql(sql, sql).await;
    retry_now(&app).await;
    let disabled = app.get_json(&path, &admin).await;
    assert_eq!(disabled["enabled"], false, "{disabled}");
    assert_eq!(disabled["disabled_reason"], "failing");
    let feed = app
        .get_json(
            &format!("/v1/organizers/{}/events?types=endpoint.disabled", id(&a)),
            &admin,
        )
        .await;
    assert_eq!(feed["data"][0]["data"]["id"], id(&created), "{feed}");
    let (after, _) = scrape(&app, &app.address).await;
    moved(
        &before,
        &after,
        "gateway_outbound_webhook_endpoints_disabled_total",
        1.0,
    );
    let retrying = r#"gateway_outbound_webhooks_total{outcome="retrying"}"#;
    moved(&before, &after, retrying, 1.0);

    // Nothing is delivered to it, nor replayed, until it is enabled again.
    receiver.answer(Answer::Ok);
    customer.rename(&app, "Ana 2").await;
    retry_now(&app).await;
    assert_eq!(receiver.received().len(), 2);
    let replay = format!("{path}/replay");
    let response = app
        .post(&replay, &admin, &json!({ "since": "2000-01-01T00:00:00Z" }))
        .await;
    error_body(response, 409, "endpoint_disabled").await;
    let response = app.patch(&path, &admin, &json!({ "enabled": true })).await;
    let enabled: Value = response.json().await.unwrap();
    assert_eq!(enabled["enabled"], true);
    assert_eq!(enabled["disabled_reason"], Value::Null);
    assert_eq!(enabled["failing_since"], Value::Null);
    retry_now(&app).await;
    let got = receiver.wait_for("/a", 3).await;
    assert_eq!(got[2].body["data"]["name"], "Ana 1");
}
