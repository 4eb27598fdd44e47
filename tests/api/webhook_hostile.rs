//! The inbox under hostile input and database restarts: an envelope naming what no Stripe
//! object could be is refused before it is stored, one row the database refuses never fails its
//! neighbours, and connections found dead are replaced before a request is failed.

use std::sync::Arc;

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::QueryResult;
use gateway::db::models::{NewWebhookEvent, WebhookEvent};
use gateway::db::{now, DatabaseUrl, Db, DbConnection};
use gateway::domain::EventStatus;
use gateway::services::webhooks::{store_batch, RowOutcome, Stored};
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::helpers::webhooks::{event, signature};
use crate::helpers::{backend_tests, error_body, spawn_app, Backend, TestApp, WEBHOOK_SECRET};

backend_tests!(
    an_envelope_id_with_a_nul_is_refused_and_stored_nowhere,
    ids_the_admin_api_cannot_name_are_refused_at_ingestion,
    valid_deliveries_beside_invalid_ones_are_each_stored,
    a_row_the_database_refuses_fails_alone,
);

const ACCOUNT: &str = "acct_1HostileInput01";

/// Delivers `event` signed, whatever it holds; returns the response.
async fn deliver_signed(app: &TestApp, event: &Value) -> reqwest::Response {
    let body = serde_json::to_vec(event).unwrap();
    let signature = signature(&[WEBHOOK_SECRET], &body);
    app.deliver_raw(body, Some(signature)).await
}

fn customer_event(id: &str, account: &str, object_id: &str) -> Value {
    let mut event = event(
        "customer.updated",
        Some(account),
        &json!({"id": object_id, "object": "customer"}),
    );
    event["id"] = json!(id);
    event
}

/// A NUL in the event id, the account or the object id: `400 invalid_event`, nothing stored
/// (PostgreSQL refuses NUL in text, and answered 500 when it reached it).
async fn an_envelope_id_with_a_nul_is_refused_and_stored_nowhere(app: TestApp) {
    let counted_before = refused_deliveries(&app).await;
    for (field, id, account, object_id) in [
        ("`id`", "evt_nul\u{0}id", ACCOUNT, "cus_1"),
        ("`account`", "evt_nulaccount", "acct_1Nul\u{0}", "cus_1"),
        ("`data.object.id`", "evt_nulobject", ACCOUNT, "cus_\u{0}1"),
    ] {
        let response = deliver_signed(&app, &customer_event(id, account, object_id)).await;
        let body = error_body(response, 400, "invalid_event").await;
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(field),
            "the message names {field}: {body}"
        );
    }
    assert_eq!(app.count_rows("webhook_events").await, 0);
    // The recorder is the process's, shared by the suite's gateways: "at least".
    assert!(refused_deliveries(&app).await >= counted_before + 3.0);
}

/// Deliveries refused as `invalid_event`, as `GET /metrics` counts them.
async fn refused_deliveries(app: &TestApp) -> f64 {
    let series = r#"gateway_webhook_deliveries_total{outcome="invalid_event"} "#;
    let text = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(series))
        .map_or(0.0, |value| value.parse().unwrap())
}

/// Ingestion and the admin API agree on what an event id can be: what one refuses, the other
/// never stored; what is stored can be read and replayed.
async fn ids_the_admin_api_cannot_name_are_refused_at_ingestion(app: TestApp) {
    for id in [
        "evt_ünicode",
        "evt with spaces",
        "evt_\"quoted\"",
        "evt_new\nline",
        "evt_\u{202E}rtl",
    ] {
        let response = deliver_signed(&app, &customer_event(id, ACCOUNT, "cus_1")).await;
        error_body(response, 400, "invalid_event").await;
    }
    assert_eq!(app.count_rows("webhook_events").await, 0);
    // The most unusual ids Stripe's rule allows (user-chosen ids, such as a product's, may
    // hold punctuation) are stored, found and replayed, and their cursors taken back.
    app.deliver(&customer_event("evt_2older", ACCOUNT, "cus_2"))
        .await;
    let odd = "evt_1.a-b~c!d$e";
    app.deliver(&customer_event(odd, ACCOUNT, "prod_x.y-z~1"))
        .await;
    let path = format!("/v1/admin/webhook-events/{odd}");
    let found = app.get_json(&path, &app.admin_token()).await;
    assert_eq!(found["object_id"], "prod_x.y-z~1", "{found}");
    let replayed = app
        .post(&format!("{path}/replay"), &app.admin_token(), &json!({}))
        .await;
    assert_eq!(replayed.status(), 202);
    let page = app
        .get_json("/v1/admin/webhook-events?limit=1", &app.admin_token())
        .await;
    assert_eq!(page["data"][0]["id"], odd, "{page}");
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let next = app
        .get_json(
            &format!("/v1/admin/webhook-events?limit=1&cursor={cursor}"),
            &app.admin_token(),
        )
        .await;
    assert_eq!(next["data"][0]["id"], "evt_2older", "{next}");
}

/// Valid and invalid deliveries sent together, over many connections at once: every valid one
/// is acknowledged and stored, every invalid one refused and not stored.
async fn valid_deliveries_beside_invalid_ones_are_each_stored(app: TestApp) {
    let app = Arc::new(app);
    let mut sent = Vec::new();
    for n in 0..120 {
        let valid = n % 4 != 0;
        let id = if valid {
            format!("evt_valid{n}")
        } else {
            format!("evt_bad\u{0}{n}")
        };
        let app = app.clone();
        sent.push((
            valid,
            tokio::spawn(async move {
                let response = deliver_signed(&app, &customer_event(&id, ACCOUNT, "cus_1")).await;
                response.status().as_u16()
            }),
        ));
    }
    for (valid, request) in sent {
        let status = request.await.unwrap();
        assert_eq!(status, if valid { 200 } else { 400 });
    }
    assert_eq!(app.count_rows("webhook_events").await, 90);
    assert_eq!(
        app.count_rows("webhook_events WHERE id LIKE 'evt_valid%'")
            .await,
        90
    );
}

