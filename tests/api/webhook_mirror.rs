//! The rest of the mirror: entitlements, checkout sessions, and Stripe customers the gateway
//! did not create.

use serde_json::{json, Value};

use crate::helpers::webhooks::event;
use crate::helpers::{backend_tests, TestApp};
use crate::support::fake_stripe::billing::{
    checkout_session_json, entitlement_json, subscription_json,
};

backend_tests!(
    entitlements_are_listed_to_the_last_page_and_answer_is_this_customer_subscribed,
    checkout_sessions_are_mirrored_from_a_fetch,
    a_customer_created_in_stripe_becomes_a_gateway_customer,
    a_second_stripe_customer_with_a_taken_email_is_recorded_not_adopted,
);

const ACCOUNT: &str = "acct_1MirrorTwo";

async fn organizer(app: &TestApp) -> String {
    let org = app.create_organizer("Mirror two", ACCOUNT).await;
    org["id"].as_str().unwrap().to_string()
}

async fn customer(app: &TestApp, org: &str, email: &str) -> Value {
    app.create_customer(org, email).await
}

async fn settle(app: &TestApp, sent: &Value) -> Value {
    app.deliver(sent).await;
    app.settled(sent["id"].as_str().unwrap()).await
}

async fn entitlements_are_listed_to_the_last_page_and_answer_is_this_customer_subscribed(
    app: TestApp,
) {
    let org = organizer(&app).await;
    let buyer = customer(&app, &org, "fan@example.com").await;
    let stripe_id = buyer["stripe_customer_id"].as_str().unwrap();
    let path = format!(
        "/v1/organizers/{org}/customers/{}/entitlements",
        buyer["id"].as_str().unwrap()
    );
    let token = app.organizer_token(&org);
    let nothing = app.get_json(&path, &token).await;
    assert_eq!(
        nothing,
        json!({"active": false, "subscriptions": [], "features": []})
    );

    // 250 features: three pages of Stripe's list.
    let features: Vec<Value> = (0..250)
        .map(|i| entitlement_json(i, &format!("feature-{i:03}")))
        .collect();
    app.stripe
        .set_entitlements(Some(ACCOUNT), stripe_id, features);
    let summary = json!({"object": "entitlements.active_entitlement_summary", "customer": stripe_id,
                         "entitlements": {"object": "list", "data": [], "has_more": true}});
    let settled = settle(
        &app,
        &event(
            "entitlements.active_entitlement_summary.updated",
            Some(ACCOUNT),
            &summary,
        ),
    )
    .await;
    assert_eq!(settled["status"], "processed", "{settled}");
    assert_eq!(settled["object_id"], stripe_id);
    app.stripe.put_object(
        Some(ACCOUNT),
        subscription_json("sub_e", stripe_id, "price_e", "trialing"),
    );
    settle(
        &app,
        &event(
            "customer.subscription.created",
            Some(ACCOUNT),
            &json!({"id": "sub_e", "object": "subscription"}),
        ),
    )
    .await;

    let access = app.get_json(&path, &token).await;
    assert_eq!(access["active"], true, "{access}");
    assert_eq!(access["features"].as_array().unwrap().len(), 250);
    assert_eq!(access["features"][249], "feature-249");
    assert_eq!(access["subscriptions"][0]["id"], "sub_e");
    let pages = app
        .stripe
        .requests_to("GET", "/v1/entitlements/active_entitlements");
    assert_eq!(pages.len(), 3);
    assert!(pages
        .iter()
        .all(|r| r.stripe_account.as_deref() == Some(ACCOUNT)));
}

async fn checkout_sessions_are_mirrored_from_a_fetch(app: TestApp) {
    let org = organizer(&app).await;
    let buyer = customer(&app, &org, "pay@example.com").await;
    let stripe_id = buyer["stripe_customer_id"].as_str().unwrap();
    app.stripe.put_object(
        Some(ACCOUNT),
        checkout_session_json("cs_test_1", Some(stripe_id), "complete", "paid"),
    );
    let stale = json!({"id": "cs_test_1", "object": "checkout.session", "status": "open"});
    settle(
        &app,
        &event("checkout.session.completed", Some(ACCOUNT), &stale),
    )
    .await;
    let path = format!("/v1/organizers/{org}/checkout-sessions/cs_test_1");
    let session = app.get_json(&path, &app.organizer_token(&org)).await;
    assert_eq!(session["status"], "complete", "{session}");
    assert_eq!(session["payment_status"], "paid");
    assert_eq!(session["stripe_customer_id"], stripe_id);
    assert_eq!(session["stripe_account_id"], ACCOUNT);
    assert_eq!(session["amount_total"], 4900);
    assert_eq!(session["metadata"], json!({"order": "42"}));
    let missing = app
        .get(
            &format!("/v1/organizers/{org}/checkout-sessions/cs_nope"),
            &app.admin_token(),
        )
        .await;
    crate::helpers::error_body(missing, 404, "checkout_session_not_found").await;
}

async fn a_customer_created_in_stripe_becomes_a_gateway_customer(app: TestApp) {
    let org = organizer(&app).await;
    let stripe_id = app
        .stripe
        .add_customer(Some(ACCOUNT), "Walk.In@Example.com", "Walk In");
    let payload = json!({"id": stripe_id, "object": "customer"});
    settle(&app, &event("customer.created", Some(ACCOUNT), &payload)).await;
    let found = app
        .get_json(
            &format!("/v1/organizers/{org}/customers?email=walk.in%40example.com"),
            &app.organizer_token(&org),
        )
        .await;
    assert_eq!(
        found["data"][0]["stripe_customer_id"],
        stripe_id.as_str(),
        "{found}"
    );
    assert_eq!(found["data"][0]["name"], "Walk In");
    // The same event again changes nothing: one customer.
    settle(&app, &event("customer.updated", Some(ACCOUNT), &payload)).await;
    let all = app
        .get_json(
            &format!("/v1/organizers/{org}/customers"),
            &app.admin_token(),
        )
        .await;
    assert_eq!(all["data"].as_array().unwrap().len(), 1, "{all}");
    let audit = app
        .get_json(
            "/v1/admin/audit-log?action=customer.mirrored",
            &app.admin_token(),
        )
        .await;
    assert_eq!(audit["data"].as_array().unwrap().len(), 1, "{audit}");
}

async fn a_second_stripe_customer_with_a_taken_email_is_recorded_not_adopted(app: TestApp) {
    let org = organizer(&app).await;
    let ours = customer(&app, &org, "twice@example.com").await;
    let theirs = app
        .stripe
        .add_customer(Some(ACCOUNT), "twice@example.com", "Duplicate");
    let payload = json!({"id": theirs, "object": "customer"});
    settle(&app, &event("customer.created", Some(ACCOUNT), &payload)).await;
    let found = app
        .get_json(
            &format!("/v1/organizers/{org}/customers?email=twice%40example.com"),
            &app.organizer_token(&org),
        )
        .await;
    assert_eq!(
        found["data"][0]["stripe_customer_id"], ours["stripe_customer_id"],
        "{found}"
    );
    let audit = app
        .get_json(
            "/v1/admin/audit-log?action=customer.stripe_duplicate",
            &app.admin_token(),
        )
        .await;
    let targets = &audit["data"][0]["target_ids"];
    assert_eq!(targets["customer_id"], ours["id"], "{audit}");
    assert_eq!(targets["duplicate_stripe_customer_id"], theirs.as_str());
}
