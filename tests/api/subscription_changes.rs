//! Subscription changes from the platform's backend: upgrade with proration, cancel at the
//! period's end, resume, cancel now; refused before Stripe when they cannot apply.

use serde_json::{json, Value};

use crate::checkout::param;
use crate::helpers::{backend_tests, TestApp};
use crate::support::fake_stripe::billing::{price_json, subscription_json};

backend_tests!(
    an_upgrade_is_previewed_with_its_prorations_and_nothing_changes,
    a_subscription_is_upgraded_cancelled_at_period_end_resumed_and_cancelled,
    subscription_changes_are_refused_before_stripe_is_called,
);

const ACCOUNT: &str = "acct_1SubChanges00001";

/// An organizer with a customer subscribed to `price_gold` (monthly), `price_platinum` and a
/// one-time `price_pass` in its catalog, all mirrored. Returns the organizer and the customer.
async fn subscribed(app: &TestApp) -> (Value, Value) {
    let org = app.create_organizer("Subscriptions", ACCOUNT).await;
    let buyer = app
        .create_customer(org["id"].as_str().unwrap(), "member@example.com")
        .await;
    let stripe_id = buyer["stripe_customer_id"].as_str().unwrap();
    for price in [
        price_json("price_gold", "prod_club", 1000, Some("month")),
        price_json("price_platinum", "prod_club", 2500, Some("month")),
        price_json("price_pass", "prod_club", 500, None),
    ] {
        app.put_and_settle(ACCOUNT, "price.created", price).await;
    }
    let subscription = subscription_json("sub_member", stripe_id, "price_gold", "active");
    app.put_and_settle(ACCOUNT, "customer.subscription.created", subscription)
        .await;
    (org, buyer)
}

fn path(org: &Value, subscription: &str) -> String {
    format!(
        "/v1/organizers/{}/subscriptions/{subscription}",
        org["id"].as_str().unwrap()
    )
}

async fn change(app: &TestApp, org: &Value, body: Value) -> (u16, Value) {
    let token = app.organizer_token(org["id"].as_str().unwrap());
    let response = app
        .request(
            reqwest::Method::PATCH,
            &path(org, "sub_member"),
            Some(&token),
            Some(&body),
        )
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn cancel(app: &TestApp, org: &Value, subscription: &str) -> (u16, Value) {
    let token = app.organizer_token(org["id"].as_str().unwrap());
    let response = app
        .request(
            reqwest::Method::DELETE,
            &path(org, subscription),
            Some(&token),
            None,
        )
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// The customer's subscriptions as the mirror serves them.
async fn mirrored(app: &TestApp, org: &Value, buyer: &Value) -> Value {
    let path = format!(
        "/v1/organizers/{}/customers/{}/subscriptions",
        org["id"].as_str().unwrap(),
        buyer["id"].as_str().unwrap()
    );
    app.get_json(&path, &app.admin_token()).await
}

async fn preview(app: &TestApp, org: &Value, query: &str) -> (u16, Value) {
    let token = app.organizer_token(org["id"].as_str().unwrap());
    let response = app
        .get(
            &format!("{}/preview?{query}", path(org, "sub_member")),
            &token,
        )
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn an_upgrade_is_previewed_with_its_prorations_and_nothing_changes(app: TestApp) {
    let (org, buyer) = subscribed(&app).await;
    let (status, prorated) = preview(&app, &org, "price=price_platinum").await;
    assert_eq!(status, 200, "{prorated}");
    assert_eq!(prorated["currency"], "eur");
    let amounts: Vec<&Value> = prorated["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| &line["amount"])
        .collect();
    // The fake's simple proration: half a period of each price, then the new price's period.
    assert_eq!(
        amounts,
        [&json!(-500), &json!(1250), &json!(2500)],
        "{prorated}"
    );
    assert_eq!(prorated["total"], 3250);
    assert_eq!(prorated["amount_due"], 3250);
    let sent = app
        .stripe
        .requests_to("POST", "/v1/invoices/create_preview");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].stripe_account.as_deref(), Some(ACCOUNT));
    assert_eq!(param(&sent[0], "subscription"), Some("sub_member"));
    assert_eq!(
        param(&sent[0], "subscription_details[items][0][price]"),
        Some("price_platinum")
    );

    let (status, flat) = preview(
        &app,
        &org,
        "price=price_platinum&quantity=2&proration_behavior=none",
    )
    .await;
    assert_eq!((status, &flat["total"]), (200, &json!(5000)), "{flat}");

    // A preview changes nothing, in Stripe or in the mirror.
    assert!(app
        .stripe
        .requests_to("POST", "/v1/subscriptions/sub_member")
        .is_empty());
    let list = mirrored(&app, &org, &buyer).await;
    assert_eq!(list["data"][0]["items"][0]["price"], "price_gold", "{list}");

    // The same checks as a change, before Stripe.
    let (status, body) = preview(&app, &org, "price=price_pass").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["fields"][0]["field"], "price");
    let (status, _) = preview(&app, &org, "colour=red").await;
    assert_eq!(status, 400);
    assert_eq!(
        app.stripe
            .requests_to("POST", "/v1/invoices/create_preview")
            .len(),
        2
    );
}

async fn a_subscription_is_upgraded_cancelled_at_period_end_resumed_and_cancelled(app: TestApp) {
    let (org, buyer) = subscribed(&app).await;
    let (status, upgraded) = change(
        &app,
        &org,
        json!({ "price": "price_platinum", "proration_behavior": "always_invoice" }),
    )
    .await;
    assert_eq!(status, 200, "{upgraded}");
    assert_eq!(
        upgraded["items"][0]["price"], "price_platinum",
        "{upgraded}"
    );
    let sent = app
        .stripe
        .requests_to("POST", "/v1/subscriptions/sub_member");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].stripe_account.as_deref(), Some(ACCOUNT));
    assert_eq!(param(&sent[0], "items[0][id]"), Some("si_sub_member"));
    assert_eq!(param(&sent[0], "items[0][price]"), Some("price_platinum"));
    assert_eq!(
        param(&sent[0], "proration_behavior"),
        Some("always_invoice")
    );

    // The mirror has the answer at once.
    let list = mirrored(&app, &org, &buyer).await;
    assert_eq!(
        list["data"][0]["items"][0]["price"], "price_platinum",
        "{list}"
    );

    let (status, ending) = change(&app, &org, json!({ "cancel_at_period_end": true })).await;
    assert_eq!(
        (status, &ending["cancel_at_period_end"]),
        (200, &json!(true)),
        "{ending}"
    );
    let (status, resumed) = change(&app, &org, json!({ "cancel_at_period_end": false })).await;
    assert_eq!(
        (status, &resumed["cancel_at_period_end"]),
        (200, &json!(false)),
        "{resumed}"
    );
    let (status, same) = change(&app, &org, json!({})).await;
    assert_eq!((status, &same["status"]), (200, &json!("active")), "{same}");
    assert_eq!(
        app.stripe
            .requests_to("POST", "/v1/subscriptions/sub_member")
            .len(),
        3
    );

    let (status, canceled) = cancel(&app, &org, "sub_member").await;
    assert_eq!(
        (status, &canceled["status"]),
        (200, &json!("canceled")),
        "{canceled}"
    );
    assert_eq!(
        app.stripe
            .requests_to("DELETE", "/v1/subscriptions/sub_member")
            .len(),
        1
    );

    // Canceled: no further change reaches Stripe.
    let (status, body) = change(&app, &org, json!({ "cancel_at_period_end": false })).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("subscription_canceled")),
        "{body}"
    );
    let (status, body) = cancel(&app, &org, "sub_member").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("subscription_canceled")),
        "{body}"
    );
    assert_eq!(
        app.stripe
            .requests_to("POST", "/v1/subscriptions/sub_member")
            .len(),
        3
    );
    assert_eq!(
        app.stripe
            .requests_to("DELETE", "/v1/subscriptions/sub_member")
            .len(),
        1
    );
}

