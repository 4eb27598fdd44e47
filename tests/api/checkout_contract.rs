//! Checkout by Stripe's published contract: what Stripe would refuse, the gateway refuses
//! first (422 naming the field, nothing sent), and the fake refuses it too when sent; what a
//! platform needs (the fee's rules, links back to the gateway, Checkout's options) is sent.

use serde_json::{json, Value};

use crate::checkout::{checkout_by_email, mirror_price, organizer_with_fee, param, sessions_path};
use crate::helpers::{backend_tests, error_body, TestApp};
use crate::support::fake_stripe::billing::price_json;

backend_tests!(
    subscription_mode_takes_at_most_20_recurring_and_20_one_time_items,
    subscription_mode_needs_a_recurring_item,
    totals_past_eight_digits_are_refused_with_or_without_a_fee,
    a_fixed_fee_refuses_promotion_codes_and_a_percentage_takes_them,
    fees_above_the_platforms_cap_are_refused,
    stripe_objects_lead_back_to_the_gateway,
    checkout_and_portal_options_reach_stripe,
);

fn monthly(n: usize) -> Value {
    json!({ "name": format!("Plan {n}"), "unit_amount": 900, "currency": "eur", "quantity": 1,
            "recurring": { "interval": "month" } })
}

fn one_time(n: usize) -> Value {
    json!({ "name": format!("Extra {n}"), "unit_amount": 500, "currency": "eur", "quantity": 1 })
}

fn subscription(items: Vec<Value>) -> Value {
    let mut body = checkout_by_email("ana@example.com", json!(items));
    body["mode"] = json!("subscription");
    body
}

/// Asserts a 422 naming `field` and that no session was asked of Stripe.
async fn refused_before_stripe(app: &TestApp, org: &Value, body: &Value, field: &str) -> Value {
    let response = app
        .post(&sessions_path(org), &app.admin_token(), body)
        .await;
    let error = error_body(response, 422, "validation_failed").await;
    assert_eq!(error["error"]["fields"][0]["field"], field, "{error}");
    assert!(
        app.stripe
            .requests_to("POST", "/v1/checkout/sessions")
            .is_empty(),
        "nothing reaches Stripe"
    );
    error
}

/// Sends a form straight to the fake Stripe, as the gateway would; returns status and body.
async fn fake_post(
    app: &TestApp,
    account: &str,
    path: &str,
    form: &[(String, String)],
) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}{path}", app.stripe.base_url))
        .bearer_auth("sk_test_contract")
        .header("stripe-account", account)
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// A checkout form of `recurring` recurring and `one_time` one-time items priced inline.
fn session_form(
    customer: &str,
    mode: &str,
    recurring: usize,
    one_time: usize,
) -> Vec<(String, String)> {
    let mut form = vec![
        ("customer".to_string(), customer.to_string()),
        ("mode".into(), mode.into()),
        ("success_url".into(), "https://shop.example/ok".into()),
    ];
    for n in 0..recurring + one_time {
        let at = |field: &str| format!("line_items[{n}][{field}]");
        form.push((at("quantity"), "1".into()));
        form.push((at("price_data][currency"), "eur".into()));
        form.push((at("price_data][unit_amount"), "900".into()));
        form.push((at("price_data][product_data][name"), format!("Item {n}")));
        if n < recurring {
            form.push((at("price_data][recurring][interval"), "month".into()));
        }
    }
    form
}

fn stripe_param(body: &Value) -> &str {
    body["error"]["param"].as_str().unwrap_or_default()
}

