//! Reconciliation through HTTP: objects Stripe has and the mirror lacks, differences, deletions
//! no webhook announced, dry runs, resuming a stopped listing, one run per account, the CLI.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::customers::{customers_path, find_by_email, upsert};
use crate::helpers::webhooks::event;
use crate::helpers::{backend_tests, error_body, spawn_app_with, Backend, TestApp, AUDIT_HASH_KEY};
use crate::support::fake_stripe::billing::{
    entitlement_json, price_json, product_json, subscription_json,
};
use crate::support::fake_stripe::{Fault, PLATFORM_ACCOUNT};

backend_tests!(
    objects_created_while_webhooks_were_down_appear_after_one_run,
    a_deletion_no_webhook_announced_is_found_and_marked,
    a_dry_run_reports_the_same_drift_and_writes_nothing,
    a_stopped_listing_resumes_after_its_last_page,
    customers_created_changed_or_deleted_in_stripe_are_reconciled,
    a_request_during_a_run_gets_one_that_starts_after_it,
    a_cursor_whose_object_is_gone_starts_the_listing_over,
    runs_belong_to_their_organizer,
    the_cli_reconciles_and_prints_the_report,
    the_cli_refuses_an_organizer_without_an_account,
    missed_events_are_recovered_through_the_events_api,
    sync_health_says_which_mirrors_need_attention,
    a_new_organizer_is_backfilled_and_every_account_swept,
);

fn sync_path(org: &Value) -> String {
    format!("/v1/organizers/{}/sync", org["id"].as_str().unwrap())
}

fn runs_path(org: &Value) -> String {
    format!("/v1/organizers/{}/sync-runs", org["id"].as_str().unwrap())
}

/// Starts a run and returns its id.
async fn start(app: &TestApp, org: &Value, body: Value) -> String {
    let response = app.post(&sync_path(org), &app.admin_token(), &body).await;
    assert_eq!(response.status(), 202);
    let started: Value = response.json().await.unwrap();
    started["run_id"].as_str().unwrap().to_string()
}

/// Waits until the run has ended and returns it.
async fn finished(app: &TestApp, org: &Value, run_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let run = app
            .get_json(&format!("{}/{run_id}", runs_path(org)), &app.admin_token())
            .await;
        if !["queued", "running"].contains(&run["status"].as_str().unwrap_or("")) {
            return run;
        }
        assert!(Instant::now() < deadline, "run {run_id} never ended: {run}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn run_once(app: &TestApp, org: &Value, body: Value) -> Value {
    let id = start(app, org, body).await;
    finished(app, org, &id).await
}

pub fn drift<'a>(run: &'a Value, kind: &str) -> &'a Value {
    &run["report"]["kinds"][kind]
}

/// How many of the account's products the mirror holds, not deleted.
async fn live_products(app: &TestApp, account: &str) -> i64 {
    app.count_rows(&format!(
        "products WHERE stripe_account_id = '{account}' AND NOT deleted"
    ))
    .await
}

/// Whether the mirror holds the product, not deleted.
async fn has_product(app: &TestApp, account: &str, id: &str) -> bool {
    app.count_rows(&format!(
        "products WHERE stripe_account_id = '{account}' AND id = '{id}' AND NOT deleted"
    ))
    .await
        == 1
}

