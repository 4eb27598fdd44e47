use std::collections::HashSet;

use serde_json::{json, Value};

use crate::helpers::{backend_tests, error_body, spawn_app_with, Backend, TestApp};
use crate::support::fake_stripe::{Fault, Hold, PLATFORM_ACCOUNT};

fn field_names(body: &Value) -> Vec<String> {
    body["error"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_string())
        .collect()
}

backend_tests!(
    registering_a_connected_account_returns_the_organizer,
    the_platform_account_is_a_first_class_organizer,
    an_account_stripe_does_not_know_is_refused_and_not_stored,
    an_account_that_revoked_access_is_refused_without_echoing_stripe,
    a_refusal_not_about_the_account_is_a_gateway_problem,
    a_stripe_outage_is_a_retryable_503_and_stores_nothing,
    transient_stripe_failures_are_retried_transparently,
    a_second_registration_of_an_account_conflicts,
    concurrent_registrations_of_one_account_create_one_organizer,
    invalid_fields_are_all_reported_at_once,
    wrong_types_missing_and_unknown_fields_name_the_field,
    organizers_page_with_an_opaque_cursor,
    bad_page_parameters_are_rejected,
    unknown_and_malformed_organizer_ids_are_404,
    patch_changes_only_what_it_names,
    an_empty_patch_changes_nothing,
    patch_rejects_bad_fields_and_applies_nothing,
    ids_are_unique_across_many_organizers,
);

async fn registering_a_connected_account_returns_the_organizer(app: TestApp) {
    app.stripe.add_connected_account("acct_1Connected0001");
    let response = app
        .post(
            "/v1/organizers",
            &app.admin_token(),
            &json!({ "name": "  Acme Events ", "stripe_account_id": "acct_1Connected0001", "application_fee_bps": 250 }),
        )
        .await;
    assert_eq!(response.status(), 201);
    let organizer: Value = response.json().await.unwrap();
    assert!(uuid::Uuid::parse_str(organizer["id"].as_str().unwrap()).is_ok());
    assert_eq!(organizer["name"], "Acme Events");
    assert_eq!(organizer["stripe_account_id"], "acct_1Connected0001");
    assert_eq!(organizer["account_kind"], "connected");
    assert_eq!(organizer["application_fee_bps"], 250);
    assert_eq!(organizer["status"], "active");
    let created =
        chrono::DateTime::parse_from_rfc3339(organizer["created_at"].as_str().unwrap()).unwrap();
    assert!((chrono::Utc::now() - created.to_utc()).num_seconds().abs() < 60);

    // Stripe was asked, as the platform, whether the account is reachable.
    let checks = app
        .stripe
        .requests_to("GET", "/v1/accounts/acct_1Connected0001");
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].stripe_account, None);
    assert_eq!(
        checks[0].stripe_version.as_deref(),
        Some(stripe_client_core::VERSION.as_str())
    );

    // And it reads back the same.
    let fetched: Value = app
        .get(
            &format!("/v1/organizers/{}", organizer["id"].as_str().unwrap()),
            &app.admin_token(),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched, organizer);
}

async fn the_platform_account_is_a_first_class_organizer(app: TestApp) {
    let organizer = app
        .post(
            "/v1/organizers",
            &app.admin_token(),
            &json!({ "name": "Platform SaaS", "stripe_account_id": PLATFORM_ACCOUNT }),
        )
        .await;
    assert_eq!(organizer.status(), 201);
    let organizer: Value = organizer.json().await.unwrap();
    assert_eq!(organizer["account_kind"], "platform");
    assert_eq!(organizer["application_fee_bps"], Value::Null);
    let checks = app.stripe.requests_to("GET", "/v1/account");
    assert_eq!(
        checks.len(),
        1,
        "the platform's own account is checked with GET /v1/account"
    );
    assert_eq!(checks[0].stripe_account, None);
}

async fn an_account_stripe_does_not_know_is_refused_and_not_stored(app: TestApp) {
    let response = app
        .post(
            "/v1/organizers",
            &app.admin_token(),
            &json!({ "name": "Ghost", "stripe_account_id": "acct_1NotConnected" }),
        )
        .await;
    let body = error_body(response, 422, "stripe_account_inaccessible").await;
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("acct_1NotConnected"));
    let list: Value = app
        .get("/v1/organizers", &app.admin_token())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"], json!([]));
}

