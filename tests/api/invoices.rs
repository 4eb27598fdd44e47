//! Invoices: mirrored from their events and from reconciliation, and read from the mirror as a
//! customer's billing history, newest first.

use serde_json::{json, Value};

use crate::helpers::{backend_tests, ids, TestApp};
use crate::support::fake_stripe::billing::{invoice_json, subscription_json};
use crate::sync::{drift, run_once};

backend_tests!(
    invoices_follow_their_events_and_are_listed_newest_first,
    an_invoice_payment_refreshes_its_subscription_too,
    reconciliation_finds_and_repairs_invoice_drift,
    invoices_of_another_customer_or_organizer_are_not_shown,
    each_failed_collection_of_an_invoice_is_told_once,
);

const ACCOUNT: &str = "acct_1Invoices";
/// 2026-11-01 00:00 UTC.
const T0: i64 = 1_793_491_200;

async fn organizer(app: &TestApp, account: &str) -> Value {
    app.create_organizer("Invoices", account).await
}

async fn customer(app: &TestApp, org: &Value, email: &str) -> Value {
    app.create_customer(org["id"].as_str().unwrap(), email)
        .await
}

fn invoices_path(org: &Value, customer: &Value) -> String {
    format!(
        "/v1/organizers/{}/customers/{}/invoices",
        org["id"].as_str().unwrap(),
        customer["id"].as_str().unwrap()
    )
}

