//! Registering an organizer: Stripe is asked first whether the platform can act for the
//! account, and what Stripe answers decides the gateway's answer.

use serde_json::{json, Value};

use crate::helpers::{backend_tests, error_body, spawn_app_with, try_spawn_app, Backend, TestApp};
use crate::support::fake_stripe::{FakeStripe, Fault, Hold, PLATFORM_ACCOUNT};

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
    a_rejected_secret_key_is_a_gateway_problem_not_the_clients,
    a_platform_account_id_that_is_not_the_keys_names_both_accounts,
);

async fn registering_a_connected_account_returns_the_organizer(app: TestApp) {
    app.stripe.add_connected_account("acct_1Connected0001");
    let response = app
        .post(
            "/v1/organizers",
            &app.admin_token(),
            &json!({
                "name": "  Acme Events ",
                "stripe_account_id": "acct_1Connected0001",
                "application_fee_bps": 250,
            }),
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
        .get_json(
            &format!("/v1/organizers/{}", organizer["id"].as_str().unwrap()),
            &app.admin_token(),
        )
        .await;
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
    let list: Value = app.get_json("/v1/organizers", &app.admin_token()).await;
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
    let list: Value = app.get_json("/v1/organizers", &app.admin_token()).await;
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
            .json(&json!({
                "name": format!("Racer {i}"),
                "stripe_account_id": "acct_1RacingAccount",
            }));
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
    let list: Value = app.get_json("/v1/organizers", &app.admin_token()).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let audit: Value = app.get_json("/v1/audit-events", &app.admin_token()).await;
    assert_eq!(
        audit["data"].as_array().unwrap().len(),
        1,
        "losers leave no audit row"
    );
}

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

/// `STRIPE_PLATFORM_ACCOUNT_ID` that is not the key's account stops start-up, naming both; when
/// Stripe could not be asked at start-up, registering the platform's organizer names both.
async fn a_platform_account_id_that_is_not_the_keys_names_both_accounts(backend: Backend) {
    let wrong = |settings: &mut gateway::configuration::Settings| {
        settings.stripe.platform_account_id =
            Some(gateway::domain::StripeAccountId::parse("acct_1NotTheKeys").unwrap());
    };
    let refused = try_spawn_app(backend, |_| {}, wrong).await;
    let err = refused
        .err()
        .expect("start-up refuses the setting")
        .to_string();
    for named in [
        "STRIPE_PLATFORM_ACCOUNT_ID",
        "acct_1NotTheKeys",
        PLATFORM_ACCOUNT,
    ] {
        assert!(err.contains(named), "{named} in {err}");
    }
    // Stripe failing at start-up: a warning, and the gateway starts.
    let unreachable_at_start =
        |fake: &FakeStripe| fake.fail_next_to("GET", "/v1/account", 3, Fault::Status(500));
    let misconfigured = try_spawn_app(backend, unreachable_at_start, wrong)
        .await
        .expect("the gateway starts when Stripe cannot be asked");
    let response = misconfigured
        .post(
            "/v1/organizers",
            &misconfigured.admin_token(),
            &json!({ "name": "A", "stripe_account_id": "acct_1NotTheKeys" }),
        )
        .await;
    // Not a bare 500: the code and the message name the cause and both accounts.
    let body = error_body(response, 503, "platform_account_mismatch").await;
    let message = body["error"]["message"].as_str().unwrap();
    for named in [
        "STRIPE_PLATFORM_ACCOUNT_ID",
        "acct_1NotTheKeys",
        PLATFORM_ACCOUNT,
    ] {
        assert!(message.contains(named), "{named} in {message}");
    }
    let list: Value = misconfigured
        .get_json("/v1/organizers", &misconfigured.admin_token())
        .await;
    assert_eq!(list["data"], json!([]));
}