async fn an_account_that_revoked_access_is_refused_without_echoing_stripe(app: TestApp) {
    app.stripe.revoke_account("acct_1Revoked");
    let response = app
        .post(
            "/v1/organizers",
            &app.admin_token(),
            &json!({ "name": "Gone", "stripe_account_id": "acct_1Revoked" }),
        )
        .await;
    let body = error_body(response, 422, "stripe_account_inaccessible").await;
    assert!(!body.to_string().contains("sk_test"), "{body}");
}

async fn a_refusal_not_about_the_account_is_a_gateway_problem(app: TestApp) {
    // A 403 without `account_invalid`: e.g. a restricted key without Connect permissions.
    app.stripe.add_connected_account("acct_1KeyLacksPermission");
    app.stripe.fail_next(1, Fault::Status(403));
    let response = app
        .post(
            "/v1/organizers",
            &app.admin_token(),
            &json!({ "name": "A", "stripe_account_id": "acct_1KeyLacksPermission" }),
        )
        .await;
    error_body(response, 502, "stripe_error").await;
}

async fn a_stripe_outage_is_a_retryable_503_and_stores_nothing(app: TestApp) {
    app.stripe.add_connected_account("acct_1DuringOutage");
    // More failures than the gateway's retries (2): every attempt fails.
    app.stripe.fail_next(3, Fault::Status(500));
    let body = json!({ "name": "Unlucky", "stripe_account_id": "acct_1DuringOutage" });
    let response = app.post("/v1/organizers", &app.admin_token(), &body).await;
    error_body(response, 503, "stripe_unavailable").await;
    assert_eq!(
        app.stripe
            .requests_to("GET", "/v1/accounts/acct_1DuringOutage")
            .len(),
        3
    );
    let list: Value = app
        .get("/v1/organizers", &app.admin_token())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"], json!([]));

    // The client's retry succeeds once Stripe is back.
    assert_eq!(
        app.post("/v1/organizers", &app.admin_token(), &body)
            .await
            .status(),
        201
    );
}

async fn transient_stripe_failures_are_retried_transparently(app: TestApp) {
    app.stripe.add_connected_account("acct_1FlakyStripe");
    app.stripe.fail_next(1, Fault::Status(429));
    app.stripe.fail_next(1, Fault::HtmlBadGateway);
    let response = app
        .post(
            "/v1/organizers",
            &app.admin_token(),
            &json!({ "name": "Flaky", "stripe_account_id": "acct_1FlakyStripe" }),
        )
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(
        app.stripe
            .requests_to("GET", "/v1/accounts/acct_1FlakyStripe")
            .len(),
        3
    );
}

async fn a_second_registration_of_an_account_conflicts(app: TestApp) {
    let first = app.create_organizer("First", "acct_1Duplicate").await;
    let response = app
        .post(
            "/v1/organizers",
            &app.admin_token(),
            &json!({ "name": "Second", "stripe_account_id": "acct_1Duplicate" }),
        )
        .await;
    let body = error_body(response, 409, "organizer_exists").await;
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains(first["id"].as_str().unwrap()));
}

async fn concurrent_registrations_of_one_account_create_one_organizer(app: TestApp) {
    app.stripe.add_connected_account("acct_1RacingAccount");
    // The account checks are held in Stripe until all eight have arrived: every racer is past
    // the "already registered?" lookup, so the database's unique index is what decides.
    let gate = app
        .stripe
        .hold("GET", "/v1/accounts/acct_1RacingAccount", 8, Hold::Request);
    let mut racers = tokio::task::JoinSet::new();
    for i in 0..8 {
        let request = app
            .client
            .post(format!("{}/v1/organizers", app.address))
            .bearer_auth(app.admin_token())
            .json(&json!({ "name": format!("Racer {i}"), "stripe_account_id": "acct_1RacingAccount" }));
        racers.spawn(async move { request.send().await.unwrap().status().as_u16() });
    }
    gate.arrived().await;
    gate.release();
    let mut statuses = racers.join_all().await;
    statuses.sort_unstable();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    assert_eq!(
        app.stripe
            .requests_to("GET", "/v1/accounts/acct_1RacingAccount")
            .len(),
        8
    );
    let list: Value = app
        .get("/v1/organizers", &app.admin_token())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let audit: Value = app
        .get("/v1/audit-events", &app.admin_token())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        audit["data"].as_array().unwrap().len(),
        1,
        "losers leave no audit row"
    );
}

