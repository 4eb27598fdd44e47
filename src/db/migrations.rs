use diesel::connection::SimpleConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::{DbConnection, DbError};

const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Any constant works; it only has to be the same for every gateway instance.
const MIGRATION_LOCK_KEY: i64 = 0x5354_5250_4757_0001;

type MigrationError = Box<dyn std::error::Error + Send + Sync>;

/// Applies what is pending and returns the versions applied. Instances that start together on
/// one database take turns: an advisory lock on PostgreSQL, a write (`IMMEDIATE`) transaction on
/// SQLite; whoever comes second finds nothing pending.
pub fn run_pending_migrations(conn: &mut DbConnection) -> Result<Vec<String>, MigrationError> {
    let applied = match conn {
        DbConnection::Postgresql(pg) => {
            pg.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))?;
            let result = pg
                .run_pending_migrations(POSTGRES)
                .map(|v| v.iter().map(ToString::to_string).collect());
            pg.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))?;
            result?
        }
        DbConnection::Sqlite(sqlite) => sqlite.immediate_transaction(|sqlite| {
            sqlite
                .run_pending_migrations(SQLITE)
                .map(|v| v.iter().map(ToString::to_string).collect())
        })?,
    };
    Ok(applied)
}

pub fn has_pending_migrations(conn: &mut DbConnection) -> Result<bool, DbError> {
    match conn {
        DbConnection::Postgresql(pg) => pg.has_pending_migration(POSTGRES),
        DbConnection::Sqlite(sqlite) => sqlite.has_pending_migration(SQLITE),
    }
    .map_err(|e| DbError::Migrations(e.to_string()))
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use diesel::sql_types::{BigInt, Text};
    use diesel_migrations::MigrationHarness;

    use super::SQLITE;

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    #[derive(QueryableByName)]
    struct Account {
        #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
        stripe_account_id: Option<String>,
    }

    /// A database with organizers and customers (foreign keys on, as the pool sets them) goes
    /// through every later migration with its rows and references whole: SQLite's rebuild of
    /// `organizers` must not lose a row nor leave a customer pointing nowhere.
    #[test]
    fn sqlite_migrations_keep_organizers_and_their_customers() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        conn.batch_execute("PRAGMA foreign_keys = ON").unwrap();
        loop {
            let applied = conn.run_next_migration(SQLITE).unwrap();
            if applied
                .to_string()
                .replace('-', "")
                .starts_with("20261203000012")
            {
                break;
            }
        }
        conn.batch_execute(
            "INSERT INTO organizers (id, name, stripe_account_id, status, created_at, updated_at)
                 VALUES ('org-1', 'Acme', 'acct_1', 'active', '2026-12-01 00:00:00', '2026-12-01 00:00:00');
             INSERT INTO customers (id, organizer_id, stripe_account_id, email, email_normalized,
                 metadata, stripe_customer_id, status, create_attempt, version, created_at, updated_at)
                 VALUES ('cus-row-1', 'org-1', 'acct_1', 'a@example.com', 'a@example.com', '{}',
                 'cus_1', 'active', 0, 1, '2026-12-01 00:00:00', '2026-12-01 00:00:00');",
        )
        .unwrap();
        conn.immediate_transaction(|conn| conn.run_pending_migrations(SQLITE).map(drop))
            .expect("the later migrations apply to a database with data");
        let count = |conn: &mut SqliteConnection, sql: &str| {
            diesel::sql_query(sql).get_result::<Count>(conn).unwrap().n
        };
        assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM organizers"), 1);
        assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM customers"), 1);
        assert_eq!(
            count(
                &mut conn,
                "SELECT COUNT(*) AS n FROM pragma_foreign_key_check"
            ),
            0
        );
        let kept = diesel::sql_query("SELECT stripe_account_id FROM organizers")
            .get_result::<Account>(&mut conn)
            .unwrap();
        assert_eq!(kept.stripe_account_id.as_deref(), Some("acct_1"));
        // The rebuilt table takes an organizer without an account, and still one per account.
        conn.batch_execute(
            "INSERT INTO organizers (id, name, status, created_at, updated_at)
                 VALUES ('org-2', 'New', 'active', '2026-12-03 00:00:00', '2026-12-03 00:00:00')",
        )
        .unwrap();
        let twice = conn.batch_execute(
            "INSERT INTO organizers (id, name, stripe_account_id, status, created_at, updated_at)
                 VALUES ('org-3', 'Copy', 'acct_1', 'active', '2026-12-03 00:00:00', '2026-12-03 00:00:00')",
        );
        assert!(twice.is_err(), "one organizer per account");
    }
}
