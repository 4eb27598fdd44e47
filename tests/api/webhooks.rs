//! `POST /webhooks/stripe`: what is verified, what is stored, and what is refused.

use reqwest::Method;
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::helpers::webhooks::{event, signature};
use crate::helpers::{
    backend_tests, error_body, spawn_app_with, Backend, TestApp, WEBHOOK_MAX_BODY_BYTES,
    WEBHOOK_SECRET,
};
use crate::support::fake_stripe::PLATFORM_ACCOUNT;

backend_tests!(
    a_signed_delivery_is_stored_before_it_is_acknowledged,
    forged_stale_and_unsigned_deliveries_are_refused_and_not_stored,
    during_a_rotation_any_v1_and_any_configured_secret_verifies,
    a_redelivery_is_acknowledged_and_stored_once,
    concurrent_redeliveries_of_one_event_store_it_once,
    one_committer_stores_concurrent_deliveries_while_readiness_is_probed,
    events_for_unknown_accounts_are_stored_but_not_processed,
    unhandled_types_are_stored_and_ignored,
    a_livemode_other_than_the_keys_is_refused,
    bodies_over_the_limit_and_non_events_are_refused,
    an_old_api_version_and_a_platform_event_are_accepted,
    without_a_secret_the_endpoint_asks_stripe_to_retry,
);

fn customer_object(id: &str) -> Value {
    json!({ "id": id, "object": "customer", "email": "x@example.com" })
}

async fn a_signed_delivery_is_stored_before_it_is_acknowledged(app: TestApp) {
    app.create_organizer("Org", "acct_1Stored").await;
    let sent = event(
        "product.created",
        Some("acct_1Stored"),
        &json!({"id": "prod_1", "object": "product"}),
    );
    let receipt = app.deliver(&sent).await;
    assert_eq!(
        receipt,
        json!({"received": true, "id": sent["id"], "duplicate": false})
    );
    // Acknowledged means committed: the very next read finds it.
    let stored = app.webhook_event(sent["id"].as_str().unwrap()).await;
    assert_eq!(stored["id"], sent["id"]);
    assert_eq!(stored["type"], "product.created");
    assert_eq!(stored["stripe_account_id"], "acct_1Stored");
    assert_eq!(stored["object_type"], "product");
    assert_eq!(stored["object_id"], "prod_1");
    assert_eq!(stored["livemode"], false);
    assert_eq!(
        stored["payload"], sent,
        "the raw body is kept for audit and replay"
    );
}

async fn forged_stale_and_unsigned_deliveries_are_refused_and_not_stored(app: TestApp) {
    let sent = event("customer.updated", None, &customer_object("cus_1"));
    let body = serde_json::to_vec(&sent).unwrap();
    let now = chrono::Utc::now().timestamp();
    let cases = [
        ("no header", None),
        ("another secret", Some(signature(&["whsec_forged"], &body))),
        (
            "stale",
            Some(gateway::stripe::sign(&[WEBHOOK_SECRET], now - 400, &body)),
        ),
        (
            "from the future",
            Some(gateway::stripe::sign(&[WEBHOOK_SECRET], now + 400, &body)),
        ),
        ("no v1", Some(format!("t={now}"))),
        ("garbage", Some("v1=zz,t=yesterday".to_string())),
    ];
    for (case, header) in cases {
        let response = app.deliver_raw(body.clone(), header).await;
        let error = error_body(response, 400, "invalid_signature").await;
        assert!(
            !error["error"]["message"].as_str().unwrap().is_empty(),
            "{case}"
        );
    }
    // A body changed after signing.
    let header = signature(&[WEBHOOK_SECRET], &body);
    let mut altered = sent.clone();
    altered["type"] = json!("customer.deleted");
    let response = app
        .deliver_raw(serde_json::to_vec(&altered).unwrap(), Some(header))
        .await;
    error_body(response, 400, "invalid_signature").await;
    let stored = app
        .get(
            &format!("/v1/admin/webhook-events/{}", sent["id"].as_str().unwrap()),
            &app.admin_token(),
        )
        .await;
    assert_eq!(stored.status(), 404, "nothing refused is stored");
}

