//! Webhook workers across processes and instances, and the account lifecycle events.

use serde_json::{json, Value};

use crate::helpers::webhooks::event;
use crate::helpers::{backend_tests, spawn_app_with, spawn_two_instances, Backend, TestApp};
use crate::support::fake_stripe::billing::product_json;

backend_tests!(
    a_worker_killed_mid_event_loses_nothing,
    two_instances_never_fetch_one_object_at_once,
    a_deauthorized_account_is_disconnected_and_left_alone,
    a_stale_deauthorization_changes_nothing,
);

const ACCOUNT: &str = "acct_1Workers";

fn product_event(id: &str) -> Value {
    event(
        "product.updated",
        Some(ACCOUNT),
        &json!({"id": id, "object": "product"}),
    )
}

async fn a_worker_killed_mid_event_loses_nothing(backend: Backend) {
    // Events are stored by the gateway and processed only by worker processes.
    let app = spawn_app_with(backend, |settings| settings.worker.run_workers = false).await;
    app.create_organizer("Workers", ACCOUNT).await;
    app.stripe
        .put_object(Some(ACCOUNT), product_json("prod_k", "Survivor", true));
    let gate = app.stripe.hold_next("GET", "/v1/products/prod_k");
    let sent = product_event("prod_k");
    app.deliver(&sent).await;

    let doomed = app.spawn_worker_process(1).await;
    gate.arrived().await;
    drop(doomed); // killed while its fetch is in flight
    gate.release();

    let _successor = app.spawn_worker_process(1).await;
    let settled = app.settled(sent["id"].as_str().unwrap()).await;
    assert_eq!(settled["status"], "processed", "{settled}");
    assert_eq!(
        settled["attempts"], 2,
        "the killed claim counts as an attempt: {settled}"
    );
    let log = settled["attempts_log"].as_array().unwrap();
    assert_eq!(
        log.len(),
        1,
        "only the finished attempt is recorded: {settled}"
    );
    assert_eq!(log[0]["error"], Value::Null);
}

async fn two_instances_never_fetch_one_object_at_once(backend: Backend) {
    let (first, second) = spawn_two_instances(backend).await;
    first.create_organizer("Shared", ACCOUNT).await;
    let gates: Vec<_> = [&first, &second]
        .iter()
        .map(|app| {
            app.stripe
                .put_object(Some(ACCOUNT), product_json("prod_s", "Shared", true));
            app.stripe.hold_next("GET", "/v1/products/prod_s")
        })
        .collect();
    let one = product_event("prod_s");
    first.deliver(&one).await;
    // Some worker of either instance holds the object and is fetching it.
    tokio::select! {
        _ = gates[0].arrived() => {}
        _ = gates[1].arrived() => {}
    }
    let two = product_event("prod_s");
    second.deliver(&two).await;
    // Wait until a worker claimed the second event and gave it back: the object was taken.
    let given_back = |event: &Value| {
        event["attempts"] == 0 && event["next_attempt_at"].as_str() > event["received_at"].as_str()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let seen = first.webhook_event(two["id"].as_str().unwrap()).await;
        if given_back(&seen) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never claimed: {seen}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        fetches(&[&first, &second]),
        1,
        "a second fetch ran while the first held the object"
    );
    for gate in &gates {
        gate.release();
    }
    for sent in [&one, &two] {
        let settled = second.settled(sent["id"].as_str().unwrap()).await;
        assert_eq!(settled["status"], "processed", "{settled}");
    }
    assert_eq!(fetches(&[&first, &second]), 2);
}

fn fetches(apps: &[&TestApp]) -> usize {
    apps.iter()
        .map(|app| app.stripe.requests_to("GET", "/v1/products/prod_s").len())
        .sum()
}

fn deauthorized() -> Value {
    let application = json!({"id": "ca_1Platform", "object": "application", "name": "Gateway"});
    event(
        "account.application.deauthorized",
        Some(ACCOUNT),
        &application,
    )
}

async fn a_deauthorized_account_is_disconnected_and_left_alone(app: TestApp) {
    let org = app.create_organizer("Leaving", ACCOUNT).await;
    let org_id = org["id"].as_str().unwrap();
    let token = app.organizer_token(org_id);
    let customers = format!("/v1/organizers/{org_id}/customers");
    let created = app
        .post(&customers, &token, &json!({"email": "stay@example.com"}))
        .await;
    assert_eq!(created.status(), 201);
    let customer: Value = created.json().await.unwrap();

    app.stripe.revoke_account(ACCOUNT);
    let sent = deauthorized();
    app.deliver(&sent).await;
    let settled = app.settled(sent["id"].as_str().unwrap()).await;
    assert_eq!(settled["status"], "processed", "{settled}");

    let organizer = app
        .get_json(&format!("/v1/organizers/{org_id}"), &app.admin_token())
        .await;
    assert!(organizer["disconnected_at"].is_string(), "{organizer}");
    assert_eq!(
        organizer["status"], "active",
        "an admin's status is not Stripe's"
    );
    // The organizer's app is told, with the organizer as its read serves it.
    let told = app
        .get_json(
            &format!("/v1/organizers/{org_id}/events?types=organizer.disconnected"),
            &token,
        )
        .await;
    assert_eq!(told["data"][0]["data"], organizer, "{told}");
    // Reads keep working with the organizer's own token.
    let read = app
        .get(
            &format!("{customers}/{}", customer["id"].as_str().unwrap()),
            &token,
        )
        .await;
    assert_eq!(read.status(), 200);
    // Writes are refused before any Stripe call.
    let calls = app.stripe.requests().len();
    let refused = app
        .post(&customers, &token, &json!({"email": "new@example.com"}))
        .await;
    crate::helpers::error_body(refused, 409, "organizer_disconnected").await;
    let patch = app
        .patch(
            &format!("{customers}/{}", customer["id"].as_str().unwrap()),
            &token,
            &json!({"name": "X"}),
        )
        .await;
    crate::helpers::error_body(patch, 409, "organizer_disconnected").await;
    // Events for the account are settled without a fetch.
    let product = product_event("prod_gone");
    app.deliver(&product).await;
    assert_eq!(
        app.settled(product["id"].as_str().unwrap()).await["status"],
        "processed"
    );
    assert_eq!(
        app.stripe.requests().len(),
        calls,
        "{:?}",
        &app.stripe.requests()[calls..]
    );
    let audit = app
        .get_json(
            "/v1/admin/audit-log?action=organizer.disconnected",
            &app.admin_token(),
        )
        .await;
    assert_eq!(audit["data"][0]["organizer_id"], org_id, "{audit}");
}

async fn a_stale_deauthorization_changes_nothing(app: TestApp) {
    let org = app.create_organizer("Staying", ACCOUNT).await;
    // Stripe still grants access: the event is an old one, redelivered after reconnecting.
    let sent = deauthorized();
    app.deliver(&sent).await;
    assert_eq!(
        app.settled(sent["id"].as_str().unwrap()).await["status"],
        "processed"
    );
    let organizer = app
        .get_json(
            &format!("/v1/organizers/{}", org["id"].as_str().unwrap()),
            &app.admin_token(),
        )
        .await;
    assert_eq!(organizer["disconnected_at"], Value::Null, "{organizer}");
}
