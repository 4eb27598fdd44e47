use std::path::PathBuf;

use gateway::auth::{unix_now, Role};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{backend_tests, error_body, spawn_app_with, Backend, TestApp};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jwt")
        .join(name)
}

async fn list_with(app: &TestApp, authorization: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(format!("{}/v1/organizers", app.address));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.unwrap()
}

async fn assert_unauthenticated(app: &TestApp, authorization: Option<&str>) {
    let response = list_with(app, authorization).await;
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap()),
        Some("Bearer")
    );
    error_body(response, 401, "unauthenticated").await;
}

/// `alg: none` tokens carry no signature; many libraries once accepted them.
fn unsigned_token(claims: &serde_json::Value) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.")
}

fn admin_claims() -> serde_json::Value {
    json!({ "sub": "ops", "role": "admin", "exp": unix_now() + 600 })
}

backend_tests!(
    a_valid_admin_token_is_accepted,
    missing_and_garbled_credentials_are_rejected,
    expired_tokens_are_rejected,
    tokens_not_valid_yet_are_rejected,
    tokens_without_exp_or_sub_are_rejected,
    unknown_roles_and_organizer_tokens_without_org_are_rejected,
    a_token_signed_with_another_secret_is_rejected,
    alg_none_is_rejected,
    algorithms_other_than_the_configured_ones_are_rejected,
    organizer_tokens_are_forbidden_on_admin_routes,
    a_disabled_organizers_tokens_are_refused,
    an_organizer_sees_itself_and_no_other_tenant,
);

async fn a_valid_admin_token_is_accepted(app: TestApp) {
    let token = app.admin_token();
    let response = list_with(&app, Some(&format!("Bearer {token}"))).await;
    assert_eq!(response.status(), 200);
    // The scheme is case-insensitive, as RFC 7235 says.
    let response = list_with(&app, Some(&format!("bearer {token}"))).await;
    assert_eq!(response.status(), 200);
}

async fn missing_and_garbled_credentials_are_rejected(app: TestApp) {
    assert_unauthenticated(&app, None).await;
    assert_unauthenticated(&app, Some("")).await;
    assert_unauthenticated(&app, Some("Bearer")).await;
    assert_unauthenticated(&app, Some("Bearer ")).await;
    assert_unauthenticated(&app, Some(&format!("Basic {}", app.admin_token()))).await;
    assert_unauthenticated(&app, Some("Bearer not.a.jwt")).await;
    assert_unauthenticated(&app, Some("Bearer eyJhbGciOiJIUzI1NiJ9.e30")).await;
}

async fn expired_tokens_are_rejected(app: TestApp) {
    let expired = app.sign(&json!({ "sub": "ops", "role": "admin", "exp": unix_now() - 3600 }));
    assert_unauthenticated(&app, Some(&format!("Bearer {expired}"))).await;
}

async fn tokens_not_valid_yet_are_rejected(app: TestApp) {
    let future = app.sign(&json!({
        "sub": "ops",
        "role": "admin",
        "exp": unix_now() + 7200,
        "nbf": unix_now() + 3600,
    }));
    assert_unauthenticated(&app, Some(&format!("Bearer {future}"))).await;
}

async fn tokens_without_exp_or_sub_are_rejected(app: TestApp) {
    let no_exp = app.sign(&json!({ "sub": "ops", "role": "admin" }));
    assert_unauthenticated(&app, Some(&format!("Bearer {no_exp}"))).await;
    let no_sub = app.sign(&json!({ "role": "admin", "exp": unix_now() + 600 }));
    assert_unauthenticated(&app, Some(&format!("Bearer {no_sub}"))).await;
}

async fn unknown_roles_and_organizer_tokens_without_org_are_rejected(app: TestApp) {
    let superuser = app.sign(&json!({ "sub": "x", "role": "superuser", "exp": unix_now() + 600 }));
    assert_unauthenticated(&app, Some(&format!("Bearer {superuser}"))).await;
    let no_org = app.sign(&json!({ "sub": "x", "role": "organizer", "exp": unix_now() + 600 }));
    assert_unauthenticated(&app, Some(&format!("Bearer {no_org}"))).await;
    let bad_org =
        app.sign(&json!({ "sub": "x", "role": "organizer", "org": "42", "exp": unix_now() + 600 }));
    assert_unauthenticated(&app, Some(&format!("Bearer {bad_org}"))).await;
}