async fn subscription_mode_takes_at_most_20_recurring_and_20_one_time_items(app: TestApp) {
    let account = "acct_1ContractItems01";
    let org = organizer_with_fee(&app, account, None).await;
    let items = (0..21).map(monthly).collect();
    let error = refused_before_stripe(&app, &org, &subscription(items), "line_items").await;
    assert!(
        error.to_string().contains("at most 20 recurring"),
        "{error}"
    );
    let items = (0..20).map(monthly).chain((0..21).map(one_time)).collect();
    let error = refused_before_stripe(&app, &org, &subscription(items), "line_items").await;
    assert!(error.to_string().contains("at most 20 one-time"), "{error}");
    // 20 and 20 are taken, by the gateway and by the fake.
    let items = (0..20).map(monthly).chain((0..20).map(one_time)).collect();
    let response = app
        .post(
            &sessions_path(&org),
            &app.admin_token(),
            &subscription(items),
        )
        .await;
    assert_eq!(response.status(), 201);
    // The fake refuses what Stripe refuses, sent to it directly.
    let customer = app
        .stripe
        .add_customer(Some(account), "bo@example.com", "Bo");
    let form = session_form(&customer, "subscription", 21, 0);
    let (status, body) = fake_post(&app, account, "/v1/checkout/sessions", &form).await;
    assert_eq!((status, stripe_param(&body)), (400, "line_items"), "{body}");
}

async fn subscription_mode_needs_a_recurring_item(app: TestApp) {
    let account = "acct_1ContractRecur01";
    let org = organizer_with_fee(&app, account, Some(500)).await;
    let items = (0..2).map(one_time).collect();
    let error = refused_before_stripe(&app, &org, &subscription(items), "line_items").await;
    assert!(
        error.to_string().contains("at least one recurring"),
        "{error}"
    );
    // A catalog price the mirror knows is one-time, with the fee a subscription would carry.
    mirror_price(&app, account, price_json("price_once", "prod_a", 700, None)).await;
    let items = vec![json!({ "price": "price_once", "quantity": 1 })];
    refused_before_stripe(&app, &org, &subscription(items), "line_items").await;
    // One the mirror lacks is read from Stripe, and judged the same.
    app.stripe.put_object(
        Some(account),
        price_json("price_fresh", "prod_a", 700, None),
    );
    let items = vec![json!({ "price": "price_fresh", "quantity": 1 })];
    refused_before_stripe(&app, &org, &subscription(items), "line_items").await;
    let customer = app
        .stripe
        .add_customer(Some(account), "bo@example.com", "Bo");
    let form = session_form(&customer, "subscription", 0, 2);
    let (status, body) = fake_post(&app, account, "/v1/checkout/sessions", &form).await;
    assert_eq!((status, stripe_param(&body)), (400, "line_items"), "{body}");
}

async fn totals_past_eight_digits_are_refused_with_or_without_a_fee(app: TestApp) {
    let biggest = |_| json!({ "name": "Gold", "unit_amount": 99_999_999, "currency": "eur", "quantity": 1_000_000 });
    for (account, fee) in [
        ("acct_1ContractTotal01", None),
        ("acct_1ContractTotal02", Some(100)),
    ] {
        let org = organizer_with_fee(&app, account, fee).await;
        let body = checkout_by_email(
            "ana@example.com",
            json!((0..100).map(biggest).collect::<Vec<_>>()),
        );
        let error = refused_before_stripe(&app, &org, &body, "line_items").await;
        assert!(error.to_string().contains("99999999"), "{error}");
        // Just within: 99,999,999 in all.
        let body = checkout_by_email(
            "ana@example.com",
            json!([{ "name": "Gold", "unit_amount": 99_999_999, "currency": "eur", "quantity": 1 }]),
        );
        let response = app
            .post(&sessions_path(&org), &app.admin_token(), &body)
            .await;
        assert_eq!(response.status(), 201);
        app.stripe.forget_requests();
    }
    let account = "acct_1ContractTotal01";
    let customer = app
        .stripe
        .add_customer(Some(account), "bo@example.com", "Bo");
    let mut form = session_form(&customer, "payment", 0, 1);
    form.retain(|(key, _)| !key.ends_with("[unit_amount]") && !key.ends_with("[quantity]"));
    form.push((
        "line_items[0][price_data][unit_amount]".into(),
        "99999999".into(),
    ));
    form.push(("line_items[0][quantity]".into(), "2".into()));
    let (status, body) = fake_post(&app, account, "/v1/checkout/sessions", &form).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("amount_too_large")),
        "{body}"
    );
}

