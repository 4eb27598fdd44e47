//! Whether this process can serve traffic: the shared pool reaches the database, the schema is
//! migrated, and the inbox's committers reach it on their own connections.

use crate::db::{has_pending_migrations, Db, DbError};
use crate::services::webhooks::Ingest;
use crate::services::AppState;

/// Why the process is not ready.
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    #[error("database migrations are pending; run `stripe-gateway migrate`")]
    MigrationsPending,
    /// The cause names hosts and users: for the log, not for an unauthenticated caller.
    #[error("the database is unreachable")]
    Unreachable(#[source] DbError),
}

/// Checks the database through the shared pool and the committers' connections.
pub async fn check(state: &AppState, ingest: &Ingest) -> Result<(), NotReady> {
    let pending = state
        .db
        .run(|conn| {
            Db::ping(conn)?;
            has_pending_migrations(conn)
        })
        .await;
    match (pending, ingest.check().await) {
        (Ok(false), Ok(())) => Ok(()),
        (Ok(true), Ok(())) => Err(NotReady::MigrationsPending),
        (Err(err), _) | (_, Err(err)) => Err(NotReady::Unreachable(err)),
    }
}
