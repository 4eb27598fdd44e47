//! Creation under races, across gateway processes, and healing after a local write fails.

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::customers::{customer_path, customers_path, find_by_email, upsert};
use crate::helpers::{backend_tests, TestApp};
use crate::support::fake_stripe::Hold;

/// Sends `n` upserts of one body at once, alternating between the given gateways; returns
/// each (status, body).
async fn concurrent_upserts(
    app: &TestApp,
    addresses: &[String],
    org: &Value,
    body: &Value,
    n: usize,
) -> Vec<(u16, Value)> {
    // The create is held on its way into Stripe until it is there: the race stays open while
    // the first request to reserve the key is in Stripe, and the others find the key reserved.
    let gate = app.stripe.hold_next("POST", "/v1/customers");
    let token = app.admin_token();
    let path = customers_path(org);
    let requests = (0..n).map(|i| {
        let url = format!("{}{path}", addresses[i % addresses.len()]);
        let request = app.client.post(url).bearer_auth(&token).json(body);
        async move {
            let response = request.send().await.expect("the gateway answers");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    });
    let release = async {
        gate.arrived().await;
        gate.release();
    };
    let (results, ()) = tokio::join!(join_all(requests), release);
    let held: Vec<_> = app
        .stripe
        .requests()
        .into_iter()
        .filter(|r| r.held.is_some())
        .collect();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(
        (held[0].method.as_str(), held[0].path.as_str(), held[0].held),
        ("POST", "/v1/customers", Some(Hold::Request))
    );
    results
}

/// Exactly one request created the customer; all got the same one; Stripe made one.
fn assert_one_customer(results: &[(u16, Value)], app: &TestApp, account: &str) -> Value {
    let created = results.iter().filter(|(status, _)| *status == 201).count();
    let found = results.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!((created, found), (1, results.len() - 1), "{results:?}");
    let first = &results[0].1;
    for (_, body) in results {
        assert_eq!(body["id"], first["id"], "{body}");
        assert_eq!(
            body["stripe_customer_id"], first["stripe_customer_id"],
            "{body}"
        );
    }
    assert_eq!(
        app.stripe.created_customers(Some(account)),
        1,
        "the fake Stripe's record of creates"
    );
    // The others waited for the one create rather than sending it again.
    assert_eq!(app.stripe.requests_to("POST", "/v1/customers").len(), 1);
    first.clone()
}

backend_tests!(
    fifty_concurrent_upserts_of_a_new_email_make_one_customer,
    fifty_concurrent_upserts_over_two_gateway_processes_make_one_customer,
    an_email_that_moved_away_and_came_back_gets_a_new_stripe_customer,
    a_failed_local_write_after_stripe_is_healed_by_the_next_upsert,
    healing_works_after_stripe_forgot_the_idempotency_key,
);

async fn fifty_concurrent_upserts_of_a_new_email_make_one_customer(app: TestApp) {
    let org = app.create_organizer("Rush", "acct_1Rush").await;
    let body = json!({ "email": "rush@example.com", "name": "Rush" });
    let results =
        concurrent_upserts(&app, std::slice::from_ref(&app.address), &org, &body, 50).await;
    let customer = assert_one_customer(&results, &app, "acct_1Rush");
    assert_eq!(
        find_by_email(&app, &org, "rush@example.com").await,
        vec![customer]
    );
}

async fn fifty_concurrent_upserts_over_two_gateway_processes_make_one_customer(app: TestApp) {
    let org = app.create_organizer("Split", "acct_1Split").await;
    let other = app.spawn_process().await;
    let addresses = [app.address.clone(), other.address.clone()];
    let body = json!({ "email": "split@example.com" });
    let results = concurrent_upserts(&app, &addresses, &org, &body, 50).await;
    let customer = assert_one_customer(&results, &app, "acct_1Split");
    assert_eq!(
        find_by_email(&app, &org, "split@example.com").await,
        vec![customer]
    );
    // Both processes served requests (each answered some of the 50).
    let served: Value = app
        .client
        .get(format!(
            "{}/v1/organizers/{}/customers",
            other.address,
            org["id"].as_str().unwrap()
        ))
        .bearer_auth(app.admin_token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served["data"].as_array().unwrap().len(), 1);
}

async fn an_email_that_moved_away_and_came_back_gets_a_new_stripe_customer(app: TestApp) {
    let org = app.create_organizer("Back", "acct_1Back").await;
    let (_, first) = upsert(&app, &org, json!({ "email": "back@example.com" })).await;
    let moved = app
        .patch(
            &customer_path(&org, &first),
            &app.admin_token(),
            &json!({ "email": "elsewhere@example.com" }),
        )
        .await;
    assert_eq!(moved.status(), 200);

    // Concurrently, again, so the new create is single as well.
    let results = concurrent_upserts(
        &app,
        std::slice::from_ref(&app.address),
        &org,
        &json!({ "email": "back@example.com" }),
        20,
    )
    .await;
    assert_eq!(
        results.iter().filter(|(s, _)| *s == 201).count(),
        1,
        "{results:?}"
    );
    let second = &results[0].1;
    assert!(results.iter().all(|(_, b)| b["id"] == second["id"]));
    assert_ne!(second["id"], first["id"]);
    assert_ne!(
        second["stripe_customer_id"], first["stripe_customer_id"],
        "not a replay of the first create"
    );
    assert_eq!(app.stripe.created_customers(Some("acct_1Back")), 2);
    let creates: Vec<_> = app
        .stripe
        .requests_to("POST", "/v1/customers")
        .into_iter()
        .filter(|r| !r.replayed)
        .collect();
    assert_eq!(creates.len(), 2);
    assert_ne!(creates[0].idempotency_key, creates[1].idempotency_key);
    // Stripe holds both, each under its own email.
    let emails: Vec<Value> = app
        .stripe
        .customers(Some("acct_1Back"))
        .iter()
        .map(|c| c["email"].clone())
        .collect();
    assert_eq!(emails.len(), 2);
    assert!(
        emails.contains(&json!("elsewhere@example.com"))
            && emails.contains(&json!("back@example.com"))
    );
}

async fn a_failed_local_write_after_stripe_is_healed_by_the_next_upsert(app: TestApp) {
    let org = app.create_organizer("Heal", "acct_1LocalFail").await;
    inject_completion_failure(&app).await;
    let response = app
        .post(
            &customers_path(&org),
            &app.admin_token(),
            &json!({ "email": "heal@example.com" }),
        )
        .await;
    crate::helpers::error_body(response, 500, "internal_error").await;
    assert_eq!(
        app.stripe.created_customers(Some("acct_1LocalFail")),
        1,
        "Stripe has it"
    );
    assert!(
        find_by_email(&app, &org, "heal@example.com")
            .await
            .is_empty(),
        "no row claims it yet"
    );
    remove_completion_failure(&app).await;

    let (status, healed) = upsert(&app, &org, json!({ "email": "heal@example.com" })).await;
    assert_eq!(status, 201, "{healed}");
    assert_eq!(
        app.stripe.created_customers(Some("acct_1LocalFail")),
        1,
        "the same Stripe customer, not a second"
    );
    assert_eq!(
        healed["stripe_customer_id"],
        app.stripe.customers(Some("acct_1LocalFail"))[0]["id"]
    );
}

async fn healing_works_after_stripe_forgot_the_idempotency_key(app: TestApp) {
    let org = app.create_organizer("Late", "acct_1Forgot").await;
    inject_completion_failure(&app).await;
    let response = app
        .post(
            &customers_path(&org),
            &app.admin_token(),
            &json!({ "email": "Late@Example.com" }),
        )
        .await;
    assert_eq!(response.status(), 500);
    remove_completion_failure(&app).await;
    // More than 24 hours later, as far as Stripe's idempotency is concerned.
    app.stripe.forget_idempotency_keys();

    let (status, healed) = upsert(&app, &org, json!({ "email": "late@example.com" })).await;
    assert_eq!(status, 201, "{healed}");
    assert_eq!(
        app.stripe.created_customers(Some("acct_1Forgot")),
        1,
        "adopted, found by email and the row id in its metadata"
    );
    assert_eq!(
        healed["stripe_customer_id"],
        app.stripe.customers(Some("acct_1Forgot"))[0]["id"]
    );
    assert_eq!(healed["email"], "Late@Example.com");
    let lookups = app.stripe.requests_to("GET", "/v1/customers");
    assert_eq!(lookups.len(), 1);
    assert!(
        lookups[0]
            .params
            .contains(&("email".to_string(), "Late@Example.com".to_string())),
        "{lookups:?}"
    );
    assert_eq!(lookups[0].stripe_account.as_deref(), Some("acct_1Forgot"));
}

/// Makes every write that records a Stripe id on a customer row fail, as a database outage
/// between the Stripe call and the local write would.
async fn inject_completion_failure(app: &TestApp) {
    app.execute_sql(
        "CREATE FUNCTION injected_failure() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql;
         CREATE TRIGGER injected_failure BEFORE UPDATE ON customers FOR EACH ROW
             WHEN (NEW.stripe_customer_id IS NOT NULL AND OLD.stripe_customer_id IS NULL)
             EXECUTE FUNCTION injected_failure();",
        "CREATE TRIGGER injected_failure BEFORE UPDATE ON customers FOR EACH ROW
             WHEN NEW.stripe_customer_id IS NOT NULL AND OLD.stripe_customer_id IS NULL
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
    )
    .await;
}

async fn remove_completion_failure(app: &TestApp) {
    app.execute_sql(
        "DROP TRIGGER injected_failure ON customers; DROP FUNCTION injected_failure();",
        "DROP TRIGGER injected_failure;",
    )
    .await;
}