async fn a_token_signed_with_another_secret_is_rejected(app: TestApp) {
    let forged = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &admin_claims(),
        &EncodingKey::from_secret(b"guessed-secret"),
    )
    .unwrap();
    assert_unauthenticated(&app, Some(&format!("Bearer {forged}"))).await;
}

async fn alg_none_is_rejected(app: TestApp) {
    let unsigned = unsigned_token(&admin_claims());
    assert_unauthenticated(&app, Some(&format!("Bearer {unsigned}"))).await;
}

async fn algorithms_other_than_the_configured_ones_are_rejected(app: TestApp) {
    // The gateway has only an HS256 secret: an RS256 token must fail even if well signed.
    let private = std::fs::read(fixture("rsa_private.pem")).unwrap();
    let rs256 = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &admin_claims(),
        &EncodingKey::from_rsa_pem(&private).unwrap(),
    )
    .unwrap();
    assert_unauthenticated(&app, Some(&format!("Bearer {rs256}"))).await;
    // Signed with the right secret: only the algorithm is wrong.
    let hs512 = app.sign_with(Algorithm::HS512, &admin_claims());
    assert_unauthenticated(&app, Some(&format!("Bearer {hs512}"))).await;
}

async fn organizer_tokens_are_forbidden_on_admin_routes(app: TestApp) {
    let organizer = app.create_organizer("Acme", "acct_1AuthAdminRoutes").await;
    let token = app.organizer_token(organizer["id"].as_str().unwrap());
    error_body(app.get("/v1/organizers", &token).await, 403, "forbidden").await;
    let body = json!({ "name": "x", "stripe_account_id": "acct_1Other" });
    error_body(
        app.post("/v1/organizers", &token, &body).await,
        403,
        "forbidden",
    )
    .await;
    let path = format!("/v1/organizers/{}", organizer["id"].as_str().unwrap());
    error_body(
        app.patch(&path, &token, &json!({ "name": "Mine now" }))
            .await,
        403,
        "forbidden",
    )
    .await;
    error_body(app.get("/v1/audit-events", &token).await, 403, "forbidden").await;
}

async fn a_disabled_organizers_tokens_are_refused(app: TestApp) {
    let organizer = app.create_organizer("Paused", "acct_1AuthDisabled").await;
    let path = format!("/v1/organizers/{}", organizer["id"].as_str().unwrap());
    let token = app.organizer_token(organizer["id"].as_str().unwrap());
    assert_eq!(app.get(&path, &token).await.status(), 200);
    let disabled = app
        .patch(&path, &app.admin_token(), &json!({ "status": "disabled" }))
        .await;
    assert_eq!(disabled.status(), 200);
    error_body(app.get(&path, &token).await, 403, "forbidden").await;
    // The admin still sees it, and re-enabling restores access.
    assert_eq!(app.get(&path, &app.admin_token()).await.status(), 200);
    app.patch(&path, &app.admin_token(), &json!({ "status": "active" }))
        .await;
    assert_eq!(app.get(&path, &token).await.status(), 200);
}

async fn an_organizer_sees_itself_and_no_other_tenant(app: TestApp) {
    let mine = app.create_organizer("Mine", "acct_1AuthMine").await;
    let theirs = app.create_organizer("Theirs", "acct_1AuthTheirs").await;
    let token = app.organizer_token(mine["id"].as_str().unwrap());

    let own = app
        .get(
            &format!("/v1/organizers/{}", mine["id"].as_str().unwrap()),
            &token,
        )
        .await;
    assert_eq!(own.status(), 200);
    assert_eq!(own.json::<serde_json::Value>().await.unwrap(), mine);

    let other = app
        .get(
            &format!("/v1/organizers/{}", theirs["id"].as_str().unwrap()),
            &token,
        )
        .await;
    let body = error_body(other, 403, "forbidden").await;
    assert!(!body.to_string().contains("Theirs"), "{body}");

    // A token for an organizer that does not exist reaches nothing either.
    let ghost = app.token(Role::Organizer, Some(&uuid::Uuid::now_v7().to_string()));
    error_body(
        app.get(
            &format!("/v1/organizers/{}", mine["id"].as_str().unwrap()),
            &ghost,
        )
        .await,
        403,
        "forbidden",
    )
    .await;
}

