//! The gateway's own events, read from the feed: one event per change an app acts on, written
//! with the change; none for a duplicate Stripe event or a re-fetch that changes nothing; in
//! order after a cursor; a read waits for the next event; each organizer reads its own only.

use serde_json::{json, Value};

use crate::checkout::organizer_with_fee;
use crate::helpers::{
    backend_tests, error_body, error_fields, spawn_app_with, Backend, TestApp, WEBHOOK_SECRET,
};
use crate::sync::run_once;

backend_tests!(
    a_paid_checkout_is_told_once_and_a_duplicate_tells_nothing,
    a_read_waits_for_the_next_event,
    a_subscription_bought_through_checkout_is_told_with_its_first_invoice,
    a_refund_is_told_as_the_gateway_made_it_and_as_stripe_settled_it,
    each_organizer_reads_its_own_events_and_bad_reads_are_refused,
    customers_are_told_when_they_change_and_forgotten_when_deleted,
    new_features_are_told_with_the_customers_access,
    events_past_their_retention_are_purged,
);

const ACCOUNT: &str = "acct_1EventFeed0000001";

async fn organizer(app: &TestApp, account: &str) -> Value {
    app.stripe
        .deliver_webhooks_to(&format!("{}/webhooks/stripe", app.address), WEBHOOK_SECRET);
    organizer_with_fee(app, account, None).await
}

fn events_path(org: &Value) -> String {
    format!("/v1/organizers/{}/events", org["id"].as_str().unwrap())
}

/// A read of the feed as the organizer; asserts 200.
async fn read(app: &TestApp, org: &Value, query: &str) -> Value {
    let token = app.organizer_token(org["id"].as_str().unwrap());
    app.get_json(&format!("{}?{query}", events_path(org)), &token)
        .await
}

/// The feed's cursor now: what a read after it finds is what happens next.
async fn now(app: &TestApp, org: &Value) -> String {
    let page = read(app, org, "").await;
    page["next_cursor"].as_str().unwrap().to_string()
}

fn types(page: &Value) -> Vec<&str> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["type"].as_str().unwrap())
        .collect()
}

/// A payment intent of 25 EUR through the gateway; its id.
async fn intent(app: &TestApp, org: &Value) -> String {
    let path = format!(
        "/v1/organizers/{}/payment-intents",
        org["id"].as_str().unwrap()
    );
    let body = json!({ "email": "fan@example.com", "amount": 2500, "currency": "eur" });
    let response = app.post(&path, &app.admin_token(), &body).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    created["id"].as_str().unwrap().to_string()
}