async fn invalid_fields_are_all_reported_at_once(app: TestApp) {
    let response = app
        .post(
            "/v1/organizers",
            &app.admin_token(),
            &json!({ "name": " ", "stripe_account_id": "cus_123", "application_fee_bps": 10001 }),
        )
        .await;
    let body = error_body(response, 422, "validation_failed").await;
    assert_eq!(
        field_names(&body),
        ["name", "stripe_account_id", "application_fee_bps"]
    );
    assert!(
        app.stripe.requests().is_empty(),
        "invalid input never reaches Stripe"
    );
}

async fn wrong_types_missing_and_unknown_fields_name_the_field(app: TestApp) {
    let token = app.admin_token();
    let cases = [
        (json!({ "stripe_account_id": "acct_1X" }), "name"),
        (json!({ "name": 5, "stripe_account_id": "acct_1X" }), "name"),
        (
            json!({ "name": "A", "stripe_account_id": "acct_1X", "application_fee_bps": "2%" }),
            "application_fee_bps",
        ),
        (
            json!({ "name": "A", "stripe_account_id": "acct_1X", "status": "active" }),
            "status",
        ),
    ];
    for (body, field) in cases {
        let response = app.post("/v1/organizers", &token, &body).await;
        let error = error_body(response, 422, "validation_failed").await;
        assert_eq!(field_names(&error), [field], "{body}");
    }
}