async fn objects_created_while_webhooks_were_down_appear_after_one_run(app: TestApp) {
    let account = "acct_1SyncMissing0001";
    let org = app.create_organizer("Sync", account).await;
    app.stripe
        .put_object(Some(account), product_json("prod_a", "Pass", true));
    app.stripe
        .put_object(Some(account), price_json("price_a", "prod_a", 4900, None));
    let (_, customer) = upsert(&app, &org, json!({ "email": "ana@example.com" })).await;
    let stripe_customer = customer["stripe_customer_id"].as_str().unwrap();
    app.stripe.put_object(
        Some(account),
        subscription_json("sub_a", stripe_customer, "price_a", "active"),
    );
    app.stripe.set_entitlements(
        Some(account),
        stripe_customer,
        vec![entitlement_json(1, "pro")],
    );
    assert_eq!(live_products(&app, account).await, 0);

    let run = run_once(&app, &org, json!({})).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["trigger"], "api");
    for kind in ["products", "prices", "subscriptions"] {
        assert_eq!(drift(&run, kind)["missing"], 1, "{kind}: {run}");
        assert_eq!(drift(&run, kind)["repaired"], 1, "{kind}: {run}");
        assert_eq!(drift(&run, kind)["complete"], true);
    }
    assert_eq!(
        drift(&run, "products")["examples"]["missing"],
        json!(["prod_a"])
    );
    assert_eq!(drift(&run, "customers")["checked"], 1);
    assert_eq!(drift(&run, "customers")["missing"], 0);
    assert!(
        run["report"]["stripe_calls"].as_u64().unwrap() >= 4,
        "{run}"
    );
    // The catalog read shows it: a product with an active price.
    let catalog = app
        .get_json(
            &format!("/v1/organizers/{}/products", org["id"].as_str().unwrap()),
            &app.admin_token(),
        )
        .await;
    assert_eq!(catalog["data"][0]["id"], "prod_a", "{catalog}");
    let entitlements = app
        .get_json(
            &format!(
                "{}/{}/entitlements",
                customers_path(&org),
                customer["id"].as_str().unwrap()
            ),
            &app.admin_token(),
        )
        .await;
    assert_eq!(entitlements["active"], true, "{entitlements}");
    assert_eq!(entitlements["features"], json!(["pro"]), "{entitlements}");
    assert_eq!(drift(&run, "entitlements")["missing"], 1, "{run}");
    // Every list went with the account's header.
    let lists: Vec<_> = app
        .stripe
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && !r.path.starts_with("/v1/accounts"))
        .collect();
    assert!(
        lists
            .iter()
            .all(|r| r.stripe_account.as_deref() == Some(account)),
        "{lists:?}"
    );

    // Nothing drifts any more: a second run finds it all in place.
    let again = run_once(&app, &org, json!({})).await;
    for kind in [
        "customers",
        "products",
        "prices",
        "subscriptions",
        "entitlements",
    ] {
        let d = drift(&again, kind);
        assert_eq!(
            (
                d["missing"].as_u64(),
                d["different"].as_u64(),
                d["repaired"].as_u64()
            ),
            (Some(0), Some(0), Some(0)),
            "{kind}: {again}"
        );
    }
}

async fn a_deletion_no_webhook_announced_is_found_and_marked(app: TestApp) {
    let account = "acct_1SyncDeleted0001";
    let org = app.create_organizer("Sync", account).await;
    for id in ["prod_keep", "prod_gone"] {
        app.stripe
            .put_object(Some(account), product_json(id, id, true));
    }
    let first = run_once(&app, &org, json!({ "kinds": ["products"] })).await;
    assert_eq!(drift(&first, "products")["missing"], 2);
    app.stripe.remove_object(Some(account), "prod_gone");
    let mut renamed = product_json("prod_keep", "Renamed", true);
    renamed["description"] = json!("now with a description");
    app.stripe.put_object(Some(account), renamed);

    let second = run_once(&app, &org, json!({ "kinds": ["products"] })).await;
    assert_eq!(second["status"], "succeeded", "{second}");
    let d = drift(&second, "products");
    assert_eq!(d["deleted_in_stripe"], 1, "{second}");
    assert_eq!(d["examples"]["deleted_in_stripe"], json!(["prod_gone"]));
    assert_eq!(d["different"], 1);
    assert_eq!(d["repaired"], 2);
    assert_eq!(second["kinds"], json!(["products"]));
    assert!(second["report"]["kinds"].get("customers").is_none());
    assert!(has_product(&app, account, "prod_keep").await);
    assert!(!has_product(&app, account, "prod_gone").await);
}

async fn a_dry_run_reports_the_same_drift_and_writes_nothing(app: TestApp) {
    let account = "acct_1SyncDryRun00001";
    let org = app.create_organizer("Sync", account).await;
    for id in ["prod_1", "prod_2", "prod_3"] {
        app.stripe
            .put_object(Some(account), product_json(id, id, true));
    }
    let dry = run_once(
        &app,
        &org,
        json!({ "dry_run": true, "kinds": ["products"] }),
    )
    .await;
    assert_eq!(
        (dry["status"].as_str(), dry["dry_run"].as_bool()),
        (Some("succeeded"), Some(true))
    );
    assert_eq!(drift(&dry, "products")["missing"], 3);
    assert_eq!(drift(&dry, "products")["repaired"], 0);
    assert_eq!(live_products(&app, account).await, 0, "a dry run wrote");
    assert_eq!(app.count_rows("sync_cursors").await, 0);
    let real = run_once(&app, &org, json!({ "kinds": ["products"] })).await;
    let (dry_drift, real_drift) = (drift(&dry, "products"), drift(&real, "products"));
    assert_eq!(dry_drift["missing"], real_drift["missing"]);
    assert_eq!(dry_drift["examples"], real_drift["examples"]);
    assert_eq!(real_drift["repaired"], 3);
    assert_eq!(live_products(&app, account).await, 3);
}

