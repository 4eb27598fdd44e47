//! Reconciliation by Stripe's listing rules, and what it stores read back loudly: prices are
//! listed active and inactive (Stripe lists only the active ones by default), and a stored run
//! or entitlement that no longer reads is an error, never an empty answer.

use serde_json::{json, Value};

use crate::helpers::{backend_tests, error_body, TestApp};
use crate::support::fake_stripe::billing::{price_json, product_json};
use crate::sync::{drift, run_once};

backend_tests!(
    prices_deactivated_while_webhooks_were_down_are_found_by_the_listing,
    a_stored_run_that_does_not_read_is_an_error_not_an_empty_run,
    stored_entitlements_that_do_not_read_fail_the_run,
);

async fn prices_deactivated_while_webhooks_were_down_are_found_by_the_listing(app: TestApp) {
    let account = "acct_1SyncInactive001";
    let org = app.create_organizer("Catalog", account).await;
    app.stripe
        .put_object(Some(account), product_json("prod_a", "A", true));
    app.stripe
        .put_object(Some(account), price_json("price_live", "prod_a", 500, None));
    let mut retired = price_json("price_retired", "prod_a", 700, None);
    retired["active"] = json!(false);
    app.stripe.put_object(Some(account), retired);
    let run = run_once(&app, &org, json!({ "kinds": ["prices"] })).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(drift(&run, "prices")["missing"], 2, "{run}");
    assert_eq!(
        app.count_rows(&format!(
            "prices WHERE stripe_account_id = '{account}' AND id = 'price_retired' AND NOT active"
        ))
        .await,
        1
    );
    // Found by listing, not by fetching each price the listing lacked.
    let listings: Vec<_> = app.stripe.requests_to("GET", "/v1/prices");
    let actives: Vec<&str> = listings
        .iter()
        .filter_map(|r| r.params.iter().find(|(k, _)| k == "active"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(actives, ["true", "false"]);
    let fetched = app
        .stripe
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/v1/prices/"))
        .count();
    assert_eq!(fetched, 0);
    // A second run finds nothing to repair, and still fetches nothing one by one.
    let again = run_once(&app, &org, json!({ "kinds": ["prices"] })).await;
    let d = drift(&again, "prices");
    assert_eq!(
        (d["checked"].as_u64(), d["missing"].as_u64()),
        (Some(2), Some(0)),
        "{again}"
    );
    assert_eq!(d["deleted_in_stripe"], 0, "{again}");
}

fn run_path(org: &Value, run: &Value) -> String {
    format!(
        "/v1/organizers/{}/sync-runs/{}",
        org["id"].as_str().unwrap(),
        run["id"].as_str().unwrap()
    )
}

async fn a_stored_run_that_does_not_read_is_an_error_not_an_empty_run(app: TestApp) {
    let org = app.create_organizer("Runs", "acct_1SyncCorrupt0001").await;
    let run = run_once(&app, &org, json!({ "kinds": ["products"] })).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let path = run_path(&org, &run);
    let id = run["id"].as_str().unwrap();
    let read = app.get_json(&path, &app.admin_token()).await;
    assert_eq!(read["kinds"], json!(["products"]), "{read}");
    // Each stored value that does not read is an error, never an empty run.
    for set in [
        "kinds = 'not json'",
        "kinds = '[\"products\"]', report = '[1]'",
        "kinds = '[\"no_such_kind\"]', report = NULL",
    ] {
        let corrupt = format!("UPDATE sync_runs SET {set} WHERE id = '{id}'");
        app.execute_sql(&corrupt, &corrupt).await;
        let response = app.get(&path, &app.admin_token()).await;
        error_body(response, 500, "internal_error").await;
    }
    // Put back as stored, it reads again: the 500s were the data's.
    let restored = format!("UPDATE sync_runs SET kinds = '[\"products\"]' WHERE id = '{id}'");
    app.execute_sql(&restored, &restored).await;
    assert_eq!(app.get(&path, &app.admin_token()).await.status(), 200);
}

async fn stored_entitlements_that_do_not_read_fail_the_run(app: TestApp) {
    let account = "acct_1SyncCorrupt0002";
    let org = app.create_organizer("Access", account).await;
    let insert = format!(
        "INSERT INTO entitlements (stripe_account_id, stripe_customer_id, features, fetched_at) \
         VALUES ('{account}', 'cus_1', 'not json', '2026-01-01 00:00:00')"
    );
    app.execute_sql(&insert, &insert).await;
    let run = run_once(&app, &org, json!({ "kinds": ["entitlements"] })).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"].as_str().unwrap().contains("do not read"),
        "{run}"
    );
    // Nothing was "repaired" from a misread: the row is as it was.
    assert_eq!(
        app.count_rows("entitlements WHERE features = 'not json'")
            .await,
        1
    );
}
