//! Refunds through the gateway: checked against the mirror before Stripe is called, created on
//! the organizer's account with the gateway's ids, recorded at once, kept by their events.

use serde_json::{json, Value};

use crate::checkout::organizer_with_fee;
use crate::helpers::webhooks::event;
use crate::helpers::{backend_tests, TestApp, WEBHOOK_SECRET};

backend_tests!(
    a_paid_ticket_is_refunded_in_part_then_in_full,
    refunds_are_refused_before_stripe_is_called,
    a_failed_refund_gives_its_amount_back_to_refund,
);

/// An organizer whose account's events reach this gateway.
async fn organizer(app: &TestApp, account: &str, fee: Option<i64>) -> Value {
    app.stripe
        .deliver_webhooks_to(&format!("{}/webhooks/stripe", app.address), WEBHOOK_SECRET);
    organizer_with_fee(app, account, fee).await
}

fn org_path(org: &Value) -> String {
    format!("/v1/organizers/{}", org["id"].as_str().unwrap())
}

/// A PaymentIntent of `amount` through the gateway, paid at the fake, its event settled.
async fn paid_intent(app: &TestApp, org: &Value, account: &str, amount: i64) -> String {
    let response = app
        .post(
            &format!("{}/payment-intents", org_path(org)),
            &app.admin_token(),
            &json!({ "email": "fan@example.com", "amount": amount, "currency": "eur" }),
        )
        .await;
    assert_eq!(response.status(), 201);
    let intent: Value = response.json().await.unwrap();
    let id = intent["id"].as_str().unwrap().to_string();
    let trigger =
        json!({ "type": "payment_intent.succeeded", "account": account, "payment_intent": id });
    app.trigger_settled(&trigger).await;
    id
}

fn refunds_path(org: &Value, payment: &str) -> String {
    format!("{}/payments/{payment}/refunds", org_path(org))
}

async fn refund(app: &TestApp, org: &Value, payment: &str, key: &str, body: Value) -> (u16, Value) {
    let token = app.organizer_token(org["id"].as_str().unwrap());
    let response = app
        .post_keyed(&refunds_path(org, payment), &token, key, &body)
        .await;
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn a_paid_ticket_is_refunded_in_part_then_in_full(app: TestApp) {
    let account = "acct_1Refunds000000001";
    let org = organizer(&app, account, Some(500)).await;
    let payment = paid_intent(&app, &org, account, 5000).await;
    let read = app
        .get_json(
            &format!("{}/payments/{payment}", org_path(&org)),
            &app.admin_token(),
        )
        .await;
    assert_eq!(read["status"], "succeeded", "{read}");
    assert_eq!(read["application_fee_amount"], 250);

    let part = json!({ "amount": 2000, "reason": "requested_by_customer",
                       "refund_application_fee": true, "metadata": { "ticket": "T-7" } });
    let (status, first) = refund(&app, &org, &payment, "refund-1", part.clone()).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["amount"], 2000);
    assert_eq!(first["status"], "succeeded");
    assert_eq!(first["payment_id"], payment.as_str());
    assert_eq!(first["reason"], "requested_by_customer");
    assert_eq!(first["metadata"]["ticket"], "T-7");
    assert_eq!(first["metadata"]["gateway_payment_id"], payment.as_str());
    assert_eq!(first["metadata"]["gateway_organizer_id"], org["id"]);
    let sent = app.stripe.requests_to("POST", "/v1/refunds");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].stripe_account.as_deref(), Some(account));
    assert!(sent[0].idempotency_key.is_some());
    let param = |name: &str| {
        sent[0]
            .params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    assert_eq!(param("payment_intent").as_deref(), Some(payment.as_str()));
    assert_eq!(param("amount").as_deref(), Some("2000"));
    assert_eq!(param("refund_application_fee").as_deref(), Some("true"));

    let payment_path = format!("{}/payments/{payment}", org_path(&org));
    let read = app.get_json(&payment_path, &app.admin_token()).await;
    assert_eq!(read["amount_refunded"], 2000, "{read}");

    // The same key again: the first answer, and no second refund.
    let (status, again) = refund(&app, &org, &payment, "refund-1", part).await;
    assert_eq!((status, &again["id"]), (201, &first["id"]), "{again}");
    assert_eq!(app.stripe.requests_to("POST", "/v1/refunds").len(), 1);

    // No amount: what is left. Then nothing is left, and Stripe is not asked.
    let (status, rest) = refund(&app, &org, &payment, "refund-2", json!({})).await;
    assert_eq!(status, 201, "{rest}");
    assert_eq!(rest["amount"], 3000);
    let (status, body) = refund(&app, &org, &payment, "refund-3", json!({})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "payment_fully_refunded");
    assert_eq!(app.stripe.requests_to("POST", "/v1/refunds").len(), 2);
    let read = app.get_json(&payment_path, &app.admin_token()).await;
    assert_eq!(read["amount_refunded"], 5000, "{read}");

    let list = app
        .get_json(&refunds_path(&org, &payment), &app.admin_token())
        .await;
    let amounts: Vec<&Value> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["amount"])
        .collect();
    assert_eq!(amounts.len(), 2, "{list}");
    assert!(
        amounts.contains(&&json!(2000)) && amounts.contains(&&json!(3000)),
        "{list}"
    );
}