/// 150 products in Stripe, and a products run that stops after the first page: Stripe fails
/// every attempt at the second. Returns the failed run.
async fn stopped_after_the_first_page(app: &TestApp, org: &Value, account: &str) -> Value {
    for n in 0..150 {
        let id = format!("prod_{n:03}");
        app.stripe
            .put_object(Some(account), product_json(&id, &id, true));
    }
    app.stripe.fail_next_with(
        "GET",
        "/v1/products",
        "starting_after=",
        3,
        Fault::Status(500),
    );
    let failed = run_once(app, org, json!({ "kinds": ["products"] })).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    failed
}

async fn a_stopped_listing_resumes_after_its_last_page(app: TestApp) {
    let account = "acct_1SyncResume00001";
    let org = app.create_organizer("Sync", account).await;
    let failed = stopped_after_the_first_page(&app, &org, account).await;
    assert!(
        failed["error"].as_str().unwrap().contains("Stripe"),
        "{failed}"
    );
    assert_eq!(drift(&failed, "products")["checked"], 100);
    assert_eq!(drift(&failed, "products")["complete"], false);
    assert_eq!(
        live_products(&app, account).await,
        100,
        "the first page is stored"
    );

    let resumed = run_once(&app, &org, json!({ "kinds": ["products"] })).await;
    assert_eq!(resumed["status"], "succeeded", "{resumed}");
    let d = drift(&resumed, "products");
    assert_eq!(d["resumed_after"], "prod_099", "{resumed}");
    assert_eq!(
        d["complete"], false,
        "a resumed listing has not seen what came before it"
    );
    assert_eq!(
        d["checked"], 50,
        "only the pages after the cursor were listed"
    );
    assert_eq!(d["missing"], 50);
    assert_eq!(live_products(&app, account).await, 150);
    assert_eq!(
        app.count_rows("sync_cursors").await,
        0,
        "a finished listing leaves no cursor"
    );
}

async fn customers_created_changed_or_deleted_in_stripe_are_reconciled(app: TestApp) {
    let account = "acct_1SyncCustomer001";
    let org = app.create_organizer("Sync", account).await;
    let (_, changed) = upsert(
        &app,
        &org,
        json!({ "email": "changed@example.com", "name": "Old" }),
    )
    .await;
    let (_, gone) = upsert(&app, &org, json!({ "email": "gone@example.com" })).await;
    let adopted = app
        .stripe
        .add_customer(Some(account), "dashboard@example.com", "From Dashboard");
    app.stripe.edit_customer(
        Some(account),
        changed["stripe_customer_id"].as_str().unwrap(),
        json!({ "name": "New" }),
    );
    app.stripe
        .delete_customer(Some(account), gone["stripe_customer_id"].as_str().unwrap());

    let run = run_once(&app, &org, json!({ "kinds": ["customers"] })).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let d = drift(&run, "customers");
    assert_eq!(
        (
            d["missing"].as_u64(),
            d["different"].as_u64(),
            d["deleted_in_stripe"].as_u64()
        ),
        (Some(1), Some(1), Some(1)),
        "{run}"
    );
    assert_eq!(d["examples"]["missing"], json!([adopted]));
    assert_eq!(d["repaired"], 3);
    let found = find_by_email(&app, &org, "dashboard@example.com").await;
    assert_eq!(found[0]["stripe_customer_id"], adopted.as_str());
    assert_eq!(
        find_by_email(&app, &org, "changed@example.com").await[0]["name"],
        "New"
    );
    assert!(find_by_email(&app, &org, "gone@example.com")
        .await
        .is_empty());
    let audit = app
        .get_json(
            "/v1/admin/audit-log?action=customer.deleted",
            &app.admin_token(),
        )
        .await;
    assert_eq!(audit["data"][0]["actor"], "reconciler", "{audit}");
}

