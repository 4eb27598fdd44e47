//! Destination charges: an organizer registered with `charge_type: destination` sells on the
//! platform's account, with `on_behalf_of` and `transfer_data[destination]` its own; its buyers
//! are customers of the platform's account kept apart per organizer; its payments are read
//! among the platform's by their destination; a refund reverses the transfer.

use serde_json::{json, Value};

use crate::checkout::param;
use crate::helpers::{backend_tests, error_body, error_fields, TestApp, WEBHOOK_SECRET};
use crate::support::fake_stripe::PLATFORM_ACCOUNT;

backend_tests!(
    a_destination_organizer_sells_on_the_platforms_account_and_refunds_with_the_transfer,
    buyers_of_destination_organizers_are_kept_apart_per_organizer,
    destination_charges_are_refused_where_they_cannot_be_taken,
    the_fake_refuses_destination_charges_as_stripe_does,
);

const VENUE_ACCOUNT: &str = "acct_1DestinationVenue01";
const CLUB_ACCOUNT: &str = "acct_1DestinationClub001";

/// The platform's own organizer, which destination organizers need first.
async fn platform_organizer(app: &TestApp) -> Value {
    let response = app
        .post(
            "/v1/organizers",
            &app.admin_token(),
            &json!({ "name": "The platform", "stripe_account_id": PLATFORM_ACCOUNT }),
        )
        .await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

/// A destination-charges organizer with `account`, its fee 5% and refunds giving it back.
async fn destination_organizer(app: &TestApp, name: &str, account: &str) -> Value {
    app.stripe.add_connected_account(account);
    let response = app
        .post(
            "/v1/organizers",
            &app.admin_token(),
            &json!({
                "name": name,
                "stripe_account_id": account,
                "charge_type": "destination",
                "application_fee_bps": 500,
                "refund_application_fee": true,
            }),
        )
        .await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body
}

fn path_of(org: &Value) -> String {
    format!("/v1/organizers/{}", org["id"].as_str().unwrap())
}

fn two_tickets(email: &str) -> Value {
    json!({
        "email": email,
        "mode": "payment",
        "line_items": [{ "name": "Standing", "unit_amount": 2000, "currency": "eur", "quantity": 2 }],
        "success_url": "https://tickets.example/paid",
        "cancel_url": "https://tickets.example/cart",
    })
}

async fn a_destination_organizer_sells_on_the_platforms_account_and_refunds_with_the_transfer(
    app: TestApp,
) {
    app.stripe
        .deliver_webhooks_to(&format!("{}/webhooks/stripe", app.address), WEBHOOK_SECRET);
    let platform = platform_organizer(&app).await;
    let venue = destination_organizer(&app, "The Venue", VENUE_ACCOUNT).await;
    assert_eq!(venue["charge_type"], "destination");
    assert_eq!(platform["charge_type"], "direct");
    let token = app.organizer_token(venue["id"].as_str().unwrap());
    let path = path_of(&venue);

    let response = app
        .post(
            &format!("{path}/checkout-sessions"),
            &token,
            &two_tickets("fan@example.com"),
        )
        .await;
    let checkout: Value = response.json().await.unwrap();
    assert_eq!(
        checkout["stripe_account_id"], PLATFORM_ACCOUNT,
        "{checkout}"
    );
    assert_eq!(checkout["application_fee_amount"], 200, "5% of 40 EUR");
    // The buyer became a customer of the platform's account, and the session was made there,
    // sent on to the organizer's account.
    let customers = app.stripe.requests_to("POST", "/v1/customers");
    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0].stripe_account, None, "the platform's account");
    let sent = app.stripe.requests_to("POST", "/v1/checkout/sessions");
    assert_eq!(sent[0].stripe_account, None, "the platform's account");
    for (name, value) in [
        (
            "payment_intent_data[transfer_data][destination]",
            VENUE_ACCOUNT,
        ),
        ("payment_intent_data[on_behalf_of]", VENUE_ACCOUNT),
        ("payment_intent_data[application_fee_amount]", "200"),
    ] {
        assert_eq!(param(&sent[0], name), Some(value), "{name}");
    }

    // Paid: the payment is the organizer's, not the platform organizer's.
    app.trigger_settled(
        &json!({ "type": "checkout.session.completed", "session": checkout["id"] }),
    )
    .await;
    let payments = app.get_json(&format!("{path}/payments"), &token).await;
    let payment = &payments["data"][0];
    assert_eq!(payment["status"], "succeeded", "{payments}");
    assert_eq!(payment["destination_account"], VENUE_ACCOUNT);
    assert_eq!(payment["checkout_session_id"], checkout["id"]);
    let theirs = app
        .get_json(
            &format!("{}/payments", path_of(&platform)),
            &app.admin_token(),
        )
        .await;
    assert_eq!(theirs["data"], json!([]), "{theirs}");
    let payment_id = payment["id"].as_str().unwrap().to_string();
    let other = app
        .get(
            &format!("{}/payments/{payment_id}", path_of(&platform)),
            &app.admin_token(),
        )
        .await;
    assert_eq!(other.status(), 404);
    let session_path = format!("checkout-sessions/{}", checkout["id"].as_str().unwrap());
    let session = app
        .get_json(&format!("{path}/{session_path}"), &token)
        .await;
    assert_eq!(session["payment_id"], payment["id"], "{session}");
    let other = app
        .get(
            &format!("{}/{session_path}", path_of(&platform)),
            &app.admin_token(),
        )
        .await;
    assert_eq!(other.status(), 404, "the session is the venue's");

    // The venue's app hears of the sale; the platform organizer's does not.
    let told = app
        .get_json(
            &format!("{path}/events?types=checkout.completed,payment.succeeded"),
            &token,
        )
        .await;
    let mut types: Vec<&str> = told["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["type"].as_str().unwrap())
        .collect();
    types.sort_unstable();
    assert_eq!(types, ["checkout.completed", "payment.succeeded"], "{told}");
    let theirs = app
        .get_json(
            &format!(
                "{}/events?types=checkout.completed,payment.succeeded",
                path_of(&platform)
            ),
            &app.admin_token(),
        )
        .await;
    assert_eq!(theirs["data"], json!([]), "{theirs}");

    // A card form's payment is sent on too, and Stripe.js starts on the platform's account.
    let body = json!({ "email": "fan@example.com", "amount": 3000, "currency": "eur" });
    let response = app
        .post(&format!("{path}/payment-intents"), &token, &body)
        .await;
    let intent: Value = response.json().await.unwrap();
    assert_eq!(intent["stripe_js_account"], Value::Null, "{intent}");
    assert_eq!(intent["application_fee_amount"], 150);
    let sent = app.stripe.requests_to("POST", "/v1/payment_intents");
    assert_eq!(sent[0].stripe_account, None);
    assert_eq!(
        param(&sent[0], "transfer_data[destination]"),
        Some(VENUE_ACCOUNT)
    );
    assert_eq!(param(&sent[0], "on_behalf_of"), Some(VENUE_ACCOUNT));
    assert_eq!(
        app.stripe.requests_to("POST", "/v1/customers").len(),
        1,
        "the same buyer of the same organizer"
    );

    // A ticket refunded: the transfer is reversed and the fee given back, on the platform.
    let response = app
        .post(
            &format!("{path}/payments/{payment_id}/refunds"),
            &token,
            &json!({ "amount": 2000 }),
        )
        .await;
    assert_eq!(response.status(), 201);
    let sent = app.stripe.requests_to("POST", "/v1/refunds");
    assert_eq!(sent[0].stripe_account, None);
    assert_eq!(param(&sent[0], "reverse_transfer"), Some("true"));
    assert_eq!(param(&sent[0], "refund_application_fee"), Some("true"));
    let read = app
        .get_json(&format!("{path}/payments/{payment_id}"), &token)
        .await;
    assert_eq!(read["amount_refunded"], 2000, "{read}");
}

