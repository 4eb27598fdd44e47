//! Webhook workers: events are hints; the mirror converges on what the fake Stripe holds.

use serde_json::{json, Value};

use crate::helpers::webhooks::event;
use crate::helpers::{backend_tests, TestApp};
use crate::support::fake_stripe::billing::{price_json, product_json, subscription_json};
use crate::support::fake_stripe::Fault;

backend_tests!(
    products_and_prices_are_mirrored_from_a_fetch_not_from_the_payload,
    a_product_deleted_in_stripe_leaves_the_catalog,
    stripe_side_customer_edits_reach_the_gateway_from_any_api_version,
    a_customer_deleted_in_stripe_is_erased_as_delete_does,
    a_burst_about_one_subscription_ends_in_stripes_state_with_few_fetches,
    events_that_fail_while_stripe_is_down_converge_after_it_recovers,
    an_event_that_keeps_failing_is_dead_lettered_and_can_be_replayed,
    an_echo_of_the_gateways_own_write_does_not_undo_a_later_change,
    invoice_events_refresh_their_subscription,
);

const ACCOUNT: &str = "acct_1Mirror";

async fn organizer(app: &TestApp) -> String {
    let org = app.create_organizer("Mirror", ACCOUNT).await;
    org["id"].as_str().unwrap().to_string()
}

async fn deliver_and_settle(app: &TestApp, sent: &Value) -> Value {
    app.deliver(sent).await;
    app.settled(sent["id"].as_str().unwrap()).await
}

async fn products_and_prices_are_mirrored_from_a_fetch_not_from_the_payload(app: TestApp) {
    let org = organizer(&app).await;
    app.stripe
        .put_object(Some(ACCOUNT), product_json("prod_a", "Festival pass", true));
    app.stripe
        .put_object(Some(ACCOUNT), price_json("price_a", "prod_a", 4900, None));
    // The payloads are stale on purpose: only the fetch counts.
    // The payloads are whole objects, whose own `type` field must not confuse the envelope.
    let mut stale = product_json("prod_a", "Old name", false);
    stale["type"] = json!("good");
    let settled = deliver_and_settle(&app, &event("product.updated", Some(ACCOUNT), &stale)).await;
    assert_eq!(settled["status"], "processed", "{settled}");
    let stale_price = json!({"id": "price_a", "object": "price", "unit_amount": 1});
    deliver_and_settle(&app, &event("price.created", Some(ACCOUNT), &stale_price)).await;

    let catalog = app
        .get_json(
            &format!("/v1/organizers/{org}/products"),
            &app.organizer_token(&org),
        )
        .await;
    assert_eq!(catalog["data"][0]["id"], "prod_a", "{catalog}");
    assert_eq!(catalog["data"][0]["name"], "Festival pass");
    assert_eq!(catalog["data"][0]["prices"][0]["id"], "price_a");
    assert_eq!(catalog["data"][0]["prices"][0]["unit_amount"], 4900);
    assert_eq!(catalog["data"][0]["prices"][0]["currency"], "eur");
    // Every fetch carried the event's account.
    let fetches = app.stripe.requests_to("GET", "/v1/products/prod_a");
    assert!(!fetches.is_empty());
    assert!(fetches
        .iter()
        .all(|r| r.stripe_account.as_deref() == Some(ACCOUNT)));
}

