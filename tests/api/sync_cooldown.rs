//! The sweep leaves out an account whose last full reconciliation succeeded within
//! `SYNC_COOLDOWN_SECS`, and still reconciles the others.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, Backend, TestApp};
use crate::support::fake_stripe::billing::product_json;
use crate::sync::run_once;

crate::helpers::backend_tests!(a_sweep_leaves_out_an_account_reconciled_within_the_cooldown);

/// The organizer's runs started by a sweep and recorded after `after` (RFC 3339).
async fn swept_after(app: &TestApp, org: &Value, after: &str) -> Vec<Value> {
    let path = format!("/v1/organizers/{}/sync-runs", org["id"].as_str().unwrap());
    let list = app.get_json(&path, &app.admin_token()).await;
    let after = chrono::DateTime::parse_from_rfc3339(after).unwrap();
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|run| run["trigger"] == "schedule")
        .filter(|run| {
            chrono::DateTime::parse_from_rfc3339(run["created_at"].as_str().unwrap()).unwrap()
                > after
        })
        .cloned()
        .collect()
}

async fn a_sweep_leaves_out_an_account_reconciled_within_the_cooldown(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.sync.reconcile_interval_secs = 1;
        s.sync.sync_cooldown_secs = 3_600;
    })
    .await;
    let (cooled, other) = ("acct_1SyncCooled0001", "acct_1SyncSwept00001");
    for account in [cooled, other] {
        app.stripe
            .put_object(Some(account), product_json("prod_1", "One", true));
    }
    let cooled_org = app.create_organizer("Cooled", cooled).await;
    let other_org = app.create_organizer("Swept", other).await;
    // A full reconciliation on demand (every kind).
    let manual = run_once(&app, &cooled_org, json!({})).await;
    assert_eq!(manual["status"], "succeeded", "{manual}");
    let since = manual["finished_at"].as_str().unwrap().to_string();

    // A sweep recorded after it reconciles the other account...
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let swept = swept_after(&app, &other_org, &since).await;
        if swept.iter().any(|run| run["status"] == "succeeded") {
            break;
        }
        assert!(Instant::now() < deadline, "no sweep reconciled {other}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // ...and left this one out: every sweep records all of its runs before any starts.
    assert_eq!(
        swept_after(&app, &cooled_org, &since).await,
        Vec::<Value>::new()
    );
}