async fn a_paid_checkout_is_told_once_and_a_duplicate_tells_nothing(app: TestApp) {
    let org = organizer(&app, ACCOUNT).await;
    let cursor = now(&app, &org).await;
    let body = json!({
        "email": "fan@example.com", "mode": "payment",
        "line_items": [{ "name": "Ticket", "unit_amount": 2000, "currency": "eur", "quantity": 1 }],
        "success_url": "https://tickets.example/paid", "cancel_url": "https://tickets.example/cart",
    });
    let path = format!(
        "/v1/organizers/{}/checkout-sessions",
        org["id"].as_str().unwrap()
    );
    let response = app.post(&path, &app.admin_token(), &body).await;
    assert_eq!(response.status(), 201);
    let session: Value = response.json().await.unwrap();
    let nothing = read(&app, &org, &format!("after={cursor}")).await;
    assert_eq!(
        types(&nothing),
        Vec::<&str>::new(),
        "an open session is no news"
    );

    app.trigger_settled(&json!({
        "type": "checkout.session.completed", "account": ACCOUNT, "session": session["id"],
    }))
    .await;
    let page = read(&app, &org, &format!("after={cursor}")).await;
    let mut told = types(&page);
    told.sort_unstable();
    assert_eq!(told, ["checkout.completed", "payment.succeeded"], "{page}");
    let completed = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["type"] == "checkout.completed")
        .unwrap();
    assert_eq!(completed["object_id"], session["id"]);
    assert_eq!(completed["sequence"], 1);
    assert_eq!(completed["organizer_id"], org["id"]);
    assert_eq!(completed["data"]["status"], "complete", "{completed}");
    assert_eq!(completed["data"]["payment_status"], "paid");
    let paid = &page["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["type"] == "payment.succeeded")
        .unwrap()["data"];
    let served = app
        .get_json(
            &format!(
                "/v1/organizers/{}/payments/{}",
                org["id"].as_str().unwrap(),
                paid["id"].as_str().unwrap()
            ),
            &app.admin_token(),
        )
        .await;
    assert_eq!(paid["status"], "succeeded");
    assert_eq!(
        paid["amount"], served["amount"],
        "the payment as its read serves it"
    );

    // Stripe sends both events again, and a reconciliation re-reads everything: no news.
    let after = page["next_cursor"].as_str().unwrap().to_string();
    for (event_type, object) in [
        (
            "checkout.session.completed",
            json!({ "id": session["id"], "object": "checkout.session" }),
        ),
        (
            "payment_intent.succeeded",
            json!({ "id": paid["id"], "object": "payment_intent" }),
        ),
    ] {
        app.deliver_settled(event_type, Some(ACCOUNT), &object)
            .await;
    }
    let again = read(&app, &org, &format!("after={after}")).await;
    assert_eq!(types(&again), Vec::<&str>::new(), "{again}");
    assert_eq!(again["next_cursor"], after.as_str(), "the cursor stays");
}

async fn a_read_waits_for_the_next_event(app: TestApp) {
    let org = organizer(&app, ACCOUNT).await;
    let payment = intent(&app, &org).await;
    let cursor = now(&app, &org).await;
    // With nothing new, a read answers only once its wait has passed.
    let started = tokio::time::Instant::now();
    let idle = read(&app, &org, &format!("after={cursor}&wait=1")).await;
    assert_eq!(types(&idle), Vec::<&str>::new());
    assert_eq!(idle["next_cursor"], cursor.as_str());
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "it waited"
    );
    let query = format!("after={cursor}&wait=20");
    let waiting = read(&app, &org, &query);
    let paying = async {
        app.trigger_settled(&json!({
            "type": "payment_intent.succeeded", "account": ACCOUNT, "payment_intent": payment,
        }))
        .await
    };
    let (page, _) = tokio::join!(waiting, paying);
    assert_eq!(types(&page), ["payment.succeeded"], "{page}");
    assert_eq!(page["data"][0]["object_id"], payment.as_str());
}

async fn a_refund_is_told_as_the_gateway_made_it_and_as_stripe_settled_it(app: TestApp) {
    let org = organizer(&app, ACCOUNT).await;
    let payment = intent(&app, &org).await;
    app.trigger_settled(&json!({
        "type": "payment_intent.succeeded", "account": ACCOUNT, "payment_intent": payment,
    }))
    .await;
    let cursor = now(&app, &org).await;
    let path = format!(
        "/v1/organizers/{}/payments/{payment}/refunds",
        org["id"].as_str().unwrap()
    );
    let response = app
        .post(&path, &app.admin_token(), &json!({ "amount": 1000 }))
        .await;
    assert_eq!(response.status(), 201);
    let refund: Value = response.json().await.unwrap();
    let page = read(&app, &org, &format!("after={cursor}&types=refund.updated")).await;
    assert_eq!(types(&page), ["refund.updated"], "{page}");
    assert_eq!(page["data"][0]["data"]["id"], refund["id"]);
    assert_eq!(page["data"][0]["data"]["status"], "succeeded");
    // Stripe's events about the refund find it as the gateway wrote it: nothing new.
    let object = json!({ "id": refund["id"], "object": "refund" });
    app.deliver_settled("refund.created", Some(ACCOUNT), &object)
        .await;
    let again = read(&app, &org, &format!("after={cursor}&types=refund.updated")).await;
    assert_eq!(types(&again), ["refund.updated"], "{again}");
}

