//! Connect onboarding through the gateway: an organizer registered without an account gets one,
//! goes through Stripe's hosted onboarding, and can take payments once Stripe says so; until
//! then payments are refused before any Stripe call.

use serde_json::{json, Value};

use crate::helpers::{backend_tests, error_fields, TestApp, WEBHOOK_SECRET};

backend_tests!(
    an_organizer_without_an_account_is_onboarded_through_the_gateway,
    onboarding_input_is_checked_before_stripe_is_called,
    onboarding_is_for_the_organizers_own_connected_account,
    racing_account_creations_make_one_account,
    racing_creations_with_other_details_leave_no_unused_account,
    a_payment_asks_stripe_again_when_the_mirror_says_not_ready,
);

/// Registers an organizer without a Stripe account; its account's events reach this gateway.
async fn unboarded(app: &TestApp, name: &str) -> Value {
    app.stripe
        .deliver_webhooks_to(&format!("{}/webhooks/stripe", app.address), WEBHOOK_SECRET);
    let response = app
        .post(
            "/v1/organizers",
            &app.admin_token(),
            &json!({ "name": name }),
        )
        .await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

fn org_path(org: &Value) -> String {
    format!("/v1/organizers/{}", org["id"].as_str().unwrap())
}

async fn post(app: &TestApp, org: &Value, path: &str, body: &Value) -> (u16, Value) {
    let token = app.organizer_token(org["id"].as_str().unwrap());
    let response = app
        .post(&format!("{}/{path}", org_path(org)), &token, body)
        .await;
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn pay(app: &TestApp, org: &Value) -> (u16, Value) {
    post(
        app,
        org,
        "payment-intents",
        &json!({ "email": "fan@example.com", "amount": 2500, "currency": "eur" }),
    )
    .await
}

const LINK_URLS: fn() -> Value = || {
    json!({
        "refresh_url": "https://tickets.example/onboarding/refresh",
        "return_url": "https://tickets.example/onboarding/done",
    })
};

async fn an_organizer_without_an_account_is_onboarded_through_the_gateway(app: TestApp) {
    let org = unboarded(&app, "Night Owls").await;
    assert_eq!(org["stripe_account_id"], Value::Null, "{org}");
    assert_eq!(org["account"], Value::Null);

    // No account yet: no payment, and nothing asked of Stripe.
    let (status, body) = pay(&app, &org).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("account_not_ready")),
        "{body}"
    );
    assert!(app.stripe.requests().is_empty());

    let (status, created) = post(
        &app,
        &org,
        "stripe-account",
        &json!({ "country": "fr", "business_type": "company", "email": "owner@nightowls.example" }),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let account = created["stripe_account_id"].as_str().unwrap().to_string();
    assert!(account.starts_with("acct_"));
    assert_eq!(created["account_kind"], "connected");
    assert_eq!(created["account"]["type"], "express");
    assert_eq!(created["account"]["country"], "FR");
    assert_eq!(created["account"]["charges_enabled"], false);
    assert_eq!(
        created["account"]["disabled_reason"],
        "requirements.past_due"
    );
    assert!(created["account"]["currently_due"]
        .as_array()
        .unwrap()
        .contains(&json!("external_account")));
    let calls = app.stripe.requests_to("POST", "/v1/accounts");
    assert_eq!(calls.len(), 1);
    let params = &calls[0].params;
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(
        calls[0].stripe_account, None,
        "the platform creates accounts"
    );
    assert_eq!(param("type"), Some("express"));
    assert_eq!(param("country"), Some("FR"));
    assert_eq!(
        param("capabilities[card_payments][requested]"),
        Some("true")
    );
    assert_eq!(param("metadata[gateway_organizer_id]"), org["id"].as_str());
    let at_stripe = app.stripe.account(&account).expect("created at Stripe");
    assert_eq!(at_stripe["metadata"]["gateway_organizer_id"], org["id"]);

    // Another create is refused: the organizer has its account.
    let (status, body) = post(&app, &org, "stripe-account", &json!({ "country": "FR" })).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("organizer_has_account"))
    );

    // Not onboarded yet: refused before Stripe, naming what is due.
    app.stripe.forget_requests();
    let (status, body) = pay(&app, &org).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("account_not_ready")),
        "{body}"
    );
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("external_account"));
    assert!(app
        .stripe
        .requests_to("POST", "/v1/payment_intents")
        .is_empty());
    let health = app
        .get_json("/v1/admin/sync-health", &app.admin_token())
        .await;
    let mine = &health["data"].as_array().unwrap()[0];
    assert_eq!(mine["onboarding_complete"], false, "{mine}");
    assert!(mine["concerns"][0]
        .as_str()
        .unwrap()
        .contains("onboarding is incomplete"));

    // A link per visit, made by the platform for the account.
    let (status, link) = post(&app, &org, "onboarding-links", &LINK_URLS()).await;
    assert_eq!(status, 201, "{link}");
    assert!(link["url"]
        .as_str()
        .unwrap()
        .starts_with("https://connect.stripe.com/"));
    assert!(link["expires_at"].is_string());
    let (_, again) = post(&app, &org, "onboarding-links", &LINK_URLS()).await;
    assert_ne!(
        again["url"], link["url"],
        "links are single-use: each visit gets its own"
    );
    let calls = app.stripe.requests_to("POST", "/v1/account_links");
    assert_eq!(calls.len(), 2);
    assert!(calls[0]
        .params
        .contains(&("account".into(), account.clone())));
    assert!(calls[0]
        .params
        .contains(&("type".into(), "account_onboarding".into())));
    // No dashboard to log in to before onboarding is done: refused before Stripe.
    let (status, body) = post(&app, &org, "login-links", &json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("account_not_ready")),
        "{body}"
    );
    let login_path = format!("/v1/accounts/{account}/login_links");
    assert!(app.stripe.requests_to("POST", &login_path).is_empty());

    // The organizer finishes onboarding; Stripe says so with `account.updated`.
    app.trigger_settled(&json!({ "type": "account.updated", "account": account }))
        .await;
    let read = app.get_json(&org_path(&org), &app.admin_token()).await;
    assert_eq!(read["account"]["charges_enabled"], true, "{read}");
    assert_eq!(read["account"]["details_submitted"], true);
    assert_eq!(read["account"]["currently_due"], json!([]));
    // What Stripe no longer says is gone from the mirror too, not kept from the older fetch.
    assert_eq!(read["account"]["disabled_reason"], Value::Null, "{read}");
    let health = app
        .get_json("/v1/admin/sync-health", &app.admin_token())
        .await;
    assert_eq!(health["data"][0]["onboarding_complete"], true);
    let (status, login) = post(&app, &org, "login-links", &json!({})).await;
    assert_eq!(status, 201, "{login}");
    assert!(login["url"]
        .as_str()
        .unwrap()
        .starts_with("https://connect.stripe.com/express/"));
    assert_eq!(login["expires_at"], Value::Null);

    let (status, intent) = pay(&app, &org).await;
    assert_eq!(status, 201, "{intent}");
    let calls = app.stripe.requests_to("POST", "/v1/payment_intents");
    assert_eq!(calls[0].stripe_account.as_deref(), Some(account.as_str()));
}

