//! The two platforms the gateway is for, end to end through its API against the fake Stripe:
//! a ticketing platform (organizer onboarded through the gateway, tickets sold with the
//! platform's fee, one refunded with the fee given back) and a SaaS platform (subscribe, preview
//! and make an upgrade, cancel at period end, resume, read the invoices). Neither app talks to
//! Stripe.

use serde_json::{json, Value};

use crate::checkout::param;
use crate::helpers::{backend_tests, TestApp, WEBHOOK_SECRET};
use crate::support::fake_stripe::billing::price_json;

backend_tests!(
    a_ticketing_platform_onboards_an_organizer_sells_tickets_and_refunds_one,
    a_saas_platform_subscribes_upgrades_cancels_and_resumes,
);

fn org_path(org: &Value) -> String {
    format!("/v1/organizers/{}", org["id"].as_str().unwrap())
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    let response = app.post(path, token, &body).await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert!(
        status == 200 || status == 201,
        "POST {path}: {status} {body}"
    );
    body
}

async fn a_ticketing_platform_onboards_an_organizer_sells_tickets_and_refunds_one(app: TestApp) {
    app.stripe
        .deliver_webhooks_to(&format!("{}/webhooks/stripe", app.address), WEBHOOK_SECRET);
    let admin = app.admin_token();
    // The platform registers the organizer with its fees: 2.5% plus 0.50 EUR a ticket, and
    // refunds give the fee back.
    let org = post(
        &app,
        &admin,
        "/v1/organizers",
        json!({
            "name": "Harbour Nights",
            "application_fee_bps": 250,
            "ticket_fees": { "eur": 50 },
            "refund_application_fee": true,
        }),
    )
    .await;
    assert_eq!(org["ticket_fees"], json!({ "eur": 50 }));
    let organizer = app.organizer_token(org["id"].as_str().unwrap());
    let path = org_path(&org);

    // Onboarding: the account, a link, and Stripe's word that it is done.
    let created = post(
        &app,
        &organizer,
        &format!("{path}/stripe-account"),
        json!({ "country": "NL" }),
    )
    .await;
    let account = created["stripe_account_id"].as_str().unwrap().to_string();
    let link = post(
        &app,
        &organizer,
        &format!("{path}/onboarding-links"),
        json!({
            "refresh_url": "https://tickets.example/onboarding/refresh",
            "return_url": "https://tickets.example/onboarding/done",
        }),
    )
    .await;
    assert!(link["url"].as_str().unwrap().contains(&account));
    app.trigger_settled(&json!({ "type": "account.updated", "account": account }))
        .await;
    let read = app.get_json(&path, &admin).await;
    assert_eq!(read["account"]["charges_enabled"], true, "{read}");

    // Two tickets of 20 EUR: the fee is 2.5% of 40 EUR plus twice 0.50 EUR.
    let checkout = post(
        &app,
        &organizer,
        &format!("{path}/checkout-sessions"),
        json!({
            "email": "fan@example.com",
            "mode": "payment",
            "line_items": [{ "name": "Harbour Nights, standing", "unit_amount": 2000, "currency": "eur", "quantity": 2 }],
            "success_url": "https://tickets.example/paid",
            "cancel_url": "https://tickets.example/cart",
        }),
    )
    .await;
    assert_eq!(checkout["application_fee_amount"], 200, "{checkout}");
    let sent = app.stripe.requests_to("POST", "/v1/checkout/sessions");
    assert_eq!(sent[0].stripe_account.as_deref(), Some(account.as_str()));
    assert_eq!(
        param(&sent[0], "payment_intent_data[application_fee_amount]"),
        Some("200")
    );

    // The buyer pays; the app reads the payment from the gateway.
    app.trigger_settled(&json!({
        "type": "checkout.session.completed", "account": account, "session": checkout["id"],
    }))
    .await;
    let payments = app.get_json(&format!("{path}/payments"), &organizer).await;
    let payment = &payments["data"][0];
    assert_eq!(payment["status"], "succeeded", "{payments}");
    assert_eq!(payment["amount"], 4000);
    assert_eq!(payment["application_fee_amount"], 200);
    assert_eq!(
        payment["checkout_session_id"], checkout["id"],
        "the order it pays"
    );
    let session = app
        .get_json(
            &format!(
                "{path}/checkout-sessions/{}",
                checkout["id"].as_str().unwrap()
            ),
            &organizer,
        )
        .await;
    assert_eq!(session["payment_id"], payment["id"], "{session}");
    let payment_id = payment["id"].as_str().unwrap().to_string();

    // One ticket refunded; the organizer's default gives the fee back in proportion.
    let refund = post(
        &app,
        &organizer,
        &format!("{path}/payments/{payment_id}/refunds"),
        json!({ "amount": 2000, "reason": "requested_by_customer" }),
    )
    .await;
    assert_eq!(refund["amount"], 2000, "{refund}");
    let sent = app.stripe.requests_to("POST", "/v1/refunds");
    assert_eq!(param(&sent[0], "refund_application_fee"), Some("true"));
    assert_eq!(sent[0].stripe_account.as_deref(), Some(account.as_str()));
    let refunds = app
        .get_json(&format!("{path}/payments/{payment_id}/refunds"), &organizer)
        .await;
    assert_eq!(refunds["data"][0]["status"], "succeeded", "{refunds}");
    let read = app
        .get_json(&format!("{path}/payments/{payment_id}"), &organizer)
        .await;
    assert_eq!(read["amount_refunded"], 2000, "{read}");
}

