//! The audit log: who changed what, through which request, with what outcome.

use serde_json::{json, Value};

use crate::customers::customer_path;
use crate::erasures::{audit_log, subject_hash};
use crate::helpers::{backend_tests, error_body, TestApp};
use crate::support::fake_stripe::Fault;

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
        .get_json(
            &format!("/v1/audit-events?organizer_id={id}"),
            &app.admin_token(),
        )
        .await;
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
    let log: Value = app.get_json("/v1/audit-events", &app.admin_token()).await;
    assert_eq!(log["data"].as_array().unwrap().len(), 1);
}

async fn the_audit_log_pages_and_filters(app: TestApp) {
    let first = app.create_organizer("One", "acct_1AuditOne").await;
    app.create_organizer("Two", "acct_1AuditTwo").await;
    app.create_organizer("Three", "acct_1AuditThree").await;
    let token = app.admin_token();
    let page: Value = app.get_json("/v1/audit-events?limit=2", &token).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let rest: Value = app
        .get_json(&format!("/v1/audit-events?limit=2&cursor={cursor}"), &token)
        .await;
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

backend_tests!(every_customer_change_is_audited_with_who_what_and_outcome,);

async fn every_customer_change_is_audited_with_who_what_and_outcome(app: TestApp) {
    let org = app.create_organizer("Aud", "acct_1AuditCust").await;
    let org_id = org["id"].as_str().unwrap();
    let organizer_token = app.organizer_token(org_id);
    let created = app
        .post(
            &crate::customers::customers_path(&org),
            &organizer_token,
            &json!({ "email": "Aud@Example.com", "name": "Audrey" }),
        )
        .await;
    let create_request = created.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let customer: Value = created.json().await.unwrap();
    let path = customer_path(&org, &customer);
    assert_eq!(
        app.patch(
            &path,
            &app.admin_token(),
            &json!({ "phone": "+1 555 0111" })
        )
        .await
        .status(),
        200
    );
    app.stripe
        .fail_next_to("POST", "/v1/customers/", 3, Fault::Status(500));
    assert_eq!(
        app.patch(&path, &app.admin_token(), &json!({ "name": "Fails" }))
            .await
            .status(),
        503
    );
    assert_eq!(
        app.patch(
            &path,
            &app.admin_token(),
            &json!({ "email": "aud2@example.com" })
        )
        .await
        .status(),
        200
    );
    assert_eq!(app.delete(&path, &app.admin_token()).await.status(), 204);

    let events = audit_log(&app, &format!("org_id={org_id}&limit=100")).await;
    let actions: Vec<(&str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("customer.deleted", "succeeded"),
            ("customer.updated", "succeeded"),
            ("customer.updated", "failed"),
            ("customer.updated", "succeeded"),
            ("customer.created", "succeeded"),
            ("organizer.created", "succeeded"),
        ]
    );
    let creation = &events[4];
    assert_eq!(creation["actor_role"], "organizer");
    assert_eq!(creation["actor"], "test-user");
    assert_eq!(creation["organizer_id"], org_id);
    assert_eq!(creation["request_id"], create_request.as_str());
    assert_eq!(
        creation["target_ids"],
        json!({
            "customer_id": customer["id"],
            "stripe_customer_id": customer["stripe_customer_id"],
        })
    );
    assert_eq!(creation["subject_hash"], subject_hash("aud@example.com"));
    assert_eq!(events[3]["details"], json!({ "fields": ["phone"] }));
    assert_eq!(
        events[2]["details"],
        json!({ "fields": ["name"], "error": "stripe_unavailable" })
    );
    assert_eq!(events[1]["subject_hash"], subject_hash("aud2@example.com"));
    assert_eq!(
        events[1]["details"]["previous_subject_hash"],
        subject_hash("aud@example.com")
    );
    assert_eq!(events[0]["actor_role"], "admin");
    assert_eq!(events[0]["details"], json!({ "stripe": "deleted" }));

    // Filters: by action, by organizer, by person; and the former path still answers.
    assert_eq!(audit_log(&app, "action=customer.deleted").await.len(), 1);
    assert_eq!(
        audit_log(&app, &format!("action=customer.updated&org_id={org_id}"))
            .await
            .len(),
        3
    );
    assert_eq!(
        audit_log(&app, "email=AUD@example.com").await.len(),
        3,
        "the email change and the delete are under the new address"
    );
    let legacy: Value = app
        .get_json(
            &format!("/v1/audit-events?organizer_id={org_id}&limit=100"),
            &app.admin_token(),
        )
        .await;
    assert_eq!(legacy["data"].as_array().unwrap().len(), events.len());
    error_body(
        app.get(
            "/v1/admin/audit-log?action=DROP%20TABLE",
            &app.admin_token(),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    error_body(
        app.get("/v1/admin/audit-log?email=nope", &app.admin_token())
            .await,
        422,
        "validation_failed",
    )
    .await;
    error_body(
        app.get("/v1/admin/audit-log?org_id=zzz", &app.admin_token())
            .await,
        404,
        "organizer_not_found",
    )
    .await;
    error_body(
        app.get("/v1/admin/audit-log?organizer_id=x", &app.admin_token())
            .await,
        400,
        "invalid_query",
    )
    .await;
}