async fn buyers_of_destination_organizers_are_kept_apart_per_organizer(app: TestApp) {
    let platform = platform_organizer(&app).await;
    let venue = destination_organizer(&app, "The Venue", VENUE_ACCOUNT).await;
    let club = destination_organizer(&app, "The Club", CLUB_ACCOUNT).await;
    let mut ids = Vec::new();
    for org in [&venue, &club, &platform] {
        let response = app
            .post(
                &format!("{}/customers", path_of(org)),
                &app.admin_token(),
                &json!({ "email": "Fan@Example.com", "name": org["name"] }),
            )
            .await;
        assert_eq!(response.status(), 201);
        let customer: Value = response.json().await.unwrap();
        ids.push(customer["id"].as_str().unwrap().to_string());
    }
    let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), 3, "one customer per organizer: {ids:?}");
    // Three Stripe customers of the platform's account, one per organizer.
    let created = app.stripe.requests_to("POST", "/v1/customers");
    assert_eq!(created.len(), 3);
    assert!(created
        .iter()
        .all(|request| request.stripe_account.is_none()));

    // Each organizer reads its own, by id and by email, and not another's.
    let club_token = app.organizer_token(club["id"].as_str().unwrap());
    let venue_customer = format!("{}/customers/{}", path_of(&club), ids[0]);
    let response = app.get(&venue_customer, &club_token).await;
    assert_eq!(
        response.status(),
        404,
        "the venue's customer is not the club's"
    );
    let listed = app
        .get_json(
            &format!("{}/customers?email=fan@example.com", path_of(&club)),
            &club_token,
        )
        .await;
    assert_eq!(listed["data"][0]["id"], ids[1].as_str(), "{listed}");
    assert_eq!(listed["data"][0]["name"], "The Club");
    let listed = app
        .get_json(
            &format!("{}/customers", path_of(&platform)),
            &app.admin_token(),
        )
        .await;
    let listed: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        vec![ids[2].as_str()],
        "the platform's own buyers only"
    );
}