const SAAS_ACCOUNT: &str = "acct_1SaasPlatform0001";

async fn a_saas_platform_subscribes_upgrades_cancels_and_resumes(app: TestApp) {
    app.stripe
        .deliver_webhooks_to(&format!("{}/webhooks/stripe", app.address), WEBHOOK_SECRET);
    let org = app.create_organizer("Ledgerly", SAAS_ACCOUNT).await;
    let token = app.organizer_token(org["id"].as_str().unwrap());
    let path = org_path(&org);
    // The plans, as the organizer set them up in Stripe.
    for price in [
        price_json("price_team", "prod_ledgerly", 1000, Some("month")),
        price_json("price_business", "prod_ledgerly", 3000, Some("month")),
    ] {
        app.put_and_settle(SAAS_ACCOUNT, "price.created", price)
            .await;
    }

    // Subscribe through a Checkout the gateway makes; the buyer pays.
    let checkout = post(
        &app,
        &token,
        &format!("{path}/checkout-sessions"),
        json!({
            "email": "cfo@acme.example",
            "mode": "subscription",
            "line_items": [{ "price": "price_team", "quantity": 1 }],
            "success_url": "https://app.ledgerly.example/billing",
            "cancel_url": "https://app.ledgerly.example/pricing",
        }),
    )
    .await;
    app.trigger_settled(&json!({
        "type": "checkout.session.completed", "account": SAAS_ACCOUNT, "session": checkout["id"],
    }))
    .await;
    let customer = checkout["customer_id"].as_str().unwrap();
    let subscriptions = app
        .get_json(
            &format!("{path}/customers/{customer}/subscriptions"),
            &token,
        )
        .await;
    let subscription = &subscriptions["data"][0];
    assert_eq!(subscription["status"], "active", "{subscriptions}");
    let sub_path = format!(
        "{path}/subscriptions/{}",
        subscription["id"].as_str().unwrap()
    );

    // The upgrade, previewed with its proration, then made.
    let preview = app
        .get_json(&format!("{sub_path}/preview?price=price_business"), &token)
        .await;
    assert_eq!(preview["currency"], "eur", "{preview}");
    assert!(preview["amount_due"].as_i64().unwrap() > 0, "{preview}");
    let change = |body: Value| {
        let (app, token, sub_path) = (&app, &token, &sub_path);
        async move {
            let response = app
                .request(reqwest::Method::PATCH, sub_path, Some(token), Some(&body))
                .await;
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let upgraded =
        change(json!({ "price": "price_business", "proration_behavior": "create_prorations" }))
            .await;
    assert_eq!(
        upgraded["items"][0]["price"], "price_business",
        "{upgraded}"
    );
    let ending = change(json!({ "cancel_at_period_end": true })).await;
    assert_eq!(ending["cancel_at_period_end"], true);
    let resumed = change(json!({ "cancel_at_period_end": false })).await;
    assert_eq!(
        (&resumed["cancel_at_period_end"], &resumed["status"]),
        (&json!(false), &json!("active"))
    );

    // The billing page: the customer's invoices, the first one paid.
    let invoices = app
        .get_json(&format!("{path}/customers/{customer}/invoices"), &token)
        .await;
    let first = &invoices["data"][0];
    assert_eq!(
        (&first["status"], &first["amount_paid"]),
        (&json!("paid"), &json!(1000)),
        "{invoices}"
    );
    assert_eq!(first["subscription"], subscription["id"]);
}