/// One run per account at a time. A request while one runs gets a run queued to start when
/// that one ends (so what the caller changed in Stripe before asking is in it); a later
/// request of the same run joins it, one of another run is refused naming it.
async fn a_request_during_a_run_gets_one_that_starts_after_it(app: TestApp) {
    let account = "acct_1SyncLease000001";
    let org = app.create_organizer("Sync", account).await;
    app.stripe
        .put_object(Some(account), product_json("prod_a", "A", true));
    // The first run holds the account while its listing is held in Stripe.
    let gate = app.stripe.hold_next("GET", "/v1/products");
    let first = start(&app, &org, json!({ "kinds": ["products"] })).await;
    gate.arrived().await;
    let response = app
        .post(
            &sync_path(&org),
            &app.admin_token(),
            &json!({ "kinds": ["products"] }),
        )
        .await;
    assert_eq!(response.status(), 202);
    let queued: Value = response.json().await.unwrap();
    assert_eq!(queued["status"], "queued", "{queued}");
    let second = queued["run_id"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    let joined = start(&app, &org, json!({ "kinds": ["products"] })).await;
    assert_eq!(
        joined, second,
        "a later request of the same run joins the queued one"
    );
    // However long the first runs, the waiting run is not taken for one an instance left.
    app.execute_sql(
        &format!("UPDATE sync_runs SET created_at = created_at - INTERVAL '1 hour' WHERE id = '{second}'"),
        &format!("UPDATE sync_runs SET created_at = datetime(created_at, '-1 hour') WHERE id = '{second}'"),
    )
    .await;
    let joined = start(&app, &org, json!({ "kinds": ["products"] })).await;
    assert_eq!(
        joined, second,
        "an old waiting run behind a live one is still joined"
    );
    let response = app
        .post(
            &sync_path(&org),
            &app.admin_token(),
            &json!({ "kinds": ["products"], "dry_run": true }),
        )
        .await;
    let refused = error_body(response, 409, "sync_in_progress").await;
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&second),
        "{refused}"
    );
    // Queued while the first runs, it has not started.
    let waiting = app
        .get_json(&format!("{}/{second}", runs_path(&org)), &app.admin_token())
        .await;
    assert_eq!(waiting["status"], "queued", "{waiting}");
    gate.release();
    let first = finished(&app, &org, &first).await;
    assert_eq!(first["status"], "succeeded", "{first}");
    let second = finished(&app, &org, &second).await;
    assert_eq!(second["status"], "succeeded", "{second}");
    let (ended, began) = (
        first["finished_at"].as_str().unwrap(),
        second["started_at"].as_str().unwrap(),
    );
    let time = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap();
    assert!(time(began) >= time(ended), "{began} before {ended}");
    let list = app.get_json(&runs_path(&org), &app.admin_token()).await;
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            second["id"].as_str().unwrap(),
            first["id"].as_str().unwrap()
        ],
        "newest first"
    );
}

/// The stored cursor names an object deleted since: Stripe refuses to list after it, and the
/// listing starts over rather than failing on every run.
async fn a_cursor_whose_object_is_gone_starts_the_listing_over(app: TestApp) {
    let account = "acct_1SyncStaleCur001";
    let org = app.create_organizer("Sync", account).await;
    stopped_after_the_first_page(&app, &org, account).await;
    app.stripe.remove_object(Some(account), "prod_099");
    let run = run_once(&app, &org, json!({ "kinds": ["products"] })).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let d = drift(&run, "products");
    assert_eq!(d["resumed_after"], Value::Null, "{run}");
    assert_eq!(
        (d["checked"].as_u64(), d["complete"].as_bool()),
        (Some(149), Some(true))
    );
    assert_eq!(d["deleted_in_stripe"], 1);
    assert_eq!(live_products(&app, account).await, 149);
}

async fn runs_belong_to_their_organizer(app: TestApp) {
    let a = app.create_organizer("A", "acct_1SyncTenantA0001").await;
    let b = app.create_organizer("B", "acct_1SyncTenantB0001").await;
    let id = start(&app, &a, json!({ "kinds": ["products"] })).await;
    let token_b = app.organizer_token(b["id"].as_str().unwrap());
    let response = app.post(&sync_path(&a), &token_b, &json!({})).await;
    error_body(response, 403, "forbidden").await;
    let response = app.get(&format!("{}/{id}", runs_path(&b)), &token_b).await;
    error_body(response, 404, "sync_run_not_found").await;
    let response = app
        .post(&sync_path(&a), &app.admin_token(), &json!({ "kinds": [] }))
        .await;
    error_body(response, 422, "validation_failed").await;
    let response = app
        .post(
            &sync_path(&a),
            &app.admin_token(),
            &json!({ "kinds": ["no_such_kind"] }),
        )
        .await;
    error_body(response, 422, "validation_failed").await;
    finished(&app, &a, &id).await;
}

