//! Group commit for the inbox: concurrent deliveries are stored by one transaction, and each
//! request waits for the commit that holds its row before it is acknowledged.
//!
//! Built on [`Group`]: under load one fsync stores many events, so throughput is no longer
//! bounded by one commit per event; with no load, a lone delivery commits at once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use diesel::QueryResult;
use tokio::sync::Notify;

use crate::db::group::Group;
use crate::db::is_refusal;
use crate::db::models::{NewWebhookEvent, WebhookEvent};
use crate::db::{Db, DbConnection, DbError};

/// The committers' connections run only the batch insert. Its batch size changes with every
/// commit, so PostgreSQL's plan cache would keep planning it again for the exact size (about a
/// quarter of its time per commit under load); the generic plan serves every size the same.
/// Other statements keep the default: several rely on custom plans (partial indexes on a
/// status), which is why the committers do not share the pool's connections.
pub const COMMITTER_SESSION: &str = "SET plan_cache_mode = force_generic_plan";

/// Whether a delivery was new or a redelivery of a stored event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    New,
    Duplicate,
}

/// What one delivery's row came to: stored or found, or the error that refused it alone.
pub type RowOutcome = Result<Stored, DbError>;

/// How a batch of rows is inserted: [`WebhookEvent::insert_batch`] (tests put a refusing one in
/// its place).
pub type InsertFn = fn(&mut DbConnection, &[&NewWebhookEvent]) -> QueryResult<Vec<String>>;

/// The sending side: cheap to clone, one per process.
#[derive(Clone)]
pub struct Inbox {
    group: Group<NewWebhookEvent, RowOutcome>,
    /// The committers' pool, for the readiness probe.
    db: Db,
}

impl Inbox {
    /// Starts the committers, each a thread with a connection of its own (see
    /// [`COMMITTER_SESSION`]). `stored` is notified after every commit that stored new events,
    /// so workers in this process start on them without polling.
    pub fn start(
        db: &Db,
        batch_max: usize,
        committers: usize,
        stored: Arc<Notify>,
    ) -> std::io::Result<Self> {
        let committers = committers.max(1);
        let db = db.dedicated(committers as u32, COMMITTER_SESSION, "committers");
        let work = move |conn: &mut DbConnection, rows: &[NewWebhookEvent]| {
            store_batch(conn, rows, &stored, WebhookEvent::insert_batch).inspect_err(|err| {
                tracing::error!(error = %err, events = rows.len(), "could not store webhook events; they are refused and Stripe will redeliver them");
            })
        };
        Ok(Self {
            group: Group::start(
                "inbox-commit",
                db.clone(),
                batch_max,
                committers,
                Arc::new(work),
            )?,
            db,
        })
    }

    /// Stores one delivery; returns once the commit holding it is done.
    pub async fn store(&self, row: NewWebhookEvent) -> Result<Stored, DbError> {
        self.group.run(row).await.and_then(|outcome| outcome)
    }

    /// Whether a committer connection answers (the readiness probe): one found dead is
    /// replaced, so this also heals the committers after a database restart.
    pub async fn check(&self) -> Result<(), DbError> {
        self.db.run(Db::ping).await
    }
}

/// Stores a batch of deliveries in one statement, as a committer does; answers each in the
/// deliveries' order. When the database refuses the statement for what one row holds, the rows
/// are stored one by one, so the row it refuses fails alone and its neighbours are stored and
/// acknowledged.
pub fn store_batch(
    conn: &mut DbConnection,
    deliveries: &[NewWebhookEvent],
    stored: &Notify,
    insert: InsertFn,
) -> Result<Vec<RowOutcome>, DbError> {
    // A redelivery can race its first delivery into one batch: the first of an id is stored,
    // the others are duplicates.
    let mut ids = HashSet::with_capacity(deliveries.len());
    let mut rows: Vec<&NewWebhookEvent> = deliveries
        .iter()
        .filter(|row| ids.insert(row.id.as_str()))
        .collect();
    // One order for every batch: two batches inserting the same ids (a redelivery during a
    // stall) then wait on each other instead of deadlocking.
    rows.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    let mut refused: HashMap<&str, Arc<DbError>> = HashMap::new();
    let inserted = match insert(conn, &rows) {
        Ok(inserted) => inserted,
        Err(err) if rows.len() > 1 && is_refusal(&err) && Db::ping(conn).is_ok() => {
            tracing::warn!(error = %err, events = rows.len(), "the database refused a batch of webhook events; they are stored one by one");
            let mut inserted = Vec::with_capacity(rows.len());
            for row in rows {
                match insert(conn, &[row]) {
                    Ok(ids) => inserted.extend(ids),
                    Err(err) if is_refusal(&err) => {
                        tracing::warn!(event_id = %row.id.escape_debug(), error = %err, "the database refused a webhook event; it alone is refused");
                        refused.insert(row.id.as_str(), Arc::new(err.into()));
                    }
                    Err(err) => return Err(err.into()),
                }
            }
            inserted
        }
        Err(err) => return Err(err.into()),
    };
    if !inserted.is_empty() {
        stored.notify_waiters();
    }
    // Removed when answered, so only the first delivery of an id is new.
    let mut inserted: HashSet<String> = inserted.into_iter().collect();
    Ok(deliveries
        .iter()
        .map(|row| {
            if let Some(err) = refused.get(row.id.as_str()) {
                Err(DbError::Shared(err.clone()))
            } else if inserted.remove(&row.id) {
                Ok(Stored::New)
            } else {
                Ok(Stored::Duplicate)
            }
        })
        .collect())
}
