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