async fn the_cli_refuses_an_organizer_without_an_account(app: TestApp) {
    let response = app
        .post(
            "/v1/organizers",
            &app.admin_token(),
            &json!({ "name": "No account" }),
        )
        .await;
    assert_eq!(response.status(), 201);
    let org: Value = response.json().await.unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_stripe-gateway"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(std::env::temp_dir())
        .args(["sync", "--org", org["id"].as_str().unwrap()])
        .env("RUST_LOG", "warn")
        .env("DATABASE_URL", app.database_url())
        .env("STRIPE_SECRET_KEY", "sk_test_gateway")
        .env("STRIPE_API_BASE", &app.stripe.base_url)
        .env("STRIPE_PLATFORM_ACCOUNT_ID", PLATFORM_ACCOUNT)
        .env("AUDIT_HASH_KEY", AUDIT_HASH_KEY)
        .output()
        .expect("the binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("has no Stripe account yet"), "{stderr}");
    assert!(app.stripe.requests().is_empty(), "nothing asked of Stripe");
    let runs = app
        .get_json(
            &format!("/v1/organizers/{}/sync-runs", org["id"].as_str().unwrap()),
            &app.admin_token(),
        )
        .await;
    assert_eq!(runs["data"], json!([]), "no run recorded: {runs}");
}

async fn the_cli_reconciles_and_prints_the_report(app: TestApp) {
    let account = "acct_1SyncCli0000001";
    let org = app.create_organizer("Sync", account).await;
    app.stripe
        .put_object(Some(account), product_json("prod_cli", "CLI", true));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_stripe-gateway"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(std::env::temp_dir())
        .args(["sync", "--org", org["id"].as_str().unwrap()])
        .env("RUST_LOG", "warn")
        .env("DATABASE_URL", app.database_url())
        .env("STRIPE_SECRET_KEY", "sk_test_gateway")
        .env("STRIPE_API_BASE", &app.stripe.base_url)
        .env("STRIPE_PLATFORM_ACCOUNT_ID", PLATFORM_ACCOUNT)
        .env("AUDIT_HASH_KEY", AUDIT_HASH_KEY)
        .env("STRIPE_RATE_LIMIT", "10000")
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: Value = serde_json::from_str(&stdout).expect("one JSON report");
    assert_eq!(printed["status"], "succeeded");
    assert_eq!(printed["trigger"], "cli");
    assert_eq!(printed["report"]["kinds"]["products"]["missing"], 1);
    assert!(has_product(&app, account, "prod_cli").await);
}

/// An event Stripe never delivered (the endpoint was down) is found through the Events API, with
/// the account's header, stored in the inbox and processed by the workers like a delivery.
async fn missed_events_are_recovered_through_the_events_api(app: TestApp) {
    let account = "acct_1SyncEvents00001";
    let org = app.create_organizer("Sync", account).await;
    let product = product_json("prod_evt", "From an event", true);
    app.stripe.put_object(Some(account), product.clone());
    let missed = event("product.created", Some(account), &product);
    let delivered = event("product.updated", Some(account), &product);
    app.stripe.add_event(Some(account), missed.clone());
    app.stripe.add_event(Some(account), delivered.clone());
    app.deliver(&delivered).await;

    let dry = run_once(&app, &org, json!({ "kinds": ["events"], "dry_run": true })).await;
    assert_eq!(drift(&dry, "events")["missing"], 1, "{dry}");
    let missed_id = missed["id"].as_str().unwrap();
    let lookup = app
        .get(
            &format!("/v1/admin/webhook-events/{missed_id}"),
            &app.admin_token(),
        )
        .await;
    assert_eq!(lookup.status(), 404, "a dry run stored nothing");

    let run = run_once(&app, &org, json!({ "kinds": ["events"] })).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let d = drift(&run, "events");
    assert_eq!(
        (d["checked"].as_u64(), d["missing"].as_u64()),
        (Some(2), Some(1)),
        "{run}"
    );
    assert_eq!(d["examples"]["missing"], json!([missed_id]));
    let settled = app.settled(missed_id).await;
    assert_eq!(settled["status"], "processed", "{settled}");
    assert!(has_product(&app, account, "prod_evt").await);
    let lists = app.stripe.requests_to("GET", "/v1/events");
    assert!(
        lists
            .iter()
            .all(|r| r.stripe_account.as_deref() == Some(account)),
        "{lists:?}"
    );
    // The next run starts from the cursor and finds nothing new.
    let again = run_once(&app, &org, json!({ "kinds": ["events"] })).await;
    assert_eq!(drift(&again, "events")["missing"], 0, "{again}");
}

async fn sync_health_says_which_mirrors_need_attention(app: TestApp) {
    let synced = app
        .create_organizer("Synced", "acct_1SyncHealthy0001")
        .await;
    let never = app.create_organizer("Never", "acct_1SyncNever000001").await;
    let partly = app
        .create_organizer("Partly", "acct_1SyncPartly00001")
        .await;
    let run = run_once(&app, &synced, json!({})).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let some = run_once(&app, &partly, json!({ "kinds": ["products", "prices"] })).await;
    assert_eq!(some["status"], "succeeded", "{some}");
    let health = app
        .get_json("/v1/admin/sync-health", &app.admin_token())
        .await;
    let of = |org: &Value| {
        health["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["organizer_id"] == org["id"])
            .cloned()
            .expect("listed")
    };
    let healthy = of(&synced);
    assert_eq!(healthy["concerns"], json!([]), "{healthy}");
    assert_eq!(healthy["last_success"]["id"], run["id"]);
    assert_eq!(healthy["last_success"]["drift"], 0);
    assert_eq!(
        (
            healthy["inbox_pending"].as_i64(),
            healthy["dead_lettered"].as_i64()
        ),
        (Some(0), Some(0))
    );
    assert!(
        healthy["events_cursor_age_secs"].as_i64().is_some(),
        "{healthy}"
    );
    let unknown = of(&never);
    assert_eq!(unknown["last_run"], Value::Null);
    assert_eq!(
        unknown["concerns"],
        json!(["no reconciliation has succeeded yet"]),
        "{unknown}"
    );
    // Runs of some kinds (or from before a version added kinds) name what they left out.
    let partial = of(&partly);
    let said = partial["concerns"][0].as_str().unwrap();
    assert!(said.contains("left out accounts, customers,"), "{partial}");
    assert!(!said.contains("products"), "{partial}");
    assert!(said.contains(&format!(
        "POST /v1/organizers/{}/sync",
        partly["id"].as_str().unwrap()
    )));
    let token = app.organizer_token(synced["id"].as_str().unwrap());
    let response = app.get("/v1/admin/sync-health", &token).await;
    error_body(response, 403, "forbidden").await;
}

/// Waits for a run of `org` started by `trigger` to succeed; returns it.
async fn run_by(app: &TestApp, org: &Value, trigger: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = app.get_json(&runs_path(org), &app.admin_token()).await;
        let found = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["trigger"] == trigger && r["status"] == "succeeded")
            .cloned();
        if let Some(run) = found {
            return run;
        }
        assert!(
            Instant::now() < deadline,
            "no {trigger} run succeeded: {list}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_new_organizer_is_backfilled_and_every_account_swept(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.sync.backfill_on_register = true;
        s.sync.reconcile_interval_secs = 1;
    })
    .await;
    let account = "acct_1SyncBackfill001";
    app.stripe
        .put_object(Some(account), product_json("prod_old", "Before", true));
    let org = app.create_organizer("Backfilled", account).await;
    // The registration's backfill mirrors it (or, if a sweep took the account first and the
    // backfill was skipped, that sweep does).
    wait_for_product(&app, account, "prod_old").await;
    let list = app.get_json(&runs_path(&org), &app.admin_token()).await;
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["trigger"] == "registration"),
        "{list}"
    );
    // A product created later, with no webhook: a sweep finds it.
    app.stripe
        .put_object(Some(account), product_json("prod_new", "After", true));
    wait_for_product(&app, account, "prod_new").await;
    run_by(&app, &org, "schedule").await;
}

async fn wait_for_product(app: &TestApp, account: &str, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !has_product(app, account, id).await {
        assert!(Instant::now() < deadline, "{id} was never mirrored");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