async fn each_organizer_reads_its_own_events_and_bad_reads_are_refused(app: TestApp) {
    let org = organizer(&app, ACCOUNT).await;
    let other = organizer(&app, "acct_1EventFeedOther01").await;
    let payment = intent(&app, &org).await;
    app.trigger_settled(&json!({
        "type": "payment_intent.succeeded", "account": ACCOUNT, "payment_intent": payment,
    }))
    .await;
    // Each feed starts with the account as registering the organizer fetched it.
    let ours = read(&app, &org, "").await;
    assert_eq!(
        types(&ours),
        ["organizer.account_updated", "payment.succeeded"]
    );
    assert_eq!(ours["data"][0]["data"]["charges_enabled"], true, "{ours}");
    assert_eq!(
        types(&read(&app, &other, "").await),
        ["organizer.account_updated"]
    );
    let theirs = app.organizer_token(other["id"].as_str().unwrap());
    let response = app.get(&events_path(&org), &theirs).await;
    assert_eq!(response.status(), 403);
    // Filtered by type.
    let none = read(&app, &org, "types=checkout.completed,refund.updated").await;
    assert_eq!(types(&none), Vec::<&str>::new());
    assert_eq!(none["next_cursor"], "0", "nothing read, nothing passed");

    let admin = app.admin_token();
    for (query, field) in [
        ("types=payment.paid", "types"),
        ("wait=31", "wait"),
        ("after=yesterday", "after"),
        ("limit=0", "limit"),
    ] {
        let response = app
            .get(&format!("{}?{query}", events_path(&org)), &admin)
            .await;
        let refused = error_body(response, 422, "validation_failed").await;
        assert_eq!(error_fields(&refused), [field], "{query}");
    }
}

async fn a_subscription_bought_through_checkout_is_told_with_its_first_invoice(app: TestApp) {
    let org = organizer(&app, ACCOUNT).await;
    let cursor = now(&app, &org).await;
    let body = json!({
        "email": "cfo@example.com", "mode": "subscription",
        "line_items": [{ "name": "Team", "unit_amount": 1000, "currency": "eur", "quantity": 1,
                         "recurring": { "interval": "month" } }],
        "success_url": "https://app.example/billing", "cancel_url": "https://app.example/pricing",
    });
    let path = format!(
        "/v1/organizers/{}/checkout-sessions",
        org["id"].as_str().unwrap()
    );
    let response = app.post(&path, &app.admin_token(), &body).await;
    assert_eq!(response.status(), 201);
    let session: Value = response.json().await.unwrap();
    app.trigger_settled(&json!({
        "type": "checkout.session.completed", "account": ACCOUNT, "session": session["id"],
    }))
    .await;
    let page = read(&app, &org, &format!("after={cursor}")).await;
    let mut told = types(&page);
    told.sort_unstable();
    assert_eq!(
        told,
        [
            "checkout.completed",
            "invoice.paid",
            "payment.succeeded",
            "subscription.created"
        ],
        "{page}"
    );
    let created = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["type"] == "subscription.created")
        .unwrap();
    assert_eq!(created["data"]["status"], "active", "{created}");
    // A reconciliation re-reads every object of the account and finds nothing new.
    let after = page["next_cursor"].as_str().unwrap().to_string();
    let run = run_once(&app, &org, json!({})).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let again = read(&app, &org, &format!("after={after}")).await;
    assert_eq!(types(&again), Vec::<&str>::new(), "{again}");
}

