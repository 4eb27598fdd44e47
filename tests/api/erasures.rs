//! GDPR erasure across organizers.

use gateway::domain::{Email, SubjectHasher};
use serde_json::{json, Value};

use crate::customers::{customer_path, find_by_email, stripe_path, upsert};
use crate::helpers::{
    backend_tests, error_body, short_stripe_timeout, spawn_app_with, Backend, TestApp,
    AUDIT_HASH_KEY, STALL,
};
use crate::support::fake_stripe::Fault;

pub fn subject_hash(email: &str) -> String {
    SubjectHasher::new(AUDIT_HASH_KEY.into()).hash(&Email::parse(email).unwrap())
}

pub async fn audit_log(app: &TestApp, query: &str) -> Vec<Value> {
    let response = app
        .get(&format!("/v1/admin/audit-log?{query}"), &app.admin_token())
        .await;
    assert_eq!(response.status(), 200);
    let page: Value = response.json().await.unwrap();
    page["data"].as_array().unwrap().clone()
}

pub async fn erase(app: &TestApp, email: &str) -> (reqwest::header::HeaderMap, Value) {
    let response = app
        .post(
            "/v1/erasures",
            &app.admin_token(),
            &json!({ "email": email }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    (headers, response.json().await.unwrap())
}

backend_tests!(
    an_erasure_deletes_the_person_in_every_account_and_keeps_only_a_hash,
    a_partial_erasure_is_reported_and_resumed_by_the_same_request,
    an_erasure_also_removes_a_customer_whose_creation_never_finished,
    erasure_requests_need_an_admin_and_an_email,
);

async fn an_erasure_deletes_the_person_in_every_account_and_keeps_only_a_hash(app: TestApp) {
    let orgs = [
        app.create_organizer("One", "acct_1EraseOne").await,
        app.create_organizer("Two", "acct_1EraseTwo").await,
        app.create_organizer("Three", "acct_1EraseThree").await,
    ];
    let mut customers = Vec::new();
    for org in &orgs {
        let (_, customer) = upsert(
            &app,
            org,
            json!({ "email": "Erin@Example.com", "name": "Erin Example", "phone": "+1 555 0199" }),
        )
        .await;
        customers.push(customer);
    }
    let (_, bystander) = upsert(&app, &orgs[0], json!({ "email": "stay@example.com" })).await;
    // One of Erin's customers is already gone in Stripe: still erased, not an error.
    app.stripe.delete_customer(
        Some("acct_1EraseThree"),
        customers[2]["stripe_customer_id"].as_str().unwrap(),
    );

    let (headers, receipt) = erase(&app, " erin@example.COM").await;
    assert_eq!(receipt["status"], "completed", "{receipt}");
    assert!(headers.get("retry-after").is_none());
    assert_eq!(receipt["subject_hash"], subject_hash("erin@example.com"));
    let accounts = receipt["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 3);
    for (org, customer) in orgs.iter().zip(&customers) {
        let entry = accounts
            .iter()
            .find(|a| a["customer_id"] == customer["id"])
            .expect("listed");
        assert_eq!(entry["outcome"], "erased");
        assert_eq!(entry["organizer_id"], org["id"]);
        assert_eq!(entry["stripe_account_id"], org["stripe_account_id"]);
        assert_eq!(entry["stripe_customer_id"], customer["stripe_customer_id"]);
        assert!(find_by_email(&app, org, "erin@example.com")
            .await
            .is_empty());
        error_body(
            app.get(&customer_path(org, customer), &app.admin_token())
                .await,
            404,
            "customer_not_found",
        )
        .await;
        let account = org["stripe_account_id"].as_str();
        assert!(app
            .stripe
            .customers(account)
            .iter()
            .all(|c| c["id"] != customer["stripe_customer_id"]));
    }
    // The bystander is untouched, locally and in Stripe.
    assert_eq!(
        find_by_email(&app, &orgs[0], "stay@example.com").await,
        vec![bystander.clone()]
    );
    assert_eq!(app.stripe.customers(Some("acct_1EraseOne")).len(), 1);

    // The erasure is provable by email, and the audit log holds no personal data.
    let proof = audit_log(&app, "email=erin@example.com&limit=100").await;
    let erased = proof
        .iter()
        .filter(|e| e["action"] == "customer.erased" && e["outcome"] == "succeeded")
        .count();
    assert_eq!(erased, 3);
    assert!(proof
        .iter()
        .any(|e| e["action"] == "erasure.requested"
            && e["target_ids"]["erasure_id"] == receipt["id"]));
    let everything = serde_json::to_string(&audit_log(&app, "limit=100").await)
        .unwrap()
        .to_lowercase();
    for personal in ["erin", "example.com", "555 0199"] {
        assert!(
            !everything.contains(personal),
            "the audit log contains {personal:?}"
        );
    }

    // Again: nothing left to erase.
    let (_, again) = erase(&app, "erin@example.com").await;
    assert_eq!(again["status"], "completed");
    assert_eq!(again["accounts"], json!([]));
}

async fn a_partial_erasure_is_reported_and_resumed_by_the_same_request(app: TestApp) {
    let first = app.create_organizer("Ok", "acct_1PartialOk").await;
    let second = app.create_organizer("Down", "acct_1PartialDown").await;
    let (_, ok) = upsert(&app, &first, json!({ "email": "gdpr@example.com" })).await;
    let (_, down) = upsert(&app, &second, json!({ "email": "gdpr@example.com" })).await;
    let down_path = stripe_path(&down);
    app.stripe
        .fail_next_to("DELETE", &down_path, 3, Fault::Status(503));

    let (headers, receipt) = erase(&app, "gdpr@example.com").await;
    assert_eq!(receipt["status"], "partial", "{receipt}");
    assert_eq!(headers["retry-after"], "5");
    let outcome = |receipt: &Value, customer: &Value| {
        receipt["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["customer_id"] == customer["id"])
            .cloned()
            .expect("listed")
    };
    assert_eq!(outcome(&receipt, &ok)["outcome"], "erased");
    let failed = outcome(&receipt, &down);
    assert_eq!(failed["outcome"], "failed");
    assert_eq!(failed["error_code"], "stripe_unavailable");
    // What failed is untouched; what succeeded is done.
    assert_eq!(
        find_by_email(&app, &second, "gdpr@example.com").await.len(),
        1
    );
    assert_eq!(app.stripe.customers(Some("acct_1PartialDown")).len(), 1);
    assert!(find_by_email(&app, &first, "gdpr@example.com")
        .await
        .is_empty());
    let failures = audit_log(&app, "action=customer.erased&email=gdpr@example.com").await;
    assert!(
        failures
            .iter()
            .any(|e| e["outcome"] == "failed" && e["organizer_id"] == second["id"]),
        "{failures:?}"
    );

    // The same request resumes the same erasure, and only retries what failed.
    let ok_deletes = app.stripe.requests_to("DELETE", &stripe_path(&ok)).len();
    let (headers, resumed) = erase(&app, "gdpr@example.com").await;
    assert_eq!(resumed["id"], receipt["id"]);
    assert_eq!(resumed["status"], "completed", "{resumed}");
    assert!(headers.get("retry-after").is_none());
    assert_eq!(outcome(&resumed, &ok)["outcome"], "erased");
    assert_eq!(outcome(&resumed, &down)["outcome"], "erased");
    assert_eq!(outcome(&resumed, &down)["error_code"], Value::Null);
    assert_eq!(
        app.stripe.requests_to("DELETE", &stripe_path(&ok)).len(),
        ok_deletes
    );
    assert!(app.stripe.customers(Some("acct_1PartialDown")).is_empty());
    assert!(find_by_email(&app, &second, "gdpr@example.com")
        .await
        .is_empty());
}

async fn an_erasure_also_removes_a_customer_whose_creation_never_finished(backend: Backend) {
    // About Stripe calls timing out: a short timeout, and stalls far longer than it.
    let app = spawn_app_with(backend, short_stripe_timeout).await;
    let org = app.create_organizer("Half", "acct_1Half").await;
    // The create reaches Stripe, but every answer times out: a pending row, a Stripe customer.
    app.stripe
        .fail_next_to("POST", "/v1/customers", 3, Fault::StallAfterApply(STALL));
    let response = app
        .post(
            &crate::customers::customers_path(&org),
            &app.admin_token(),
            &json!({ "email": "half@example.com" }),
        )
        .await;
    assert_eq!(response.status(), 503);
    assert_eq!(app.stripe.customers(Some("acct_1Half")).len(), 1);

    let (_, receipt) = erase(&app, "half@example.com").await;
    assert_eq!(receipt["status"], "completed", "{receipt}");
    assert_eq!(receipt["accounts"].as_array().unwrap().len(), 1);
    assert!(
        app.stripe.customers(Some("acct_1Half")).is_empty(),
        "no zombie left in Stripe"
    );
    // And the key is free for a new customer.
    let (status, _) = upsert(&app, &org, json!({ "email": "half@example.com" })).await;
    assert_eq!(status, 201);
}

async fn erasure_requests_need_an_admin_and_an_email(app: TestApp) {
    let org = app.create_organizer("Org", "acct_1EraseAuth").await;
    let token = app.organizer_token(org["id"].as_str().unwrap());
    error_body(
        app.post("/v1/erasures", &token, &json!({ "email": "a@example.com" }))
            .await,
        403,
        "forbidden",
    )
    .await;
    for (body, field) in [
        (json!({ "email": "nope" }), "email"),
        (json!({}), "email"),
        (json!({ "email": "a@example.com", "x": 1 }), "x"),
    ] {
        let error = error_body(
            app.post("/v1/erasures", &app.admin_token(), &body).await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(error["error"]["fields"][0]["field"], field);
    }
}
