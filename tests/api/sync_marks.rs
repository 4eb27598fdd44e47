//! A listing leaves its mark on the rows it lists, and a run holds no set of what it has seen:
//! after the listing, only the live rows without the mark are fetched one by one. A run that
//! resumes another's listing carries its mark on, so what the earlier runs listed is not
//! fetched again; a deletion is found by the first full listing after it, a dry run's included.

use serde_json::{json, Value};

use crate::customers::upsert;
use crate::helpers::{backend_tests, TestApp};
use crate::support::fake_stripe::billing::product_json;
use crate::support::fake_stripe::Fault;
use crate::sync::{drift, run_once};

backend_tests!(
    a_listing_resumed_twice_fetches_nothing_its_earlier_runs_listed,
    a_resumed_customer_listing_fetches_only_what_it_did_not_list,
    a_dry_run_finds_a_deletion_and_leaves_the_next_run_correct,
    more_unlisted_rows_than_a_page_of_candidates_are_all_fetched,
);

/// Makes the next listing call after `after` (and the transport's retries of it) fail.
fn fail_after(app: &TestApp, path: &str, after: &str) {
    app.stripe.fail_next_with(
        "GET",
        path,
        &format!("starting_after={after}"),
        3,
        Fault::Status(500),
    );
}

fn calls(run: &Value) -> u64 {
    run["report"]["stripe_calls"].as_u64().unwrap()
}

async fn a_listing_resumed_twice_fetches_nothing_its_earlier_runs_listed(app: TestApp) {
    let account = "acct_1SyncMarks000001";
    let org = app.create_organizer("Marks", account).await;
    for n in 0..250 {
        let id = format!("prod_{n:03}");
        app.stripe
            .put_object(Some(account), product_json(&id, &id, true));
    }
    let products = json!({ "kinds": ["products"] });
    fail_after(&app, "/v1/products", "prod_099");
    let first = run_once(&app, &org, products.clone()).await;
    assert_eq!(first["status"], "failed", "{first}");
    fail_after(&app, "/v1/products", "prod_199");
    let second = run_once(&app, &org, products.clone()).await;
    assert_eq!(second["status"], "failed", "{second}");
    assert_eq!(drift(&second, "products")["resumed_after"], "prod_099");

    let third = run_once(&app, &org, products.clone()).await;
    assert_eq!(third["status"], "succeeded", "{third}");
    let d = drift(&third, "products");
    assert_eq!(
        (d["resumed_after"].as_str(), d["checked"].as_u64()),
        (Some("prod_199"), Some(50)),
        "{third}"
    );
    assert_eq!(
        calls(&third),
        1,
        "the 200 products the two runs before listed were fetched again: {third}"
    );
    assert_eq!(d["deleted_in_stripe"], 0);

    // The next full listing marks every row anew, and finds what Stripe deleted meanwhile.
    app.stripe.remove_object(Some(account), "prod_042");
    let full = run_once(&app, &org, products).await;
    let d = drift(&full, "products");
    assert_eq!(
        (d["checked"].as_u64(), d["complete"].as_bool()),
        (Some(249), Some(true))
    );
    assert_eq!(
        d["examples"]["deleted_in_stripe"],
        json!(["prod_042"]),
        "{full}"
    );
    assert_eq!(
        calls(&full),
        3 + 1,
        "three pages, and one fetch of the row not listed"
    );
}

