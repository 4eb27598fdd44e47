//! Group execution: concurrent requests of one kind are served by one statement on one
//! connection, and each request waits for the statement that holds it.
//!
//! A runner takes every request queued while the previous statement ran, up to the batch
//! limit, so under load one round trip (and, for writes, one commit) serves many requests and
//! the database's per-statement cost is shared; with no load, a lone request runs at once,
//! without waiting for company. Several runners alternate, so one gathers the next batch while
//! another waits for the database. The inbox's group commit and the hot reads use it.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Mutex};

use super::{Db, DbConnection, DbError};

/// The work of one batch: the answers, one per input and in the inputs' order.
pub type BatchWork<Q, R> =
    dyn Fn(&mut DbConnection, Vec<Q>) -> Result<Vec<R>, DbError> + Send + Sync;

struct Request<Q, R> {
    input: Q,
    done: oneshot::Sender<Result<R, Arc<DbError>>>,
}

/// The sending side: cheap to clone.
pub struct Group<Q, R> {
    queue: mpsc::Sender<Request<Q, R>>,
}

impl<Q, R> Clone for Group<Q, R> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<Q: Send + 'static, R: Send + 'static> Group<Q, R> {
    /// Starts `runners` runners (at least one) that serve batches of at most `batch_max`
    /// requests with `work`, each on a connection of `db` ([`Db::run`]). Must be called inside
    /// a tokio runtime; the runners stop when every [`Group`] handle is dropped.
    pub fn start(db: Db, batch_max: usize, runners: usize, work: Arc<BatchWork<Q, R>>) -> Self {
        let batch_max = batch_max.max(1);
        let (queue, receiver) = mpsc::channel(batch_max * 4);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..runners.max(1) {
            tokio::spawn(run_forever(
                db.clone(),
                receiver.clone(),
                batch_max,
                work.clone(),
            ));
        }
        Self { queue }
    }

    /// Queues `input` and returns its answer once the batch that holds it has run. A batch
    /// that fails answers each of its requests with [`DbError::Shared`].
    pub async fn run(&self, input: Q) -> Result<R, DbError> {
        let (done, answered) = oneshot::channel();
        self.queue
            .send(Request { input, done })
            .await
            .map_err(|_| DbError::Task("the batch runners are shut down".into()))?;
        answered
            .await
            .map_err(|_| DbError::Task("a batch runner stopped".into()))?
            .map_err(DbError::Shared)
    }
}

async fn run_forever<Q: Send + 'static, R: Send + 'static>(
    db: Db,
    receiver: Arc<Mutex<mpsc::Receiver<Request<Q, R>>>>,
    batch_max: usize,
    work: Arc<BatchWork<Q, R>>,
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
        run_batch(&db, batch, work.clone()).await;
    }
}

async fn run_batch<Q: Send + 'static, R: Send + 'static>(
    db: &Db,
    batch: Vec<Request<Q, R>>,
    work: Arc<BatchWork<Q, R>>,
) {
    let (inputs, waiting): (Vec<Q>, Vec<_>) = batch
        .into_iter()
        .map(|request| (request.input, request.done))
        .unzip();
    let count = inputs.len();
    let started = std::time::Instant::now();
    let result = db.run(move |conn| work(conn, inputs)).await;
    tracing::trace!(
        requests = count,
        elapsed_us = started.elapsed().as_micros() as u64,
        "batch ran"
    );
    match result {
        Ok(answers) if answers.len() == count => {
            for (done, answer) in waiting.into_iter().zip(answers) {
                let _ = done.send(Ok(answer));
            }
        }
        Ok(answers) => {
            let err = Arc::new(DbError::Task(format!(
                "a batch of {count} requests got {} answers",
                answers.len()
            )));
            for done in waiting {
                let _ = done.send(Err(err.clone()));
            }
        }
        Err(err) => {
            let err = Arc::new(err);
            for done in waiting {
                let _ = done.send(Err(err.clone()));
            }
        }
    }
}
