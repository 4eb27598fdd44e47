//! Payments (PaymentIntents): mirrored from their events and from reconciliation, and read from
//! the mirror, one or a page newest first, filtered by customer, status and creation time.

use serde_json::{json, Value};

use crate::helpers::{backend_tests, error_fields, ids, TestApp};
use crate::sync::{drift, run_once};

backend_tests!(
    payments_follow_their_events_and_are_read_from_the_mirror,
    payments_are_listed_newest_first_and_filtered,
    reconciliation_finds_and_repairs_payment_drift,
    payments_of_another_organizer_are_not_shown_and_bad_filters_are_named,
    a_cursor_naming_no_object_of_the_account_ends_the_list,
);

const ACCOUNT: &str = "acct_1Payments";
/// 2026-11-01 00:00 UTC.
const T0: i64 = 1_793_491_200;

/// A PaymentIntent as Stripe answers it.
fn intent_json(id: &str, customer: &str, status: &str, amount: i64, created: i64) -> Value {
    json!({
        "id": id, "object": "payment_intent", "customer": customer, "status": status,
        "amount": amount, "currency": "eur",
        "amount_received": if status == "succeeded" { amount } else { 0 },
        "application_fee_amount": null, "latest_charge": null, "last_payment_error": null,
        "metadata": { "gateway_order": id }, "created": created, "livemode": false,
    })
}

async fn organizer(app: &TestApp, account: &str) -> Value {
    app.create_organizer("Payments", account).await
}

async fn customer(app: &TestApp, org: &Value, email: &str) -> Value {
    app.create_customer(org["id"].as_str().unwrap(), email)
        .await
}

fn payments_path(org: &Value) -> String {
    format!("/v1/organizers/{}/payments", org["id"].as_str().unwrap())
}

async fn payments_follow_their_events_and_are_read_from_the_mirror(app: TestApp) {
    let org = organizer(&app, ACCOUNT).await;
    let buyer = customer(&app, &org, "payer@example.com").await;
    let stripe_id = buyer["stripe_customer_id"].as_str().unwrap();
    let path = format!("{}/pi_followed", payments_path(&org));
    let response = app
        .get(&path, &app.organizer_token(org["id"].as_str().unwrap()))
        .await;
    assert_eq!(response.status(), 404, "no event yet");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payment_not_found", "{body}");

    // Declined: the mirror keeps Stripe's reason.
    let mut declined = intent_json(
        "pi_followed",
        stripe_id,
        "requires_payment_method",
        4900,
        T0,
    );
    declined["last_payment_error"] = json!({
        "code": "card_declined", "decline_code": "insufficient_funds",
        "message": "Your card has insufficient funds.", "type": "card_error",
    });
    app.stripe.put_object(Some(ACCOUNT), declined.clone());
    let settled = app
        .deliver_settled("payment_intent.payment_failed", Some(ACCOUNT), &declined)
        .await;
    assert_eq!(settled["status"], "processed", "{settled}");
    let payment = app.read_as_organizer(&org, &path).await;
    assert_eq!(payment["status"], "requires_payment_method", "{payment}");
    assert_eq!(payment["last_error"]["code"], "card_declined");
    assert_eq!(payment["last_error"]["decline_code"], "insufficient_funds");
    assert_eq!(payment["amount"], 4900);
    assert_eq!(payment["amount_received"], 0);
    assert_eq!(payment["stripe_customer_id"], stripe_id);
    assert_eq!(
        payment["metadata"],
        json!({ "gateway_order": "pi_followed" })
    );
    assert_eq!(payment["created"], "2026-11-01T00:00:00Z");

    // Paid in Stripe: the event's fetch brings the new state, whatever the payload says.
    let mut paid = intent_json("pi_followed", stripe_id, "succeeded", 4900, T0);
    paid["latest_charge"] = json!("ch_followed");
    app.stripe.put_object(Some(ACCOUNT), paid.clone());
    app.deliver_settled("payment_intent.succeeded", Some(ACCOUNT), &declined)
        .await;
    let payment = app.read_as_organizer(&org, &path).await;
    assert_eq!(payment["status"], "succeeded", "{payment}");
    assert_eq!(payment["amount_received"], 4900);
    assert_eq!(payment["amount_refunded"], 0);
    assert_eq!(payment["latest_charge"], "ch_followed");
    assert_eq!(payment["last_error"], Value::Null);
    let page = app.read_as_organizer(&org, &payments_path(&org)).await;
    assert_eq!(ids(&page), ["pi_followed"], "{page}");
}