async fn destination_charges_are_refused_where_they_cannot_be_taken(app: TestApp) {
    let admin = app.admin_token();
    // Before the platform's own organizer: the payments would have no organizer to mirror them.
    app.stripe.add_connected_account(VENUE_ACCOUNT);
    let body = json!({ "name": "Early", "stripe_account_id": VENUE_ACCOUNT, "charge_type": "destination" });
    let response = app.post("/v1/organizers", &admin, &body).await;
    let refused = error_body(response, 409, "platform_organizer_missing").await;
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains(PLATFORM_ACCOUNT),
        "{refused}"
    );
    platform_organizer(&app).await;
    // The platform's own account sends nothing on to itself.
    let body = json!({ "name": "Self", "stripe_account_id": PLATFORM_ACCOUNT, "charge_type": "destination" });
    let response = app.post("/v1/organizers", &admin, &body).await;
    let refused = error_body(response, 422, "validation_failed").await;
    assert_eq!(error_fields(&refused), ["charge_type"]);
    let body = json!({ "name": "Odd", "charge_type": "separate" });
    let response = app.post("/v1/organizers", &admin, &body).await;
    assert_eq!(response.status(), 422);

    let venue = destination_organizer(&app, "The Venue", VENUE_ACCOUNT).await;
    let path = path_of(&venue);
    // Fixed once registered.
    let response = app
        .patch(&path, &admin, &json!({ "charge_type": "direct" }))
        .await;
    assert_eq!(response.status(), 422);
    // Subscriptions stay with direct charges; nothing is sent to Stripe.
    let mut subscription = two_tickets("fan@example.com");
    subscription["mode"] = json!("subscription");
    subscription["line_items"][0]["recurring"] = json!({ "interval": "month" });
    let response = app
        .post(&format!("{path}/checkout-sessions"), &admin, &subscription)
        .await;
    let refused = error_body(response, 422, "validation_failed").await;
    assert_eq!(error_fields(&refused), ["mode"]);
    assert!(app.stripe.requests_to("POST", "/v1/customers").is_empty());
    assert!(app
        .stripe
        .requests_to("POST", "/v1/checkout/sessions")
        .is_empty());
}