async fn refunds_are_refused_before_stripe_is_called(app: TestApp) {
    let account = "acct_1Refunds000000002";
    let org = organizer(&app, account, None).await;
    let payment = paid_intent(&app, &org, account, 1200).await;
    let check = |status: u16, body: &Value, code: &str, field: Option<&str>| {
        assert_eq!(body["error"]["code"], code, "{body}");
        if let Some(field) = field {
            assert_eq!(status, 422, "{body}");
            assert_eq!(body["error"]["fields"][0]["field"], field, "{body}");
        }
    };
    let (status, body) = refund(&app, &org, &payment, "k1", json!({ "amount": 1201 })).await;
    check(status, &body, "validation_failed", Some("amount"));
    let (status, body) = refund(&app, &org, &payment, "k2", json!({ "amount": 0 })).await;
    check(status, &body, "validation_failed", Some("amount"));
    let (status, body) = refund(
        &app,
        &org,
        &payment,
        "k3",
        json!({ "reason": "changed_mind" }),
    )
    .await;
    check(status, &body, "validation_failed", Some("reason"));
    let (status, body) = refund(&app, &org, "pi_unknown", "k4", json!({})).await;
    assert_eq!(status, 404, "{body}");
    check(status, &body, "payment_not_found", None);

    // A payment not paid yet.
    let response = app
        .post(
            &format!("{}/payment-intents", org_path(&org)),
            &app.admin_token(),
            &json!({ "email": "late@example.com", "amount": 900, "currency": "eur" }),
        )
        .await;
    let unpaid: Value = response.json().await.unwrap();
    let unpaid_id = unpaid["id"].as_str().unwrap().to_string();
    let created = json!({ "id": unpaid_id, "object": "payment_intent" });
    let sent = event("payment_intent.created", Some(account), &created);
    app.deliver(&sent).await;
    app.settled(sent["id"].as_str().unwrap()).await;
    let (status, body) = refund(&app, &org, &unpaid_id, "k5", json!({})).await;
    assert_eq!(status, 409, "{body}");
    check(status, &body, "payment_not_refundable", None);

    // Another organizer: its token here, and this payment through its path.
    let stranger = organizer(&app, "acct_1Refunds000000003", None).await;
    let theirs = app.organizer_token(stranger["id"].as_str().unwrap());
    let response = app
        .post_keyed(&refunds_path(&org, &payment), &theirs, "k6", &json!({}))
        .await;
    assert_eq!(response.status(), 403);
    let (status, body) = refund(&app, &stranger, &payment, "k7", json!({})).await;
    assert_eq!(status, 404, "{body}");
    check(status, &body, "payment_not_found", None);
    let response = app.get(&refunds_path(&stranger, &payment), &theirs).await;
    assert_eq!(response.status(), 404);

    assert!(app.stripe.requests_to("POST", "/v1/refunds").is_empty());
}

async fn a_failed_refund_gives_its_amount_back_to_refund(app: TestApp) {
    let account = "acct_1Refunds000000004";
    let org = organizer(&app, account, None).await;
    let payment = paid_intent(&app, &org, account, 800).await;
    let (status, first) = refund(&app, &org, &payment, "r1", json!({})).await;
    assert_eq!(status, 201, "{first}");

    // The bank returned it: Stripe says so with refund.failed, and the mirror fetches it.
    let failed = json!({
        "id": first["id"], "object": "refund", "payment_intent": payment, "charge": null,
        "amount": 800, "currency": "eur", "status": "failed",
        "failure_reason": "expired_or_canceled_card", "reason": null,
        "metadata": first["metadata"], "created": 1_793_491_200,
    });
    app.stripe.put_object(Some(account), failed.clone());
    let sent = event("refund.failed", Some(account), &failed);
    app.deliver(&sent).await;
    let settled = app.settled(sent["id"].as_str().unwrap()).await;
    assert_eq!(settled["status"], "processed", "{settled}");
    let list = app
        .get_json(&refunds_path(&org, &payment), &app.admin_token())
        .await;
    assert_eq!(list["data"][0]["status"], "failed", "{list}");
    assert_eq!(
        list["data"][0]["failure_reason"],
        "expired_or_canceled_card"
    );

    // Only refunds that did not fail count: 800 is left to refund again, 801 is not.
    let payment_path = format!("{}/payments/{payment}", org_path(&org));
    let read = app.get_json(&payment_path, &app.admin_token()).await;
    assert_eq!(read["amount_refunded"], 0, "{read}");
    let (status, body) = refund(&app, &org, &payment, "r2", json!({ "amount": 801 })).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(app.stripe.requests_to("POST", "/v1/refunds").len(), 1);
}