async fn customers_are_told_when_they_change_and_forgotten_when_deleted(app: TestApp) {
    let org = organizer(&app, ACCOUNT).await;
    let path = format!("/v1/organizers/{}/customers", org["id"].as_str().unwrap());
    let admin = app.admin_token();
    let body = json!({ "email": "ana@example.com", "name": "Ana" });
    let response = app.post(&path, &admin, &body).await;
    assert_eq!(response.status(), 201);
    let customer: Value = response.json().await.unwrap();
    let id = customer["id"].as_str().unwrap().to_string();
    let cursor = now(&app, &org).await;
    // The same details again change nothing; new ones through the gateway, then in Stripe.
    let response = app.post(&path, &admin, &body).await;
    assert_eq!(response.status(), 200);
    let response = app
        .patch(
            &format!("{path}/{id}"),
            &admin,
            &json!({ "name": "Ana Lima" }),
        )
        .await;
    assert_eq!(response.status(), 200);
    app.trigger_settled(&json!({
        "type": "customer.updated", "account": ACCOUNT,
        "customer": customer["stripe_customer_id"], "name": "Ana L.",
    }))
    .await;
    let page = read(
        &app,
        &org,
        &format!("after={cursor}&types=customer.updated"),
    )
    .await;
    let names: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["data"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Ana Lima", "Ana L."], "{page}");
    assert_eq!(page["data"][1]["sequence"], 2);

    // Deleted: told with its ids only, and its earlier events (the person's details) are gone.
    let response = app.delete(&format!("{path}/{id}"), &admin).await;
    assert_eq!(response.status(), 204);
    let page = read(&app, &org, &format!("after={cursor}")).await;
    assert_eq!(types(&page), ["customer.deleted"], "{page}");
    let deleted = &page["data"][0]["data"];
    assert_eq!(deleted["id"], id.as_str());
    assert_eq!(deleted["deleted"], true);
    assert_eq!(deleted.get("email"), None, "{deleted}");
    assert!(!page.to_string().contains("ana@example.com"), "{page}");
}

async fn new_features_are_told_with_the_customers_access(app: TestApp) {
    let org = organizer(&app, ACCOUNT).await;
    let path = format!("/v1/organizers/{}/customers", org["id"].as_str().unwrap());
    let body = json!({ "email": "pro@example.com" });
    let response = app.post(&path, &app.admin_token(), &body).await;
    let customer: Value = response.json().await.unwrap();
    let cursor = now(&app, &org).await;
    app.trigger_settled(&json!({
        "type": "customer.subscription.created", "account": ACCOUNT,
        "customer": customer["stripe_customer_id"], "lookup_key": "premium",
    }))
    .await;
    let page = read(
        &app,
        &org,
        &format!("after={cursor}&types=entitlements.changed"),
    )
    .await;
    assert_eq!(types(&page), ["entitlements.changed"], "{page}");
    let told = &page["data"][0];
    assert_eq!(told["object_id"], customer["id"]);
    // The entitlements read's shape; its subscriptions are those mirrored when the features
    // were written (the subscription's own event may be processed after them).
    assert_eq!(told["data"]["features"], json!(["premium"]), "{told}");
    assert_eq!(told["data"]["active"], true);
    assert!(told["data"]["subscriptions"].is_array(), "{told}");
}

async fn events_past_their_retention_are_purged(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.server.idempotency_purge_secs = 1;
        s.server.events_retention_days = 30;
    })
    .await;
    // Registering tells each organizer of its account; the first one's event is made 31 days
    // old, the second's stays new.
    let old = app.create_organizer("Old news", ACCOUNT).await;
    app.execute_sql(
        "UPDATE gateway_events SET created_at = created_at - INTERVAL '31 days'",
        "UPDATE gateway_events SET created_at = datetime(created_at, '-31 days')",
    )
    .await;
    let new = app
        .create_organizer("New news", "acct_1EventFeedOther01")
        .await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while !types(&read(&app, &old, "").await).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the purge never removed the old event"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        types(&read(&app, &new, "").await),
        ["organizer.account_updated"]
    );
}
