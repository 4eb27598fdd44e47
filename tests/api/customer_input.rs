//! What clients send that the gateway must neither lose nor half-apply: repeated JSON keys,
//! metadata within Stripe's limit of keys per customer, with removal, and invalid fields;
//! and what another organizer's token may not do.

use reqwest::header::CONTENT_TYPE;
use serde_json::{json, Map, Value};

use crate::customers::{customer_path, customers_path, find_by_email, stripe_path, upsert};
use crate::helpers::{backend_tests, error_body, error_fields, TestApp};

/// `n` metadata keys `prefix0..prefix{n-1}`.
fn keys(prefix: &str, n: usize) -> Value {
    Value::Object(
        (0..n)
            .map(|i| (format!("{prefix}{i}"), json!("v")))
            .collect::<Map<_, _>>(),
    )
}

backend_tests!(
    a_field_sent_twice_is_refused_rather_than_half_read,
    metadata_stays_within_stripes_limit_and_keys_can_be_removed,
);

async fn a_field_sent_twice_is_refused_rather_than_half_read(app: TestApp) {
    let org = app.create_organizer("Twice", "acct_1Twice").await;
    let response = app
        .client
        .post(format!("{}{}", app.address, customers_path(&org)))
        .bearer_auth(app.admin_token())
        .header(CONTENT_TYPE, "application/json")
        .body(r#"{"email": "first@example.com", "email": "second@example.com"}"#)
        .send()
        .await
        .unwrap();
    let body = error_body(response, 422, "validation_failed").await;
    assert_eq!(body["error"]["fields"][0]["field"], "email", "{body}");
    assert!(app.stripe.requests_to("POST", "/v1/customers").is_empty());
    assert!(find_by_email(&app, &org, "second@example.com")
        .await
        .is_empty());
}

async fn metadata_stays_within_stripes_limit_and_keys_can_be_removed(app: TestApp) {
    let org = app.create_organizer("Meta", "acct_1Meta").await;
    let (status, customer) = upsert(
        &app,
        &org,
        json!({ "email": "meta@example.com", "metadata": keys("a", 48) }),
    )
    .await;
    assert_eq!(status, 201, "{customer}");
    assert_eq!(customer["metadata"].as_object().unwrap().len(), 48);
    let error = error_body(
        app.post(
            &customers_path(&org),
            &app.admin_token(),
            &json!({ "email": "meta@example.com", "metadata": keys("a", 49) }),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error["error"]["fields"][0]["field"], "metadata");

    // One more key would be 49 in Stripe: refused before Stripe is asked.
    let updates = app
        .stripe
        .requests_to("POST", &stripe_path(&customer))
        .len();
    let error = error_body(
        app.post(
            &customers_path(&org),
            &app.admin_token(),
            &json!({ "email": "meta@example.com", "metadata": { "extra": "1" } }),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error["error"]["fields"][0]["field"], "metadata", "{error}");
    assert!(
        error["error"]["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("49"),
        "{error}"
    );

    // Removing one makes room for it, in one upsert.
    let (status, changed) = upsert(
        &app,
        &org,
        json!({ "email": "meta@example.com", "metadata": { "a0": "", "extra": "1" } }),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    let metadata = changed["metadata"].as_object().unwrap();
    assert_eq!(metadata.len(), 48);
    assert!(
        !metadata.contains_key("a0") && metadata["extra"] == "1",
        "{changed}"
    );
    let stripe = app.stripe.customers(Some("acct_1Meta"))[0].clone();
    assert_eq!(
        stripe["metadata"].as_object().unwrap().len(),
        50,
        "48 of the client's and the gateway's 2"
    );
    assert!(stripe["metadata"].get("a0").is_none());
    assert_eq!(
        app.stripe
            .requests_to("POST", &stripe_path(&customer))
            .len(),
        updates + 1
    );

    // Removing a key the customer does not have changes nothing and calls nobody.
    let (status, same) = upsert(
        &app,
        &org,
        json!({ "email": "meta@example.com", "metadata": { "never": "" } }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(same, changed);
    assert_eq!(
        app.stripe
            .requests_to("POST", &stripe_path(&customer))
            .len(),
        updates + 1
    );
    // On a new customer, an empty value sets nothing.
    let (status, fresh) = upsert(
        &app,
        &org,
        json!({ "email": "fresh@example.com", "metadata": { "gone": "", "kept": "1" } }),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(fresh["metadata"], json!({ "kept": "1" }));
}

backend_tests!(
    bad_input_is_refused_with_field_details,
    another_organizers_token_gets_403_everywhere_and_changes_nothing,
);

async fn bad_input_is_refused_with_field_details(app: TestApp) {
    let org = app.create_organizer("Strict", "acct_1Strict").await;
    let cases = [
        (json!({ "email": "" }), vec!["email"]),
        (json!({ "email": "   " }), vec!["email"]),
        (json!({ "email": "no-at-sign" }), vec!["email"]),
        (json!({ "email": "a@b" }), vec!["email"]),
        (json!({}), vec!["email"]),
        (json!({ "email": 42 }), vec!["email"]),
        (
            json!({ "email": "a@example.com", "name": "n".repeat(257) }),
            vec!["name"],
        ),
        (
            json!({ "email": "a@example.com", "phone": "call me maybe" }),
            vec!["phone"],
        ),
        (
            json!({ "email": "a@example.com", "nickname": "x" }),
            vec!["nickname"],
        ),
        (
            json!({ "email": format!("{}@example.com", "a".repeat(250)) }),
            vec!["email"],
        ),
        // Invisible and look-alike characters would give one mailbox a second key.
        (json!({ "email": "ana\u{200B}@example.com" }), vec!["email"]),
        (json!({ "email": "ana@ex\u{0430}mple.com" }), vec!["email"]),
        (json!({ "email": "\"ana\"@example.com" }), vec!["email"]),
        (
            json!({ "email": "a@example.com", "name": "Ana\u{202E}amiL" }),
            vec!["name"],
        ),
        (
            json!({ "email": "a@example.com", "metadata": { "k": 1 } }),
            vec!["metadata.k"],
        ),
        (json!({ "email": "bad", "name": "" }), vec!["email", "name"]),
        (
            json!({
                "email": "a@example.com",
                "metadata": { "gateway_customer_id": "forged", "ok": "1" },
            }),
            vec!["metadata.gateway_customer_id"],
        ),
        (
            json!({ "email": "a@example.com", "metadata": { "k": "v".repeat(501) } }),
            vec!["metadata.k"],
        ),
    ];
    for (body, fields) in cases {
        let response = app
            .post(&customers_path(&org), &app.admin_token(), &body)
            .await;
        let error = error_body(response, 422, "validation_failed").await;
        let got = error_fields(&error);
        assert_eq!(got, fields, "{body}");
    }
    error_body(
        app.request(
            reqwest::Method::POST,
            &customers_path(&org),
            Some(&app.admin_token()),
            None,
        )
        .await,
        415,
        "unsupported_media_type",
    )
    .await;
    assert!(
        app.stripe.requests_to("POST", "/v1/customers").is_empty(),
        "nothing reached Stripe"
    );
}

async fn another_organizers_token_gets_403_everywhere_and_changes_nothing(app: TestApp) {
    let mine = app.create_organizer("Mine", "acct_1Mine").await;
    let theirs = app.create_organizer("Theirs", "acct_1Theirs").await;
    let (_, customer) = upsert(
        &app,
        &mine,
        json!({ "email": "private@example.com", "name": "Priv" }),
    )
    .await;
    let intruder = app.organizer_token(theirs["id"].as_str().unwrap());
    let stripe_before = app.stripe.requests().len();
    let path = customer_path(&mine, &customer);
    let bogus = format!("{}/not-a-uuid", customers_path(&mine));
    for response in [
        app.post(
            &customers_path(&mine),
            &intruder,
            &json!({ "email": "private@example.com", "name": "Hijack" }),
        )
        .await,
        app.post(
            &customers_path(&mine),
            &intruder,
            &json!({ "email": "new@example.com" }),
        )
        .await,
        app.get(&customers_path(&mine), &intruder).await,
        app.get(
            &format!("{}?email=private@example.com", customers_path(&mine)),
            &intruder,
        )
        .await,
        app.get(&path, &intruder).await,
        app.get(&bogus, &intruder).await,
        app.patch(&path, &intruder, &json!({ "name": "Hijack" }))
            .await,
        app.delete(&path, &intruder).await,
        app.post(
            "/v1/erasures",
            &intruder,
            &json!({ "email": "private@example.com" }),
        )
        .await,
        app.get("/v1/admin/audit-log", &intruder).await,
        // Whatever the body: scope is checked before it is read.
        app.post(
            &customers_path(&mine),
            &intruder,
            &json!({ "email": "bad", "nickname": 1 }),
        )
        .await,
        app.request(
            reqwest::Method::POST,
            &customers_path(&mine),
            Some(&intruder),
            None,
        )
        .await,
        app.patch(&path, &intruder, &json!({ "nickname": "x" }))
            .await,
        app.post("/v1/erasures", &intruder, &json!({})).await,
    ] {
        error_body(response, 403, "forbidden").await;
    }
    assert_eq!(
        app.stripe.requests().len(),
        stripe_before,
        "Stripe was never called"
    );
    let fetched: Value = app.get_json(&path, &app.admin_token()).await;
    assert_eq!(fetched, customer);
    assert!(find_by_email(&app, &mine, "new@example.com")
        .await
        .is_empty());

    // The owner's token works.
    let own = app.organizer_token(mine["id"].as_str().unwrap());
    assert_eq!(app.get(&path, &own).await.status(), 200);
    assert_eq!(
        app.post(
            &customers_path(&mine),
            &own,
            &json!({ "email": "mine@example.com" })
        )
        .await
        .status(),
        201
    );

    // A disabled organizer's own token is refused too.
    app.patch(
        &format!("/v1/organizers/{}", mine["id"].as_str().unwrap()),
        &app.admin_token(),
        &json!({ "status": "disabled" }),
    )
    .await;
    error_body(app.get(&path, &own).await, 403, "forbidden").await;
    let unknown = format!("/v1/organizers/{}/customers", uuid::Uuid::now_v7());
    error_body(
        app.post(
            &unknown,
            &app.admin_token(),
            &json!({ "email": "x@example.com" }),
        )
        .await,
        404,
        "organizer_not_found",
    )
    .await;
}
