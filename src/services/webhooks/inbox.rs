//! Group commit for the inbox: concurrent deliveries are stored by one transaction, and each
//! request waits for the commit that holds its row before it is acknowledged.
//!
//! A committing flusher takes every delivery queued while the previous commit ran, up to the
//! batch limit, so under load one fsync stores many events and throughput is no longer bounded
//! by one commit per event; with no load, a lone delivery commits at once. Two flushers
//! alternate, so one gathers the next batch while the other waits for its commit.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Mutex, Notify};

use crate::db::models::{NewWebhookEvent, WebhookEvent};
use crate::db::{Db, DbError};

/// Whether a delivery was new or a redelivery of a stored event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    New,
    Duplicate,
}

struct Delivery {
    row: NewWebhookEvent,
    done: oneshot::Sender<Result<Stored, Arc<DbError>>>,
}

/// The sending side: cheap to clone, one per process.
#[derive(Clone)]
pub struct Inbox {
    queue: mpsc::Sender<Delivery>,
}

impl Inbox {
    /// Starts the flushers. `stored` is notified after every commit that stored new events,
    /// so workers in this process start on them without polling.
    pub fn start(db: Db, batch_max: usize, committers: usize, stored: Arc<Notify>) -> Self {
        let batch_max = batch_max.max(1);
        let (queue, receiver) = mpsc::channel(batch_max * 4);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..committers.max(1) {
            tokio::spawn(flush_forever(
                db.clone(),
                receiver.clone(),
                batch_max,
                stored.clone(),
            ));
        }
        Self { queue }
    }

    /// Stores one delivery; returns once the commit holding it is done.
    pub async fn store(&self, row: NewWebhookEvent) -> Result<Stored, Arc<DbError>> {
        let (done, committed) = oneshot::channel();
        self.queue
            .send(Delivery { row, done })
            .await
            .map_err(|_| Arc::new(DbError::Task("the inbox is shut down".into())))?;
        committed
            .await
            .map_err(|_| Arc::new(DbError::Task("the inbox flusher stopped".into())))?
    }
}

async fn flush_forever(
    db: Db,
    receiver: Arc<Mutex<mpsc::Receiver<Delivery>>>,
    batch_max: usize,
    stored: Arc<Notify>,
) {
    loop {
        let batch = {
            let mut receiver = receiver.lock().await;
            let mut batch = Vec::new();
            if receiver.recv_many(&mut batch, batch_max).await == 0 {
                return;
            }
            batch
        };
        flush(&db, batch, &stored).await;
    }
}

async fn flush(db: &Db, batch: Vec<Delivery>, stored: &Notify) {
    // A redelivery can race its first delivery into one batch: the first of an id is stored,
    // the others are duplicates. Rows move out of the deliveries (bodies are not copied).
    let mut rows: Vec<NewWebhookEvent> = Vec::with_capacity(batch.len());
    let mut waiting = Vec::with_capacity(batch.len());
    let mut ids = HashSet::with_capacity(batch.len());
    for Delivery { row, done } in batch {
        waiting.push((row.id.clone(), done));
        if ids.insert(row.id.clone()) {
            rows.push(row);
        }
    }
    // One order for every batch: two batches inserting the same ids (a redelivery during a
    // stall) then wait on each other instead of deadlocking.
    rows.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    let started = std::time::Instant::now();
    let count = rows.len();
    let result = db
        .run(move |conn| WebhookEvent::insert_batch(conn, &mut rows).map_err(DbError::from))
        .await;
    tracing::debug!(
        events = count,
        elapsed_us = started.elapsed().as_micros() as u64,
        "inbox batch stored"
    );
    match result {
        Ok(inserted) => {
            if !inserted.is_empty() {
                stored.notify_waiters();
            }
            // Removed when answered, so only the first delivery of an id is new.
            let mut inserted: HashSet<String> = inserted.into_iter().collect();
            for (id, done) in waiting {
                let new = inserted.remove(&id);
                let _ = done.send(Ok(if new { Stored::New } else { Stored::Duplicate }));
            }
        }
        Err(err) => {
            tracing::error!(error = %err, events = waiting.len(), "could not store webhook events; they are refused and Stripe will redeliver them");
            let err = Arc::new(err);
            for (_, done) in waiting {
                let _ = done.send(Err(err.clone()));
            }
        }
    }
}
