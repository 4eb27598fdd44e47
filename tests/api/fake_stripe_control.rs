//! The fake Stripe's control routes (`/_fake/...`), which the runnable fake serves for local
//! development and the checks outside this suite (TypeScript client, console) drive over HTTP:
//! a triggered event changes the object in the fake and reaches the gateway's mirror.

use serde_json::{json, Value};

use crate::helpers::{backend_tests, TestApp, WEBHOOK_SECRET};

backend_tests!(
    a_triggered_subscription_reaches_the_entitlements_read,
    a_triggered_customer_update_reaches_the_gateway,
    injected_failures_hit_only_the_requests_they_name,
);

const ACCOUNT: &str = "acct_1FakeControl01";

/// An organizer, one of its customers, and the fake delivering triggered events to the app.
async fn setup(app: &TestApp) -> (String, Value) {
    app.stripe
        .deliver_webhooks_to(&format!("{}/webhooks/stripe", app.address), WEBHOOK_SECRET);
    let org = app.create_organizer("Control", ACCOUNT).await;
    let org = org["id"].as_str().unwrap().to_string();
    let response = app
        .post(
            &format!("/v1/organizers/{org}/customers"),
            &app.admin_token(),
            &json!({"email": "fan@example.com"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    (org, response.json().await.unwrap())
}

async fn control(app: &TestApp, route: &str, body: Value) -> reqwest::Response {
    app.client
        .post(format!("{}/_fake/{route}", app.stripe.base_url))
        .json(&body)
        .send()
        .await
        .expect("the fake answers")
}

/// Triggers `body`'s events and waits until the gateway settled each.
async fn trigger(app: &TestApp, body: Value) -> Value {
    let response = control(app, "trigger", body).await;
    assert_eq!(response.status(), 200);
    let triggered: Value = response.json().await.unwrap();
    assert_eq!(triggered["delivery_status"], 200, "{triggered}");
    assert_eq!(triggered["events"][0]["id"], triggered["event_id"]);
    for delivered in triggered["events"].as_array().unwrap() {
        assert_eq!(delivered["delivery_status"], 200, "{triggered}");
        let event = app.settled(delivered["id"].as_str().unwrap()).await;
        assert_eq!(event["status"], "processed", "{event}");
    }
    let first = app
        .webhook_event(triggered["event_id"].as_str().unwrap())
        .await;
    assert_eq!(first["object_id"], triggered["object_id"]);
    triggered
}

async fn a_triggered_subscription_reaches_the_entitlements_read(app: TestApp) {
    let (org, customer) = setup(&app).await;
    let path = format!(
        "/v1/organizers/{org}/customers/{}/entitlements",
        customer["id"].as_str().unwrap()
    );
    assert_eq!(
        app.get_json(&path, &app.admin_token()).await["active"],
        false
    );

    let triggered = trigger(
        &app,
        json!({
            "type": "customer.subscription.created", "account": ACCOUNT,
            "customer": customer["stripe_customer_id"], "lookup_key": "backstage",
        }),
    )
    .await;
    let types: Vec<&Value> = triggered["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["type"])
        .collect();
    assert_eq!(
        types,
        [
            "customer.subscription.created",
            "entitlements.active_entitlement_summary.updated",
            "product.created",
            "price.created",
        ]
    );

    let entitlements = app.get_json(&path, &app.admin_token()).await;
    assert_eq!(entitlements["active"], true, "{entitlements}");
    assert_eq!(entitlements["features"], json!(["backstage"]));
    assert_eq!(
        entitlements["subscriptions"][0]["id"], triggered["object_id"],
        "{entitlements}"
    );
    // The plan it subscribes to is in the catalog, ready for a checkout.
    let products = app
        .get_json(
            &format!("/v1/organizers/{org}/products"),
            &app.admin_token(),
        )
        .await;
    assert_eq!(
        products["data"][0]["prices"][0]["id"],
        entitlements["subscriptions"][0]["items"][0]["price"],
        "{products}"
    );
    // Each delivered event names its object.
    let price = &triggered["events"][3];
    assert_eq!(price["type"], "price.created");
    assert_eq!(products["data"][0]["prices"][0]["id"], price["object_id"]);
}

async fn a_triggered_customer_update_reaches_the_gateway(app: TestApp) {
    let (org, customer) = setup(&app).await;
    trigger(
        &app,
        json!({
            "type": "customer.updated", "account": ACCOUNT,
            "customer": customer["stripe_customer_id"], "name": "Renamed in Stripe",
        }),
    )
    .await;
    let path = format!(
        "/v1/organizers/{org}/customers/{}",
        customer["id"].as_str().unwrap()
    );
    assert_eq!(
        app.get_json(&path, &app.admin_token()).await["name"],
        "Renamed in Stripe"
    );

    // Unknown types and customers are refused, naming what is known.
    let unknown = control(&app, "trigger", json!({"type": "invoice.finalized"})).await;
    assert_eq!(unknown.status(), 404);
    let message = unknown.json::<Value>().await.unwrap()["error"]["message"].clone();
    for known in ["product.created", "checkout.session.completed"] {
        assert!(message.as_str().unwrap().contains(known), "{message}");
    }
    let nobody = json!({"type": "customer.updated", "account": ACCOUNT, "customer": "cus_none"});
    assert_eq!(control(&app, "trigger", nobody).await.status(), 404);
}

async fn injected_failures_hit_only_the_requests_they_name(app: TestApp) {
    let (_, customer) = setup(&app).await;
    let response = control(
        &app,
        "fail-next",
        json!({"count": 1, "status": 503, "method": "GET", "path_prefix": "/v1/customers/"}),
    )
    .await;
    assert_eq!(response.status(), 204);
    let get = |path: String| {
        app.client
            .get(format!("{}{path}", app.stripe.base_url))
            .bearer_auth("sk_test_control")
            .header("stripe-account", ACCOUNT)
            .send()
    };
    let one = format!(
        "/v1/customers/{}",
        customer["stripe_customer_id"].as_str().unwrap()
    );
    // A listing is not named by the prefix; the fetch is, once.
    assert_eq!(get("/v1/customers".into()).await.unwrap().status(), 200);
    assert_eq!(get(one.clone()).await.unwrap().status(), 503);
    assert_eq!(get(one).await.unwrap().status(), 200);

    let bad = json!({"count": 1, "status": 200});
    assert_eq!(control(&app, "fail-next", bad).await.status(), 400);
}
