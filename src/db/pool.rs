//! The connection pool's parts: how connections are opened ([`ConnectionManager`]), how a dead
//! one is found and dropped ([`PoolConnection`], [`checkout`], [`with_connection`]).
//!
//! The pool does not ping a connection on every checkout (a round trip per request under
//! load). A dead connection is found two ways instead: one that idled for [`IDLE_CHECK`] is
//! pinged before it is handed out (a database restarted while the gateway was idle leaves
//! every idle connection dead, and the first request on each would fail), and one whose query
//! failed is pinged then and dropped if it does not answer.

use std::time::{Duration, Instant};

use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;

use super::{Backend, DatabaseUrl, DbConnection, DbError, QueryFailure};

/// A connection unused for this long is pinged before it is handed out.
pub const IDLE_CHECK: Duration = Duration::from_secs(1);

/// Opens connections for the pool. Unlike diesel's derived `establish`, which tries each
/// backend in turn and hides why the right one failed, it connects to the backend the URL
/// names and reports that backend's error.
#[derive(Debug)]
pub struct ConnectionManager {
    pub(super) url: DatabaseUrl,
    /// PostgreSQL settings run on every new connection of a pool kept for one kind of work
    /// ([`Db::dedicated`]).
    pub(super) session: Option<&'static str>,
}

/// A pooled connection, when it was last used, and whether it was found dead: a broken one is
/// dropped by the pool instead of being handed out again.
pub struct PoolConnection {
    conn: DbConnection,
    used: Instant,
    broken: bool,
}

impl std::ops::Deref for PoolConnection {
    type Target = DbConnection;

    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for PoolConnection {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

impl ManageConnection for ConnectionManager {
    type Connection = PoolConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<PoolConnection, r2d2::Error> {
        self.establish().map(|conn| PoolConnection {
            conn,
            used: Instant::now(),
            broken: false,
        })
    }

    fn is_valid(&self, conn: &mut PoolConnection) -> Result<(), r2d2::Error> {
        conn.conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut PoolConnection) -> bool {
        conn.broken || conn.conn.is_broken()
    }
}

impl ConnectionManager {
    fn establish(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.url.backend {
            Backend::Postgres => {
                let mut conn = PgConnection::establish(self.url.connect_str())
                    .map_err(r2d2::Error::ConnectionError)?;
                if let Some(session) = self.session {
                    diesel::connection::SimpleConnection::batch_execute(&mut conn, session)
                        .map_err(r2d2::Error::QueryError)?;
                }
                Ok(DbConnection::Postgresql(conn))
            }
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(self.url.connect_str())
                    .map_err(r2d2::Error::ConnectionError)?;
                // busy_timeout first: pool connections open in parallel, and switching to WAL
                // takes a lock that the others must wait for rather than fail on.
                diesel::connection::SimpleConnection::batch_execute(
                    &mut conn,
                    "PRAGMA busy_timeout = 5000;
                     PRAGMA journal_mode = WAL;
                     PRAGMA synchronous = NORMAL;
                     PRAGMA foreign_keys = ON;",
                )
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

/// How many pooled connections are idle and in use, of at most `max`.
pub struct PoolState {
    pub idle: f64,
    pub in_use: f64,
    pub max: f64,
}

/// What every pool shares: at most `max_size` connections, waited for up to `connect_timeout`,
/// and no ping per checkout (a dead connection is found when its query fails, in [`Db::run`]).
pub(super) fn pool_builder(
    max_size: u32,
    connect_timeout: Duration,
) -> r2d2::Builder<ConnectionManager> {
    r2d2::Pool::builder()
        .max_size(max_size)
        .test_on_check_out(false)
        .connection_timeout(connect_timeout)
}

/// A connection of `pool`, pinged first when it idled for [`IDLE_CHECK`]: one that does not
/// answer is dropped and the next one taken, so after a database restart the dead idle
/// connections are replaced before any work runs on them. At most one attempt per connection
/// the pool can hold, and one more for a new connection.
pub(super) fn checkout(
    pool: &r2d2::Pool<ConnectionManager>,
) -> Result<r2d2::PooledConnection<ConnectionManager>, DbError> {
    for _ in 0..=pool.max_size() {
        let mut conn = pool.get()?;
        if conn.used.elapsed() < IDLE_CHECK || conn.conn.ping().is_ok() {
            return Ok(conn);
        }
        conn.broken = true;
        tracing::warn!("an idle database connection was dead; the pool drops it");
    }
    Err(DbError::ConnectionLost)
}

/// Runs `f` on a pooled connection. A connection whose query failed and that no longer answers
/// is marked broken, so the pool drops it, and the error says the connection was lost.
pub(super) fn with_connection<T, E, F>(conn: &mut PoolConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<DbError> + QueryFailure,
{
    let result = f(conn);
    conn.used = Instant::now();
    let failed = result.as_ref().err().is_some_and(E::is_query_failure);
    if failed && conn.conn.ping().is_err() {
        // Whatever the work's own error, the cause is the connection: drop it, and say so, so
        // that the caller answers "unavailable" rather than a bug.
        conn.broken = true;
        tracing::warn!("a database connection was lost; the pool drops it");
        return Err(E::from(DbError::ConnectionLost));
    }
    result
}
