//! Storage: one diesel connection type over SQLite (embedded default) and PostgreSQL (production),
//! an r2d2 pool that picks the backend from the URL scheme, and embedded migrations per backend.

pub mod columns;
pub mod distribution;
pub mod estimates;
pub mod group;
pub mod lease;
mod migrations;
pub mod models;
mod plans;
mod pool;
mod refusal;
pub mod schema;

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDateTime, SubsecRound, Utc};

use diesel::pg::PgConnection;
use diesel::r2d2;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};
use tokio::sync::Semaphore;
use tracing::Span;

pub use crate::configuration::{Backend, DatabaseUrl};
pub use lease::Lease;
pub use migrations::{has_pending_migrations, run_pending_migrations};
pub use plans::PlannedEachTime;
use pool::{checkout, pool_builder, with_connection};
pub use pool::{ConnectionManager, PoolConnection, PoolState, IDLE_CHECK};
pub use refusal::{is_refusal, is_unique_violation};

/// The current time as stored: UTC, to the microsecond on both backends, so that what is
/// written reads back equal.
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

/// The database's time: PostgreSQL's clock (UTC, to the microsecond) for instances that share
/// it; the process's own for SQLite, which only one host opens. Stamps that order fetches from
/// Stripe (the mirror's `fetched_at`) come from here, so skewed hosts still order them right.
pub fn database_now(conn: &mut DbConnection) -> diesel::QueryResult<NaiveDateTime> {
    use diesel::RunQueryDsl;
    match conn {
        DbConnection::Postgresql(pg) => DatabaseClock.get_result(pg),
        DbConnection::Sqlite(_) => Ok(now()),
    }
}

/// PostgreSQL's clock as a statement diesel prepares once per connection: written with
/// `diesel::dsl::sql` it was built, parsed and planned again on every read (payments read the
/// clock on each create, refund and change).
struct DatabaseClock;

crate::prepared_once!(DatabaseClock, DatabaseClock, diesel::sql_types::Timestamp);

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for DatabaseClock {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        out.push_sql("SELECT date_trunc('microseconds', clock_timestamp() AT TIME ZONE 'UTC')");
        Ok(())
    }
}

/// Runs the same diesel code on the inner connection of whichever backend `conn` is, for the
/// statements the multi-backend connection cannot express (`ON CONFLICT`, batch inserts), and
/// for the hot reads: through the multi-backend connection diesel builds a query's SQL text on
/// every execution to find its prepared statement, on the inner one it finds it by the query's
/// type. The body is type-checked once per backend.
#[macro_export]
macro_rules! on_each_backend {
    ($conn:expr, |$inner:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Postgresql($inner) => $body,
            $crate::db::DbConnection::Sqlite($inner) => $body,
        }
    };
}

/// A transaction that reads and then writes. On SQLite it begins `IMMEDIATE`, taking the write
/// lock before the first read: a deferred transaction that has read fails at its first write
/// (SQLITE_BUSY, without waiting on `busy_timeout`) when another connection committed in
/// between, as WAL mode requires. Nested in another transaction, a savepoint. On PostgreSQL, an
/// ordinary transaction.
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let nested = match conn {
        DbConnection::Sqlite(sqlite) => !matches!(
            AnsiTransactionManager::transaction_manager_status_mut(sqlite).transaction_depth(),
            Ok(None)
        ),
        DbConnection::Postgresql(_) => false,
    };
    match conn {
        // On PostgreSQL, and inside a caller's transaction (whose begin took the write lock): an
        // ordinary transaction, or a savepoint.
        DbConnection::Postgresql(_) => conn.transaction(work),
        DbConnection::Sqlite(_) if nested => conn.transaction(work),
        DbConnection::Sqlite(sqlite) => {
            AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
            let result = work(conn);
            let DbConnection::Sqlite(sqlite) = conn else {
                unreachable!("the connection's backend does not change");
            };
            match result {
                Ok(value) => match AnsiTransactionManager::commit_transaction(sqlite) {
                    Ok(()) => Ok(value),
                    Err(err) => {
                        let _ = AnsiTransactionManager::rollback_transaction(sqlite);
                        Err(err.into())
                    }
                },
                Err(err) => {
                    AnsiTransactionManager::rollback_transaction(sqlite)?;
                    Err(err)
                }
            }
        }
    }
}

/// A connection to whichever backend the gateway was configured with.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The message carries r2d2's (which names the backend's own error), so it is not also a
    /// `source`: error chains would print it twice.
    #[error("could not get a database connection: {0}")]
    Pool(r2d2::PoolError),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    #[error("cannot create the SQLite file's directory")]
    Location(#[source] std::io::Error),
    #[error("database task did not finish: {0}")]
    Task(String),
    #[error("migration state unknown: {0}")]
    Migrations(String),
    /// A stored value no longer parses: a bug, or a change behind the gateway's back.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// Every connection stayed busy for the whole connect timeout.
    #[error("no database connection was free within {0:?}")]
    Busy(Duration),
    /// The connection died under a query (the server restarted, the network dropped it); the
    /// pool has dropped it.
    #[error("the database connection was lost")]
    ConnectionLost,
    /// The error of a batch of grouped requests ([`group`]), which each of them answers with.
    #[error(transparent)]
    Shared(Arc<DbError>),
}

/// Errors of database work that tell whether a query itself failed (the database, or the
/// connection to it) from the work finding something wrong (no such row, a conflict): only
/// then does [`Db::run`] check that the connection is still alive.
pub trait QueryFailure {
    fn is_query_failure(&self) -> bool;
}

impl QueryFailure for DbError {
    fn is_query_failure(&self) -> bool {
        matches!(self, Self::Query(_))
    }
}

