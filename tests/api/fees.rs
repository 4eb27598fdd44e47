//! The platform's fee model: a share in basis points plus a fixed fee per ticket per currency,
//! an admin's amount for one payment, checked before Stripe is called.

use serde_json::{json, Value};

use crate::checkout::param;
use crate::helpers::{backend_tests, error_fields, TestApp};

backend_tests!(
    ticket_fees_are_checked_set_and_cleared,
    a_fee_per_ticket_is_added_per_unit_and_never_exceeds_the_payment,
    only_an_admin_sets_one_payment_fee_within_the_cap,
);

const ACCOUNT: &str = "acct_1FeeModel0000001";

async fn organizer(app: &TestApp, fees: Value) -> Value {
    app.stripe.add_connected_account(ACCOUNT);
    let mut body = json!({ "name": "Fees", "stripe_account_id": ACCOUNT });
    body.as_object_mut()
        .unwrap()
        .extend(fees.as_object().unwrap().clone());
    let response = app.post("/v1/organizers", &app.admin_token(), &body).await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn intent(app: &TestApp, org: &Value, token: &str, body: Value) -> (u16, Value) {
    let path = format!(
        "/v1/organizers/{}/payment-intents",
        org["id"].as_str().unwrap()
    );
    let response = app.post(&path, token, &body).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn ticket_fees_are_checked_set_and_cleared(app: TestApp) {
    let response = app
        .post(
            "/v1/organizers",
            &app.admin_token(),
            &json!({ "name": "Bad", "ticket_fees": { "EUR": 50, "usd": -1, "gbp": 1.5 } }),
        )
        .await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        error_fields(&body),
        ["ticket_fees.gbp"],
        "not a whole number: {body}"
    );
    let response = app
        .post(
            "/v1/organizers",
            &app.admin_token(),
            &json!({ "name": "Bad", "ticket_fees": { "EUR": 50, "usd": -1 } }),
        )
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        error_fields(&body),
        ["ticket_fees.EUR", "ticket_fees.usd"],
        "{body}"
    );

    let org = organizer(&app, json!({ "ticket_fees": { "eur": 50, "usd": 60 } })).await;
    assert_eq!(org["ticket_fees"], json!({ "eur": 50, "usd": 60 }));
    assert_eq!(org["refund_application_fee"], false);
    let path = format!("/v1/organizers/{}", org["id"].as_str().unwrap());
    let patch = |body: Value| {
        let (app, path) = (&app, &path);
        async move {
            let response = app
                .request(
                    reqwest::Method::PATCH,
                    path,
                    Some(&app.admin_token()),
                    Some(&body),
                )
                .await;
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let changed =
        patch(json!({ "ticket_fees": { "eur": 75 }, "refund_application_fee": true })).await;
    assert_eq!(
        changed["ticket_fees"],
        json!({ "eur": 75 }),
        "an object replaces them all"
    );
    assert_eq!(changed["refund_application_fee"], true);
    let cleared = patch(json!({ "ticket_fees": null })).await;
    assert_eq!(cleared["ticket_fees"], json!({}));
    assert_eq!(cleared["refund_application_fee"], true, "left as it was");
}

async fn a_fee_per_ticket_is_added_per_unit_and_never_exceeds_the_payment(app: TestApp) {
    let org = organizer(
        &app,
        json!({ "application_fee_bps": 100, "ticket_fees": { "eur": 40 } }),
    )
    .await;
    let token = app.organizer_token(org["id"].as_str().unwrap());
    let path = format!(
        "/v1/organizers/{}/checkout-sessions",
        org["id"].as_str().unwrap()
    );
    let body = |unit_amount: i64, currency: &str| {
        json!({
            "email": "fan@example.com", "mode": "payment",
            "line_items": [
                { "name": "Seat", "unit_amount": unit_amount, "currency": currency, "quantity": 3 },
                { "name": "Parking", "unit_amount": unit_amount, "currency": currency, "quantity": 1 },
            ],
            "success_url": "https://tickets.example/paid", "cancel_url": "https://tickets.example/cart",
        })
    };
    // 4 units of 10.00 EUR: 1% of 40.00 plus 4 × 0.40.
    let response = app.post(&path, &token, &body(1000, "eur")).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["application_fee_amount"], 200, "{created}");
    assert_eq!(created["application_fee_percent"], Value::Null);
    let fee_sent = |app: &TestApp| {
        let sent = app.stripe.requests_to("POST", "/v1/checkout/sessions");
        let last = sent.last().expect("a checkout reached Stripe");
        param(last, "payment_intent_data[application_fee_amount]").map(str::to_string)
    };
    assert_eq!(fee_sent(&app).as_deref(), Some("200"), "what Stripe takes");
    // No fee per ticket in USD: only the share.
    let response = app.post(&path, &token, &body(1000, "usd")).await;
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["application_fee_amount"], 40, "{created}");
    assert_eq!(fee_sent(&app).as_deref(), Some("40"));
    // Four 0.30 EUR items would pay 1.60 EUR of fees on 1.20 EUR: refused before Stripe.
    let before = app
        .stripe
        .requests_to("POST", "/v1/checkout/sessions")
        .len();
    let response = app.post(&path, &token, &body(30, "eur")).await;
    assert_eq!(response.status(), 422);
    let refused: Value = response.json().await.unwrap();
    assert_eq!(error_fields(&refused), ["line_items"], "{refused}");
    assert_eq!(
        app.stripe
            .requests_to("POST", "/v1/checkout/sessions")
            .len(),
        before
    );
    // A payment intent is one ticket.
    let (status, created) = intent(
        &app,
        &org,
        &token,
        json!({ "email": "fan@example.com", "amount": 5000, "currency": "eur" }),
    )
    .await;
    assert_eq!(
        (status, &created["application_fee_amount"]),
        (201, &json!(90)),
        "{created}"
    );
    let sent = app.stripe.requests_to("POST", "/v1/payment_intents");
    assert_eq!(param(&sent[0], "application_fee_amount"), Some("90"));
}

async fn only_an_admin_sets_one_payment_fee_within_the_cap(app: TestApp) {
    let org = organizer(&app, json!({ "application_fee_bps": 100 })).await;
    let organizer_token = app.organizer_token(org["id"].as_str().unwrap());
    let body = |fee: i64| json!({ "email": "fan@example.com", "amount": 10000, "currency": "eur", "application_fee_amount": fee });
    let (status, refused) = intent(&app, &org, &organizer_token, body(0)).await;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (403, &json!("forbidden")),
        "{refused}"
    );
    // The platform's cap in tests is 30% (3000 basis points) of the payment.
    let (status, refused) = intent(&app, &org, &app.admin_token(), body(3001)).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(error_fields(&refused), ["application_fee_amount"]);
    assert!(app
        .stripe
        .requests_to("POST", "/v1/payment_intents")
        .is_empty());
    let (status, created) = intent(&app, &org, &app.admin_token(), body(3000)).await;
    assert_eq!(
        (status, &created["application_fee_amount"]),
        (201, &json!(3000)),
        "{created}"
    );
    let sent = app.stripe.requests_to("POST", "/v1/payment_intents");
    assert_eq!(param(&sent[0], "application_fee_amount"), Some("3000"));
    let (status, created) = intent(&app, &org, &app.admin_token(), body(0)).await;
    assert_eq!(
        (status, &created["application_fee_amount"]),
        (201, &Value::Null),
        "no fee at all"
    );
    let sent = app.stripe.requests_to("POST", "/v1/payment_intents");
    let last = sent.last().unwrap();
    assert_eq!(
        param(last, "application_fee_amount"),
        None,
        "none sent to Stripe either"
    );
}