async fn a_resumed_customer_listing_fetches_only_what_it_did_not_list(app: TestApp) {
    let account = "acct_1SyncMarks000002";
    let org = app.create_organizer("Marks", account).await;
    let (_, ours) = upsert(&app, &org, json!({ "email": "ours@example.com" })).await;
    let ours = ours["stripe_customer_id"].as_str().unwrap().to_string();
    // Stripe lists customers newest first: the walk-ins from the last made, then ours.
    let walk_ins: Vec<String> = (0..150)
        .map(|n| {
            app.stripe
                .add_customer(Some(account), &format!("walk-in{n}@example.com"), "Walk In")
        })
        .collect();
    let customers = json!({ "kinds": ["customers"] });
    let full = run_once(&app, &org, customers.clone()).await;
    assert_eq!(full["status"], "succeeded", "{full}");
    assert_eq!(drift(&full, "customers")["missing"], 150, "{full}");
    assert_eq!(
        calls(&full),
        2,
        "two pages, nothing fetched one by one: {full}"
    );

    // A listing that stops after its first page; ours, on the second, is deleted in Stripe;
    // then a run that resumes the listing.
    let first_page_last = &walk_ins[50];
    fail_after(&app, "/v1/customers", first_page_last);
    let stopped = run_once(&app, &org, customers.clone()).await;
    assert_eq!(stopped["status"], "failed", "{stopped}");
    app.stripe.delete_customer(Some(account), &ours);
    let resumed = run_once(&app, &org, customers).await;
    assert_eq!(resumed["status"], "succeeded", "{resumed}");
    let d = drift(&resumed, "customers");
    assert_eq!(d["resumed_after"], first_page_last.as_str(), "{resumed}");
    assert_eq!(d["checked"], 50);
    assert_eq!(
        (calls(&resumed), d["examples"]["deleted_in_stripe"].clone()),
        (2, json!([ours])),
        "one page, and one fetch: of the one customer the listing did not mark, not of the \
         100 the stopped run listed: {resumed}"
    );
    assert_eq!(
        app.count_rows(&format!(
            "customers WHERE stripe_account_id = '{account}' AND status = 'active'"
        ))
        .await,
        150
    );
}

async fn a_dry_run_finds_a_deletion_and_leaves_the_next_run_correct(app: TestApp) {
    let account = "acct_1SyncMarks000003";
    let org = app.create_organizer("Marks", account).await;
    for id in ["prod_a", "prod_b", "prod_c"] {
        app.stripe
            .put_object(Some(account), product_json(id, id, true));
    }
    let products = json!({ "kinds": ["products"] });
    run_once(&app, &org, products.clone()).await;
    app.stripe.remove_object(Some(account), "prod_b");
    let dry = run_once(
        &app,
        &org,
        json!({ "dry_run": true, "kinds": ["products"] }),
    )
    .await;
    assert_eq!(drift(&dry, "products")["deleted_in_stripe"], 1, "{dry}");
    assert_eq!(drift(&dry, "products")["repaired"], 0);
    let real = run_once(&app, &org, products).await;
    let d = drift(&real, "products");
    assert_eq!(
        (d["deleted_in_stripe"].as_u64(), d["repaired"].as_u64()),
        (Some(1), Some(1)),
        "{real}"
    );
    assert_eq!(
        app.count_rows(&format!(
            "products WHERE stripe_account_id = '{account}' AND deleted = false"
        ))
        .await,
        2
    );
}

/// The rows a listing did not see are read a page of 1,000 at a time: with 1,001 of them, the
/// second page holds the last, and every one is fetched and found deleted.
async fn more_unlisted_rows_than_a_page_of_candidates_are_all_fetched(app: TestApp) {
    let account = "acct_1SyncMarks000004";
    let org = app.create_organizer("Marks", account).await;
    let ids: Vec<String> = (0..1001).map(|n| format!("prod_{n:04}")).collect();
    for id in &ids {
        app.stripe
            .put_object(Some(account), product_json(id, id, true));
    }
    let products = json!({ "kinds": ["products"] });
    let first = run_once(&app, &org, products.clone()).await;
    assert_eq!(drift(&first, "products")["missing"], 1001, "{first}");
    for id in &ids {
        app.stripe.remove_object(Some(account), id);
    }
    let second = run_once(&app, &org, products).await;
    assert_eq!(second["status"], "succeeded", "{second}");
    let d = drift(&second, "products");
    assert_eq!(
        (d["deleted_in_stripe"].as_u64(), d["repaired"].as_u64()),
        (Some(1001), Some(1001)),
        "{second}"
    );
    assert_eq!(
        calls(&second),
        1 + 1001,
        "one empty page, then each row fetched once"
    );
    assert_eq!(
        app.count_rows(&format!(
            "products WHERE stripe_account_id = '{account}' AND deleted = false"
        ))
        .await,
        0
    );
}
