//! Checkout Sessions through HTTP: direct charges on the organizer's account with that
//! account's customer and the platform fee, checks against the catalog mirror, validation.

use serde_json::{json, Value};

use crate::helpers::webhooks::event;
use crate::helpers::{backend_tests, error_body, error_fields, TestApp};
use crate::support::fake_stripe::billing::price_json;
use crate::support::fake_stripe::{RecordedRequest, PLATFORM_ACCOUNT};

backend_tests!(
    a_session_is_a_direct_charge_on_the_organizers_account_with_its_fee,
    one_buyer_at_two_organizers_pays_each_through_its_own_account,
    the_platforms_own_organizer_pays_no_fee,
    a_subscription_carries_the_fee_as_a_percentage,
    prices_the_mirror_knows_are_checked_before_stripe,
    bad_input_is_refused_per_field_before_stripe,
    another_organizers_token_and_a_disconnected_account_are_refused,
);

pub fn sessions_path(org: &Value) -> String {
    format!(
        "/v1/organizers/{}/checkout-sessions",
        org["id"].as_str().unwrap()
    )
}

/// An organizer for `account` taking `fee_bps` of each sale.
pub async fn organizer_with_fee(app: &TestApp, account: &str, fee_bps: Option<i64>) -> Value {
    app.stripe.add_connected_account(account);
    let response = app
        .post(
            "/v1/organizers",
            &app.admin_token(),
            &json!({ "name": "Festival", "stripe_account_id": account, "application_fee_bps": fee_bps }),
        )
        .await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

pub fn ticket(quantity: i64) -> Value {
    json!({ "name": "Festival pass", "unit_amount": 4900, "currency": "eur", "quantity": quantity })
}

pub fn checkout_by_email(email: &str, items: Value) -> Value {
    json!({
        "email": email, "mode": "payment", "line_items": items,
        "success_url": "https://shop.example/thanks?s={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://shop.example/cart",
    })
}

/// The one create the fake Stripe received.
fn only_create(app: &TestApp) -> RecordedRequest {
    let creates = app.stripe.requests_to("POST", "/v1/checkout/sessions");
    assert_eq!(creates.len(), 1, "{creates:?}");
    creates[0].clone()
}

pub fn param<'a>(request: &'a RecordedRequest, name: &str) -> Option<&'a str> {
    request
        .params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

async fn a_session_is_a_direct_charge_on_the_organizers_account_with_its_fee(app: TestApp) {
    let account = "acct_1CheckoutFee00001";
    let org = organizer_with_fee(&app, account, Some(250)).await;
    // A catalog price the mirror has not seen yet: its amount is read from Stripe for the fee.
    app.stripe.put_object(
        Some(account),
        price_json("price_vip", "prod_vip", 1000, None),
    );
    let items = json!([ticket(2), { "price": "price_vip", "quantity": 1 }]);
    let mut body = checkout_by_email("ana@example.com", items);
    body["metadata"] = json!({ "order_id": "1042" });
    let response = app
        .post(&sessions_path(&org), &app.admin_token(), &body)
        .await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("cs_"), "{created}");
    assert_eq!(created["stripe_account_id"], account);
    assert!(created["url"]
        .as_str()
        .unwrap()
        .starts_with("https://checkout.stripe.com/"));
    assert!(created["expires_at"].is_string(), "{created}");

    let customer = app
        .get_json(
            &format!(
                "/v1/organizers/{}/customers/{}",
                org["id"].as_str().unwrap(),
                created["customer_id"].as_str().unwrap()
            ),
            &app.admin_token(),
        )
        .await;
    assert_eq!(customer["email"], "ana@example.com");
    let create = only_create(&app);
    assert_eq!(create.stripe_account.as_deref(), Some(account));
    assert_eq!(
        param(&create, "customer"),
        customer["stripe_customer_id"].as_str()
    );
    // (2 × 4900 + 1000) × 2.5 % = 270, rounded down.
    assert_eq!(
        param(&create, "payment_intent_data[application_fee_amount]"),
        Some("270")
    );
    assert_eq!(
        param(&create, "line_items[0][price_data][unit_amount]"),
        Some("4900")
    );
    assert_eq!(
        param(&create, "line_items[0][price_data][product_data][name]"),
        Some("Festival pass")
    );
    assert_eq!(param(&create, "line_items[1][price]"), Some("price_vip"));
    assert_eq!(param(&create, "metadata[order_id]"), Some("1042"));
    assert_eq!(
        param(&create, "metadata[gateway_customer_id]"),
        created["customer_id"].as_str()
    );
    assert!(
        create.idempotency_key.is_some(),
        "every Stripe write carries a key"
    );

    // Recorded at once: the read needs no webhook.
    let read = app
        .get_json(&format!("{}/{id}", sessions_path(&org)), &app.admin_token())
        .await;
    assert_eq!(read["status"], "open", "{read}");
    assert_eq!(read["amount_total"], 10_800);
    assert_eq!(read["url"], created["url"]);
    assert_eq!(read["stripe_customer_id"], customer["stripe_customer_id"]);
}