fn row(id: &str) -> NewWebhookEvent {
    let at = now();
    NewWebhookEvent {
        id: id.to_string(),
        stripe_account_id: ACCOUNT.to_string(),
        event_type: "customer.updated".into(),
        object_type: "customer".into(),
        object_id: Some("cus_1".into()),
        livemode: false,
        created_at: at,
        received_at: at,
        status: EventStatus::Pending,
        next_attempt_at: at,
        payload: "{}".into(),
    }
}

/// The insert, refusing (as a database refuses a value it cannot store) any statement that
/// holds a row whose id starts with `evt_refused`.
fn refusing_insert(conn: &mut DbConnection, rows: &[&NewWebhookEvent]) -> QueryResult<Vec<String>> {
    if rows.iter().any(|row| row.id.starts_with("evt_refused")) {
        return Err(DieselError::DatabaseError(
            DatabaseErrorKind::CheckViolation,
            Box::new("the value cannot be stored".to_string()),
        ));
    }
    WebhookEvent::insert_batch(conn, rows)
}

/// One batch of a committer holding rows the database refuses: those fail alone, the others
/// are stored and answered (a redelivery in the batch as a duplicate).
async fn a_row_the_database_refuses_fails_alone(app: TestApp) {
    let db = Db::connect(
        &DatabaseUrl::parse(app.database_url()).unwrap(),
        1,
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    let mut conn = db.get().unwrap();
    let batch = [
        row("evt_ok1"),
        row("evt_refused1"),
        row("evt_ok2"),
        row("evt_ok1"),
        row("evt_refused2"),
    ];
    let outcomes = store_batch(&mut conn, &batch, &Notify::new(), refusing_insert).unwrap();
    let summary: Vec<Result<Stored, ()>> = outcomes.into_iter().map(|o| o.map_err(drop)).collect();
    assert_eq!(
        summary,
        [
            Ok(Stored::New),
            Err(()),
            Ok(Stored::New),
            Ok(Stored::Duplicate),
            Err(())
        ]
    );
    assert_eq!(app.count_rows("webhook_events").await, 2);

    // On PostgreSQL, a real refusal: a NUL in text (ingestion refuses it before; this is the
    // committer's own guard).
    if app.backend == Backend::Postgres {
        let batch = [row("evt_ok3"), row("evt_\u{0}nul"), row("evt_ok4")];
        let outcomes: Vec<RowOutcome> = store_batch(
            &mut conn,
            &batch,
            &Notify::new(),
            WebhookEvent::insert_batch,
        )
        .unwrap();
        assert!(matches!(outcomes[0], Ok(Stored::New)), "{outcomes:?}");
        assert!(outcomes[1].is_err(), "{outcomes:?}");
        assert!(matches!(outcomes[2], Ok(Stored::New)), "{outcomes:?}");
        assert_eq!(app.count_rows("webhook_events").await, 4);
    }
}

async fn readiness(app: &TestApp) -> u16 {
    let url = format!("{}/readyz", app.address);
    app.client.get(url).send().await.unwrap().status().as_u16()
}

/// PostgreSQL ends every connection of the gateway's (as a restart does) while it is idle: the
/// next deliveries, hot reads and admin reads are answered, and `/readyz` says ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_ended_by_the_database_heal_before_the_next_requests() {
    if !crate::helpers::postgres_configured() {
        eprintln!("skipped: set TEST_DATABASE_URL to run against PostgreSQL");
        return;
    }
    let app = spawn_app(Backend::Postgres).await;
    let organizer = app.create_organizer("Hostile", ACCOUNT).await;
    let customers = format!(
        "/v1/organizers/{}/customers",
        organizer["id"].as_str().unwrap()
    );
    let customer = app
        .post(
            &customers,
            &app.admin_token(),
            &json!({"email": "ana@example.com", "name": "Ana"}),
        )
        .await;
    assert_eq!(customer.status(), 201);
    // Every kind of connection in use once: committers, grouped reads, the shared pool.
    app.deliver(&customer_event("evt_before", ACCOUNT, "cus_1"))
        .await;
    let by_email = format!("{customers}?email=ana@example.com");
    assert_eq!(app.get(&by_email, &app.admin_token()).await.status(), 200);
    assert_eq!(readiness(&app).await, 200);

    app.execute_sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
        "",
    )
    .await;
    // At once: a committer's or a grouped read's batch on a dead connection runs again on
    // another.
    for n in 0..4 {
        let id = format!("evt_after{n}");
        let response = deliver_signed(&app, &customer_event(&id, ACCOUNT, "cus_1")).await;
        assert_eq!(response.status(), 200, "delivery {n} after the restart");
    }
    assert_eq!(app.get(&by_email, &app.admin_token()).await.status(), 200);
    // The shared pool's connections are checked before use once they idled for IDLE_CHECK:
    // the gateway idles that long, as it did through the restart.
    tokio::time::sleep(gateway::db::IDLE_CHECK + std::time::Duration::from_millis(100)).await;
    assert_eq!(
        app.get("/v1/admin/webhook-events/evt_after0", &app.admin_token())
            .await
            .status(),
        200
    );
    assert_eq!(readiness(&app).await, 200);
}
