//! Customers stay equal to Stripe when requests interleave: concurrent profile edits, an edit
//! that loses the race for an email, a deletion racing a recreation, erasures racing a create,
//! and Stripe refusing to act for an organizer's account.

use serde_json::{json, Value};

use crate::customers::{customer_path, customers_path, find_by_email, stripe_path, upsert};
use crate::erasures::erase;
use crate::helpers::{backend_tests, error_body, overtake, TestApp};
use crate::support::fake_stripe::{Fault, Hold};

/// The customer as the fake Stripe holds it.
fn in_stripe(app: &TestApp, account: &str, customer: &Value) -> Value {
    app.stripe
        .customers(Some(account))
        .into_iter()
        .find(|c| c["id"] == customer["stripe_customer_id"])
        .expect("the Stripe customer is live")
}

backend_tests!(
    concurrent_edits_leave_the_row_equal_to_stripe,
    an_edit_that_loses_the_email_race_is_undone_in_stripe_and_can_be_retried,
    a_deletion_racing_a_recreation_leaves_nothing_in_stripe,
    an_erasure_during_a_create_in_flight_is_resumed_instead_of_orphaning_it,
    a_resumed_erasure_follows_a_customer_whose_email_changed,
    a_revoked_account_is_reported_as_inaccessible_and_stores_nothing,
    a_404_that_is_not_stripes_missing_object_is_not_taken_for_a_deletion,
);

async fn concurrent_edits_leave_the_row_equal_to_stripe(app: TestApp) {
    let org = app.create_organizer("Edits", "acct_1Edits").await;
    let (_, customer) = upsert(
        &app,
        &org,
        json!({ "email": "first@example.com", "name": "Ana" }),
    )
    .await;
    let path = customer_path(&org, &customer);
    let token = app.admin_token();
    // The email change is applied in Stripe but its answer is held; the name change passes it
    // (in Stripe and in the row) before the email change's answer is let through.
    let gate = app.stripe.hold_next_answer("POST", "/v1/customers/");
    let edit = json!({ "email": "second@example.com" });
    let email_change = app.patch(&path, &token, &edit);
    let rename = json!({ "name": "Ana Lima" });
    let name_change = app.patch(&path, &token, &rename);
    let (by_email, by_name) = overtake(gate, email_change, name_change).await;
    let updates = app
        .stripe
        .requests_to("POST", stripe_path(&customer).as_str());
    assert_eq!(updates.len(), 2, "{updates:?}");
    assert_eq!(updates[0].held, Some(Hold::Answer));
    assert!(
        updates[0].params.iter().any(|(k, _)| k == "email"),
        "{updates:?}"
    );
    assert!(
        updates[1].params.iter().any(|(k, _)| k == "name"),
        "{updates:?}"
    );
    assert_eq!(
        (by_email.status().as_u16(), by_name.status().as_u16()),
        (200, 200)
    );

    let stripe = in_stripe(&app, "acct_1Edits", &customer);
    assert_eq!(
        (stripe["email"].as_str(), stripe["name"].as_str()),
        (Some("second@example.com"), Some("Ana Lima"))
    );
    let row: Value = app.get(&path, &token).await.json().await.unwrap();
    assert_eq!(row["email"], "second@example.com", "{row}");
    assert_eq!(row["name"], "Ana Lima", "{row}");
    assert_eq!(
        find_by_email(&app, &org, "second@example.com").await,
        vec![row]
    );
    assert!(find_by_email(&app, &org, "first@example.com")
        .await
        .is_empty());
}