async fn during_a_rotation_any_v1_and_any_configured_secret_verifies(backend: Backend) {
    let app = spawn_app_with(backend, |settings| {
        settings.webhooks.secrets = vec![
            SecretString::from("whsec_platform_endpoint"),
            SecretString::from("whsec_connect_endpoint"),
        ];
    })
    .await;
    for header_secrets in [
        vec!["whsec_platform_endpoint"],
        vec!["whsec_connect_endpoint"],
        vec!["whsec_retired", "whsec_connect_endpoint"],
        vec!["whsec_platform_endpoint", "whsec_retired"],
    ] {
        let sent = event("customer.updated", None, &customer_object("cus_r"));
        let body = serde_json::to_vec(&sent).unwrap();
        let response = app
            .deliver_raw(body.clone(), Some(signature(&header_secrets, &body)))
            .await;
        assert_eq!(response.status(), 200, "{header_secrets:?}");
    }
    let sent = event("customer.updated", None, &customer_object("cus_r"));
    let body = serde_json::to_vec(&sent).unwrap();
    let response = app
        .deliver_raw(
            body.clone(),
            Some(signature(&["whsec_retired", "whsec_other"], &body)),
        )
        .await;
    error_body(response, 400, "invalid_signature").await;
}

async fn a_redelivery_is_acknowledged_and_stored_once(app: TestApp) {
    let sent = event("customer.updated", None, &customer_object("cus_d"));
    assert_eq!(app.deliver(&sent).await["duplicate"], false);
    assert_eq!(app.deliver(&sent).await["duplicate"], true);
    let list = app
        .get_json(
            "/v1/admin/webhook-events?type=customer.updated",
            &app.admin_token(),
        )
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
}

async fn concurrent_redeliveries_of_one_event_store_it_once(app: TestApp) {
    let sent = event("customer.updated", None, &customer_object("cus_c"));
    let receipts = futures_util::future::join_all((0..8).map(|_| app.deliver(&sent))).await;
    let new = receipts.iter().filter(|r| r["duplicate"] == false).count();
    assert_eq!(new, 1, "exactly one delivery stored it: {receipts:?}");
    let list = app
        .get_json("/v1/admin/webhook-events", &app.admin_token())
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
}

/// The default of one committer: the deliveries queue behind one connection, which the
/// readiness probe also asks; each waits for the other, none is refused or lost.
async fn one_committer_stores_concurrent_deliveries_while_readiness_is_probed(backend: Backend) {
    let app = spawn_app_with(backend, |settings| settings.webhooks.webhook_committers = 1).await;
    let sent: Vec<Value> = (0..24)
        .map(|n| {
            event(
                "customer.updated",
                None,
                &customer_object(&format!("cus_one{n}")),
            )
        })
        .collect();
    let probe = || async {
        let response = app.request(Method::GET, "/readyz", None, None).await;
        response.status().as_u16()
    };
    let (receipts, probes) = futures_util::future::join(
        futures_util::future::join_all(sent.iter().map(|event| app.deliver(event))),
        futures_util::future::join_all((0..6).map(|_| probe())),
    )
    .await;
    for (receipt, event) in receipts.iter().zip(&sent) {
        assert_eq!(receipt["id"], event["id"], "{receipt}");
        assert_eq!(receipt["duplicate"], false, "{receipt}");
    }
    assert_eq!(
        probes,
        vec![200; 6],
        "the probe waits its turn, it is not refused"
    );
    let list = app
        .get_json("/v1/admin/webhook-events?limit=100", &app.admin_token())
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), sent.len(), "{list}");
}