async fn a_product_deleted_in_stripe_leaves_the_catalog(app: TestApp) {
    let org = organizer(&app).await;
    app.stripe
        .put_object(Some(ACCOUNT), product_json("prod_d", "Gone soon", true));
    app.stripe
        .put_object(Some(ACCOUNT), price_json("price_d", "prod_d", 100, None));
    let product = json!({"id": "prod_d", "object": "product"});
    deliver_and_settle(&app, &event("product.created", Some(ACCOUNT), &product)).await;
    deliver_and_settle(
        &app,
        &event(
            "price.created",
            Some(ACCOUNT),
            &json!({"id": "price_d", "object": "price"}),
        ),
    )
    .await;
    let path = format!("/v1/organizers/{org}/products");
    assert_eq!(
        app.get_json(&path, &app.admin_token()).await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    app.stripe.remove_object(Some(ACCOUNT), "prod_d");
    deliver_and_settle(&app, &event("product.deleted", Some(ACCOUNT), &product)).await;
    let catalog = app.get_json(&path, &app.admin_token()).await;
    assert_eq!(catalog["data"], json!([]), "{catalog}");
}

async fn upsert_customer(app: &TestApp, org: &str, email: &str) -> Value {
    let response = app
        .post(
            &format!("/v1/organizers/{org}/customers"),
            &app.organizer_token(org),
            &json!({ "email": email, "name": "Ana" }),
        )
        .await;
    assert!(response.status().is_success());
    response.json().await.unwrap()
}

async fn stripe_side_customer_edits_reach_the_gateway_from_any_api_version(app: TestApp) {
    let org = organizer(&app).await;
    let customer = upsert_customer(&app, &org, "ana@example.com").await;
    let stripe_id = customer["stripe_customer_id"].as_str().unwrap();
    app.stripe.edit_customer(
        Some(ACCOUNT),
        stripe_id,
        json!({"email": "ana.lima@example.com", "name": "Ana Lima", "phone": "+351900000000",
               "metadata": {"gateway_customer_id": customer["id"], "tier": "gold"}}),
    );
    // A 2017 payload: fields since removed, none of today's required ones. Only the fetch counts.
    let payload = json!({"id": stripe_id, "object": "customer", "name": "stale",
                         "account_balance": 0, "sources": {"object": "list", "data": []}});
    let mut sent = event("customer.updated", Some(ACCOUNT), &payload);
    sent["api_version"] = json!("2017-08-15");
    let settled = deliver_and_settle(&app, &sent).await;
    assert_eq!(settled["status"], "processed", "{settled}");

    let path = format!(
        "/v1/organizers/{org}/customers/{}",
        customer["id"].as_str().unwrap()
    );
    let stored = app.get_json(&path, &app.admin_token()).await;
    assert_eq!(stored["email"], "ana.lima@example.com", "{stored}");
    assert_eq!(stored["name"], "Ana Lima");
    assert_eq!(stored["phone"], "+351900000000");
    assert_eq!(stored["metadata"], json!({"tier": "gold"}));
    // The customer event refreshed the customer's subscriptions too.
    assert!(!app
        .stripe
        .requests_to("GET", "/v1/subscriptions")
        .is_empty());
}

async fn a_customer_deleted_in_stripe_is_erased_as_delete_does(app: TestApp) {
    let org = organizer(&app).await;
    let customer = upsert_customer(&app, &org, "gone@example.com").await;
    let stripe_id = customer["stripe_customer_id"].as_str().unwrap();
    app.stripe.delete_customer(Some(ACCOUNT), stripe_id);
    let payload = json!({"id": stripe_id, "object": "customer", "deleted": true});
    deliver_and_settle(&app, &event("customer.deleted", Some(ACCOUNT), &payload)).await;

    let path = format!(
        "/v1/organizers/{org}/customers/{}",
        customer["id"].as_str().unwrap()
    );
    assert_eq!(app.get(&path, &app.admin_token()).await.status(), 404);
    let audit = app
        .get_json(
            "/v1/admin/audit-log?action=customer.deleted",
            &app.admin_token(),
        )
        .await;
    assert_eq!(audit["data"][0]["actor_role"], "system", "{audit}");
    assert_eq!(audit["data"][0]["details"]["stripe"], "already_deleted");
    assert_eq!(
        audit["data"][0]["target_ids"]["customer_id"],
        customer["id"]
    );
    // The email is free again: the next upsert creates a new customer.
    let again = upsert_customer(&app, &org, "gone@example.com").await;
    assert_ne!(again["id"], customer["id"]);
}

async fn a_burst_about_one_subscription_ends_in_stripes_state_with_few_fetches(app: TestApp) {
    let org = organizer(&app).await;
    let customer = upsert_customer(&app, &org, "sub@example.com").await;
    let stripe_customer = customer["stripe_customer_id"].as_str().unwrap();
    app.stripe.put_object(
        Some(ACCOUNT),
        subscription_json("sub_b", stripe_customer, "price_b", "active"),
    );
    // Hold the first fetch, so that the burst lands while a worker is busy with the object.
    let gate = app.stripe.hold_next("GET", "/v1/subscriptions/sub_b");
    let statuses = ["trialing", "active", "past_due", "unpaid", "canceled"];
    let mut events: Vec<Value> = (0..100)
        .map(|i| {
            let snapshot = subscription_json("sub_b", stripe_customer, "price_b", statuses[i % 5]);
            event("customer.subscription.updated", Some(ACCOUNT), &snapshot)
        })
        .collect();
    fastrand::shuffle(&mut events);
    app.deliver(&events[0]).await;
    gate.arrived().await;
    for sent in &events[1..] {
        app.deliver(sent).await;
    }
    // Stripe's final state, set before the held fetch answers.
    let mut last = subscription_json("sub_b", stripe_customer, "price_b", "past_due");
    last["cancel_at_period_end"] = json!(true);
    app.stripe.put_object(Some(ACCOUNT), last);
    gate.release();
    for sent in &events {
        app.settled(sent["id"].as_str().unwrap()).await;
    }
    let path = format!(
        "/v1/organizers/{org}/customers/{}/subscriptions",
        customer["id"].as_str().unwrap()
    );
    let subscriptions = app.get_json(&path, &app.organizer_token(&org)).await;
    assert_eq!(
        subscriptions["data"][0]["status"], "past_due",
        "{subscriptions}"
    );
    assert_eq!(subscriptions["data"][0]["cancel_at_period_end"], true);
    assert_eq!(subscriptions["data"][0]["items"][0]["price"], "price_b");
    let fetches = app
        .stripe
        .requests_to("GET", "/v1/subscriptions/sub_b")
        .len();
    assert!(fetches <= 5, "100 events cost {fetches} fetches");
}

async fn events_that_fail_while_stripe_is_down_converge_after_it_recovers(app: TestApp) {
    let org = organizer(&app).await;
    app.stripe
        .put_object(Some(ACCOUNT), product_json("prod_f", "Flaky", true));
    app.stripe
        .put_object(Some(ACCOUNT), price_json("price_f", "prod_f", 700, None));
    deliver_and_settle(
        &app,
        &event(
            "price.created",
            Some(ACCOUNT),
            &json!({"id": "price_f", "object": "price"}),
        ),
    )
    .await;
    // Two whole attempts fail (each is three calls: the transport retries twice).
    app.stripe
        .fail_next_to("GET", "/v1/products/prod_f", 6, Fault::Status(500));
    let sent = event(
        "product.created",
        Some(ACCOUNT),
        &json!({"id": "prod_f", "object": "product"}),
    );
    let settled = deliver_and_settle(&app, &sent).await;
    assert_eq!(settled["status"], "processed", "{settled}");
    let log = settled["attempts_log"].as_array().unwrap();
    assert_eq!(log.len(), 3, "{settled}");
    assert!(
        log[0]["error"].as_str().unwrap().contains("500"),
        "{settled}"
    );
    assert_eq!(log[2]["error"], Value::Null);
    let catalog = app
        .get_json(
            &format!("/v1/organizers/{org}/products"),
            &app.admin_token(),
        )
        .await;
    assert_eq!(catalog["data"][0]["name"], "Flaky", "{catalog}");
}

async fn an_event_that_keeps_failing_is_dead_lettered_and_can_be_replayed(app: TestApp) {
    organizer(&app).await;
    app.stripe
        .put_object(Some(ACCOUNT), product_json("prod_x", "Broken", true));
    // Four attempts (the test workers' limit) of three calls each.
    app.stripe
        .fail_next_to("GET", "/v1/products/prod_x", 12, Fault::Status(500));
    let sent = event(
        "product.updated",
        Some(ACCOUNT),
        &json!({"id": "prod_x", "object": "product"}),
    );
    let dead = deliver_and_settle(&app, &sent).await;
    assert_eq!(dead["status"], "dead", "{dead}");
    assert_eq!(dead["attempts_log"].as_array().unwrap().len(), 4);
    assert!(dead["last_error"].as_str().unwrap().contains("500"));

    let replayed = app
        .post(
            &format!(
                "/v1/admin/webhook-events/{}/replay",
                sent["id"].as_str().unwrap()
            ),
            &app.admin_token(),
            &json!({}),
        )
        .await;
    assert_eq!(replayed.status(), 202);
    let settled = app.settled(sent["id"].as_str().unwrap()).await;
    assert_eq!(settled["status"], "processed", "{settled}");
    let audit = app
        .get_json(
            "/v1/admin/audit-log?action=webhook_event.replayed",
            &app.admin_token(),
        )
        .await;
    assert_eq!(audit["data"].as_array().unwrap().len(), 1, "{audit}");
}

async fn an_echo_of_the_gateways_own_write_does_not_undo_a_later_change(app: TestApp) {
    let org = organizer(&app).await;
    let customer = upsert_customer(&app, &org, "echo@example.com").await;
    let path = format!(
        "/v1/organizers/{org}/customers/{}",
        customer["id"].as_str().unwrap()
    );
    let token = app.organizer_token(&org);
    let first = app.patch(&path, &token, &json!({"name": "First"})).await;
    assert_eq!(first.status(), 200);
    // Stripe's event for that write, carrying its snapshot, arrives after a second change.
    let echo_payload =
        json!({"id": customer["stripe_customer_id"], "object": "customer", "name": "First"});
    let echo = event("customer.updated", Some(ACCOUNT), &echo_payload);
    let second = app.patch(&path, &token, &json!({"name": "Second"})).await;
    assert_eq!(second.status(), 200);
    deliver_and_settle(&app, &echo).await;
    assert_eq!(app.get_json(&path, &token).await["name"], "Second");
}

async fn invoice_events_refresh_their_subscription(app: TestApp) {
    let org = organizer(&app).await;
    let customer = upsert_customer(&app, &org, "inv@example.com").await;
    let stripe_customer = customer["stripe_customer_id"].as_str().unwrap();
    app.stripe.put_object(
        Some(ACCOUNT),
        subscription_json("sub_i", stripe_customer, "price_i", "active"),
    );
    // API versions since 2025-03-31 name the subscription under `parent`.
    let invoice = json!({"id": "in_1", "object": "invoice",
        "parent": {"type": "subscription_details", "subscription_details": {"subscription": "sub_i"}}});
    deliver_and_settle(&app, &event("invoice.paid", Some(ACCOUNT), &invoice)).await;
    let path = format!(
        "/v1/organizers/{org}/customers/{}/subscriptions",
        customer["id"].as_str().unwrap()
    );
    let subscriptions = app.get_json(&path, &app.organizer_token(&org)).await;
    assert_eq!(subscriptions["data"][0]["id"], "sub_i", "{subscriptions}");
    assert_eq!(subscriptions["data"][0]["status"], "active");
}
