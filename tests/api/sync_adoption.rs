//! A backfill adopts the customers created in Stripe a listing page at a time: each is
//! mirrored once and audited, and a second Stripe customer with a taken email (held by a
//! gateway customer, or by another customer listed with it) is recorded, not adopted.

use serde_json::{json, Value};

use crate::customers::{find_by_email, upsert};
use crate::helpers::{backend_tests, TestApp};
use crate::sync::{drift, run_once};

backend_tests!(a_backfill_adopts_stripe_customers_a_page_at_a_time);

const ACCOUNT: &str = "acct_1SyncAdopt000001";

async fn stripe_id_of(app: &TestApp, org: &Value, email: &str) -> Value {
    let found = find_by_email(app, org, email).await;
    assert_eq!(found.len(), 1, "{email}: {found:?}");
    found[0]["stripe_customer_id"].clone()
}

async fn audited(app: &TestApp, action: &str) -> i64 {
    app.count_rows(&format!("audit_events WHERE action = '{action}'"))
        .await
}

async fn a_backfill_adopts_stripe_customers_a_page_at_a_time(app: TestApp) {
    let org = app.create_organizer("Adopt", ACCOUNT).await;
    let (_, ours) = upsert(&app, &org, json!({ "email": "held@example.com" })).await;
    // More than one listing page (100) of customers made in the Dashboard.
    let walk_ins: Vec<String> = (0..150)
        .map(|n| {
            app.stripe
                .add_customer(Some(ACCOUNT), &format!("walk-in{n}@example.com"), "Walk In")
        })
        .collect();
    let held_twice = app
        .stripe
        .add_customer(Some(ACCOUNT), "Held@Example.com", "Second");
    let twins = [
        app.stripe
            .add_customer(Some(ACCOUNT), "twin@example.com", "Twin A"),
        app.stripe
            .add_customer(Some(ACCOUNT), "twin@example.com", "Twin B"),
    ];

    let run = run_once(&app, &org, json!({ "kinds": ["customers"] })).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let d = drift(&run, "customers");
    assert_eq!(
        (d["checked"].as_u64(), d["missing"].as_u64()),
        (Some(154), Some(153)),
        "{run}"
    );

    // The walk-ins and one twin are adopted, beside the gateway's own customer.
    let active = format!("customers WHERE stripe_account_id = '{ACCOUNT}' AND status = 'active'");
    assert_eq!(app.count_rows(&active).await, 152);
    for (n, id) in walk_ins.iter().enumerate().step_by(37) {
        let email = format!("walk-in{n}@example.com");
        assert_eq!(stripe_id_of(&app, &org, &email).await, id.as_str());
    }
    assert_eq!(
        stripe_id_of(&app, &org, "held@example.com").await,
        ours["stripe_customer_id"]
    );
    let twin = stripe_id_of(&app, &org, "twin@example.com").await;
    assert!(twins.iter().any(|id| twin == id.as_str()), "{twin}");
    assert_eq!(audited(&app, "customer.mirrored").await, 151);

    // The two customers left out are named in the audit log beside the one holding the email.
    let duplicates = app
        .get_json(
            "/v1/admin/audit-log?action=customer.stripe_duplicate",
            &app.admin_token(),
        )
        .await;
    let mut named: Vec<(Value, Value)> = duplicates["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let targets = &row["target_ids"];
            (
                targets["stripe_customer_id"].clone(),
                targets["duplicate_stripe_customer_id"].clone(),
            )
        })
        .collect();
    named.sort_by_key(|(held, _)| held.to_string());
    let other_twin = twins.iter().find(|id| twin != id.as_str()).unwrap();
    let mut expected = vec![
        (ours["stripe_customer_id"].clone(), json!(held_twice)),
        (twin.clone(), json!(other_twin)),
    ];
    expected.sort_by_key(|(held, _)| held.to_string());
    assert_eq!(named, expected, "{duplicates}");

    // A second run finds nothing new to adopt.
    let again = run_once(&app, &org, json!({ "kinds": ["customers"] })).await;
    assert_eq!(again["status"], "succeeded", "{again}");
    assert_eq!(app.count_rows(&active).await, 152);
    assert_eq!(audited(&app, "customer.mirrored").await, 151);
}
