//! PaymentIntents for embedded card forms and billing portal sessions, through HTTP.

use serde_json::{json, Value};

use crate::checkout::organizer_with_fee;
use crate::helpers::{backend_tests, error_body, error_fields, TestApp, PUBLISHABLE_KEY};
use crate::support::fake_stripe::PLATFORM_ACCOUNT;

backend_tests!(
    a_payment_intent_carries_what_a_card_form_needs,
    a_buyer_who_paid_another_organizer_gets_this_organizers_customer,
    the_platforms_own_organizer_gets_no_fee_and_no_account_header,
    bad_payment_intents_are_refused_per_field,
    a_portal_session_opens_on_the_organizers_account,
);

fn intents_path(org: &Value) -> String {
    format!(
        "/v1/organizers/{}/payment-intents",
        org["id"].as_str().unwrap()
    )
}

fn param(app: &TestApp, path: &str, index: usize, name: &str) -> Option<String> {
    app.stripe.requests_to("POST", path)[index]
        .params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.clone())
}

async fn create(app: &TestApp, org: &Value, body: &Value) -> Value {
    let response = app.post(&intents_path(org), &app.admin_token(), body).await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn a_payment_intent_carries_what_a_card_form_needs(app: TestApp) {
    let account = "acct_1IntentFee000001";
    let org = organizer_with_fee(&app, account, Some(250)).await;
    let body = json!({ "email": "ana@example.com", "amount": 10_000, "currency": "eur", "description": "2 passes", "metadata": { "order_id": "9" } });
    let intent = create(&app, &org, &body).await;
    assert!(
        intent["id"].as_str().unwrap().starts_with("pi_"),
        "{intent}"
    );
    assert!(intent["client_secret"]
        .as_str()
        .unwrap()
        .contains("_secret_"));
    assert_eq!(intent["stripe_account_id"], account);
    assert_eq!(
        intent["stripe_js_account"], account,
        "a connected account's payment"
    );
    assert_eq!(intent["publishable_key"], PUBLISHABLE_KEY);
    let requests = app.stripe.requests_to("POST", "/v1/payment_intents");
    assert_eq!(requests[0].stripe_account.as_deref(), Some(account));
    let customer = &app.stripe.customers(Some(account))[0];
    assert_eq!(
        param(&app, "/v1/payment_intents", 0, "customer").as_deref(),
        customer["id"].as_str()
    );
    assert_eq!(
        param(&app, "/v1/payment_intents", 0, "application_fee_amount").as_deref(),
        Some("250")
    );
    assert_eq!(
        param(&app, "/v1/payment_intents", 0, "amount").as_deref(),
        Some("10000")
    );
    assert_eq!(
        param(&app, "/v1/payment_intents", 0, "metadata[order_id]").as_deref(),
        Some("9")
    );
    // The customer is the gateway's one for that email at this organizer.
    let by_id = json!({ "customer_id": intent["customer_id"], "amount": 500, "currency": "eur" });
    let second = create(&app, &org, &by_id).await;
    assert_eq!(second["customer_id"], intent["customer_id"]);
    assert_eq!(
        param(&app, "/v1/payment_intents", 1, "customer").as_deref(),
        customer["id"].as_str()
    );
}

/// The Hi.Events case: the buyer had paid organizer A; at organizer B the card form must be
/// started with B's account and B's customer, or it fails to load.
async fn a_buyer_who_paid_another_organizer_gets_this_organizers_customer(app: TestApp) {
    let a = organizer_with_fee(&app, "acct_1IntentOrgA00001", None).await;
    let b = organizer_with_fee(&app, "acct_1IntentOrgB00001", None).await;
    let body = json!({ "email": "buyer@example.com", "amount": 2500, "currency": "eur" });
    let at_a = create(&app, &a, &body).await;
    let at_b = create(&app, &b, &body).await;
    assert_eq!(at_b["stripe_account_id"], "acct_1IntentOrgB00001");
    assert_ne!(at_a["customer_id"], at_b["customer_id"]);
    let requests = app.stripe.requests_to("POST", "/v1/payment_intents");
    assert_eq!(
        requests[1].stripe_account.as_deref(),
        Some("acct_1IntentOrgB00001")
    );
    let b_customer = &app.stripe.customers(Some("acct_1IntentOrgB00001"))[0];
    assert_eq!(
        param(&app, "/v1/payment_intents", 1, "customer").as_deref(),
        b_customer["id"].as_str()
    );
}

async fn the_platforms_own_organizer_gets_no_fee_and_no_account_header(app: TestApp) {
    let org = organizer_with_fee(&app, PLATFORM_ACCOUNT, Some(300)).await;
    create(
        &app,
        &org,
        &json!({ "email": "ana@example.com", "amount": 1000, "currency": "usd" }),
    )
    .await;
    let requests = app.stripe.requests_to("POST", "/v1/payment_intents");
    assert_eq!(requests[0].stripe_account, None);
    assert_eq!(
        param(&app, "/v1/payment_intents", 0, "application_fee_amount"),
        None
    );
}

async fn bad_payment_intents_are_refused_per_field(app: TestApp) {
    let org = organizer_with_fee(&app, "acct_1IntentInput0001", None).await;
    let body = json!({ "amount": 0, "currency": "EUR", "description": "" });
    let response = app
        .post(&intents_path(&org), &app.admin_token(), &body)
        .await;
    let error = error_body(response, 422, "validation_failed").await;
    let fields = error_fields(&error);
    assert_eq!(fields, ["customer_id", "amount", "currency", "description"]);
    let too_much = json!({ "email": "ana@example.com", "amount": 100_000_000, "currency": "eur" });
    let response = app
        .post(&intents_path(&org), &app.admin_token(), &too_much)
        .await;
    error_body(response, 422, "validation_failed").await;
    let unknown = json!({ "customer_id": "0193a7c0-5b1e-7c3a-9f10-2d4e6f8a0b1c", "amount": 100, "currency": "eur" });
    let response = app
        .post(&intents_path(&org), &app.admin_token(), &unknown)
        .await;
    error_body(response, 404, "customer_not_found").await;
    assert!(app
        .stripe
        .requests_to("POST", "/v1/payment_intents")
        .is_empty());
}

async fn a_portal_session_opens_on_the_organizers_account(app: TestApp) {
    let account = "acct_1PortalOrg000001";
    let org = organizer_with_fee(&app, account, None).await;
    let other = organizer_with_fee(&app, "acct_1PortalOther00001", None).await;
    let customers = format!("/v1/organizers/{}/customers", org["id"].as_str().unwrap());
    let response = app
        .post(
            &customers,
            &app.admin_token(),
            &json!({ "email": "ana@example.com" }),
        )
        .await;
    let customer: Value = response.json().await.unwrap();
    let path = format!(
        "{customers}/{}/portal-sessions",
        customer["id"].as_str().unwrap()
    );
    let body = json!({ "return_url": "https://shop.example/account" });
    let response = app.post(&path, &app.admin_token(), &body).await;
    assert_eq!(response.status(), 201);
    let session: Value = response.json().await.unwrap();
    assert!(
        session["url"]
            .as_str()
            .unwrap()
            .starts_with("https://billing.stripe.com/"),
        "{session}"
    );
    let requests = app
        .stripe
        .requests_to("POST", "/v1/billing_portal/sessions");
    assert_eq!(requests[0].stripe_account.as_deref(), Some(account));
    assert_eq!(
        param(&app, "/v1/billing_portal/sessions", 0, "customer").as_deref(),
        customer["stripe_customer_id"].as_str()
    );
    assert_eq!(
        param(&app, "/v1/billing_portal/sessions", 0, "return_url").as_deref(),
        Some("https://shop.example/account")
    );
    // Audited with an object of details, as every action is: the audit log reads it back.
    let log = app
        .get_json(
            "/v1/admin/audit-log?action=portal_session.created",
            &app.admin_token(),
        )
        .await;
    assert_eq!(log["data"][0]["details"], json!({}), "{log}");

    let response = app
        .post(
            &path,
            &app.admin_token(),
            &json!({ "return_url": "shop.example" }),
        )
        .await;
    error_body(response, 422, "validation_failed").await;
    let token = app.organizer_token(other["id"].as_str().unwrap());
    let response = app.post(&path, &token, &body).await;
    error_body(response, 403, "forbidden").await;
    // Another organizer's customer id under this organizer is no customer of it.
    let other_customers = format!("/v1/organizers/{}/customers", other["id"].as_str().unwrap());
    let response = app
        .post(
            &other_customers,
            &app.admin_token(),
            &json!({ "email": "bo@example.com" }),
        )
        .await;
    let theirs: Value = response.json().await.unwrap();
    let cross = format!(
        "{customers}/{}/portal-sessions",
        theirs["id"].as_str().unwrap()
    );
    let response = app.post(&cross, &app.admin_token(), &body).await;
    error_body(response, 404, "customer_not_found").await;
    assert_eq!(
        app.stripe
            .requests_to("POST", "/v1/billing_portal/sessions")
            .len(),
        1
    );
}