async fn onboarding_input_is_checked_before_stripe_is_called(app: TestApp) {
    let org = unboarded(&app, "Careful Co").await;
    let (status, body) = post(
        &app,
        &org,
        "stripe-account",
        &json!({ "country": "France", "business_type": "sole_trader", "email": "nope" }),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(error_fields(&body), ["country", "business_type", "email"]);
    let (status, body) = post(&app, &org, "stripe-account", &json!({})).await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = post(
        &app,
        &org,
        "stripe-account",
        &json!({ "country": "FR", "kind": "x" }),
    )
    .await;
    assert_eq!(status, 422, "unknown fields are refused");
    // Links need an account first, and good URLs.
    let (status, body) = post(&app, &org, "onboarding-links", &LINK_URLS()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("account_not_ready"))
    );
    let (status, body) = post(
        &app,
        &org,
        "onboarding-links",
        &json!({ "refresh_url": "javascript:alert(1)", "return_url": "/done" }),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(error_fields(&body), ["refresh_url", "return_url"]);
    // Without an account: nothing to write to, nothing to read, nothing to reconcile.
    let (status, body) = post(
        &app,
        &org,
        "customers",
        &json!({ "email": "a@example.com" }),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("account_not_ready")),
        "{body}"
    );
    let (status, body) = post(&app, &org, "sync", &json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("account_not_ready")),
        "{body}"
    );
    let token = app.organizer_token(org["id"].as_str().unwrap());
    for list in ["customers", "payments", "disputes", "sync-runs"] {
        let page = app
            .get_json(&format!("{}/{list}", org_path(&org)), &token)
            .await;
        assert_eq!(page["data"], json!([]), "{list}: {page}");
    }
    assert!(app.stripe.requests().is_empty(), "nothing reached Stripe");

    // Stripe's own refusal of the data is the client's to fix.
    let (status, body) = post(&app, &org, "stripe-account", &json!({ "country": "AQ" })).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("stripe_invalid_request")),
        "{body}"
    );
    let read = app.get_json(&org_path(&org), &app.admin_token()).await;
    assert_eq!(
        read["stripe_account_id"],
        Value::Null,
        "a refused create leaves no account"
    );
}

