//! The reads frontends make on every page: a customer by email (grouped with concurrent reads
//! into one statement) and a customer's entitlements (one statement), each answering every
//! tenant with its own rows only.

use std::time::Duration;

use futures_util::future::join_all;
use gateway::db::models::{ChargeAccounts, Customer};
use gateway::db::{DatabaseUrl, Db};
use serde_json::{json, Value};

use crate::customers::{customers_path, upsert};
use crate::helpers::webhooks::event;
use crate::helpers::{backend_tests, error_body, ids, TestApp};
use crate::support::fake_stripe::billing::{entitlement_json, subscription_json};

backend_tests!(
    concurrent_reads_by_email_answer_each_tenant_its_own_customer,
    a_batch_of_email_keys_is_matched_key_by_key,
    an_entitlements_read_shows_the_subscriptions_that_grant_access,
    reads_follow_an_organizer_to_the_account_it_has_now,
);

/// Two organizers with one email in common and one each of their own.
async fn two_tenants(app: &TestApp) -> [(Value, Value, Value); 2] {
    let mut tenants = Vec::new();
    for (name, account, own) in [
        ("Group A", "acct_1GroupA", "only-a@example.com"),
        ("Group B", "acct_1GroupB", "only-b@example.com"),
    ] {
        let org = app.create_organizer(name, account).await;
        let (status, shared) = upsert(app, &org, json!({"email": "shared@example.com"})).await;
        assert_eq!(status, 201, "{shared}");
        let (status, own) = upsert(app, &org, json!({ "email": own })).await;
        assert_eq!(status, 201, "{own}");
        tenants.push((org, shared, own));
    }
    tenants.try_into().unwrap()
}