/// `/v1` routes all require a token, not just the ones above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_v1_route_requires_a_token() {
    let app = crate::helpers::spawn_app(Backend::Sqlite).await;
    let id = uuid::Uuid::now_v7();
    for (method, path) in [
        (Method::GET, "/v1/organizers".to_string()),
        (Method::POST, "/v1/organizers".to_string()),
        (Method::GET, format!("/v1/organizers/{id}")),
        (Method::PATCH, format!("/v1/organizers/{id}")),
        (Method::GET, "/v1/audit-events".to_string()),
    ] {
        let response = app
            .request(method.clone(), &path, None, Some(&json!({})))
            .await;
        assert_eq!(response.status(), 401, "{method} {path}");
    }
}

// Key configuration does not depend on the database: these run on SQLite only.

/// Starts an app that verifies with the public key file `public` (and keeps its HS256 secret
/// only if `keep_hs256`), checks that `signed` (made with the matching private key) is accepted,
/// and that an HS256 token "signed" with the public key file itself (algorithm confusion) is not.
async fn assert_public_key_verification(public: &str, signed: &str, keep_hs256: bool) -> TestApp {
    let keyed = spawn_app_with(Backend::Sqlite, |settings| {
        if !keep_hs256 {
            settings.auth.jwt_secret = None;
        }
        settings.auth.jwt_public_key_file = Some(fixture(public));
    })
    .await;
    assert_eq!(
        list_with(&keyed, Some(&format!("Bearer {signed}")))
            .await
            .status(),
        200
    );
    let public_pem = std::fs::read(fixture(public)).unwrap();
    let confused = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &admin_claims(),
        &EncodingKey::from_secret(&public_pem),
    )
    .unwrap();
    assert_unauthenticated(&keyed, Some(&format!("Bearer {confused}"))).await;
    keyed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_from_an_eddsa_key_are_accepted_and_hs256_confusion_is_not() {
    let private = std::fs::read(fixture("ed25519_private.pem")).unwrap();
    let eddsa = jsonwebtoken::encode(
        &Header::new(Algorithm::EdDSA),
        &admin_claims(),
        &EncodingKey::from_ed_pem(&private).unwrap(),
    )
    .unwrap();
    assert_public_key_verification("ed25519_public.pem", &eddsa, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_from_an_rsa_key_are_accepted_next_to_the_hs256_secret() {
    let private = std::fs::read(fixture("rsa_private.pem")).unwrap();
    let rs256 = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &admin_claims(),
        &EncodingKey::from_rsa_pem(&private).unwrap(),
    )
    .unwrap();
    let keyed = assert_public_key_verification("rsa_public.pem", &rs256, true).await;
    assert_eq!(
        list_with(&keyed, Some(&format!("Bearer {}", keyed.admin_token())))
            .await
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_and_audience_are_checked_when_configured() {
    let strict = spawn_app_with(Backend::Sqlite, |settings| {
        settings.auth.jwt_issuer = Some("https://auth.example".into());
        settings.auth.jwt_audience = Some("billing-gateway".into());
    })
    .await;
    let exp = unix_now() + 600;
    let good = strict.sign(&json!({
        "sub": "s",
        "role": "admin",
        "exp": exp,
        "iss": "https://auth.example",
        "aud": "billing-gateway",
    }));
    assert_eq!(
        list_with(&strict, Some(&format!("Bearer {good}")))
            .await
            .status(),
        200
    );
    for claims in [
        json!({
            "sub": "s",
            "role": "admin",
            "exp": exp,
            "iss": "https://evil.example",
            "aud": "billing-gateway",
        }),
        json!({
            "sub": "s",
            "role": "admin",
            "exp": exp,
            "iss": "https://auth.example",
            "aud": "another-service",
        }),
        json!({ "sub": "s", "role": "admin", "exp": exp, "aud": "billing-gateway" }),
        json!({ "sub": "s", "role": "admin", "exp": exp, "iss": "https://auth.example" }),
    ] {
        let token = strict.sign(&claims);
        assert_unauthenticated(&strict, Some(&format!("Bearer {token}"))).await;
    }
}