async fn an_edit_that_loses_the_email_race_is_undone_in_stripe_and_can_be_retried(app: TestApp) {
    let org = app.create_organizer("Race", "acct_1EmailRace").await;
    let (_, customer) = upsert(
        &app,
        &org,
        json!({ "email": "mine@example.com", "name": "Mia" }),
    )
    .await;
    let path = customer_path(&org, &customer);
    let token = app.admin_token();
    // While the change of email and name is in Stripe (applied, its answer held), another
    // customer takes the address.
    let gate = app.stripe.hold_next_answer("POST", "/v1/customers/");
    let edit = json!({ "email": "wanted@example.com", "name": "Mia Moved" });
    let change = app.patch(&path, &token, &edit);
    let rival = upsert(&app, &org, json!({ "email": "wanted@example.com" }));
    let (change, (rival_status, rival)) = overtake(gate, change, rival).await;
    assert_eq!(rival_status, 201, "{rival}");
    let body = error_body(change, 409, "customer_exists").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(rival["id"].as_str().unwrap()),
        "{body}"
    );
    // Stripe is put back as the row is: every field the edit sent.
    let stripe = in_stripe(&app, "acct_1EmailRace", &customer);
    assert_eq!(
        (stripe["email"].as_str(), stripe["name"].as_str()),
        (Some("mine@example.com"), Some("Mia"))
    );
    let row: Value = app.get(&path, &token).await.json().await.unwrap();
    assert_eq!(
        (row["email"].as_str(), row["name"].as_str()),
        (Some("mine@example.com"), Some("Mia"))
    );

    // Once the address is free, the same edit goes through: it is applied in Stripe, not
    // answered from the first attempt's saved result.
    assert_eq!(
        app.delete(&customer_path(&org, &rival), &token)
            .await
            .status(),
        204
    );
    let retried = app
        .patch(
            &path,
            &token,
            &json!({ "email": "wanted@example.com", "name": "Mia Moved" }),
        )
        .await;
    assert_eq!(retried.status(), 200);
    let stripe = in_stripe(&app, "acct_1EmailRace", &customer);
    assert_eq!(
        (stripe["email"].as_str(), stripe["name"].as_str()),
        (Some("wanted@example.com"), Some("Mia Moved"))
    );
    let row: Value = app.get(&path, &token).await.json().await.unwrap();
    assert_eq!(
        (row["email"].as_str(), row["name"].as_str()),
        (Some("wanted@example.com"), Some("Mia Moved"))
    );
}

async fn a_deletion_racing_a_recreation_leaves_nothing_in_stripe(app: TestApp) {
    let org = app.create_organizer("Gone", "acct_1DeleteRace").await;
    let (_, customer) = upsert(&app, &org, json!({ "email": "racer@example.com" })).await;
    let stripe_id = customer["stripe_customer_id"].as_str().unwrap().to_string();
    // The delete is applied in Stripe but its answer is held; meanwhile an upsert with new
    // details finds the Stripe customer gone and creates a new one for the same row.
    let gate = app
        .stripe
        .hold_next_answer("DELETE", &format!("/v1/customers/{stripe_id}"));
    let (path, token) = (customer_path(&org, &customer), app.admin_token());
    let delete = app.delete(&path, &token);
    let recreate = upsert(
        &app,
        &org,
        json!({ "email": "racer@example.com", "name": "Again" }),
    );
    let (deleted, (status, recreated)) = overtake(gate, delete, recreate).await;
    assert_eq!(status, 200, "{recreated}");
    assert_ne!(
        recreated["stripe_customer_id"],
        customer["stripe_customer_id"]
    );
    assert_eq!(deleted.status(), 204);
    // The deletion followed the row to its new Stripe customer: no zombie is left.
    assert_eq!(app.stripe.created_customers(Some("acct_1DeleteRace")), 2);
    assert!(app.stripe.customers(Some("acct_1DeleteRace")).is_empty());
    assert!(find_by_email(&app, &org, "racer@example.com")
        .await
        .is_empty());
}

async fn an_erasure_during_a_create_in_flight_is_resumed_instead_of_orphaning_it(app: TestApp) {
    let org = app.create_organizer("Busy", "acct_1EraseBusy").await;
    // The create has reserved the row and is held on its way into Stripe while the erasure runs.
    let gate = app.stripe.hold_next("POST", "/v1/customers");
    let create = upsert(&app, &org, json!({ "email": "busy@example.com" }));
    let erasure = erase(&app, "busy@example.com");
    let ((status, created), (headers, receipt)) = overtake(gate, create, erasure).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(receipt["status"], "partial", "{receipt}");
    assert_eq!(headers["retry-after"], "5");
    assert_eq!(receipt["accounts"][0]["outcome"], "failed");
    assert_eq!(
        receipt["accounts"][0]["error_code"],
        "customer_being_created"
    );

    let (_, resumed) = erase(&app, "busy@example.com").await;
    assert_eq!(resumed["id"], receipt["id"]);
    assert_eq!(resumed["status"], "completed", "{resumed}");
    assert!(app.stripe.customers(Some("acct_1EraseBusy")).is_empty());
    assert!(find_by_email(&app, &org, "busy@example.com")
        .await
        .is_empty());
}