async fn onboarding_is_for_the_organizers_own_connected_account(app: TestApp) {
    let org = unboarded(&app, "Mine").await;
    let other = unboarded(&app, "Theirs").await;
    let theirs = app.organizer_token(other["id"].as_str().unwrap());
    for path in ["stripe-account", "onboarding-links", "login-links"] {
        let response = app
            .post(
                &format!("{}/{path}", org_path(&org)),
                &theirs,
                &json!({ "country": "FR" }),
            )
            .await;
        assert_eq!(response.status(), 403, "{path}");
    }
    // An account registered as it is: a Standard one has no Express dashboard.
    let standard = app
        .create_organizer("Standard Co", "acct_1Standard00000001")
        .await;
    let (status, body) = post(&app, &standard, "login-links", &json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("account_not_express")),
        "{body}"
    );
    // The platform's own account is not onboarded through Connect.
    let platform = app
        .create_organizer(
            "The Platform",
            crate::support::fake_stripe::PLATFORM_ACCOUNT,
        )
        .await;
    let (status, body) = post(&app, &platform, "onboarding-links", &LINK_URLS()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("account_not_connected")),
        "{body}"
    );
    assert!(app
        .stripe
        .requests_to("POST", "/v1/account_links")
        .is_empty());
}

async fn racing_account_creations_make_one_account(app: TestApp) {
    let org = unboarded(&app, "Racers").await;
    let body = json!({ "country": "DE", "business_type": "individual" });
    let gate = app.stripe.hold_next_answer("POST", "/v1/accounts");
    let first = post(&app, &org, "stripe-account", &body);
    let second = async {
        gate.arrived().await;
        let second = post(&app, &org, "stripe-account", &body).await;
        gate.release();
        second
    };
    let ((one, a), (two, b)) = tokio::join!(first, second);
    assert_eq!((one, two), (201, 201), "{a} {b}");
    assert_eq!(a["stripe_account_id"], b["stripe_account_id"]);
    let creates = app.stripe.requests_to("POST", "/v1/accounts");
    assert_eq!(creates.len(), 2);
    assert!(
        creates[1].replayed,
        "Stripe answered the second with the first's account"
    );
}

/// Stripe's `account.updated` is late (never delivered here): a payment refused on a mirrored
/// state of a few seconds ago stands, and one refused on an older state asks Stripe, finds the
/// account ready, stores that and goes through.
async fn a_payment_asks_stripe_again_when_the_mirror_says_not_ready(app: TestApp) {
    let org = unboarded(&app, "Late news").await;
    let (status, created) = post(&app, &org, "stripe-account", &json!({ "country": "FR" })).await;
    assert_eq!(status, 201, "{created}");
    let account = created["stripe_account_id"].as_str().unwrap().to_string();
    // Onboarding completes at Stripe; its webhook is lost on the way (sent where nothing
    // takes it).
    app.stripe
        .deliver_webhooks_to(&format!("{}/nowhere", app.address), WEBHOOK_SECRET);
    let triggered = app
        .trigger(&json!({ "type": "account.updated", "account": account }))
        .await;
    assert_eq!(triggered["delivery_status"], 404, "{triggered}");
    app.stripe.forget_requests();
    let (status, body) = pay(&app, &org).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("account_not_ready")),
        "{body}"
    );
    assert!(
        app.stripe.requests().is_empty(),
        "a state fetched moments ago is not asked again"
    );

    let sql = format!("UPDATE stripe_accounts SET fetched_at = fetched_at - INTERVAL '1 minute' WHERE id = '{account}'");
    let sqlite = format!("UPDATE stripe_accounts SET fetched_at = datetime(fetched_at, '-1 minute') WHERE id = '{account}'");
    app.execute_sql(&sql, &sqlite).await;
    let (status, intent) = pay(&app, &org).await;
    assert_eq!(status, 201, "{intent}");
    assert_eq!(app.stripe.requests_to("GET", "/v1/account").len(), 1);
    let read = app.get_json(&org_path(&org), &app.admin_token()).await;
    assert_eq!(
        read["account"]["charges_enabled"], true,
        "the answer is kept: {read}"
    );
}

/// Two requests racing with different details: Stripe makes one account (the organizer's
/// key), the other request is refused, and no account is left unused.
async fn racing_creations_with_other_details_leave_no_unused_account(app: TestApp) {
    let org = unboarded(&app, "Split minds").await;
    let gate = app.stripe.hold_next_answer("POST", "/v1/accounts");
    let germany = json!({ "country": "DE" });
    let first = post(&app, &org, "stripe-account", &germany);
    let second = async {
        gate.arrived().await;
        let second = post(&app, &org, "stripe-account", &json!({ "country": "AT" })).await;
        gate.release();
        second
    };
    let ((one, a), (two, b)) = tokio::join!(first, second);
    assert_eq!(one, 201, "{a}");
    assert_eq!(
        (two, b["error"]["code"].as_str()),
        (409, Some("account_creation_conflict")),
        "{b}"
    );
    let created: Vec<_> = app
        .stripe
        .requests_to("POST", "/v1/accounts")
        .into_iter()
        .filter(|r| r.idempotency_key.is_some())
        .collect();
    assert_eq!(created.len(), 2);
    assert_eq!(
        created[0].idempotency_key, created[1].idempotency_key,
        "one key per organizer"
    );
    let read = app.get_json(&org_path(&org), &app.admin_token()).await;
    assert_eq!(read["stripe_account_id"], a["stripe_account_id"]);
    assert_eq!(read["account"]["country"], "DE");
}
