//! Customers through HTTP: keyed by (email, account), Stripe first, reads local, isolation,
//! validation and the mapping of Stripe's failures.

use serde_json::{json, Value};

use crate::helpers::{backend_tests, error_body, error_fields, TestApp};

pub fn customers_path(org: &Value) -> String {
    format!("/v1/organizers/{}/customers", org["id"].as_str().unwrap())
}

pub fn customer_path(org: &Value, customer: &Value) -> String {
    format!(
        "{}/{}",
        customers_path(org),
        customer["id"].as_str().unwrap()
    )
}

/// POSTs an upsert as admin and returns the status and body.
/// The Stripe API path of a customer the gateway returned.
pub fn stripe_path(customer: &Value) -> String {
    format!(
        "/v1/customers/{}",
        customer["stripe_customer_id"].as_str().unwrap()
    )
}

pub async fn upsert(app: &TestApp, org: &Value, body: Value) -> (u16, Value) {
    let response = app
        .post(&customers_path(org), &app.admin_token(), &body)
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// The customer's `email=` list as admin: the local view.
pub async fn find_by_email(app: &TestApp, org: &Value, email: &str) -> Vec<Value> {
    let url = format!(
        "{}?{}",
        customers_path(org),
        serde_urlencoded::to_string([("email", email)]).unwrap()
    );
    let page: Value = app.get_json(&url, &app.admin_token()).await;
    page["data"].as_array().expect("a page").clone()
}

backend_tests!(
    an_upsert_creates_in_stripe_first_then_finds_the_same_customer,
    one_email_under_two_organizers_is_two_customers_in_two_accounts,
    lists_page_in_creation_order_and_filter_by_email,
);

async fn an_upsert_creates_in_stripe_first_then_finds_the_same_customer(app: TestApp) {
    let org = app.create_organizer("Acme", "acct_1Acme").await;
    let (status, created) = upsert(
        &app,
        &org,
        json!({
            "email": "  Ana.Lima@Example.com ", "name": "Ana Lima", "phone": "+55 11 91234-5678",
            "metadata": { "crm_id": "c-1" }
        }),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["email"], "Ana.Lima@Example.com",
        "trimmed, spelling kept"
    );
    assert_eq!(created["organizer_id"], org["id"]);
    assert_eq!(created["stripe_account_id"], "acct_1Acme");
    assert_eq!(created["name"], "Ana Lima");
    assert_eq!(created["metadata"], json!({ "crm_id": "c-1" }));

    // In Stripe: in the organizer's account, with the gateway's ids in the metadata.
    let in_stripe = app.stripe.customers(Some("acct_1Acme"));
    assert_eq!(in_stripe.len(), 1);
    assert_eq!(in_stripe[0]["id"], created["stripe_customer_id"]);
    assert_eq!(in_stripe[0]["email"], "Ana.Lima@Example.com");
    assert_eq!(
        in_stripe[0]["metadata"]["gateway_customer_id"],
        created["id"]
    );
    assert_eq!(in_stripe[0]["metadata"]["gateway_organizer_id"], org["id"]);
    assert_eq!(in_stripe[0]["metadata"]["crm_id"], "c-1");
    let creates = app.stripe.requests_to("POST", "/v1/customers");
    assert_eq!(creates[0].stripe_account.as_deref(), Some("acct_1Acme"));
    assert!(creates[0].idempotency_key.is_some());

    // Another spelling of the same address is the same customer, found without Stripe.
    let before = app.stripe.requests().len();
    let (status, again) = upsert(&app, &org, json!({ "email": "ana.lima@EXAMPLE.com" })).await;
    assert_eq!(status, 200);
    assert_eq!(again, created);
    let fetched: Value = app
        .get_json(
            &crate::customers::customer_path(&org, &created),
            &app.admin_token(),
        )
        .await;
    assert_eq!(fetched, created);
    assert_eq!(
        find_by_email(&app, &org, "ANA.LIMA@example.com").await,
        vec![created.clone()]
    );
    assert_eq!(
        app.stripe.requests().len(),
        before,
        "reads and unchanged upserts never call Stripe"
    );
}

async fn one_email_under_two_organizers_is_two_customers_in_two_accounts(app: TestApp) {
    let first = app.create_organizer("First", "acct_1First").await;
    let second = app.create_organizer("Second", "acct_1Second").await;
    let (s1, a) = upsert(&app, &first, json!({ "email": "buyer@example.com" })).await;
    let (s2, b) = upsert(&app, &second, json!({ "email": "buyer@example.com" })).await;
    assert_eq!((s1, s2), (201, 201));
    assert_ne!(a["id"], b["id"]);
    assert_ne!(a["stripe_customer_id"], b["stripe_customer_id"]);
    assert_eq!(
        app.stripe.customers(Some("acct_1First"))[0]["id"],
        a["stripe_customer_id"]
    );
    assert_eq!(
        app.stripe.customers(Some("acct_1Second"))[0]["id"],
        b["stripe_customer_id"]
    );

    // Updates go to each customer's own account; neither id is used with the other.
    assert_eq!(
        app.patch(
            &customer_path(&first, &a),
            &app.admin_token(),
            &json!({ "name": "In First" })
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        app.patch(
            &customer_path(&second, &b),
            &app.admin_token(),
            &json!({ "name": "In Second" })
        )
        .await
        .status(),
        200
    );
    for request in app.stripe.requests() {
        for (customer, account) in [(&a, "acct_1First"), (&b, "acct_1Second")] {
            if request
                .path
                .contains(customer["stripe_customer_id"].as_str().unwrap())
            {
                assert_eq!(
                    request.stripe_account.as_deref(),
                    Some(account),
                    "{request:?}"
                );
            }
        }
    }
    assert_eq!(
        find_by_email(&app, &first, "buyer@example.com").await[0]["name"],
        "In First"
    );
    assert_eq!(
        find_by_email(&app, &second, "buyer@example.com").await[0]["name"],
        "In Second"
    );
}

async fn lists_page_in_creation_order_and_filter_by_email(app: TestApp) {
    let org = app.create_organizer("Lister", "acct_1Lister").await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let (_, customer) =
            upsert(&app, &org, json!({ "email": format!("p{n}@example.com") })).await;
        ids.push(customer["id"].clone());
    }
    let token = app.admin_token();
    let page: Value = app
        .get_json(&format!("{}?limit=2", customers_path(&org)), &token)
        .await;
    assert_eq!(
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].clone())
            .collect::<Vec<_>>(),
        ids[..2]
    );
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest: Value = app
        .get_json(
            &format!("{}?limit=2&cursor={cursor}", customers_path(&org)),
            &token,
        )
        .await;
    assert_eq!(rest["data"][0]["id"], ids[2]);
    assert_eq!(rest["next_cursor"], Value::Null);
    // With `email`, a cursor before the customer still finds it; one at it finds nothing more.
    let by_email = |cursor: &str| {
        format!(
            "{}?email=p2%40example.com&cursor={cursor}",
            customers_path(&org)
        )
    };
    let after_first: Value = app.get_json(&by_email(cursor), &token).await;
    assert_eq!(after_first["data"][0]["id"], ids[2], "{after_first}");
    let at_it = gateway::domain::Cursor::after(ids[2].as_str().unwrap()).encode();
    let past: Value = app.get_json(&by_email(&at_it), &token).await;
    assert_eq!(past["data"], json!([]), "{past}");
    assert_eq!(past["next_cursor"], Value::Null);
    assert!(find_by_email(&app, &org, "nobody@example.com")
        .await
        .is_empty());

    let bad = app
        .get(
            &format!("{}?email=not-an-email&limit=0", customers_path(&org)),
            &token,
        )
        .await;
    let body = error_body(bad, 422, "validation_failed").await;
    let fields = error_fields(&body);
    assert_eq!(fields, ["email", "limit"]);
    error_body(
        app.get(&format!("{}?mail=x", customers_path(&org)), &token)
            .await,
        400,
        "invalid_query",
    )
    .await;
    error_body(
        app.get(&format!("{}/not-a-uuid", customers_path(&org)), &token)
            .await,
        404,
        "customer_not_found",
    )
    .await;
    error_body(
        app.get(
            &format!("{}/{}", customers_path(&org), uuid::Uuid::now_v7()),
            &token,
        )
        .await,
        404,
        "customer_not_found",
    )
    .await;
}
