//! Changing and deleting customers: Stripe first, then the row.

use serde_json::{json, Value};

use crate::customers::{customer_path, find_by_email, upsert};
use crate::helpers::{backend_tests, error_body, TestApp};
use crate::support::fake_stripe::Fault;

backend_tests!(
    an_upsert_with_new_details_updates_stripe_then_the_row,
    a_patch_writes_stripe_first_and_can_clear_fields,
    changing_the_email_moves_the_key,
    deleting_removes_the_customer_in_stripe_then_locally,
);

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
    let fetched: Value = app.get_json(&path, &app.admin_token()).await;
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
    let fetched: Value = app.get_json(&path, &app.admin_token()).await;
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