async fn organizers_page_with_an_opaque_cursor(app: TestApp) {
    for i in 0..5 {
        app.create_organizer(&format!("Org {i}"), &format!("acct_1Paged{i}"))
            .await;
    }
    let token = app.admin_token();
    let mut seen = Vec::new();
    let mut path = "/v1/organizers?limit=2".to_string();
    let mut pages = 0;
    loop {
        let page: Value = app.get(&path, &token).await.json().await.unwrap();
        pages += 1;
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 2);
        seen.extend(data.iter().map(|o| o["name"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/organizers?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        seen,
        ["Org 0", "Org 1", "Org 2", "Org 3", "Org 4"],
        "oldest first, each once"
    );

    let all: Value = app
        .get("/v1/organizers", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["data"].as_array().unwrap().len(), 5);
    assert_eq!(all["next_cursor"], Value::Null);
}

async fn bad_page_parameters_are_rejected(app: TestApp) {
    let token = app.admin_token();
    // djE6AA is "v1:\0": a NUL byte that PostgreSQL would refuse in a text comparison.
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("cursor=garbage!", "cursor"),
        ("cursor=djI6eA", "cursor"),
        ("cursor=djE6AA", "cursor"),
    ] {
        let response = app.get(&format!("/v1/organizers?{query}"), &token).await;
        let body = error_body(response, 422, "validation_failed").await;
        assert_eq!(field_names(&body), [field], "{query}");
    }
    error_body(
        app.get("/v1/organizers?limit=ten", &token).await,
        400,
        "invalid_query",
    )
    .await;
    error_body(
        app.get("/v1/organizers?page=2", &token).await,
        400,
        "invalid_query",
    )
    .await;
}

async fn unknown_and_malformed_organizer_ids_are_404(app: TestApp) {
    let token = app.admin_token();
    let unknown = uuid::Uuid::now_v7();
    error_body(
        app.get(&format!("/v1/organizers/{unknown}"), &token).await,
        404,
        "organizer_not_found",
    )
    .await;
    error_body(
        app.get("/v1/organizers/not-a-uuid", &token).await,
        404,
        "organizer_not_found",
    )
    .await;
    error_body(
        app.patch(
            &format!("/v1/organizers/{unknown}"),
            &token,
            &json!({ "name": "x" }),
        )
        .await,
        404,
        "organizer_not_found",
    )
    .await;
}

async fn patch_changes_only_what_it_names(app: TestApp) {
    let organizer = app.create_organizer("Before", "acct_1Patched").await;
    let path = format!("/v1/organizers/{}", organizer["id"].as_str().unwrap());
    let token = app.admin_token();

    let renamed: Value = app
        .patch(
            &path,
            &token,
            &json!({ "name": "After", "application_fee_bps": 125 }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(renamed["name"], "After");
    assert_eq!(renamed["application_fee_bps"], 125);
    assert_eq!(renamed["status"], "active");
    assert_eq!(renamed["created_at"], organizer["created_at"]);
    assert_ne!(renamed["updated_at"], organizer["updated_at"]);

    let disabled: Value = app
        .patch(&path, &token, &json!({ "status": "disabled" }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(disabled["status"], "disabled");
    assert_eq!(disabled["name"], "After");
    assert_eq!(disabled["application_fee_bps"], 125);

    let cleared: Value = app
        .patch(&path, &token, &json!({ "application_fee_bps": null }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cleared["application_fee_bps"], Value::Null);

    let unchanged = app.get(&path, &token).await.json::<Value>().await.unwrap();
    assert_eq!(unchanged["name"], "After");
    assert_eq!(unchanged["status"], "disabled");
}

async fn an_empty_patch_changes_nothing(app: TestApp) {
    let organizer = app.create_organizer("Untouched", "acct_1EmptyPatch").await;
    let path = format!("/v1/organizers/{}", organizer["id"].as_str().unwrap());
    let response = app.patch(&path, &app.admin_token(), &json!({})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        organizer,
        "same record, same updated_at"
    );
    let audit: Value = app
        .get("/v1/audit-events", &app.admin_token())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        audit["data"].as_array().unwrap().len(),
        1,
        "only the creation is audited"
    );
}

async fn patch_rejects_bad_fields_and_applies_nothing(app: TestApp) {
    let organizer = app.create_organizer("Stable", "acct_1PatchRejected").await;
    let path = format!("/v1/organizers/{}", organizer["id"].as_str().unwrap());
    let token = app.admin_token();
    let body = error_body(
        app.patch(
            &path,
            &token,
            &json!({ "name": "Renamed", "application_fee_bps": -1 }),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(field_names(&body), ["application_fee_bps"]);
    let body = error_body(
        app.patch(&path, &token, &json!({ "name": null })).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(field_names(&body), ["name"]);
    let body = error_body(
        app.patch(&path, &token, &json!({ "status": "deleted" }))
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(field_names(&body), ["status"]);
    let body = error_body(
        app.patch(
            &path,
            &token,
            &json!({ "stripe_account_id": "acct_1Other" }),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(field_names(&body), ["stripe_account_id"]);

    let after: Value = app.get(&path, &token).await.json().await.unwrap();
    assert_eq!(after, organizer, "a rejected PATCH changes nothing");
}

async fn ids_are_unique_across_many_organizers(app: TestApp) {
    let mut ids = HashSet::new();
    for i in 0..6 {
        let organizer = app
            .create_organizer("Same name", &format!("acct_1Unique{i}"))
            .await;
        assert!(ids.insert(organizer["id"].as_str().unwrap().to_string()));
    }
}

backend_tests!(
    a_rejected_secret_key_is_a_gateway_problem_not_the_clients,
    a_platform_account_id_that_is_not_the_keys_is_a_server_error,
);

async fn a_rejected_secret_key_is_a_gateway_problem_not_the_clients(backend: Backend) {
    let misconfigured = spawn_app_with(backend, |settings| {
        settings.stripe.secret_key = secrecy::SecretString::from("pk_test_not_a_secret_key");
    })
    .await;
    misconfigured.stripe.add_connected_account("acct_1WrongKey");
    let response = misconfigured
        .post(
            "/v1/organizers",
            &misconfigured.admin_token(),
            &json!({ "name": "A", "stripe_account_id": "acct_1WrongKey" }),
        )
        .await;
    let body = error_body(response, 502, "stripe_error").await;
    assert!(
        !body.to_string().contains("API Key"),
        "Stripe's wording stays in the log: {body}"
    );
}

async fn a_platform_account_id_that_is_not_the_keys_is_a_server_error(backend: Backend) {
    let misconfigured = spawn_app_with(backend, |settings| {
        settings.stripe.platform_account_id =
            Some(gateway::domain::StripeAccountId::parse("acct_1NotTheKeys").unwrap());
    })
    .await;
    let response = misconfigured
        .post(
            "/v1/organizers",
            &misconfigured.admin_token(),
            &json!({ "name": "A", "stripe_account_id": "acct_1NotTheKeys" }),
        )
        .await;
    error_body(response, 500, "internal_error").await;
    let list: Value = misconfigured
        .get("/v1/organizers", &misconfigured.admin_token())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"], json!([]));
}