async fn one_buyer_at_two_organizers_pays_each_through_its_own_account(app: TestApp) {
    let a = organizer_with_fee(&app, "acct_1CheckoutTwoA0001", None).await;
    let b = organizer_with_fee(&app, "acct_1CheckoutTwoB0001", None).await;
    let body = checkout_by_email("buyer@example.com", json!([ticket(1)]));
    let mut sessions = Vec::new();
    for org in [&a, &b] {
        let response = app
            .post(&sessions_path(org), &app.admin_token(), &body)
            .await;
        assert_eq!(response.status(), 201);
        sessions.push(response.json::<Value>().await.unwrap());
    }
    assert_ne!(sessions[0]["id"], sessions[1]["id"]);
    assert_ne!(sessions[0]["customer_id"], sessions[1]["customer_id"]);
    assert_eq!(sessions[0]["stripe_account_id"], "acct_1CheckoutTwoA0001");
    assert_eq!(sessions[1]["stripe_account_id"], "acct_1CheckoutTwoB0001");
    let creates = app.stripe.requests_to("POST", "/v1/checkout/sessions");
    for (create, account) in creates
        .iter()
        .zip(["acct_1CheckoutTwoA0001", "acct_1CheckoutTwoB0001"])
    {
        assert_eq!(create.stripe_account.as_deref(), Some(account));
        // The customer is one of that account's: the fake refuses any other with 400.
        let customers = app.stripe.customers(Some(account));
        assert_eq!(param(create, "customer"), customers[0]["id"].as_str());
        assert_eq!(
            param(create, "payment_intent_data[application_fee_amount]"),
            None
        );
    }
}

async fn the_platforms_own_organizer_pays_no_fee(app: TestApp) {
    let org = organizer_with_fee(&app, PLATFORM_ACCOUNT, Some(500)).await;
    let body = checkout_by_email("ana@example.com", json!([ticket(1)]));
    let response = app
        .post(&sessions_path(&org), &app.admin_token(), &body)
        .await;
    assert_eq!(response.status(), 201);
    let create = only_create(&app);
    assert_eq!(
        create.stripe_account, None,
        "the platform's own account has no header"
    );
    assert_eq!(
        param(&create, "payment_intent_data[application_fee_amount]"),
        None
    );
}

async fn a_subscription_carries_the_fee_as_a_percentage(app: TestApp) {
    let org = organizer_with_fee(&app, "acct_1CheckoutSubs00001", Some(125)).await;
    let mut item = ticket(1);
    item["recurring"] = json!({ "interval": "month" });
    let mut body = checkout_by_email("ana@example.com", json!([item]));
    body["mode"] = json!("subscription");
    let response = app
        .post(&sessions_path(&org), &app.admin_token(), &body)
        .await;
    assert_eq!(response.status(), 201);
    let create = only_create(&app);
    assert_eq!(param(&create, "mode"), Some("subscription"));
    assert_eq!(
        param(&create, "subscription_data[application_fee_percent]"),
        Some("1.25")
    );
    assert_eq!(
        param(&create, "line_items[0][price_data][recurring][interval]"),
        Some("month")
    );
    assert_eq!(
        param(&create, "payment_intent_data[application_fee_amount]"),
        None
    );
}

/// Puts `price` in the fake's `account` and has the webhook worker mirror it.
pub async fn mirror_price(app: &TestApp, account: &str, price: Value) {
    app.stripe.put_object(Some(account), price.clone());
    let event = event("price.updated", Some(account), &price);
    app.deliver(&event).await;
    let settled = app.settled(event["id"].as_str().unwrap()).await;
    assert_eq!(settled["status"], "processed", "{settled}");
}

