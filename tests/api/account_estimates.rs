//! A backfill keeps PostgreSQL's estimate of its account near the truth when the last ANALYZE
//! ran before the account had any rows (a new organizer's first backfill): the planner would
//! otherwise take the account for one row, and a page's look-ups could each read the whole
//! account (`src/db/estimates.rs`).

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use gateway::db::estimates::{self, FLOOR};
use gateway::db::DbConnection;
use serde_json::json;

use crate::helpers::{postgres_configured, spawn_app, Backend};
use crate::support::fake_stripe::billing::product_json;
use crate::sync::{drift, run_once};

/// A hundred other accounts of a thousand customers and a thousand products each, as ANALYZE
/// then sees them: the statistics name these accounts alone. Autovacuum stays away from the two tables, so
/// only the gateway can take their statistics again.
const SEEN: &str = "
    INSERT INTO organizers (id, name, stripe_account_id, status, created_at, updated_at)
        SELECT 'org_' || a, 'Organizer ' || a, 'acct_other' || a, 'active', now(), now()
        FROM generate_series(1, 100) a;
    INSERT INTO customers (id, organizer_id, stripe_account_id, email, email_normalized, metadata,
        stripe_customer_id, status, create_attempt, version, created_at, updated_at)
        SELECT 'row_' || a || '_' || i, 'org_' || a, 'acct_other' || a, i || '@example.com',
            i || '@example.com', '{}', 'cus_' || a || '_' || i, 'active', 0, 1, now(), now()
        FROM generate_series(1, 100) a, generate_series(1, 1000) i;
    INSERT INTO products (stripe_account_id, id, name, active, metadata, deleted, fetched_at)
        SELECT 'acct_other' || a, 'prod_' || a || '_' || i, 'Product', true, '{}', false, now()
        FROM generate_series(1, 100) a, generate_series(1, 1000) i;
    ALTER TABLE customers SET (autovacuum_enabled = false);
    ALTER TABLE products SET (autovacuum_enabled = false);
    ANALYZE customers;
    ANALYZE products;
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_keeps_the_planner_estimate_of_its_account() {
    if !postgres_configured() {
        eprintln!("skipped: set TEST_DATABASE_URL to run against PostgreSQL");
        return;
    }
    let app = spawn_app(Backend::Postgres).await;
    let account = "acct_1EstimatesNew0001";
    let org = app.create_organizer("New", account).await;
    let url = app.database_url().to_string();
    tokio::task::spawn_blocking({
        let url = url.clone();
        move || {
            let mut pg = PgConnection::establish(&url).unwrap();
            pg.batch_execute(SEEN).unwrap();
        }
    })
    .await
    .unwrap();

    // The new account's first backfill: past the size at which a table is analyzed for it.
    let size = FLOOR as usize * 3;
    for n in 0..size {
        app.stripe
            .add_customer(Some(account), &format!("{n}@example.com"), "Buyer");
        let id = format!("prod_{n:05}");
        app.stripe
            .put_object(Some(account), product_json(&id, &id, true));
    }
    let run = run_once(&app, &org, json!({ "kinds": ["customers", "products"] })).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    for kind in ["customers", "products"] {
        assert_eq!(drift(&run, kind)["checked"], size as u64, "{run}");
    }

    let account = account.to_string();
    tokio::task::spawn_blocking(move || {
        let mut conn = DbConnection::Postgresql(PgConnection::establish(&url).unwrap());
        for table in ["customers", "products"] {
            let believed = estimates::believed_rows(&mut conn, table, &account)
                .unwrap()
                .unwrap();
            assert!(
                believed >= size as f64 / 2.0,
                "the planner believes {account} has {believed} rows of {table}, of {size}"
            );
        }
    })
    .await
    .unwrap();
}