async fn a_fixed_fee_refuses_promotion_codes_and_a_percentage_takes_them(app: TestApp) {
    let org = organizer_with_fee(&app, "acct_1ContractPromo01", Some(1000)).await;
    let mut body = checkout_by_email("ana@example.com", json!([one_time(0)]));
    body["allow_promotion_codes"] = json!(true);
    refused_before_stripe(&app, &org, &body, "allow_promotion_codes").await;
    // Without the codes, the fixed fee is sent.
    body["allow_promotion_codes"] = json!(false);
    let response = app
        .post(&sessions_path(&org), &app.admin_token(), &body)
        .await;
    assert_eq!(response.status(), 201);
    // A subscription's fee is a percentage Stripe takes after discounts: codes are fine.
    let mut body = subscription(vec![monthly(0)]);
    body["allow_promotion_codes"] = json!(true);
    let response = app
        .post(&sessions_path(&org), &app.admin_token(), &body)
        .await;
    assert_eq!(response.status(), 201);
    let sent = app.stripe.requests_to("POST", "/v1/checkout/sessions");
    assert_eq!(param(&sent[1], "allow_promotion_codes"), Some("true"));
    assert_eq!(
        param(&sent[1], "subscription_data[application_fee_percent]"),
        Some("10.0")
    );
}

async fn fees_above_the_platforms_cap_are_refused(app: TestApp) {
    // The test gateways' cap (MAX_APPLICATION_FEE_BPS) is 3000.
    let account = "acct_1ContractCap0001";
    app.stripe.add_connected_account(account);
    let create = |fee: i64| json!({ "name": "Greedy", "stripe_account_id": account, "application_fee_bps": fee });
    let response = app
        .post("/v1/organizers", &app.admin_token(), &create(3001))
        .await;
    let error = error_body(response, 422, "validation_failed").await;
    assert_eq!(error["error"]["fields"][0]["field"], "application_fee_bps");
    assert!(
        error.to_string().contains("MAX_APPLICATION_FEE_BPS"),
        "{error}"
    );
    let response = app
        .post("/v1/organizers", &app.admin_token(), &create(3000))
        .await;
    assert_eq!(response.status(), 201);
    let org: Value = response.json().await.unwrap();
    let path = format!("/v1/organizers/{}", org["id"].as_str().unwrap());
    let response = app
        .patch(
            &path,
            &app.admin_token(),
            &json!({ "application_fee_bps": 10_000 }),
        )
        .await;
    error_body(response, 422, "validation_failed").await;
    // A fee stored above the cap (the cap was lowered since) takes no payment, and leaves no
    // customer behind.
    app.execute_sql(
        "UPDATE organizers SET application_fee_bps = 5000",
        "UPDATE organizers SET application_fee_bps = 5000",
    )
    .await;
    let body = checkout_by_email("new@example.com", json!([one_time(0)]));
    let response = app
        .post(&sessions_path(&org), &app.admin_token(), &body)
        .await;
    error_body(response, 409, "organizer_fee_above_cap").await;
    let intent = json!({ "email": "new@example.com", "amount": 500, "currency": "eur" });
    let intents = format!("{path}/payment-intents");
    let response = app.post(&intents, &app.admin_token(), &intent).await;
    error_body(response, 409, "organizer_fee_above_cap").await;
    assert!(app.stripe.requests_to("POST", "/v1/customers").is_empty());
}

