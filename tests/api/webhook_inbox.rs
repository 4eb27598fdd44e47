//! How the inbox sits in PostgreSQL: the committers' connections are their own, and stored
//! bodies are compressed with lz4 where the server has it. SQLite has one writer and stores
//! bodies as they are, so these run on PostgreSQL only.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use serde_json::json;

use crate::customers::customers_path;
use crate::helpers::webhooks::event;
use crate::helpers::{postgres_configured, spawn_app_with, Backend, TestApp};

/// A transaction on its own connection holding `LOCK TABLE {table}` until dropped.
struct TableLock {
    release: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TableLock {
    fn take(url: &str, table: &'static str) -> Self {
        let url = url.to_string();
        let (locked, is_locked) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let mut conn = PgConnection::establish(&url).unwrap();
            conn.batch_execute(&format!(
                "BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
            ))
            .unwrap();
            locked.send(()).unwrap();
            let _ = released.recv();
            conn.batch_execute("COMMIT").unwrap();
        });
        is_locked.recv().expect("the lock is taken");
        Self {
            release: Some(release),
            thread: Some(thread),
        }
    }
}

impl Drop for TableLock {
    fn drop(&mut self) {
        drop(self.release.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Waits until one of the gateway's statements waits for a lock.
async fn until_a_statement_waits_for_a_lock(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while app
        .count_rows(
            "pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
        )
        .await
        == 0
    {
        assert!(
            Instant::now() < deadline,
            "no statement waited for the lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_stored_while_every_pooled_connection_is_held() {
    if !postgres_configured() {
        eprintln!("skipped: set TEST_DATABASE_URL to run against PostgreSQL");
        return;
    }
    let app = spawn_app_with(Backend::Postgres, |settings| {
        settings.database.database_pool_size = 1;
        settings.database.database_connect_timeout_secs = 2;
        settings.worker.run_workers = false;
    })
    .await;
    let org = app.create_organizer("Held", "acct_1Held").await;
    let lock = TableLock::take(app.database_url(), "customers");
    // A read holds the pool's one connection while it waits for the lock.
    let read = {
        let path = format!("{}?email=held@example.com", customers_path(&org));
        let (client, url, token) = (app.client.clone(), app.address.clone(), app.admin_token());
        tokio::spawn(async move {
            let response = client
                .get(format!("{url}{path}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            response.status().as_u16()
        })
    };
    until_a_statement_waits_for_a_lock(&app).await;

    let delivered = event(
        "customer.updated",
        Some("acct_1Held"),
        &json!({ "id": "cus_held", "object": "customer" }),
    );
    let receipt = app.deliver(&delivered).await;
    assert_eq!(receipt["duplicate"], false);
    let id = delivered["id"].as_str().unwrap();
    assert_eq!(
        app.count_rows(&format!("webhook_events WHERE id = '{id}'"))
            .await,
        1,
        "stored while the pool was held"
    );

    drop(lock);
    assert_eq!(
        read.await.unwrap(),
        200,
        "the read goes on once the lock is gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_bodies_are_compressed_with_lz4_where_the_server_has_it() {
    if !postgres_configured() {
        eprintln!("skipped: set TEST_DATABASE_URL to run against PostgreSQL");
        return;
    }
    let app = spawn_app_with(Backend::Postgres, |_| {}).await;
    let server_has_lz4 = app
        .count_rows(
            "pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)",
        )
        .await;
    let payload_in_lz4 = app
        .count_rows(
            "pg_attribute WHERE attrelid = 'webhook_events'::regclass \
             AND attname = 'payload' AND attcompression = 'l'",
        )
        .await;
    assert_eq!(payload_in_lz4, server_has_lz4);
}
