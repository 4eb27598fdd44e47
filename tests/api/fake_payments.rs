//! The fake Stripe finishes payments as Stripe would (`POST /_fake/trigger`): a Checkout Session
//! paid, a PaymentIntent that succeeds or fails, a refund, an account updated; the events reach
//! the gateway, whose mirror follows by re-fetching.

use serde_json::{json, Value};

use crate::checkout::{checkout_by_email, organizer_with_fee, sessions_path, ticket};
use crate::helpers::{backend_tests, TestApp, WEBHOOK_SECRET};

backend_tests!(
    a_paid_checkout_goes_from_open_to_paid_in_the_mirror,
    a_paid_subscription_checkout_subscribes_the_customer,
    payment_intents_fail_succeed_and_are_refunded,
);

/// Triggers at the fake; asserts each event was delivered and stored, and waits until each is
/// settled. Returns the trigger's answer.
async fn trigger(app: &TestApp, body: Value) -> Value {
    let response = app
        .client
        .post(format!("{}/_fake/trigger", app.stripe.base_url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{body}");
    let triggered: Value = response.json().await.unwrap();
    for event in triggered["events"].as_array().unwrap() {
        assert_eq!(event["delivery_status"], 200, "{triggered}");
        let settled = app.settled(event["id"].as_str().unwrap()).await;
        assert!(
            ["processed", "ignored"].contains(&settled["status"].as_str().unwrap()),
            "{settled}"
        );
    }
    triggered
}

/// The buyer pays the Checkout Session `session`.
async fn pay(app: &TestApp, account: &str, session: &Value) -> Value {
    let completed =
        json!({ "type": "checkout.session.completed", "account": account, "session": session });
    trigger(app, completed).await
}

/// What the fake answers a trigger it refuses.
async fn refused(app: &TestApp, body: Value) -> u16 {
    let url = format!("{}/_fake/trigger", app.stripe.base_url);
    let response = app.client.post(url).json(&body).send().await.unwrap();
    response.status().as_u16()
}

fn types(triggered: &Value) -> Vec<&str> {
    triggered["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["type"].as_str().unwrap())
        .collect()
}

async fn organizer(app: &TestApp, account: &str, fee: Option<i64>) -> Value {
    app.stripe
        .deliver_webhooks_to(&format!("{}/webhooks/stripe", app.address), WEBHOOK_SECRET);
    organizer_with_fee(app, account, fee).await
}

async fn a_paid_checkout_goes_from_open_to_paid_in_the_mirror(app: TestApp) {
    let account = "acct_1FakePaid0000001";
    let org = organizer(&app, account, Some(250)).await;
    let mut body = checkout_by_email("ana@example.com", json!([ticket(2)]));
    body["metadata"] = json!({ "order_id": "1042" });
    let response = app
        .post(&sessions_path(&org), &app.admin_token(), &body)
        .await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let path = format!(
        "{}/{}",
        sessions_path(&org),
        created["id"].as_str().unwrap()
    );
    let open = app.get_json(&path, &app.admin_token()).await;
    assert_eq!(
        (open["status"].as_str(), open["payment_status"].as_str()),
        (Some("open"), Some("unpaid")),
        "{open}"
    );

    let paid = pay(&app, account, &created["id"]).await;
    assert_eq!(
        types(&paid),
        [
            "checkout.session.completed",
            "payment_intent.succeeded",
            "charge.succeeded"
        ]
    );
    let session = app.get_json(&path, &app.admin_token()).await;
    assert_eq!(
        (
            session["status"].as_str(),
            session["payment_status"].as_str()
        ),
        (Some("complete"), Some("paid")),
        "{session}"
    );
    // The PaymentIntent it created leads back to the gateway, with the fee.
    let intent_event = paid["events"][1]["id"].as_str().unwrap();
    let stored = app.webhook_event(intent_event).await;
    let intent = &stored["payload"]["data"]["object"];
    assert_eq!(intent["status"], "succeeded", "{intent}");
    assert_eq!(
        intent["metadata"]["gateway_customer_id"],
        created["customer_id"]
    );
    assert_eq!(intent["metadata"]["order_id"], "1042");
    assert_eq!(intent["application_fee_amount"], 245);
    // Paid once: a second completion is refused.
    let again = json!({ "type": "checkout.session.completed", "account": account, "session": created["id"] });
    assert_eq!(refused(&app, again).await, 404);
}

async fn a_paid_subscription_checkout_subscribes_the_customer(app: TestApp) {
    let account = "acct_1FakePaid0000002";
    let org = organizer(&app, account, None).await;
    let mut body = checkout_by_email(
        "bo@example.com",
        json!([{ "name": "Monthly", "unit_amount": 900, "currency": "eur", "quantity": 1,
                 "recurring": { "interval": "month" } }]),
    );
    body["mode"] = json!("subscription");
    let response = app
        .post(&sessions_path(&org), &app.admin_token(), &body)
        .await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let paid = pay(&app, account, &created["id"]).await;
    assert_eq!(
        types(&paid),
        [
            "checkout.session.completed",
            "customer.subscription.created",
            "payment_intent.succeeded",
            "charge.succeeded",
            "invoice_payment.paid",
            "invoice.paid"
        ]
    );
    let subscriptions = app
        .get_json(
            &format!(
                "/v1/organizers/{}/customers/{}/subscriptions",
                org["id"].as_str().unwrap(),
                created["customer_id"].as_str().unwrap()
            ),
            &app.admin_token(),
        )
        .await;
    let first = &subscriptions["data"][0];
    assert_eq!(
        first["id"], paid["events"][1]["object_id"],
        "{subscriptions}"
    );
    assert_eq!(first["status"], "active", "{subscriptions}");
}

async fn payment_intents_fail_succeed_and_are_refunded(app: TestApp) {
    let account = "acct_1FakePaid0000003";
    let org = organizer(&app, account, None).await;
    let response = app
        .post(
            &format!(
                "/v1/organizers/{}/payment-intents",
                org["id"].as_str().unwrap()
            ),
            &app.admin_token(),
            &json!({ "email": "cy@example.com", "amount": 4900, "currency": "eur" }),
        )
        .await;
    assert_eq!(response.status(), 201);
    let intent: Value = response.json().await.unwrap();
    let at =
        |kind: &str| json!({ "type": kind, "account": account, "payment_intent": intent["id"] });
    let failed = trigger(&app, at("payment_intent.payment_failed")).await;
    assert_eq!(types(&failed), ["payment_intent.payment_failed"]);
    assert_eq!(
        refused(&app, at("charge.refunded")).await,
        404,
        "nothing was charged yet"
    );
    let succeeded = trigger(&app, at("payment_intent.succeeded")).await;
    assert_eq!(
        types(&succeeded),
        ["payment_intent.succeeded", "charge.succeeded"]
    );
    let refunded = trigger(&app, at("charge.refunded")).await;
    assert_eq!(types(&refunded), ["charge.refunded", "refund.created"]);
    let updated = trigger(
        &app,
        json!({ "type": "account.updated", "account": account }),
    )
    .await;
    assert_eq!(types(&updated), ["account.updated"]);
}
