//! Customers through HTTP: keyed by (email, account), Stripe first, reads local, isolation,
//! validation and the mapping of Stripe's failures.

use serde_json::{json, Value};

use crate::helpers::{
    backend_tests, error_body, short_stripe_timeout, spawn_app_with, Backend, TestApp, STALL,
};
use crate::support::fake_stripe::Fault;

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
    let page: Value = app
        .get(&url, &app.admin_token())
        .await
        .json()
        .await
        .unwrap();
    page["data"].as_array().expect("a page").clone()
}

backend_tests!(
    an_upsert_creates_in_stripe_first_then_finds_the_same_customer,
    one_email_under_two_organizers_is_two_customers_in_two_accounts,
    lists_page_in_creation_order_and_filter_by_email,
    an_upsert_with_new_details_updates_stripe_then_the_row,
    a_patch_writes_stripe_first_and_can_clear_fields,
    changing_the_email_moves_the_key,
    deleting_removes_the_customer_in_stripe_then_locally,
    a_customer_deleted_in_stripe_is_recreated_by_the_next_upsert,
    stripe_outages_are_retried_then_reported_and_store_nothing,
    stripe_refusing_the_data_is_a_client_error_with_stripes_message,
    bad_input_is_refused_with_field_details,
    another_organizers_token_gets_403_everywhere_and_changes_nothing,
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
        .get(
            &crate::customers::customer_path(&org, &created),
            &app.admin_token(),
        )
        .await
        .json()
        .await
        .unwrap();
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
        .get(&format!("{}?limit=2", customers_path(&org)), &token)
        .await
        .json()
        .await
        .unwrap();
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
        .get(
            &format!("{}?limit=2&cursor={cursor}", customers_path(&org)),
            &token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["data"][0]["id"], ids[2]);
    assert_eq!(rest["next_cursor"], Value::Null);
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
    let fields: Vec<&str> = body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
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

async fn an_upsert_with_new_details_updates_stripe_then_the_row(app: TestApp) {
    let org = app.create_organizer("Upd", "acct_1Upd").await;
    let (_, created) = upsert(
        &app,
        &org,
        json!({ "email": "u@example.com", "name": "Old", "metadata": { "a": "1" } }),
    )
    .await;
    let (status, updated) = upsert(
        &app,
        &org,
        json!({ "email": "u@example.com", "name": "New", "metadata": { "b": "2" } }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(updated["id"], created["id"]);
    assert_eq!(updated["name"], "New");
    assert_eq!(
        updated["metadata"],
        json!({ "a": "1", "b": "2" }),
        "metadata merges, as in Stripe"
    );
    let stripe_id = created["stripe_customer_id"].as_str().unwrap();
    let in_stripe = &app.stripe.customers(Some("acct_1Upd"))[0];
    assert_eq!(in_stripe["name"], "New");
    assert_eq!(in_stripe["metadata"]["b"], "2");
    assert_eq!(
        app.stripe
            .requests_to("POST", &format!("/v1/customers/{stripe_id}"))
            .len(),
        1
    );
    // The same details again change nothing and call nobody.
    let (status, same) = upsert(
        &app,
        &org,
        json!({ "email": "u@example.com", "name": "New" }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(same, updated);
    assert_eq!(
        app.stripe
            .requests_to("POST", &format!("/v1/customers/{stripe_id}"))
            .len(),
        1
    );
}

async fn a_patch_writes_stripe_first_and_can_clear_fields(app: TestApp) {
    let org = app.create_organizer("Patch", "acct_1Patch").await;
    let (_, customer) = upsert(
        &app,
        &org,
        json!({ "email": "p@example.com", "name": "Pat", "phone": "+1 555 0100" }),
    )
    .await;
    let path = customer_path(&org, &customer);
    let response = app
        .patch(
            &path,
            &app.admin_token(),
            &json!({ "name": "Patricia", "phone": null }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let patched: Value = response.json().await.unwrap();
    assert_eq!(patched["name"], "Patricia");
    assert_eq!(patched["phone"], Value::Null);
    let in_stripe = &app.stripe.customers(Some("acct_1Patch"))[0];
    assert_eq!(in_stripe["name"], "Patricia");
    assert_eq!(in_stripe["phone"], Value::Null);
    let fetched: Value = app
        .get(&path, &app.admin_token())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched, patched);

    // An empty patch, or one that changes nothing, is answered without Stripe.
    let before = app.stripe.requests().len();
    assert_eq!(
        app.patch(&path, &app.admin_token(), &json!({}))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.patch(&path, &app.admin_token(), &json!({ "name": "Patricia" }))
            .await
            .status(),
        200
    );
    assert_eq!(app.stripe.requests().len(), before);

    // Stripe failing leaves the row as it was.
    app.stripe
        .fail_next_to("POST", "/v1/customers/", 3, Fault::Status(500));
    let failed = app
        .patch(&path, &app.admin_token(), &json!({ "name": "Never" }))
        .await;
    assert_eq!(failed.headers()["retry-after"], "5");
    error_body(failed, 503, "stripe_unavailable").await;
    let fetched: Value = app
        .get(&path, &app.admin_token())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["name"], "Patricia");

    for (body, field) in [
        (json!({ "email": null }), "email"),
        (json!({ "email": "nope" }), "email"),
        (json!({ "name": "" }), "name"),
        (json!({ "phone": "x".repeat(21) }), "phone"),
        (
            json!({ "stripe_customer_id": "cus_x" }),
            "stripe_customer_id",
        ),
    ] {
        let body = error_body(
            app.patch(&path, &app.admin_token(), &body).await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(body["error"]["fields"][0]["field"], field, "{body}");
    }
}

async fn changing_the_email_moves_the_key(app: TestApp) {
    let org = app.create_organizer("Mover", "acct_1Mover").await;
    let (_, first) = upsert(&app, &org, json!({ "email": "old@example.com" })).await;
    let (_, other) = upsert(&app, &org, json!({ "email": "taken@example.com" })).await;
    let path = customer_path(&org, &first);

    // Taken by another customer: 409, and Stripe is not asked.
    let before = app.stripe.requests().len();
    let conflict = app
        .patch(
            &path,
            &app.admin_token(),
            &json!({ "email": " TAKEN@example.com" }),
        )
        .await;
    let body = error_body(conflict, 409, "customer_exists").await;
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains(other["id"].as_str().unwrap()));
    assert_eq!(app.stripe.requests().len(), before);

    let moved: Value = app
        .patch(
            &path,
            &app.admin_token(),
            &json!({ "email": "New@Example.com" }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(moved["email"], "New@Example.com");
    assert_eq!(moved["stripe_customer_id"], first["stripe_customer_id"]);
    assert_eq!(
        find_by_email(&app, &org, "new@example.com").await[0]["id"],
        first["id"]
    );
    assert!(find_by_email(&app, &org, "old@example.com")
        .await
        .is_empty());
    let in_stripe = app.stripe.customers(Some("acct_1Mover"));
    assert!(in_stripe
        .iter()
        .any(|c| c["id"] == first["stripe_customer_id"] && c["email"] == "New@Example.com"));
}

async fn deleting_removes_the_customer_in_stripe_then_locally(app: TestApp) {
    let org = app.create_organizer("Del", "acct_1Del").await;
    let (_, customer) = upsert(&app, &org, json!({ "email": "gone@example.com" })).await;
    let path = customer_path(&org, &customer);
    let response = app.delete(&path, &app.admin_token()).await;
    assert_eq!(response.status(), 204);
    assert!(app.stripe.customers(Some("acct_1Del")).is_empty());
    error_body(
        app.get(&path, &app.admin_token()).await,
        404,
        "customer_not_found",
    )
    .await;
    assert!(find_by_email(&app, &org, "gone@example.com")
        .await
        .is_empty());
    error_body(
        app.delete(&path, &app.admin_token()).await,
        404,
        "customer_not_found",
    )
    .await;

    // Already deleted in Stripe (from its dashboard, say): still a clean 204.
    let (_, second) = upsert(&app, &org, json!({ "email": "twice@example.com" })).await;
    app.stripe.delete_customer(
        Some("acct_1Del"),
        second["stripe_customer_id"].as_str().unwrap(),
    );
    assert_eq!(
        app.delete(&customer_path(&org, &second), &app.admin_token())
            .await
            .status(),
        204
    );
    assert!(find_by_email(&app, &org, "twice@example.com")
        .await
        .is_empty());

    // Stripe failing: nothing is deleted locally, and the client may retry.
    let (_, third) = upsert(&app, &org, json!({ "email": "kept@example.com" })).await;
    app.stripe
        .fail_next_to("DELETE", "/v1/customers/", 3, Fault::Status(503));
    error_body(
        app.delete(&customer_path(&org, &third), &app.admin_token())
            .await,
        503,
        "stripe_unavailable",
    )
    .await;
    assert_eq!(find_by_email(&app, &org, "kept@example.com").await.len(), 1);
    assert_eq!(app.stripe.customers(Some("acct_1Del")).len(), 1);
    assert_eq!(
        app.delete(&customer_path(&org, &third), &app.admin_token())
            .await
            .status(),
        204
    );
}

async fn a_customer_deleted_in_stripe_is_recreated_by_the_next_upsert(app: TestApp) {
    let org = app.create_organizer("Heal", "acct_1Heal").await;
    let (_, customer) = upsert(
        &app,
        &org,
        json!({ "email": "zombie@example.com", "name": "Zed" }),
    )
    .await;
    let old_stripe_id = customer["stripe_customer_id"].as_str().unwrap().to_string();
    app.stripe
        .delete_customer(Some("acct_1Heal"), &old_stripe_id);

    // Using it finds out: Stripe answers 404.
    let path = customer_path(&org, &customer);
    let body = error_body(
        app.patch(&path, &app.admin_token(), &json!({ "name": "Zoe" }))
            .await,
        404,
        "customer_not_found",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("deleted in Stripe"),
        "{body}"
    );

    // The next upsert makes a new Stripe customer for the same gateway customer.
    let (status, healed) = upsert(&app, &org, json!({ "email": "zombie@example.com" })).await;
    assert_eq!(status, 200, "{healed}");
    assert_eq!(healed["id"], customer["id"]);
    assert_ne!(healed["stripe_customer_id"], customer["stripe_customer_id"]);
    assert_eq!(healed["name"], "Zed");
    let live = app.stripe.customers(Some("acct_1Heal"));
    assert_eq!(live.len(), 1);
    assert_eq!(live[0]["id"], healed["stripe_customer_id"]);
    assert_eq!(live[0]["metadata"]["gateway_customer_id"], customer["id"]);
    let fetched: Value = app
        .get(&path, &app.admin_token())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched, healed);

    // An upsert with new details heals in one go, too.
    app.stripe.delete_customer(
        Some("acct_1Heal"),
        healed["stripe_customer_id"].as_str().unwrap(),
    );
    let (status, again) = upsert(
        &app,
        &org,
        json!({ "email": "zombie@example.com", "name": "Zoe" }),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["id"], customer["id"]);
    assert_eq!(again["name"], "Zoe");
    assert_eq!(app.stripe.customers(Some("acct_1Heal")).len(), 1);
    assert_eq!(app.stripe.created_customers(Some("acct_1Heal")), 3);
}

async fn stripe_outages_are_retried_then_reported_and_store_nothing(backend: Backend) {
    // About Stripe calls timing out: a short timeout, and stalls far longer than it.
    let app = spawn_app_with(backend, short_stripe_timeout).await;
    let org = app.create_organizer("Flaky", "acct_1Flaky").await;
    // One failure is absorbed by the retries.
    app.stripe
        .fail_next_to("POST", "/v1/customers", 1, Fault::Status(500));
    let (status, first) = upsert(&app, &org, json!({ "email": "retried@example.com" })).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(app.stripe.created_customers(Some("acct_1Flaky")), 1);

    // Failures past the retries: 503 with Retry-After, no row claims a customer.
    app.stripe
        .fail_next_to("POST", "/v1/customers", 3, Fault::Status(429));
    let response = app
        .post(
            &customers_path(&org),
            &app.admin_token(),
            &json!({ "email": "later@example.com" }),
        )
        .await;
    assert_eq!(response.headers()["retry-after"], "5");
    error_body(response, 503, "stripe_unavailable").await;
    assert_eq!(
        app.stripe
            .requests_to("POST", "/v1/customers")
            .iter()
            .filter(|r| r.fault == Some(Fault::Status(429)))
            .count(),
        3
    );
    assert!(find_by_email(&app, &org, "later@example.com")
        .await
        .is_empty());
    assert_eq!(app.stripe.created_customers(Some("acct_1Flaky")), 1);

    // Timeouts after Stripe acted: the retry replays the same create instead of a second.
    app.stripe
        .fail_next_to("POST", "/v1/customers", 3, Fault::StallAfterApply(STALL));
    let response = app
        .post(
            &customers_path(&org),
            &app.admin_token(),
            &json!({ "email": "later@example.com" }),
        )
        .await;
    error_body(response, 503, "stripe_unavailable").await;
    assert!(find_by_email(&app, &org, "later@example.com")
        .await
        .is_empty());
    assert_eq!(
        app.stripe.created_customers(Some("acct_1Flaky")),
        2,
        "one customer, made by the first attempt"
    );

    // Stripe is back: the next upsert finishes that customer, not a new one.
    let (status, done) = upsert(&app, &org, json!({ "email": "later@example.com" })).await;
    assert_eq!(status, 201, "{done}");
    assert_eq!(app.stripe.created_customers(Some("acct_1Flaky")), 2);
    assert_eq!(
        app.stripe
            .customers(Some("acct_1Flaky"))
            .iter()
            .filter(|c| c["email"] == "later@example.com")
            .count(),
        1
    );
    assert_eq!(
        find_by_email(&app, &org, "later@example.com").await,
        vec![done]
    );

    // Stripe's refusal to retry is 502.
    app.stripe
        .fail_next_to("POST", "/v1/customers", 1, Fault::StatusNoRetry(500));
    error_body(
        app.post(
            &customers_path(&org),
            &app.admin_token(),
            &json!({ "email": "no@example.com" }),
        )
        .await,
        502,
        "stripe_error",
    )
    .await;
    assert!(find_by_email(&app, &org, "no@example.com").await.is_empty());
}

async fn stripe_refusing_the_data_is_a_client_error_with_stripes_message(app: TestApp) {
    let org = app.create_organizer("Picky", "acct_1Picky").await;
    app.stripe.fail_next_to(
        "POST",
        "/v1/customers",
        1,
        Fault::InvalidEmail("Invalid email address: ana@exa-mple.com"),
    );
    let response = app
        .post(
            &customers_path(&org),
            &app.admin_token(),
            &json!({ "email": "ana@exa-mple.com" }),
        )
        .await;
    let body = error_body(response, 422, "stripe_invalid_request").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Invalid email address"),
        "{body}"
    );
    assert!(find_by_email(&app, &org, "ana@exa-mple.com")
        .await
        .is_empty());
    assert_eq!(app.stripe.created_customers(Some("acct_1Picky")), 0);
    // Nothing was kept that blocks a corrected request.
    let (status, _) = upsert(&app, &org, json!({ "email": "ana@exa-mple.com" })).await;
    assert_eq!(status, 201);
}

async fn bad_input_is_refused_with_field_details(app: TestApp) {
    let org = app.create_organizer("Strict", "acct_1Strict").await;
    let cases = [
        (json!({ "email": "" }), vec!["email"]),
        (json!({ "email": "   " }), vec!["email"]),
        (json!({ "email": "no-at-sign" }), vec!["email"]),
        (json!({ "email": "a@b" }), vec!["email"]),
        (json!({}), vec!["email"]),
        (json!({ "email": 42 }), vec!["email"]),
        (
            json!({ "email": "a@example.com", "name": "n".repeat(257) }),
            vec!["name"],
        ),
        (
            json!({ "email": "a@example.com", "phone": "call me maybe" }),
            vec!["phone"],
        ),
        (
            json!({ "email": "a@example.com", "nickname": "x" }),
            vec!["nickname"],
        ),
        (
            json!({ "email": format!("{}@example.com", "a".repeat(250)) }),
            vec!["email"],
        ),
        // Invisible and look-alike characters would give one mailbox a second key.
        (json!({ "email": "ana\u{200B}@example.com" }), vec!["email"]),
        (json!({ "email": "ana@ex\u{0430}mple.com" }), vec!["email"]),
        (json!({ "email": "\"ana\"@example.com" }), vec!["email"]),
        (
            json!({ "email": "a@example.com", "name": "Ana\u{202E}amiL" }),
            vec!["name"],
        ),
        (
            json!({ "email": "a@example.com", "metadata": { "k": 1 } }),
            vec!["metadata.k"],
        ),
        (json!({ "email": "bad", "name": "" }), vec!["email", "name"]),
        (
            json!({ "email": "a@example.com", "metadata": { "gateway_customer_id": "forged", "ok": "1" } }),
            vec!["metadata.gateway_customer_id"],
        ),
        (
            json!({ "email": "a@example.com", "metadata": { "k": "v".repeat(501) } }),
            vec!["metadata.k"],
        ),
    ];
    for (body, fields) in cases {
        let response = app
            .post(&customers_path(&org), &app.admin_token(), &body)
            .await;
        let error = error_body(response, 422, "validation_failed").await;
        let got: Vec<&str> = error["error"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap())
            .collect();
        assert_eq!(got, fields, "{body}");
    }
    error_body(
        app.request(
            reqwest::Method::POST,
            &customers_path(&org),
            Some(&app.admin_token()),
            None,
        )
        .await,
        415,
        "unsupported_media_type",
    )
    .await;
    assert!(
        app.stripe.requests_to("POST", "/v1/customers").is_empty(),
        "nothing reached Stripe"
    );
}

async fn another_organizers_token_gets_403_everywhere_and_changes_nothing(app: TestApp) {
    let mine = app.create_organizer("Mine", "acct_1Mine").await;
    let theirs = app.create_organizer("Theirs", "acct_1Theirs").await;
    let (_, customer) = upsert(
        &app,
        &mine,
        json!({ "email": "private@example.com", "name": "Priv" }),
    )
    .await;
    let intruder = app.organizer_token(theirs["id"].as_str().unwrap());
    let stripe_before = app.stripe.requests().len();
    let path = customer_path(&mine, &customer);
    let bogus = format!("{}/not-a-uuid", customers_path(&mine));
    for response in [
        app.post(
            &customers_path(&mine),
            &intruder,
            &json!({ "email": "private@example.com", "name": "Hijack" }),
        )
        .await,
        app.post(
            &customers_path(&mine),
            &intruder,
            &json!({ "email": "new@example.com" }),
        )
        .await,
        app.get(&customers_path(&mine), &intruder).await,
        app.get(
            &format!("{}?email=private@example.com", customers_path(&mine)),
            &intruder,
        )
        .await,
        app.get(&path, &intruder).await,
        app.get(&bogus, &intruder).await,
        app.patch(&path, &intruder, &json!({ "name": "Hijack" }))
            .await,
        app.delete(&path, &intruder).await,
        app.post(
            "/v1/erasures",
            &intruder,
            &json!({ "email": "private@example.com" }),
        )
        .await,
        app.get("/v1/admin/audit-log", &intruder).await,
        // Whatever the body: scope is checked before it is read.
        app.post(
            &customers_path(&mine),
            &intruder,
            &json!({ "email": "bad", "nickname": 1 }),
        )
        .await,
        app.request(
            reqwest::Method::POST,
            &customers_path(&mine),
            Some(&intruder),
            None,
        )
        .await,
        app.patch(&path, &intruder, &json!({ "nickname": "x" }))
            .await,
        app.post("/v1/erasures", &intruder, &json!({})).await,
    ] {
        error_body(response, 403, "forbidden").await;
    }
    assert_eq!(
        app.stripe.requests().len(),
        stripe_before,
        "Stripe was never called"
    );
    let fetched: Value = app
        .get(&path, &app.admin_token())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched, customer);
    assert!(find_by_email(&app, &mine, "new@example.com")
        .await
        .is_empty());

    // The owner's token works.
    let own = app.organizer_token(mine["id"].as_str().unwrap());
    assert_eq!(app.get(&path, &own).await.status(), 200);
    assert_eq!(
        app.post(
            &customers_path(&mine),
            &own,
            &json!({ "email": "mine@example.com" })
        )
        .await
        .status(),
        201
    );

    // A disabled organizer's own token is refused too.
    app.patch(
        &format!("/v1/organizers/{}", mine["id"].as_str().unwrap()),
        &app.admin_token(),
        &json!({ "status": "disabled" }),
    )
    .await;
    error_body(app.get(&path, &own).await, 403, "forbidden").await;
    let unknown = format!("/v1/organizers/{}/customers", uuid::Uuid::now_v7());
    error_body(
        app.post(
            &unknown,
            &app.admin_token(),
            &json!({ "email": "x@example.com" }),
        )
        .await,
        404,
        "organizer_not_found",
    )
    .await;
}