impl DbError {
    /// The database could not be reached (no connection within the timeout, or one lost under
    /// a query): retrying later can help, and it is no bug of the gateway's.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Pool(_) | Self::Busy(_) | Self::ConnectionLost => true,
            Self::Shared(inner) => inner.is_unavailable(),
            _ => false,
        }
    }
}

impl From<r2d2::PoolError> for DbError {
    fn from(err: r2d2::PoolError) -> Self {
        Self::Pool(err)
    }
}

/// The pool, and the one way handlers reach it: [`Db::run`].
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<ConnectionManager>,
    /// One permit per pooled connection: requests wait for a connection on the async side, so
    /// no more blocking threads run database work than there are connections for them (more
    /// would only queue on the pool's lock and switch threads; on 2 cores that was the tail).
    permits: Arc<Semaphore>,
    connect_timeout: Duration,
    url: DatabaseUrl,
    /// The `pool` label of this pool's wait metrics: `shared`, or the name of the work a
    /// dedicated pool is kept for.
    label: &'static str,
}

impl Db {
    /// Builds the pool and opens one connection, so a wrong URL fails at start-up with the
    /// backend's own message rather than at the first request.
    pub fn connect(
        url: &DatabaseUrl,
        max_size: u32,
        connect_timeout: Duration,
    ) -> Result<Self, DbError> {
        url.prepare().map_err(DbError::Location)?;
        let pool = pool_builder(max_size, connect_timeout)
            .min_idle(Some(1))
            .build(ConnectionManager {
                url: url.clone(),
                session: None,
            })?;
        Ok(Self::with_pool(pool, connect_timeout, url, "shared"))
    }

    fn with_pool(
        pool: r2d2::Pool<ConnectionManager>,
        connect_timeout: Duration,
        url: &DatabaseUrl,
        label: &'static str,
    ) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(pool.max_size() as usize)),
            pool,
            connect_timeout,
            url: url.clone(),
            label,
        }
    }

    /// A pool of its own, of at most `max_size` connections, for one kind of work that must
    /// neither wait for nor hold the shared pool's connections; on PostgreSQL `session` runs on
    /// each of its connections when opened; `label` names it in the pool metrics. Connections
    /// open on first use. SQLite has one writer whatever the pool, so there it is this pool,
    /// under its own label.
    pub fn dedicated(&self, max_size: u32, session: &'static str, label: &'static str) -> Self {
        if self.backend() == Backend::Sqlite {
            return Self {
                label,
                ..self.clone()
            };
        }
        let pool = pool_builder(max_size, self.connect_timeout)
            .min_idle(Some(0))
            .build_unchecked(ConnectionManager {
                url: self.url.clone(),
                session: Some(session),
            });
        Self::with_pool(pool, self.connect_timeout, &self.url, label)
    }

    pub fn backend(&self) -> Backend {
        self.url.backend
    }

    /// The pool's connections now, for the metrics.
    pub fn pool_state(&self) -> PoolState {
        let state = self.pool.state();
        PoolState {
            idle: f64::from(state.idle_connections),
            in_use: f64::from(state.connections - state.idle_connections),
            max: f64::from(self.pool.max_size()),
        }
    }

    /// The most connections the pool holds.
    pub fn max_connections(&self) -> usize {
        self.pool.max_size() as usize
    }

    /// A connection for synchronous callers (the CLI).
    pub fn get(&self) -> Result<r2d2::PooledConnection<ConnectionManager>, DbError> {
        checkout(&self.pool)
    }

    /// Runs blocking diesel work on the blocking thread pool, with the caller's tracing span.
    /// The connection is taken inside the closure so that waiting for one never blocks an
    /// async worker.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + QueryFailure + Send + 'static,
    {
        let waiting = std::time::Instant::now();
        let permit =
            tokio::time::timeout(self.connect_timeout, self.permits.clone().acquire_owned()).await;
        pool_wait(self.label, waiting.elapsed(), permit.is_err());
        let permit = permit
            .map_err(|_| E::from(DbError::Busy(self.connect_timeout)))?
            .map_err(|e| E::from(DbError::Task(e.to_string())))?;
        let pool = self.pool.clone();
        let span = Span::current();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            span.in_scope(|| {
                let mut conn = checkout(&pool)?;
                with_connection(&mut conn, f)
            })
        })
        .await
        .map_err(|e| E::from(DbError::Task(e.to_string())))?
    }

    /// Runs diesel work on the calling thread, which waits for a connection if none is free:
    /// for threads that exist to do database work (the group runners, [`group`]); async code
    /// calls [`Db::run`]. The wait is recorded like [`Db::run`]'s.
    fn run_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E>,
        E: From<DbError> + QueryFailure,
    {
        let waiting = std::time::Instant::now();
        let conn = checkout(&self.pool);
        pool_wait(self.label, waiting.elapsed(), conn.is_err());
        with_connection(&mut *conn?, f)
    }

    /// True when a query goes through; used by the readiness probe.
    pub fn ping(conn: &mut DbConnection) -> Result<(), DbError> {
        diesel::sql_query("SELECT 1").execute(conn)?;
        Ok(())
    }
}

/// How long a checkout waited for a connection of `pool` (`shared`, or the dedicated pool's
/// label, [`Db::dedicated`]), recorded through the `metrics` facade.
fn pool_wait(pool: &'static str, waited: Duration, timed_out: bool) {
    ::metrics::histogram!("gateway_db_pool_wait_seconds", "pool" => pool).record(waited);
    if timed_out {
        ::metrics::counter!("gateway_db_pool_timeouts_total", "pool" => pool).increment(1);
    }
}