async fn find(app: &TestApp, org: &str, token: &str, email: &str) -> (u16, Value) {
    let url = format!(
        "/v1/organizers/{org}/customers?{}",
        serde_urlencoded::to_string([("email", email)]).unwrap()
    );
    let response = app.get(&url, token).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn concurrent_reads_by_email_answer_each_tenant_its_own_customer(app: TestApp) {
    let [(a, a_shared, a_own), (b, b_shared, b_own)] = two_tenants(&app).await;
    let (a, b) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let paused = app.create_organizer("Paused", "acct_1GroupPaused").await;
    let paused_id = paused["id"].as_str().unwrap().to_string();
    upsert(&app, &paused, json!({"email": "shared@example.com"})).await;
    let patched = app
        .patch(
            &format!("/v1/organizers/{paused_id}"),
            &app.admin_token(),
            &json!({"status": "disabled"}),
        )
        .await;
    assert_eq!(patched.status(), 200);
    let missing = uuid::Uuid::now_v7().to_string();
    let id = |customer: &Value| customer["id"].as_str().unwrap().to_string();
    let (a_token, b_token) = (app.organizer_token(a), app.organizer_token(b));
    let admin = app.admin_token();
    let paused_token = app.organizer_token(&paused_id);

    // (organizer, token, email, expected status, expected ids): each read is asked many times
    // at once, so reads of different tenants and emails share statements.
    let cases: Vec<(&str, &str, &str, u16, Vec<String>)> = vec![
        (a, &a_token, "Shared@Example.com", 200, vec![id(&a_shared)]),
        (b, &b_token, "shared@example.com", 200, vec![id(&b_shared)]),
        (a, &a_token, "only-a@example.com", 200, vec![id(&a_own)]),
        (a, &a_token, "only-b@example.com", 200, vec![]),
        (b, &admin, "only-a@example.com", 200, vec![]),
        (b, &admin, "only-b@example.com", 200, vec![id(&b_own)]),
        (&missing, &admin, "shared@example.com", 404, vec![]),
        (&paused_id, &paused_token, "shared@example.com", 403, vec![]),
    ];
    let app = &app;
    let reads = (0..12).flat_map(|_| cases.iter()).map(|case| async move {
        let (org, token, email, _, _) = case;
        (case, find(app, org, token, email).await)
    });
    for ((org, _, email, status, expected), (got, body)) in join_all(reads).await {
        assert_eq!(got, *status, "{org} {email}: {body}");
        match status {
            200 => assert_eq!(ids(&body), *expected, "{org} {email}"),
            404 => assert_eq!(body["error"]["code"], "organizer_not_found", "{body}"),
            _ => assert_eq!(body["error"]["code"], "forbidden", "{body}"),
        }
    }
    // Another organizer's token is refused before any read.
    error_body(
        app.get(
            &format!(
                "{}?email=shared@example.com",
                customers_path(&json!({"id": b}))
            ),
            &a_token,
        )
        .await,
        403,
        "forbidden",
    )
    .await;
}

/// The grouped statement itself, on a batch that mixes tenants: it may fetch a customer one
/// key did not ask for (organizer A's row for B's email), and each key still gets only its own.
async fn a_batch_of_email_keys_is_matched_key_by_key(app: TestApp) {
    let [(a, a_shared, a_own), (b, b_shared, _)] = two_tenants(&app).await;
    let (a, b) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let missing = uuid::Uuid::now_v7().to_string();
    let key = |org: &str, email: &str| (org.to_string(), email.to_string());
    let keys = [
        key(a, "shared@example.com"),
        key(b, "only-a@example.com"),
        key(&missing, "shared@example.com"),
        key(a, "only-b@example.com"),
        key(b, "shared@example.com"),
        key(a, "only-a@example.com"),
        key(a, "shared@example.com"),
    ];
    let url = DatabaseUrl::parse(app.database_url()).unwrap();
    let db = Db::connect(&url, 1, Duration::from_secs(5)).unwrap();
    let answers = tokio::task::spawn_blocking(move || {
        let mut conn = db.get().unwrap();
        // Once with the organizers' accounts not known yet (two statements), once known (one).
        let accounts = ChargeAccounts::new(None);
        let keys: Vec<(&str, &str)> = keys.iter().map(|(o, e)| (o.as_str(), e.as_str())).collect();
        [(); 2].map(|()| {
            Customer::find_with_organizers_by_emails(&mut conn, &accounts, &keys).unwrap()
        })
    })
    .await
    .unwrap();
    let got = answers.map(|answers| {
        answers
            .into_iter()
            .map(|found| found.map(|(org, customer)| (org.id, customer.map(|c| c.id))))
            .collect::<Vec<Option<(String, Option<String>)>>>()
    });
    let row = |org: &str, customer: Option<&Value>| {
        Some((
            org.to_string(),
            customer.map(|c| c["id"].as_str().unwrap().to_string()),
        ))
    };
    let expected = vec![
        row(a, Some(&a_shared)),
        row(b, None),
        None,
        row(a, None),
        row(b, Some(&b_shared)),
        row(a, Some(&a_own)),
        row(a, Some(&a_shared)),
    ];
    assert_eq!(got, [expected.clone(), expected]);
}

/// The reads name the account an organizer's customers are kept under, as the process last
/// saw it. An organizer whose account changed behind the gateway's back is read under the
/// account it has now, by email, by id and for entitlements: the customer it left behind is
/// not its customer any more, and it is again once the organizer is back.
async fn reads_follow_an_organizer_to_the_account_it_has_now(app: TestApp) {
    let org = app.create_organizer("Moving", "acct_1HotMovingOld").await;
    let org_id = org["id"].as_str().unwrap();
    let token = app.organizer_token(org_id);
    let (status, left) = upsert(&app, &org, json!({"email": "mover@example.com"})).await;
    assert_eq!(status, 201, "{left}");
    let reads = |customer: &Value| {
        let path = format!(
            "/v1/organizers/{org_id}/customers/{}",
            customer["id"].as_str().unwrap()
        );
        let (app, token) = (&app, &token);
        async move {
            let (status, body) = find(app, org_id, token, "mover@example.com").await;
            assert_eq!(status, 200, "{body}");
            let by_id = app.get(&path, token).await.status().as_u16();
            let access = app.get(&format!("{path}/entitlements"), token).await;
            let ids: Vec<String> = ids(&body).into_iter().map(str::to_owned).collect();
            (ids, by_id, access.status().as_u16())
        }
    };
    let id = |customer: &Value| vec![customer["id"].as_str().unwrap().to_string()];
    assert_eq!(reads(&left).await, (id(&left), 200, 200));

    let move_to = |account: &str| {
        format!("UPDATE organizers SET stripe_account_id = '{account}' WHERE id = '{org_id}'")
    };
    let sql = move_to("acct_1HotMovingNew");
    app.execute_sql(&sql, &sql).await;
    assert_eq!(reads(&left).await, (vec![], 404, 404));
    let (status, there) = upsert(&app, &org, json!({"email": "mover@example.com"})).await;
    assert_eq!(status, 201, "{there}");
    assert_eq!(there["stripe_account_id"], "acct_1HotMovingNew", "{there}");
    assert_eq!(reads(&there).await, (id(&there), 200, 200));
    assert_eq!(reads(&left).await, (id(&there), 404, 404));

    let sql = move_to("acct_1HotMovingOld");
    app.execute_sql(&sql, &sql).await;
    assert_eq!(reads(&left).await, (id(&left), 200, 200));
    assert_eq!(reads(&there).await, (id(&left), 404, 404));
}

async fn an_entitlements_read_shows_the_subscriptions_that_grant_access(app: TestApp) {
    const ACCOUNT: &str = "acct_1HotEntitled";
    let org = app.create_organizer("Entitled", ACCOUNT).await;
    let org_id = org["id"].as_str().unwrap();
    let (_, buyer) = upsert(&app, &org, json!({"email": "buyer@example.com"})).await;
    let (_, other) = upsert(&app, &org, json!({"email": "other@example.com"})).await;
    let stripe_id = buyer["stripe_customer_id"].as_str().unwrap();
    let other_stripe_id = other["stripe_customer_id"].as_str().unwrap();
    let subscriptions = [
        ("sub_hot_c", stripe_id, "trialing"),
        ("sub_hot_a", stripe_id, "active"),
        ("sub_hot_b", stripe_id, "canceled"),
        ("sub_hot_d", stripe_id, "past_due"),
        ("sub_hot_e", other_stripe_id, "active"),
    ];
    for (id, customer, status) in subscriptions {
        app.stripe.put_object(
            Some(ACCOUNT),
            subscription_json(id, customer, "price_hot", status),
        );
        let sent = event(
            "customer.subscription.updated",
            Some(ACCOUNT),
            &json!({"id": id, "object": "subscription"}),
        );
        app.deliver(&sent).await;
        let settled = app.settled(sent["id"].as_str().unwrap()).await;
        assert_eq!(settled["status"], "processed", "{settled}");
    }
    app.stripe.set_entitlements(
        Some(ACCOUNT),
        stripe_id,
        vec![entitlement_json(1, "seats"), entitlement_json(2, "exports")],
    );
    let summary = event(
        "entitlements.active_entitlement_summary.updated",
        Some(ACCOUNT),
        &json!({"object": "entitlements.active_entitlement_summary", "customer": stripe_id,
                "entitlements": {"object": "list", "data": [], "has_more": true}}),
    );
    app.deliver(&summary).await;
    app.settled(summary["id"].as_str().unwrap()).await;

    let path = |customer: &Value| {
        format!(
            "/v1/organizers/{org_id}/customers/{}/entitlements",
            customer["id"].as_str().unwrap()
        )
    };
    let elsewhere = app
        .create_organizer("Elsewhere", "acct_1HotElsewhere")
        .await;
    let in_org = |org: &str, customer: &Value| {
        format!(
            "/v1/organizers/{org}/customers/{}/entitlements",
            customer["id"].as_str().unwrap()
        )
    };
    // Asked many times at once, so that reads of both customers, of another tenant's customer
    // and of an unknown organizer share statements.
    let admin = app.admin_token();
    let paths = [
        path(&buyer),
        path(&other),
        in_org(elsewhere["id"].as_str().unwrap(), &buyer),
        in_org(&uuid::Uuid::now_v7().to_string(), &buyer),
    ];
    let app = &app;
    let reads = (0..10)
        .flat_map(|_| paths.iter().enumerate())
        .map(|(i, path)| {
            let admin = &admin;
            async move {
                let response = app.get(path, admin).await;
                (
                    i,
                    response.status().as_u16(),
                    response.json::<Value>().await.unwrap(),
                )
            }
        });
    for (i, status, body) in join_all(reads).await {
        match i {
            0 => {
                assert_eq!(status, 200, "{body}");
                let shown: Vec<&str> = body["subscriptions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s["id"].as_str().unwrap())
                    .collect();
                assert_eq!(shown, ["sub_hot_a", "sub_hot_c"], "{body}");
                assert_eq!(body["active"], true);
                assert_eq!(body["features"], json!(["seats", "exports"]));
            }
            1 => {
                assert_eq!(status, 200, "{body}");
                assert_eq!(body["subscriptions"][0]["id"], "sub_hot_e", "{body}");
                assert_eq!(body["subscriptions"].as_array().unwrap().len(), 1);
                assert_eq!(body["features"], json!([]));
            }
            // Another tenant's customer id is not found; an unknown organizer is told apart.
            2 => assert_eq!(body["error"]["code"], "customer_not_found", "{body}"),
            _ => assert_eq!(body["error"]["code"], "organizer_not_found", "{body}"),
        }
    }
    // The organizer's own token sees the same; another organizer's is refused.
    let own = app
        .get_json(&path(&buyer), &app.organizer_token(org_id))
        .await;
    assert_eq!(own["subscriptions"].as_array().unwrap().len(), 2, "{own}");
    let foreign_token = app.organizer_token(elsewhere["id"].as_str().unwrap());
    error_body(
        app.get(&path(&buyer), &foreign_token).await,
        403,
        "forbidden",
    )
    .await;
}
