use serde_json::{json, Value};

use crate::helpers::{backend_tests, error_body, TestApp};

backend_tests!(
    changes_are_audited_with_actor_and_request_id,
    a_refused_registration_leaves_no_audit_row,
    the_audit_log_pages_and_filters,
);

async fn changes_are_audited_with_actor_and_request_id(app: TestApp) {
    app.stripe.add_connected_account("acct_1Audited");
    let created = app
        .post(
            "/v1/organizers",
            &app.admin_token(),
            &json!({ "name": "Audited", "stripe_account_id": "acct_1Audited" }),
        )
        .await;
    let create_request = created.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let organizer: Value = created.json().await.unwrap();
    let id = organizer["id"].as_str().unwrap();
    let patched = app
        .patch(
            &format!("/v1/organizers/{id}"),
            &app.admin_token(),
            &json!({ "application_fee_bps": 99 }),
        )
        .await;
    let patch_request = patched.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();

    let log: Value = app
        .get(
            &format!("/v1/audit-events?organizer_id={id}"),
            &app.admin_token(),
        )
        .await
        .json()
        .await
        .unwrap();
    let events = log["data"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    // Newest first.
    assert_eq!(events[0]["action"], "organizer.updated");
    assert_eq!(events[0]["request_id"], patch_request.as_str());
    assert_eq!(events[0]["details"], json!({ "application_fee_bps": 99 }));
    assert_eq!(events[1]["action"], "organizer.created");
    assert_eq!(events[1]["request_id"], create_request.as_str());
    assert_eq!(events[1]["details"]["stripe_account_id"], "acct_1Audited");
    for event in events {
        assert_eq!(event["actor"], "test-user");
        assert_eq!(event["actor_role"], "admin");
        assert_eq!(event["organizer_id"], id);
    }
}

async fn a_refused_registration_leaves_no_audit_row(app: TestApp) {
    app.stripe.add_connected_account("acct_1NotAudited");
    let body = json!({ "name": "Once", "stripe_account_id": "acct_1NotAudited" });
    assert_eq!(
        app.post("/v1/organizers", &app.admin_token(), &body)
            .await
            .status(),
        201
    );
    assert_eq!(
        app.post("/v1/organizers", &app.admin_token(), &body)
            .await
            .status(),
        409
    );
    let log: Value = app
        .get("/v1/audit-events", &app.admin_token())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log["data"].as_array().unwrap().len(), 1);
}

async fn the_audit_log_pages_and_filters(app: TestApp) {
    let first = app.create_organizer("One", "acct_1AuditOne").await;
    app.create_organizer("Two", "acct_1AuditTwo").await;
    app.create_organizer("Three", "acct_1AuditThree").await;
    let token = app.admin_token();
    let page: Value = app
        .get("/v1/audit-events?limit=2", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let rest: Value = app
        .get(&format!("/v1/audit-events?limit=2&cursor={cursor}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest["data"][0]["organizer_id"], first["id"]);
    assert_eq!(rest["next_cursor"], Value::Null);

    error_body(
        app.get("/v1/audit-events?organizer_id=zzz", &token).await,
        404,
        "organizer_not_found",
    )
    .await;
}
