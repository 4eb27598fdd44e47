//! The migrated schema is ready to shard by account: every table is placed in
//! `src/db/distribution.rs`, and each table sharded by account has the account, not null, in
//! its primary key and every unique index, with foreign keys that stay on one account's node
//! (read from PostgreSQL's catalog). And the migration that made it so keeps the rows it moved.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};
use gateway::db::distribution::{Placement, DISTRIBUTION_COLUMN, TABLES};

use crate::helpers::{create_database, postgres_configured, spawn_app, Backend, TestApp};

fn placement(table: &str) -> Option<Placement> {
    TABLES
        .iter()
        .find(|(name, _)| *name == table)
        .map(|&(_, placement)| placement)
}

/// `value` rows of the catalog query, split at `|`.
async fn rows(app: &TestApp, select: &str) -> Vec<Vec<String>> {
    let rows = app.select_texts(select).await;
    rows.iter()
        .map(|row| row.split('|').map(str::to_string).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shared_table_holds_the_account_in_its_keys() {
    if !postgres_configured() {
        eprintln!("skipped: set TEST_DATABASE_URL to run against PostgreSQL");
        return;
    }
    let app = spawn_app(Backend::Postgres).await;
    let tables: BTreeSet<String> = app
        .select_texts(
            "c.relname AS value FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')",
        )
        .await
        .into_iter()
        .collect();
    let placed: BTreeSet<String> = TABLES.iter().map(|(name, _)| name.to_string()).collect();
    let unplaced: Vec<_> = tables.difference(&placed).collect();
    assert!(
        unplaced.is_empty(),
        "tables not placed in src/db/distribution.rs: {unplaced:?}"
    );
    let gone: Vec<_> = placed.difference(&tables).collect();
    assert!(gone.is_empty(), "placed but not migrated: {gone:?}");

    let mut failures = Vec::new();
    let by_account: Vec<&str> = TABLES
        .iter()
        .filter(|(_, placement)| *placement == Placement::ByAccount)
        .map(|(name, _)| *name)
        .collect();
    assert!(by_account.len() >= 18, "the tenants' tables are sharded");

    let not_null: BTreeSet<String> = app
        .select_texts(&format!(
            "c.relname AS value FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' AND a.attname = '{DISTRIBUTION_COLUMN}' \
               AND a.attnotnull AND NOT a.attisdropped"
        ))
        .await
        .into_iter()
        .collect();
    for table in &by_account {
        if !not_null.contains(*table) {
            failures.push(format!("{table}: no NOT NULL {DISTRIBUTION_COLUMN}"));
        }
    }

    // Every unique index (primary keys included): its table, name, whether it is the primary
    // key, and whether it holds the account (Citus's rule; where in the key is the table's
    // choice: the inbox leads with the event id, which every look-up of it names).
    let unique = rows(
        &app,
        &format!(
            "c.relname || '|' || i.relname || '|' || x.indisprimary || '|' || EXISTS \
               (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid \
                  AND a.attname = '{DISTRIBUTION_COLUMN}' AND a.attnum = ANY (x.indkey::int2[])) \
             AS value \
             FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid \
             JOIN pg_class i ON i.oid = x.indexrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' AND x.indisunique"
        ),
    )
    .await;
    let mut primary = BTreeSet::new();
    for row in &unique {
        let [table, index, is_primary, holds] = &row[..] else {
            panic!("unexpected catalog row {row:?}");
        };
        if placement(table) != Some(Placement::ByAccount) {
            continue;
        }
        if is_primary == "true" {
            primary.insert(table.clone());
        }
        if holds != "true" {
            failures.push(format!("{table}: unique index {index} lacks the account"));
        }
    }
    for table in &by_account {
        if !primary.contains(*table) {
            failures.push(format!("{table}: no primary key"));
        }
    }

    // Foreign keys: source table, target table, first source and first target column.
    let references = rows(
        &app,
        "s.relname || '|' || t.relname || '|' || sa.attname || '|' || ta.attname AS value \
         FROM pg_constraint k JOIN pg_class s ON s.oid = k.conrelid \
         JOIN pg_class t ON t.oid = k.confrelid \
         JOIN pg_namespace n ON n.oid = s.relnamespace \
         JOIN pg_attribute sa ON sa.attrelid = s.oid AND sa.attnum = k.conkey[1] \
         JOIN pg_attribute ta ON ta.attrelid = t.oid AND ta.attnum = k.confkey[1] \
         WHERE n.nspname = 'public' AND k.contype = 'f'",
    )
    .await;
    assert!(
        !references.is_empty(),
        "the catalog query finds the foreign keys"
    );
    for row in &references {
        let [from, to, from_column, to_column] = &row[..] else {
            panic!("unexpected catalog row {row:?}");
        };
        match (placement(from), placement(to)) {
            (Some(Placement::ByAccount), Some(Placement::ByAccount))
                if from_column != DISTRIBUTION_COLUMN || to_column != DISTRIBUTION_COLUMN =>
            {
                failures.push(format!("{from} -> {to}: not by the account first"))
            }
            (Some(Placement::ByAccount), Some(Placement::Coordinator)) => failures.push(format!(
                "{from} -> {to}: a shard cannot reach the coordinator"
            )),
            (Some(Placement::Reference), Some(other)) if other != Placement::Reference => failures
                .push(format!(
                    "{from} -> {to}: a reference table points at {other:?}"
                )),
            _ => {}
        }
    }
    assert!(
        failures.is_empty(),
        "not ready to shard:\n{}",
        failures.join("\n")
    );
}

const ACCOUNT_KEYS: &str = "2026-12-07-000022_account_keys";

/// Rows as they stood before the account led every key: a customer, a run, an event of the
/// platform with no account configured (NULL) and one of an account, each with an attempt.
const BEFORE: &str = "
    INSERT INTO organizers (id, name, stripe_account_id, status, created_at, updated_at)
        VALUES ('org-1', 'Acme', 'acct_1', 'active', '2026-12-01 00:00:00', '2026-12-01 00:00:00');
    INSERT INTO customers (id, organizer_id, stripe_account_id, email, email_normalized,
        metadata, stripe_customer_id, status, create_attempt, version, created_at, updated_at)
        VALUES ('cus-row-1', 'org-1', 'acct_1', 'a@example.com', 'a@example.com', '{}',
        'cus_1', 'active', 0, 1, '2026-12-01 00:00:00', '2026-12-01 00:00:00');
    INSERT INTO sync_runs (id, organizer_id, stripe_account_id, status, dry_run, kinds, trigger,
        created_at) VALUES ('run-1', 'org-1', 'acct_1', 'succeeded', false, '[]', 'api',
        '2026-12-01 00:00:00');
    INSERT INTO webhook_events (id, stripe_account_id, event_type, object_type, livemode,
        created_at, received_at, status, next_attempt_at, payload)
        VALUES ('evt_platform', NULL, 'balance.available', 'balance', false,
            '2026-12-01 00:00:00', '2026-12-01 00:00:00', 'unknown_account',
            '2026-12-01 00:00:00', '{}'),
        ('evt_account', 'acct_1', 'customer.updated', 'customer', false,
            '2026-12-01 00:00:00', '2026-12-01 00:00:00', 'processed',
            '2026-12-01 00:00:00', '{}');
    INSERT INTO webhook_event_attempts (id, event_id, started_at, finished_at)
        VALUES ('att-1', 'evt_platform', '2026-12-01 00:00:00', '2026-12-01 00:00:00'),
               ('att-2', 'evt_account', '2026-12-01 00:00:00', '2026-12-01 00:00:00');
    INSERT INTO erasures (id, subject_hash, status, created_at, updated_at)
        VALUES ('era-1', 'hash', 'completed', '2026-12-01 00:00:00', '2026-12-01 00:00:00');
    INSERT INTO erasure_accounts (erasure_id, customer_id, organizer_id, stripe_account_id,
        outcome, updated_at)
        VALUES ('era-1', 'cus-row-9', 'org-1', 'acct_1', 'erased', '2026-12-01 00:00:00');
";

/// What the rows read as after the migration, per table (`AGG` is the backend's string
/// aggregate): every row kept, the platform's event and its attempt under the empty account.
const AFTER: &str = "
    (SELECT AGG(stripe_account_id || ':' || id, ',') FROM customers) || ';' ||
    (SELECT AGG(stripe_account_id || ':' || id, ',') FROM sync_runs) || ';' ||
    (SELECT AGG(stripe_account_id || ':' || id, ',') FROM webhook_events) || ';' ||
    (SELECT AGG(stripe_account_id || ':' || id || '>' || event_id, ',')
        FROM webhook_event_attempts) || ';' ||
    (SELECT AGG(stripe_account_id || ':' || erasure_id, ',') FROM erasure_accounts)";

const EXPECTED: &str = "acct_1:cus-row-1;acct_1:run-1;acct_1:evt_account,:evt_platform;\
                        :att-1>evt_platform,acct_1:att-2>evt_account;acct_1:era-1";

#[derive(diesel::QueryableByName)]
struct Value {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

/// The migrations of `backend` as SQL scripts, each in a transaction as the gateway runs them:
/// those before `ACCOUNT_KEYS`, then [`BEFORE`], then the rest.
fn scripts_with_rows(backend: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    dirs.sort();
    let at = dirs
        .iter()
        .position(|dir| dir.ends_with(ACCOUNT_KEYS))
        .expect("the account keys migration");
    let script = |dir: &PathBuf| {
        let sql = std::fs::read_to_string(dir.join("up.sql")).unwrap();
        format!("BEGIN;\n{sql}\nCOMMIT;")
    };
    let mut scripts: Vec<String> = dirs[..at].iter().map(script).collect();
    scripts.push(BEFORE.to_string());
    scripts.extend(dirs[at..].iter().map(script));
    scripts
}

/// Each table's rows of [`AFTER`], sorted: the aggregates' order is the backend's.
fn sorted(after: &str) -> Vec<Vec<&str>> {
    let mut tables: Vec<Vec<&str>> = after.split(';').map(|t| t.split(',').collect()).collect();
    tables.iter_mut().for_each(|rows| rows.sort_unstable());
    tables
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_keys_migration_keeps_every_row_on_postgres() {
    if !postgres_configured() {
        eprintln!("skipped: set TEST_DATABASE_URL to run against PostgreSQL");
        return;
    }
    let (_database, url) = create_database(Backend::Postgres).await;
    let after = tokio::task::spawn_blocking(move || {
        let mut conn = PgConnection::establish(&url).unwrap();
        for script in scripts_with_rows("postgres") {
            conn.batch_execute(&script)
                .unwrap_or_else(|e| panic!("{e}: {script}"));
        }
        let sql = format!("SELECT {} AS value", AFTER.replace("AGG", "string_agg"));
        diesel::sql_query(sql)
            .get_result::<Value>(&mut conn)
            .unwrap()
            .value
    })
    .await
    .unwrap();
    assert_eq!(sorted(&after), sorted(EXPECTED));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_keys_migration_keeps_every_row_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.db");
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    // As the gateway's pool sets it: the rebuilt tables must keep every reference whole.
    conn.batch_execute("PRAGMA foreign_keys = ON").unwrap();
    for script in scripts_with_rows("sqlite") {
        conn.batch_execute(&script)
            .unwrap_or_else(|e| panic!("{e}: {script}"));
    }
    let sql = format!("SELECT {} AS value", AFTER.replace("AGG", "group_concat"));
    let after = diesel::sql_query(sql)
        .get_result::<Value>(&mut conn)
        .unwrap()
        .value;
    assert_eq!(sorted(&after), sorted(EXPECTED));
    let broken =
        diesel::sql_query("SELECT CAST(COUNT(*) AS TEXT) AS value FROM pragma_foreign_key_check")
            .get_result::<Value>(&mut conn)
            .unwrap()
            .value;
    assert_eq!(broken, "0", "references left pointing nowhere");
}