/// Sends a form straight to the fake Stripe, as the gateway would (`account`: with
/// `Stripe-Account`); returns status and body.
async fn fake_post(
    app: &TestApp,
    account: Option<&str>,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let mut request = app
        .client
        .post(format!("{}{path}", app.stripe.base_url))
        .bearer_auth("sk_test_contract");
    if let Some(account) = account {
        request = request.header("stripe-account", account);
    }
    let response = request.form(form).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// A PaymentIntent's form: 40 EUR from `customer`, with `extra`.
fn intent<'a>(customer: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("amount", "4000"),
        ("currency", "eur"),
        ("customer", customer),
    ];
    form.extend_from_slice(extra);
    form
}

async fn the_fake_refuses_destination_charges_as_stripe_does(app: TestApp) {
    app.stripe
        .deliver_webhooks_to(&format!("{}/webhooks/stripe", app.address), WEBHOOK_SECRET);
    app.stripe.add_connected_account(VENUE_ACCOUNT);
    let mut customers = Vec::new();
    for account in [None, Some(VENUE_ACCOUNT)] {
        let form = [("email", "fan@example.com")];
        let (status, customer) = fake_post(&app, account, "/v1/customers", &form).await;
        assert_eq!(status, 200, "{customer}");
        customers.push(customer["id"].as_str().unwrap().to_string());
    }
    let (on_platform, on_venue) = (customers[0].as_str(), customers[1].as_str());
    let send_on = ("transfer_data[destination]", VENUE_ACCOUNT);
    let cases = [
        // Only the platform sends money on.
        (
            Some(VENUE_ACCOUNT),
            intent(on_venue, &[send_on]),
            ("transfer_data[destination]", "without Stripe-Account"),
        ),
        // To an account connected to it.
        (
            None,
            intent(
                on_platform,
                &[("transfer_data[destination]", "acct_1NotConnected")],
            ),
            ("transfer_data[destination]", "No such destination"),
        ),
        // On behalf of the account it sends to.
        (
            None,
            intent(on_platform, &[send_on, ("on_behalf_of", CLUB_ACCOUNT)]),
            ("on_behalf_of", "must be the same"),
        ),
        // The platform's own payment takes no fee.
        (
            None,
            intent(on_platform, &[("application_fee_amount", "100")]),
            ("application_fee_amount", "destination payment"),
        ),
    ];
    // Each for its own reason: a parameter the contract does not know is refused too, naming it.
    for (account, form, (param, why)) in cases {
        let (status, body) = fake_post(&app, account, "/v1/payment_intents", &form).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["param"], param, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(why), "{body}");
    }
    // A destination payment with a fee is taken; a direct one has no transfer to reverse.
    let extra = [
        send_on,
        ("on_behalf_of", VENUE_ACCOUNT),
        ("application_fee_amount", "200"),
    ];
    let form = intent(on_platform, &extra);
    let (status, sent_on) = fake_post(&app, None, "/v1/payment_intents", &form).await;
    assert_eq!(status, 200, "{sent_on}");
    assert_eq!(sent_on["transfer_data"]["destination"], VENUE_ACCOUNT);
    let form = intent(on_platform, &[]);
    let (status, own) = fake_post(&app, None, "/v1/payment_intents", &form).await;
    assert_eq!(status, 200, "{own}");
    let mut outcomes = Vec::new();
    for intent in [&own, &sent_on] {
        let id = intent["id"].as_str().unwrap();
        app.trigger_settled(&json!({ "type": "payment_intent.succeeded", "payment_intent": id }))
            .await;
        let form = [
            ("payment_intent", id),
            ("amount", "1000"),
            ("reverse_transfer", "true"),
        ];
        let (status, body) = fake_post(&app, None, "/v1/refunds", &form).await;
        outcomes.push((status, body["error"]["param"].clone()));
    }
    assert_eq!(
        outcomes,
        [(400, json!("reverse_transfer")), (200, Value::Null)],
        "a direct charge has no transfer to reverse; a destination charge's is"
    );
}