async fn payments_are_listed_newest_first_and_filtered(app: TestApp) {
    let org = organizer(&app, ACCOUNT).await;
    let ana = customer(&app, &org, "ana@example.com").await;
    let bo = customer(&app, &org, "bo@example.com").await;
    let (ana_stripe, bo_stripe) = (
        ana["stripe_customer_id"].as_str().unwrap(),
        bo["stripe_customer_id"].as_str().unwrap(),
    );
    let intents = [
        ("pi_a0", ana_stripe, "succeeded", T0),
        ("pi_b1", bo_stripe, "succeeded", T0 + 86_400),
        ("pi_a2", ana_stripe, "canceled", T0 + 2 * 86_400),
        ("pi_a3", ana_stripe, "succeeded", T0 + 2 * 86_400),
    ];
    for (id, customer, status, created) in intents {
        let intent = intent_json(id, customer, status, 1000, created);
        app.stripe.put_object(Some(ACCOUNT), intent.clone());
        let settled = app
            .deliver_settled("payment_intent.created", Some(ACCOUNT), &intent)
            .await;
        assert_eq!(settled["status"], "processed", "{settled}");
    }
    let path = payments_path(&org);

    // Newest first; the same second by id, descending.
    let first = app
        .read_as_organizer(&org, &format!("{path}?limit=3"))
        .await;
    assert_eq!(ids(&first), ["pi_a3", "pi_a2", "pi_b1"], "{first}");
    let cursor = first["next_cursor"].as_str().expect("a second page");
    let second = app
        .read_as_organizer(&org, &format!("{path}?limit=3&cursor={cursor}"))
        .await;
    assert_eq!(ids(&second), ["pi_a0"], "{second}");
    assert_eq!(second["next_cursor"], Value::Null);
    // One at a time: a cursor between two payments of the same second goes on to the other.
    let (mut walked, mut cursor) = (Vec::new(), String::new());
    loop {
        let page = app
            .read_as_organizer(&org, &format!("{path}?limit=1{cursor}"))
            .await;
        walked.extend(ids(&page).into_iter().map(str::to_owned));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(walked, ["pi_a3", "pi_a2", "pi_b1", "pi_a0"]);

    let ana_id = ana["id"].as_str().unwrap();
    let of_ana = app
        .read_as_organizer(&org, &format!("{path}?customer_id={ana_id}"))
        .await;
    assert_eq!(ids(&of_ana), ["pi_a3", "pi_a2", "pi_a0"], "{of_ana}");
    let paid = format!("{path}?customer_id={ana_id}&status=succeeded");
    assert_eq!(
        ids(&app.read_as_organizer(&org, &paid).await),
        ["pi_a3", "pi_a0"]
    );
    let range =
        format!("{path}?created_gte=2026-11-02T00:00:00Z&created_lt=2026-11-03T00:00:00%2B00:00");
    assert_eq!(ids(&app.read_as_organizer(&org, &range).await), ["pi_b1"]);
    let none = app
        .read_as_organizer(&org, &format!("{path}?status=processing"))
        .await;
    assert_eq!(none, json!({ "data": [], "next_cursor": null }));
}

async fn reconciliation_finds_and_repairs_payment_drift(app: TestApp) {
    let org = organizer(&app, ACCOUNT).await;
    let buyer = customer(&app, &org, "late@example.com").await;
    let stripe_id = buyer["stripe_customer_id"].as_str().unwrap();
    for i in 0..3 {
        let intent = intent_json(&format!("pi_r{i}"), stripe_id, "processing", 500, T0 + i);
        app.stripe.put_object(Some(ACCOUNT), intent);
    }
    let kinds = json!({ "kinds": ["payments"] });
    let run = run_once(&app, &org, kinds.clone()).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let found = drift(&run, "payments");
    assert_eq!(found["checked"], 3, "{run}");
    assert_eq!(found["missing"], 3);
    assert_eq!(found["repaired"], 3);
    let path = payments_path(&org);
    assert_eq!(
        ids(&app.read_as_organizer(&org, &path).await),
        ["pi_r2", "pi_r1", "pi_r0"]
    );

    // Succeeded in Stripe with no event reaching the gateway: the next run repairs it.
    let paid = intent_json("pi_r1", stripe_id, "succeeded", 500, T0 + 1);
    app.stripe.put_object(Some(ACCOUNT), paid);
    let run = run_once(&app, &org, kinds.clone()).await;
    let found = drift(&run, "payments");
    assert_eq!(found["different"], 1, "{run}");
    assert_eq!(found["examples"]["different"], json!(["pi_r1"]));
    assert_eq!(found["repaired"], 1);
    let payment = app.read_as_organizer(&org, &format!("{path}/pi_r1")).await;
    assert_eq!(payment["status"], "succeeded", "{payment}");

    let run = run_once(&app, &org, kinds).await;
    let found = drift(&run, "payments");
    assert_eq!(
        (&found["missing"], &found["different"], &found["repaired"]),
        (&json!(0), &json!(0), &json!(0)),
        "{run}"
    );
}

async fn payments_of_another_organizer_are_not_shown_and_bad_filters_are_named(app: TestApp) {
    let org = organizer(&app, ACCOUNT).await;
    let buyer = customer(&app, &org, "mine@example.com").await;
    let intent = intent_json(
        "pi_mine",
        buyer["stripe_customer_id"].as_str().unwrap(),
        "succeeded",
        700,
        T0,
    );
    app.stripe.put_object(Some(ACCOUNT), intent.clone());
    app.deliver_settled("payment_intent.succeeded", Some(ACCOUNT), &intent)
        .await;
    let mine = app.organizer_token(org["id"].as_str().unwrap());

    // Another organizer's token on this organizer's payments; this payment through another
    // organizer; this organizer's customer as another's filter.
    let stranger = organizer(&app, "acct_1Stranger").await;
    let theirs = app.organizer_token(stranger["id"].as_str().unwrap());
    let path = payments_path(&org);
    assert_eq!(app.get(&path, &theirs).await.status(), 403);
    assert_eq!(
        app.get(&format!("{path}/pi_mine"), &theirs).await.status(),
        403
    );
    let their_path = payments_path(&stranger);
    let response = app.get(&format!("{their_path}/pi_mine"), &theirs).await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payment_not_found", "{body}");
    assert_eq!(
        app.read_as_organizer(&stranger, &their_path).await,
        json!({ "data": [], "next_cursor": null })
    );
    let buyer_id = buyer["id"].as_str().unwrap();
    let response = app
        .get(&format!("{their_path}?customer_id={buyer_id}"), &theirs)
        .await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "customer_not_found", "{body}");

    // Each bad filter is named; none reaches Stripe.
    let before = app.stripe.requests().len();
    for (query, field) in [
        ("status=paid", "status"),
        ("created_gte=yesterday", "created_gte"),
        ("created_lt=2026-13-01T00:00:00Z", "created_lt"),
        ("customer_id=not-a-uuid", "customer_id"),
        ("limit=0", "limit"),
        ("cursor=%21", "cursor"),
    ] {
        let response = app.get(&format!("{path}?{query}"), &mine).await;
        assert_eq!(response.status(), 422, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(error_fields(&body), [field], "{query}: {body}");
    }
    let response = app.get(&format!("{path}?colour=red"), &mine).await;
    assert_eq!(response.status(), 400);
    assert_eq!(app.stripe.requests().len(), before);
}

/// A well-formed cursor naming no payment (or dispute) of the account, such as another
/// account's, is a position the list does not hold: nothing comes after it, and nothing of the
/// other account shows.
async fn a_cursor_naming_no_object_of_the_account_ends_the_list(app: TestApp) {
    let org = organizer(&app, ACCOUNT).await;
    let buyer = customer(&app, &org, "paged@example.com").await;
    let stripe_id = buyer["stripe_customer_id"].as_str().unwrap();
    let paid = intent_json("pi_listed", stripe_id, "succeeded", 1200, T0);
    app.stripe.put_object(Some(ACCOUNT), paid.clone());
    app.deliver_settled("payment_intent.succeeded", Some(ACCOUNT), &paid)
        .await;
    let first = app.read_as_organizer(&org, &payments_path(&org)).await;
    assert_eq!(ids(&first), ["pi_listed"], "{first}");
    let org_id = org["id"].as_str().unwrap();
    for list in ["payments", "disputes"] {
        let cursor = gateway::domain::ObjectCursor::after("pi_elsewhere").encode();
        let path = format!("/v1/organizers/{org_id}/{list}?cursor={cursor}");
        let page = app.read_as_organizer(&org, &path).await;
        assert_eq!(page["data"], json!([]), "{list}: {page}");
        assert_eq!(page["next_cursor"], Value::Null, "{list}: {page}");
    }
}