async fn invoices_follow_their_events_and_are_listed_newest_first(app: TestApp) {
    let org = organizer(&app, ACCOUNT).await;
    let buyer = customer(&app, &org, "billing@example.com").await;
    let stripe_id = buyer["stripe_customer_id"].as_str().unwrap();
    for (i, status) in ["paid", "paid", "open"].iter().enumerate() {
        let invoice = invoice_json(
            &format!("in_{i}"),
            stripe_id,
            None,
            status,
            1000 * (i as i64 + 1),
            T0 + 86_400 * i as i64,
        );
        app.stripe.put_object(Some(ACCOUNT), invoice.clone());
        let settled = app
            .deliver_settled("invoice.finalized", Some(ACCOUNT), &invoice)
            .await;
        assert_eq!(settled["status"], "processed", "{settled}");
    }
    let path = invoices_path(&org, &buyer);

    let first = app
        .read_as_organizer(&org, &format!("{path}?limit=2"))
        .await;
    assert_eq!(ids(&first), ["in_2", "in_1"], "{first}");
    let newest = &first["data"][0];
    assert_eq!(newest["status"], "open");
    assert_eq!(newest["number"], "NR-in_2");
    assert_eq!(newest["total"], 3000);
    assert_eq!(newest["amount_due"], 3000);
    assert_eq!(newest["amount_paid"], 0);
    assert_eq!(newest["currency"], "eur");
    assert_eq!(
        newest["hosted_invoice_url"],
        "https://invoice.stripe.com/i/in_2"
    );
    assert_eq!(newest["subscription"], Value::Null);
    assert_eq!(newest["created"], "2026-11-03T00:00:00Z");
    assert_eq!(newest["period_end"], "2026-11-03T00:00:00Z");
    let cursor = first["next_cursor"].as_str().expect("a second page");
    let second = app
        .read_as_organizer(&org, &format!("{path}?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(ids(&second), ["in_0"], "{second}");
    assert_eq!(second["next_cursor"], Value::Null);

    // Paid in Stripe: the event's fetch brings the new state, whatever the payload says.
    let mut paid = invoice_json("in_2", stripe_id, None, "paid", 3000, T0 + 2 * 86_400);
    app.stripe.put_object(Some(ACCOUNT), paid.clone());
    paid["status"] = json!("open");
    app.deliver_settled("invoice.paid", Some(ACCOUNT), &paid)
        .await;
    let page = app.read_as_organizer(&org, &path).await;
    assert_eq!(page["data"][0]["status"], "paid", "{page}");
    assert_eq!(page["data"][0]["amount_paid"], 3000);

    // A draft deleted in Stripe leaves the history.
    app.stripe.remove_object(Some(ACCOUNT), "in_0");
    let gone = invoice_json("in_0", stripe_id, None, "draft", 1000, T0);
    app.deliver_settled("invoice.deleted", Some(ACCOUNT), &gone)
        .await;
    let page = app.read_as_organizer(&org, &path).await;
    assert_eq!(ids(&page), ["in_2", "in_1"], "{page}");
}

async fn an_invoice_payment_refreshes_its_subscription_too(app: TestApp) {
    let org = organizer(&app, ACCOUNT).await;
    let buyer = customer(&app, &org, "renewal@example.com").await;
    let stripe_id = buyer["stripe_customer_id"].as_str().unwrap();
    let subscription = subscription_json("sub_renewed", stripe_id, "price_gold", "active");
    app.stripe.put_object(Some(ACCOUNT), subscription);
    let invoice = invoice_json(
        "in_renewal",
        stripe_id,
        Some("sub_renewed"),
        "paid",
        4900,
        T0,
    );
    app.stripe.put_object(Some(ACCOUNT), invoice.clone());
    let settled = app
        .deliver_settled("invoice.paid", Some(ACCOUNT), &invoice)
        .await;
    assert_eq!(settled["status"], "processed", "{settled}");

    let page = app
        .read_as_organizer(&org, &invoices_path(&org, &buyer))
        .await;
    assert_eq!(ids(&page), ["in_renewal"]);
    assert_eq!(page["data"][0]["subscription"], "sub_renewed");
    let subscriptions = app
        .get_json(
            &format!(
                "/v1/organizers/{}/customers/{}/subscriptions",
                org["id"].as_str().unwrap(),
                buyer["id"].as_str().unwrap()
            ),
            &app.organizer_token(org["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(
        subscriptions["data"][0]["id"], "sub_renewed",
        "{subscriptions}"
    );
    assert_eq!(
        app.stripe
            .requests_to("GET", "/v1/subscriptions/sub_renewed")
            .len(),
        1
    );
}

async fn reconciliation_finds_and_repairs_invoice_drift(app: TestApp) {
    let org = organizer(&app, ACCOUNT).await;
    let buyer = customer(&app, &org, "history@example.com").await;
    let stripe_id = buyer["stripe_customer_id"].as_str().unwrap();
    for i in 0..3 {
        let invoice = invoice_json(&format!("in_r{i}"), stripe_id, None, "open", 500, T0 + i);
        app.stripe.put_object(Some(ACCOUNT), invoice);
    }
    let kinds = json!({ "kinds": ["invoices"] });
    let run = run_once(&app, &org, kinds.clone()).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let found = drift(&run, "invoices");
    assert_eq!(found["checked"], 3, "{run}");
    assert_eq!(found["missing"], 3);
    assert_eq!(found["repaired"], 3);
    assert_eq!(found["complete"], true);
    let path = invoices_path(&org, &buyer);
    assert_eq!(
        ids(&app.read_as_organizer(&org, &path).await),
        ["in_r2", "in_r1", "in_r0"]
    );

    // Paid and deleted in Stripe with no event: the next run repairs both.
    let paid = invoice_json("in_r1", stripe_id, None, "paid", 500, T0 + 1);
    app.stripe.put_object(Some(ACCOUNT), paid);
    app.stripe.remove_object(Some(ACCOUNT), "in_r0");
    let run = run_once(&app, &org, kinds.clone()).await;
    let found = drift(&run, "invoices");
    assert_eq!(found["different"], 1, "{run}");
    assert_eq!(found["examples"]["different"], json!(["in_r1"]));
    assert_eq!(found["deleted_in_stripe"], 1);
    assert_eq!(found["examples"]["deleted_in_stripe"], json!(["in_r0"]));
    assert_eq!(found["repaired"], 2);
    let page = app.read_as_organizer(&org, &path).await;
    assert_eq!(ids(&page), ["in_r2", "in_r1"], "{page}");
    assert_eq!(page["data"][1]["status"], "paid");

    // Nothing left to repair.
    let run = run_once(&app, &org, kinds).await;
    let found = drift(&run, "invoices");
    assert_eq!(
        (
            &found["missing"],
            &found["different"],
            &found["deleted_in_stripe"]
        ),
        (&json!(0), &json!(0), &json!(0)),
        "{run}"
    );
}

async fn invoices_of_another_customer_or_organizer_are_not_shown(app: TestApp) {
    let org = organizer(&app, ACCOUNT).await;
    let buyer = customer(&app, &org, "mine@example.com").await;
    let other = customer(&app, &org, "theirs@example.com").await;
    let theirs = other["stripe_customer_id"].as_str().unwrap();
    let invoice = invoice_json("in_theirs", theirs, None, "paid", 700, T0);
    app.stripe.put_object(Some(ACCOUNT), invoice.clone());
    app.deliver_settled("invoice.created", Some(ACCOUNT), &invoice)
        .await;
    let page = app
        .read_as_organizer(&org, &invoices_path(&org, &buyer))
        .await;
    assert_eq!(page, json!({"data": [], "next_cursor": null}));
    assert_eq!(
        ids(&app
            .read_as_organizer(&org, &invoices_path(&org, &other))
            .await),
        ["in_theirs"]
    );

    // Another organizer's token, and a customer id of another organizer.
    let stranger = organizer(&app, "acct_1Stranger").await;
    let token = app.organizer_token(stranger["id"].as_str().unwrap());
    let response = app.get(&invoices_path(&org, &other), &token).await;
    assert_eq!(response.status(), 403);
    let path = format!(
        "/v1/organizers/{}/customers/{}/invoices",
        stranger["id"].as_str().unwrap(),
        other["id"].as_str().unwrap()
    );
    let response = app.get(&path, &token).await;
    assert_eq!(response.status(), 404);
    let response = app
        .get(
            &format!("{}?limit=0", invoices_path(&org, &other)),
            &app.organizer_token(org["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(response.status(), 422);
}

/// The invoice's events in the organizer's feed, oldest first: (type, attempt_count).
async fn invoice_events(app: &TestApp, org: &Value) -> Vec<(String, Value)> {
    let path = format!(
        "/v1/organizers/{}/events?types=invoice.paid,invoice.payment_failed",
        org["id"].as_str().unwrap()
    );
    let page = app.read_as_organizer(org, &path).await;
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| {
            let told = event["type"].as_str().unwrap().to_string();
            (told, event["data"]["attempt_count"].clone())
        })
        .collect()
}

async fn each_failed_collection_of_an_invoice_is_told_once(app: TestApp) {
    let org = organizer(&app, ACCOUNT).await;
    let buyer = customer(&app, &org, "dunning@example.com").await;
    let stripe_id = buyer["stripe_customer_id"].as_str().unwrap();
    let mut invoice = invoice_json("in_dunning", stripe_id, None, "open", 2500, T0);
    let mut stripe_says = |app: &TestApp, attempts: i64, status: &str| {
        invoice["attempt_count"] = json!(attempts);
        invoice["status"] = json!(status);
        app.stripe.put_object(Some(ACCOUNT), invoice.clone());
        invoice.clone()
    };

    // Finalized, not yet attempted: nothing to tell.
    let finalized = stripe_says(&app, 0, "open");
    app.deliver_settled("invoice.finalized", Some(ACCOUNT), &finalized)
        .await;
    assert_eq!(
        invoice_events(&app, &org).await,
        Vec::<(String, Value)>::new()
    );

    // The first attempt fails; the event delivered twice, and re-read by another event, is
    // told once.
    let failed = stripe_says(&app, 1, "open");
    app.deliver_settled("invoice.payment_failed", Some(ACCOUNT), &failed)
        .await;
    app.deliver_settled("invoice.payment_failed", Some(ACCOUNT), &failed)
        .await;
    app.deliver_settled("invoice.updated", Some(ACCOUNT), &failed)
        .await;
    let told = invoice_events(&app, &org).await;
    assert_eq!(told, [("invoice.payment_failed".into(), json!(1))]);

    // Stripe's retry fails too, then the next one pays it.
    let retried = stripe_says(&app, 2, "open");
    app.deliver_settled("invoice.payment_failed", Some(ACCOUNT), &retried)
        .await;
    let paid = stripe_says(&app, 3, "paid");
    app.deliver_settled("invoice.paid", Some(ACCOUNT), &paid)
        .await;
    let told = invoice_events(&app, &org).await;
    assert_eq!(
        told,
        [
            ("invoice.payment_failed".into(), json!(1)),
            ("invoice.payment_failed".into(), json!(2)),
            ("invoice.paid".into(), json!(3)),
        ]
    );
}
