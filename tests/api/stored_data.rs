//! Stored data that no longer parses fails loudly, never as defaults that would reach Stripe,
//! and only where it is: one unreadable customer does not stop an erasure in other accounts.

use serde_json::json;

use crate::customers::{customer_path, customers_path, upsert};
use crate::erasures::erase;
use crate::helpers::{backend_tests, error_body, TestApp};

backend_tests!(
    corrupt_stored_metadata_fails_loudly_and_sends_nothing_to_stripe,
    an_unreadable_customer_fails_its_own_account_of_an_erasure_and_no_other,
    portal_sessions_audited_with_null_details_read_back_after_the_migration,
);

async fn corrupt_stored_metadata_fails_loudly_and_sends_nothing_to_stripe(app: TestApp) {
    let org = app.create_organizer("Rot", "acct_1Rot").await;
    let (_, customer) = upsert(
        &app,
        &org,
        json!({ "email": "rot@example.com", "metadata": { "crm_id": "c-1" } }),
    )
    .await;
    app.execute_sql(
        "UPDATE customers SET metadata = 'not json'",
        "UPDATE customers SET metadata = 'not json'",
    )
    .await;
    let writes_before = stripe_writes(&app);

    let token = app.admin_token();
    let read = app.get(&customer_path(&org, &customer), &token).await;
    error_body(read, 500, "internal_error").await;
    let change = json!({ "email": "rot@example.com", "metadata": { "crm_id": "" } });
    let write = app.post(&customers_path(&org), &token, &change).await;
    error_body(write, 500, "internal_error").await;
    assert_eq!(stripe_writes(&app), writes_before, "nothing reached Stripe");
    let in_stripe = app.stripe.customers(Some("acct_1Rot"));
    assert_eq!(
        in_stripe[0]["metadata"]["crm_id"], "c-1",
        "Stripe keeps its metadata"
    );
}

fn stripe_writes(app: &TestApp) -> usize {
    app.stripe
        .requests()
        .iter()
        .filter(|r| r.method != "GET")
        .count()
}

async fn an_unreadable_customer_fails_its_own_account_of_an_erasure_and_no_other(app: TestApp) {
    let rotten = app.create_organizer("Rotten", "acct_1Rotten").await;
    let sound = app.create_organizer("Sound", "acct_1Sound").await;
    let person = json!({ "email": "both@example.com" });
    let (_, broken) = upsert(&app, &rotten, person.clone()).await;
    upsert(&app, &sound, person).await;
    app.execute_sql(
        "UPDATE customers SET metadata = '[' WHERE stripe_account_id = 'acct_1Rotten'",
        "UPDATE customers SET metadata = '[' WHERE stripe_account_id = 'acct_1Rotten'",
    )
    .await;

    let (headers, receipt) = erase(&app, "both@example.com").await;
    assert_eq!(receipt["status"], "partial", "{receipt}");
    assert_eq!(headers["retry-after"], "5");
    let accounts = receipt["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 2, "{receipt}");
    for account in accounts {
        if account["stripe_account_id"] == "acct_1Rotten" {
            assert_eq!(account["outcome"], "failed", "{account}");
            assert_eq!(account["error_code"], "internal_error", "{account}");
            assert_eq!(account["customer_id"], broken["id"], "{account}");
        } else {
            assert_eq!(account["outcome"], "erased", "{account}");
        }
    }
    assert!(app.stripe.customers(Some("acct_1Sound")).is_empty());
    assert_eq!(
        app.stripe.customers(Some("acct_1Rotten")).len(),
        1,
        "the unreadable one is left alone"
    );
}

/// Portal sessions were once audited with `null` details, which the audit log cannot read;
/// migration 000007 rewrites them as `{}`.
async fn portal_sessions_audited_with_null_details_read_back_after_the_migration(app: TestApp) {
    let token = app.admin_token();
    let org = app.create_organizer("Audited", "acct_1AuditNull").await;
    app.execute_sql(
        "UPDATE audit_events SET details = 'null'",
        "UPDATE audit_events SET details = 'null'",
    )
    .await;
    let broken = app.get("/v1/admin/audit-log", &token).await;
    assert_eq!(
        broken.status(),
        500,
        "null details do not read as an object"
    );

    let migration = "UPDATE audit_events SET details = '{}' WHERE details = 'null'";
    let up = include_str!("../../migrations/postgres/2026-12-01-000007_audit_details/up.sql");
    assert!(
        up.contains(migration),
        "the migration is the statement run here"
    );
    app.execute_sql(migration, migration).await;
    let log = app.get_json("/v1/admin/audit-log", &token).await;
    assert_eq!(log["data"][0]["organizer_id"], org["id"], "{log}");
    assert_eq!(log["data"][0]["details"], json!({}));
}