async fn events_for_unknown_accounts_are_stored_but_not_processed(app: TestApp) {
    let sent = event(
        "product.updated",
        Some("acct_1NobodysAccount"),
        &json!({"id": "prod_u", "object": "product"}),
    );
    app.deliver(&sent).await;
    let stored = app.webhook_event(sent["id"].as_str().unwrap()).await;
    assert_eq!(stored["status"], "unknown_account", "{stored}");
    assert_eq!(stored["attempts"], 0);
    assert!(app
        .stripe
        .requests_to("GET", "/v1/products/prod_u")
        .is_empty());
}

async fn unhandled_types_are_stored_and_ignored(app: TestApp) {
    let sent = event(
        "balance.available",
        None,
        &json!({"object": "balance", "available": []}),
    );
    app.deliver(&sent).await;
    let stored = app.webhook_event(sent["id"].as_str().unwrap()).await;
    assert_eq!(stored["status"], "ignored", "{stored}");
    assert_eq!(stored["object_id"], Value::Null);
}

async fn a_livemode_other_than_the_keys_is_refused(app: TestApp) {
    // Test gateways run with an `sk_test_` key.
    let mut sent = event("customer.updated", None, &customer_object("cus_l"));
    sent["livemode"] = json!(true);
    let body = serde_json::to_vec(&sent).unwrap();
    let response = app
        .deliver_raw(body.clone(), Some(signature(&[WEBHOOK_SECRET], &body)))
        .await;
    error_body(response, 400, "livemode_mismatch").await;
    let stored = app
        .get(
            &format!("/v1/admin/webhook-events/{}", sent["id"].as_str().unwrap()),
            &app.admin_token(),
        )
        .await;
    assert_eq!(stored.status(), 404);
}

async fn bodies_over_the_limit_and_non_events_are_refused(app: TestApp) {
    let mut sent = event("customer.updated", None, &customer_object("cus_big"));
    sent["data"]["object"]["description"] = json!("x".repeat(WEBHOOK_MAX_BODY_BYTES));
    let body = serde_json::to_vec(&sent).unwrap();
    let response = app
        .deliver_raw(body.clone(), Some(signature(&[WEBHOOK_SECRET], &body)))
        .await;
    error_body(response, 400, "payload_too_large").await;
    for body in [
        b"not json".to_vec(),
        br#"{"id":"evt_x","type":"customer.updated","created":1,"livemode":false}"#.to_vec(),
        br#"[1,2,3]"#.to_vec(),
    ] {
        let response = app
            .deliver_raw(body.clone(), Some(signature(&[WEBHOOK_SECRET], &body)))
            .await;
        error_body(response, 400, "invalid_event").await;
    }
}

async fn an_old_api_version_and_a_platform_event_are_accepted(app: TestApp) {
    // A 2017 payload: fields since removed, and none of today's required ones.
    let sent = json!({
        "id": "evt_1OldVersion", "object": "event", "api_version": "2017-08-15",
        "created": chrono::Utc::now().timestamp(), "livemode": false, "pending_webhooks": 1,
        "request": "req_old", "type": "customer.updated",
        "data": {"object": {"id": "cus_old", "object": "customer", "account_balance": 0,
                            "sources": {"object": "list", "data": []}}}
    });
    app.deliver(&sent).await;
    let stored = app.webhook_event("evt_1OldVersion").await;
    assert_eq!(
        stored["stripe_account_id"], PLATFORM_ACCOUNT,
        "no `account`: the platform's own"
    );
    assert_eq!(stored["object_id"], "cus_old");
}

async fn without_a_secret_the_endpoint_asks_stripe_to_retry(backend: Backend) {
    let app = spawn_app_with(backend, |settings| settings.webhooks.secrets.clear()).await;
    let sent = event("customer.updated", None, &customer_object("cus_n"));
    let body = serde_json::to_vec(&sent).unwrap();
    let response = app
        .deliver_raw(body.clone(), Some(signature(&[WEBHOOK_SECRET], &body)))
        .await;
    error_body(response, 503, "not_ready").await;
}