async fn a_resumed_erasure_follows_a_customer_whose_email_changed(app: TestApp) {
    let org = app.create_organizer("Moved", "acct_1EraseMoved").await;
    let (_, customer) = upsert(&app, &org, json!({ "email": "old@example.com" })).await;
    let delete_path = stripe_path(&customer);
    app.stripe
        .fail_next_to("DELETE", &delete_path, 3, Fault::Status(503));
    let (_, receipt) = erase(&app, "old@example.com").await;
    assert_eq!(receipt["status"], "partial", "{receipt}");
    // The organizer changes the address before the erasure is retried.
    let moved = app
        .patch(
            &customer_path(&org, &customer),
            &app.admin_token(),
            &json!({ "email": "new@example.com" }),
        )
        .await;
    assert_eq!(moved.status(), 200);

    let (headers, resumed) = erase(&app, "old@example.com").await;
    assert_eq!(resumed["id"], receipt["id"]);
    assert_eq!(resumed["status"], "completed", "{resumed}");
    assert!(headers.get("retry-after").is_none());
    assert!(app.stripe.customers(Some("acct_1EraseMoved")).is_empty());
    assert!(find_by_email(&app, &org, "new@example.com")
        .await
        .is_empty());
}

async fn a_revoked_account_is_reported_as_inaccessible_and_stores_nothing(app: TestApp) {
    let org = app.create_organizer("Revoked", "acct_1Revoked").await;
    let (_, customer) = upsert(&app, &org, json!({ "email": "kept@example.com" })).await;
    app.stripe.revoke_account("acct_1Revoked");

    let response = app
        .post(
            &customers_path(&org),
            &app.admin_token(),
            &json!({ "email": "new@example.com" }),
        )
        .await;
    let body = error_body(response, 422, "stripe_account_inaccessible").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("acct_1Revoked"),
        "{body}"
    );
    assert!(find_by_email(&app, &org, "new@example.com")
        .await
        .is_empty());
    let path = customer_path(&org, &customer);
    error_body(
        app.patch(&path, &app.admin_token(), &json!({ "name": "Kept" }))
            .await,
        422,
        "stripe_account_inaccessible",
    )
    .await;
    error_body(
        app.delete(&path, &app.admin_token()).await,
        422,
        "stripe_account_inaccessible",
    )
    .await;
    let row: Value = app.get_json(&path, &app.admin_token()).await;
    assert_eq!(row, customer, "the row is untouched");

    // Once access is back, the same upsert creates the customer: nothing left blocks it.
    app.stripe.restore_account("acct_1Revoked");
    let (status, created) = upsert(&app, &org, json!({ "email": "new@example.com" })).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(app.stripe.customers(Some("acct_1Revoked")).len(), 2);
}

async fn a_404_that_is_not_stripes_missing_object_is_not_taken_for_a_deletion(app: TestApp) {
    let org = app.create_organizer("Proxy", "acct_1Proxy").await;
    let (_, customer) = upsert(&app, &org, json!({ "email": "here@example.com" })).await;
    let stripe_id = customer["stripe_customer_id"].as_str().unwrap();
    // A 404 without Stripe's `resource_missing`, as a wrong base URL or a proxy gives.
    app.stripe.fail_next_to(
        "DELETE",
        &format!("/v1/customers/{stripe_id}"),
        1,
        Fault::Status(404),
    );
    error_body(
        app.delete(&customer_path(&org, &customer), &app.admin_token())
            .await,
        502,
        "stripe_error",
    )
    .await;
    assert_eq!(app.stripe.customers(Some("acct_1Proxy")).len(), 1);
    assert_eq!(
        find_by_email(&app, &org, "here@example.com").await,
        vec![customer]
    );
}