async fn subscription_changes_are_refused_before_stripe_is_called(app: TestApp) {
    let (org, buyer) = subscribed(&app).await;
    for (body, field) in [
        (json!({ "price": "price_pass" }), "price"),
        (json!({ "price": "price_unknown" }), "price"),
        (json!({ "price": "prod_club" }), "price"),
        (json!({ "quantity": 0 }), "quantity"),
        (
            json!({ "proration_behavior": "sometimes" }),
            "proration_behavior",
        ),
    ] {
        let (status, answer) = change(&app, &org, body.clone()).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert_eq!(
            answer["error"]["fields"][0]["field"], field,
            "{body}: {answer}"
        );
    }

    // Two items: which one would change is not the gateway's to guess.
    let stripe_id = buyer["stripe_customer_id"].as_str().unwrap();
    let mut two = subscription_json("sub_member", stripe_id, "price_gold", "active");
    let second = json!({ "id": "si_extra", "object": "subscription_item", "quantity": 1,
                         "current_period_end": 1_900_000_000,
                         "price": { "id": "price_gold", "object": "price" } });
    two["items"]["data"].as_array_mut().unwrap().push(second);
    app.put_and_settle(ACCOUNT, "customer.subscription.updated", two)
        .await;
    let (status, answer) = change(&app, &org, json!({ "quantity": 2 })).await;
    assert_eq!(status, 422, "{answer}");

    let token = app.organizer_token(org["id"].as_str().unwrap());
    let response = app
        .request(
            reqwest::Method::DELETE,
            &path(&org, "sub_unknown"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "subscription_not_found", "{body}");

    // Another organizer: its token here, and this subscription through its path.
    let stranger = app
        .create_organizer("Stranger", "acct_1SubChanges00002")
        .await;
    let theirs = app.organizer_token(stranger["id"].as_str().unwrap());
    let response = app
        .request(
            reqwest::Method::DELETE,
            &path(&org, "sub_member"),
            Some(&theirs),
            None,
        )
        .await;
    assert_eq!(response.status(), 403);
    let response = app
        .request(
            reqwest::Method::DELETE,
            &path(&stranger, "sub_member"),
            Some(&theirs),
            None,
        )
        .await;
    assert_eq!(response.status(), 404);

    assert!(app
        .stripe
        .requests_to("POST", "/v1/subscriptions/sub_member")
        .is_empty());
    assert!(app
        .stripe
        .requests_to("DELETE", "/v1/subscriptions/sub_member")
        .is_empty());
}
