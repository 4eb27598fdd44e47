//! Group commit for the inbox: concurrent deliveries are stored by one transaction, and each
//! request waits for the commit that holds its row before it is acknowledged.
//!
//! Built on [`Group`]: under load one fsync stores many events, so throughput is no longer
//! bounded by one commit per event; with no load, a lone delivery commits at once.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::Notify;

use crate::db::group::Group;
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

/// The sending side: cheap to clone, one per process.
#[derive(Clone)]
pub struct Inbox {
    group: Group<NewWebhookEvent, Stored>,
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
        let work = move |conn: &mut DbConnection, rows: Vec<NewWebhookEvent>| {
            let count = rows.len();
            store_batch(conn, rows, &stored).inspect_err(|err| {
                tracing::error!(error = %err, events = count, "could not store webhook events; they are refused and Stripe will redeliver them");
            })
        };
        Ok(Self {
            group: Group::start("inbox-commit", db, batch_max, committers, Arc::new(work))?,
        })
    }

    /// Stores one delivery; returns once the commit holding it is done.
    pub async fn store(&self, row: NewWebhookEvent) -> Result<Stored, DbError> {
        self.group.run(row).await
    }
}

/// Stores a batch of deliveries in one statement; answers each in the deliveries' order.
fn store_batch(
    conn: &mut DbConnection,
    deliveries: Vec<NewWebhookEvent>,
    stored: &Notify,
) -> Result<Vec<Stored>, DbError> {
    // A redelivery can race its first delivery into one batch: the first of an id is stored,
    // the others are duplicates. Rows move out of the deliveries (bodies are not copied).
    let mut rows: Vec<NewWebhookEvent> = Vec::with_capacity(deliveries.len());
    let mut order = Vec::with_capacity(deliveries.len());
    let mut ids = HashSet::with_capacity(deliveries.len());
    for row in deliveries {
        order.push(row.id.clone());
        if ids.insert(row.id.clone()) {
            rows.push(row);
        }
    }
    // One order for every batch: two batches inserting the same ids (a redelivery during a
    // stall) then wait on each other instead of deadlocking.
    rows.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    let inserted = WebhookEvent::insert_batch(conn, &mut rows)?;
    if !inserted.is_empty() {
        stored.notify_waiters();
    }
    // Removed when answered, so only the first delivery of an id is new.
    let mut inserted: HashSet<String> = inserted.into_iter().collect();
    Ok(order
        .into_iter()
        .map(|id| {
            if inserted.remove(&id) {
                Stored::New
            } else {
                Stored::Duplicate
            }
        })
        .collect())
}
