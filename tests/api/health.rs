use crate::helpers::{backend_tests, error_body, spawn_app_with, Backend, TestApp};

backend_tests!(
    healthz_answers,
    readyz_reports_the_database,
    every_response_carries_a_request_id,
    a_well_formed_incoming_request_id_is_kept,
);

async fn healthz_answers(app: TestApp) {
    let response = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

async fn readyz_reports_the_database(app: TestApp) {
    let response = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    let expected = match app.backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(
        body,
        serde_json::json!({"status": "ready", "database": expected})
    );
}

async fn every_response_carries_a_request_id(app: TestApp) {
    let first = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    let second = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    let id = |r: &reqwest::Response| {
        r.headers()
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    };
    assert_ne!(id(&first), id(&second));
    assert!(uuid::Uuid::parse_str(&id(&first)).is_ok());
}

async fn a_well_formed_incoming_request_id_is_kept(app: TestApp) {
    let echoed = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("x-request-id", "upstream-trace.42")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "upstream-trace.42");
    let replaced = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("x-request-id", "has spaces and <html>")
        .send()
        .await
        .unwrap();
    assert_ne!(replaced.headers()["x-request-id"], "has spaces and <html>");
}

backend_tests!(readyz_is_503_while_migrations_are_pending,);

async fn readyz_is_503_while_migrations_are_pending(backend: Backend) {
    let unmigrated =
        spawn_app_with(backend, |settings| settings.database.auto_migrate = false).await;
    let response = unmigrated
        .client
        .get(format!("{}/readyz", unmigrated.address))
        .send()
        .await
        .unwrap();
    let body = error_body(response, 503, "not_ready").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("migrations are pending"),
        "{body}"
    );
}
