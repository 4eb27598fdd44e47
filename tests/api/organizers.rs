//! Organizers once registered: listing, reading, changing, and the validation of their
//! fields and ids.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::helpers::{backend_tests, error_body, TestApp};

fn field_names(body: &Value) -> Vec<String> {
    body["error"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_string())
        .collect()
}

backend_tests!(
    invalid_fields_are_all_reported_at_once,
    wrong_types_missing_and_unknown_fields_name_the_field,
    organizers_page_with_an_opaque_cursor,
    bad_page_parameters_are_rejected,
    unknown_and_malformed_organizer_ids_are_404,
    patch_changes_only_what_it_names,
    an_empty_patch_changes_nothing,
    patch_rejects_bad_fields_and_applies_nothing,
    ids_are_unique_across_many_organizers,
    fees_written_as_whole_floats_are_whole_numbers,
);

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

    let all: Value = app.get_json("/v1/organizers", &token).await;
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
    let audit: Value = app.get_json("/v1/audit-events", &app.admin_token()).await;
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

/// JSON Schema's `integer` takes `250.0` (a number whose fraction is zero), so a client that
/// validates against the document, or encodes integers from floating point, may send it.
async fn fees_written_as_whole_floats_are_whole_numbers(app: TestApp) {
    let token = app.admin_token();
    app.stripe.add_connected_account("acct_1Floats");
    let response = app
        .post(
            "/v1/organizers",
            &token,
            &json!({ "name": "Floats", "stripe_account_id": "acct_1Floats", "application_fee_bps": 250.0 }),
        )
        .await;
    assert_eq!(response.status(), 201);
    let organizer: Value = response.json().await.unwrap();
    assert_eq!(organizer["application_fee_bps"], 250);
    let path = format!("/v1/organizers/{}", organizer["id"].as_str().unwrap());
    let patched: Value = app
        .patch(&path, &token, &json!({ "application_fee_bps": 1.25e2 }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(patched["application_fee_bps"], 125);
    for fee in [json!(12.5), json!(1e300), json!("125")] {
        let body = error_body(
            app.patch(&path, &token, &json!({ "application_fee_bps": fee }))
                .await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(field_names(&body), ["application_fee_bps"], "{fee}");
    }
}