async fn prices_the_mirror_knows_are_checked_before_stripe(app: TestApp) {
    let (mine, theirs) = ("acct_1CheckoutMine0001", "acct_1CheckoutTheirs01");
    let org = organizer_with_fee(&app, mine, None).await;
    organizer_with_fee(&app, theirs, None).await;
    let mut retired = price_json("price_retired", "prod_a", 500, None);
    retired["active"] = json!(false);
    mirror_price(&app, mine, retired).await;
    mirror_price(
        &app,
        mine,
        price_json("price_monthly", "prod_a", 900, Some("month")),
    )
    .await;
    mirror_price(
        &app,
        theirs,
        price_json("price_theirs", "prod_b", 700, None),
    )
    .await;
    let cases = [
        ("price_retired", "no longer active"),
        // Another tenant's price is not told to exist: Stripe has none on this account.
        ("price_theirs", "has no price price_theirs"),
        ("price_monthly", "mode: subscription"),
    ];
    for (price, says) in cases {
        let body = checkout_by_email(
            "ana@example.com",
            json!([{ "price": price, "quantity": 1 }]),
        );
        let response = app
            .post(&sessions_path(&org), &app.admin_token(), &body)
            .await;
        let error = error_body(response, 422, "validation_failed").await;
        let field = &error["error"]["fields"][0];
        assert!(
            field["field"]
                .as_str()
                .unwrap()
                .starts_with("line_items[0]"),
            "{error}"
        );
        assert!(field["message"].as_str().unwrap().contains(says), "{error}");
    }
    // A price the mirror lacks is read from Stripe first: one that Stripe lacks too is refused
    // like the others, and no session is asked for.
    let body = checkout_by_email(
        "ana@example.com",
        json!([{ "price": "price_unknown", "quantity": 1 }]),
    );
    let response = app
        .post(&sessions_path(&org), &app.admin_token(), &body)
        .await;
    let error = error_body(response, 422, "validation_failed").await;
    assert_eq!(error["error"]["fields"][0]["field"], "line_items[0].price");
    assert!(
        error["error"]["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("has no price price_unknown"),
        "{error}"
    );
    assert_eq!(
        app.stripe
            .requests_to("GET", "/v1/prices/price_unknown")
            .len(),
        1
    );
    assert!(app
        .stripe
        .requests_to("POST", "/v1/checkout/sessions")
        .is_empty());
}

async fn bad_input_is_refused_per_field_before_stripe(app: TestApp) {
    let org = organizer_with_fee(&app, "acct_1CheckoutInput001", None).await;
    let body = json!({
        "customer_id": "0193a7c0-5b1e-7c3a-9f10-2d4e6f8a0b1c", "email": "ana@example.com",
        "mode": "rent",
        "line_items": [
            { "name": "Pass", "unit_amount": 0, "currency": "EUR", "quantity": 0 },
            { "price": "price_1", "quantity": 1, "unit_amount": 5 },
            { "quantity": 1 },
            { "name": "Pass", "unit_amount": 100, "currency": "eur", "quantity": 1, "recurring": { "interval": "month", "interval_count": 13 } },
        ],
        "success_url": "/thanks", "cancel_url": "javascript:alert(1)",
        "metadata": { "gateway_customer_id": "x" },
    });
    let response = app
        .post(&sessions_path(&org), &app.admin_token(), &body)
        .await;
    let error = error_body(response, 422, "validation_failed").await;
    let fields = error_fields(&error);
    for expected in [
        "customer_id",
        "mode",
        "line_items[0].quantity",
        "line_items[0].unit_amount",
        "line_items[0].currency",
        "line_items[1].unit_amount",
        "line_items[2].name",
        "line_items[2].currency",
        "line_items[2].unit_amount",
        "line_items[3].recurring.interval_count",
        "success_url",
        "cancel_url",
        "metadata.gateway_customer_id",
    ] {
        assert!(
            fields.contains(&expected),
            "{expected} missing from {fields:?}"
        );
    }
    let many: Vec<Value> = (0..101).map(|_| ticket(1)).collect();
    let body = checkout_by_email("ana@example.com", json!(many));
    let response = app
        .post(&sessions_path(&org), &app.admin_token(), &body)
        .await;
    let error = error_body(response, 422, "validation_failed").await;
    assert_eq!(error["error"]["fields"][0]["field"], "line_items");
    let mixed = json!([ticket(1), { "name": "Pass", "unit_amount": 100, "currency": "usd", "quantity": 1 }]);
    let body = checkout_by_email("ana@example.com", mixed);
    let response = app
        .post(&sessions_path(&org), &app.admin_token(), &body)
        .await;
    let error = error_body(response, 422, "validation_failed").await;
    assert_eq!(error["error"]["fields"][0]["field"], "line_items[1]");
    assert!(app
        .stripe
        .requests_to("POST", "/v1/checkout/sessions")
        .is_empty());
}

async fn another_organizers_token_and_a_disconnected_account_are_refused(app: TestApp) {
    let a = organizer_with_fee(&app, "acct_1CheckoutTenantA1", None).await;
    let b = organizer_with_fee(&app, "acct_1CheckoutTenantB1", None).await;
    let body = checkout_by_email("ana@example.com", json!([ticket(1)]));
    let token_b = app.organizer_token(b["id"].as_str().unwrap());
    let response = app.post(&sessions_path(&a), &token_b, &body).await;
    error_body(response, 403, "forbidden").await;
    let sql = format!(
        "UPDATE organizers SET disconnected_at = created_at WHERE id = '{}'",
        a["id"].as_str().unwrap()
    );
    app.execute_sql(&sql, &sql).await;
    let response = app
        .post(&sessions_path(&a), &app.admin_token(), &body)
        .await;
    error_body(response, 409, "organizer_disconnected").await;
    assert!(app
        .stripe
        .requests()
        .iter()
        .all(|r| r.path != "/v1/checkout/sessions"));
}