async fn stripe_objects_lead_back_to_the_gateway(app: TestApp) {
    let org = organizer_with_fee(&app, "acct_1ContractLinks01", Some(250)).await;
    let org_id = org["id"].as_str().unwrap();
    let mut body = checkout_by_email("ana@example.com", json!([one_time(0)]));
    let mut metadata: serde_json::Map<String, Value> =
        (0..47).map(|n| (format!("k{n}"), json!("v"))).collect();
    metadata.insert("order_id".into(), json!("1042"));
    body["metadata"] = json!(metadata);
    let response = app
        .post(&sessions_path(&org), &app.admin_token(), &body)
        .await;
    assert_eq!(
        response.status(),
        201,
        "48 keys of the client's and the gateway's 2 fit"
    );
    let created: Value = response.json().await.unwrap();
    let customer = created["customer_id"].as_str().unwrap();
    let sent = app.stripe.requests_to("POST", "/v1/checkout/sessions");
    assert_eq!(param(&sent[0], "client_reference_id"), Some(customer));
    for parent in ["metadata", "payment_intent_data[metadata]"] {
        let key = |name: &str| {
            if parent == "metadata" {
                format!("metadata[{name}]")
            } else {
                format!("{parent}[{name}]")
            }
        };
        assert_eq!(param(&sent[0], &key("gateway_customer_id")), Some(customer));
        assert_eq!(param(&sent[0], &key("gateway_organizer_id")), Some(org_id));
        assert_eq!(param(&sent[0], &key("order_id")), Some("1042"));
    }
    // A subscription carries them on the subscription it creates.
    let response = app
        .post(
            &sessions_path(&org),
            &app.admin_token(),
            &subscription(vec![monthly(0)]),
        )
        .await;
    assert_eq!(response.status(), 201);
    let sent = app.stripe.requests_to("POST", "/v1/checkout/sessions");
    assert_eq!(
        param(&sent[1], "subscription_data[metadata][gateway_customer_id]"),
        Some(customer)
    );
    assert_eq!(
        param(
            &sent[1],
            "payment_intent_data[metadata][gateway_customer_id]"
        ),
        None
    );
    // A 49th key of the client's would pass Stripe's 50.
    metadata.insert("one_more".into(), json!("v"));
    body["metadata"] = json!(metadata);
    app.stripe.forget_requests();
    refused_before_stripe(&app, &org, &body, "metadata").await;
}

async fn checkout_and_portal_options_reach_stripe(app: TestApp) {
    let org = organizer_with_fee(&app, "acct_1ContractOpts001", None).await;
    let mut body = checkout_by_email("ana@example.com", json!([one_time(0)]));
    body["customer_update"] = json!({ "name": "auto", "shipping": "never" });
    body["automatic_tax"] = json!({ "enabled": true });
    body["billing_address_collection"] = json!("required");
    let response = app
        .post(&sessions_path(&org), &app.admin_token(), &body)
        .await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let sent = &app.stripe.requests_to("POST", "/v1/checkout/sessions")[0];
    assert_eq!(param(sent, "customer_update[name]"), Some("auto"));
    assert_eq!(param(sent, "customer_update[shipping]"), Some("never"));
    // Tax needs the buyer's address on the customer: saved unless the request says otherwise.
    assert_eq!(param(sent, "customer_update[address]"), Some("auto"));
    assert_eq!(param(sent, "automatic_tax[enabled]"), Some("true"));
    assert_eq!(param(sent, "billing_address_collection"), Some("required"));
    app.stripe.forget_requests();
    for (field, value) in [
        ("customer_update", json!({ "address": "always" })),
        ("billing_address_collection", json!("sometimes")),
    ] {
        let mut body = checkout_by_email("ana@example.com", json!([one_time(0)]));
        body[field] = value;
        let error = refused_before_stripe(
            &app,
            &org,
            &body,
            if field == "customer_update" {
                "customer_update.address"
            } else {
                field
            },
        )
        .await;
        assert!(error.to_string().contains("must be"), "{error}");
    }
    // The portal: a configuration of the account's, checked and sent.
    let portal = format!(
        "/v1/organizers/{}/customers/{}/portal-sessions",
        org["id"].as_str().unwrap(),
        created["customer_id"].as_str().unwrap()
    );
    let response = app
        .post(
            &portal,
            &app.admin_token(),
            &json!({ "return_url": "https://shop.example/account", "configuration": "bpc_1Plans" }),
        )
        .await;
    assert_eq!(response.status(), 201);
    let sent = &app
        .stripe
        .requests_to("POST", "/v1/billing_portal/sessions")[0];
    assert_eq!(param(sent, "configuration"), Some("bpc_1Plans"));
    let response = app
        .post(
            &portal,
            &app.admin_token(),
            &json!({ "return_url": "https://shop.example/account", "configuration": "plans" }),
        )
        .await;
    let error = error_body(response, 422, "validation_failed").await;
    assert_eq!(error["error"]["fields"][0]["field"], "configuration");
}
