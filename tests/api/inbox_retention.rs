//! The inbox's retention: settled events past `WEBHOOK_EVENTS_RETENTION_DAYS` are purged with
//! their attempts; pending and dead events stay whatever their age.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::webhooks::event;
use crate::helpers::{backend_tests, spawn_app_with, Backend, TestApp};

backend_tests!(settled_events_past_their_retention_are_purged,);

const ACCOUNT: &str = "acct_1InboxRetention1";

fn product(id: &str) -> Value {
    json!({ "id": id, "object": "product" })
}

/// The status the admin API shows for the event `id`, or `None` once it is gone.
async fn status(app: &TestApp, id: &str) -> Option<String> {
    let response = app
        .get(
            &format!("/v1/admin/webhook-events/{id}"),
            &app.admin_token(),
        )
        .await;
    if response.status() == 404 {
        return None;
    }
    assert_eq!(response.status(), 200);
    let event: Value = response.json().await.unwrap();
    Some(event["status"].as_str().unwrap().to_string())
}

async fn settled_events_past_their_retention_are_purged(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.server.idempotency_purge_secs = 1;
        s.webhooks.webhook_events_retention_days = 30;
        // No worker processes them: a known account's events stay pending.
        s.worker.run_workers = false;
    })
    .await;
    app.create_organizer("Kept", ACCOUNT).await;
    let stranger = event(
        "product.updated",
        Some("acct_1NobodysAccount"),
        &product("prod_s"),
    );
    let pending = event("product.updated", Some(ACCOUNT), &product("prod_p"));
    let dead = event("product.updated", Some(ACCOUNT), &product("prod_d"));
    for sent in [&stranger, &pending, &dead] {
        app.deliver(sent).await;
    }
    let id = |sent: &Value| sent["id"].as_str().unwrap().to_string();
    assert_eq!(
        status(&app, &id(&stranger)).await.as_deref(),
        Some("unknown_account")
    );
    // An attempt of each of two events: the purged event's goes with it, the kept one's stays.
    let attempts = format!(
        "INSERT INTO webhook_event_attempts \
         (id, event_id, started_at, finished_at, error, stripe_account_id) VALUES \
         ('att_purged', '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'failed', 'acct_1NobodysAccount'), \
         ('att_kept', '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'failed', '{ACCOUNT}')",
        id(&stranger),
        id(&pending)
    );
    app.execute_sql(&attempts, &attempts).await;
    app.execute_sql(
        &format!(
            "UPDATE webhook_events SET status = 'dead' WHERE id = '{}'",
            id(&dead)
        ),
        &format!(
            "UPDATE webhook_events SET status = 'dead' WHERE id = '{}'",
            id(&dead)
        ),
    )
    .await;
    app.execute_sql(
        "UPDATE webhook_events SET received_at = received_at - INTERVAL '31 days'",
        "UPDATE webhook_events SET received_at = datetime(received_at, '-31 days')",
    )
    .await;
    let recent = event(
        "product.updated",
        Some("acct_1NobodysAccount"),
        &product("prod_r"),
    );
    app.deliver(&recent).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while status(&app, &id(&stranger)).await.is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the purge never removed the old settled event"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        status(&app, &id(&pending)).await.as_deref(),
        Some("pending")
    );
    assert_eq!(status(&app, &id(&dead)).await.as_deref(), Some("dead"));
    let both = "webhook_event_attempts WHERE id IN ('att_purged', 'att_kept')";
    assert_eq!(
        app.select_texts(&format!("id AS value FROM {both}")).await,
        ["att_kept"],
        "the purged event's attempts go with it, a kept event's stay"
    );
    assert_eq!(
        status(&app, &id(&recent)).await.as_deref(),
        Some("unknown_account"),
        "a settled event within its retention stays"
    );
}
