//! Group execution: concurrent requests of one kind are served by one statement on one
//! connection, and each request waits for the statement that holds it.
//!
//! A runner takes every request queued while the previous statement ran, up to the batch
//! limit, so under load one round trip (and, for writes, one commit) serves many requests and
//! the database's per-statement cost is shared; with no load, a lone request runs at once,
//! without waiting for company. Several runners alternate, so one gathers the next batch while
//! another waits for the database. The inbox's group commit and the hot reads use it.
//!
//! Each runner is a thread of its own that blocks on the queue and on its connection. A
//! request then wakes one thread and is answered from it: an async runner handing each batch
//! to the blocking pool took two more thread wake-ups per batch, which under load were most of
//! the gateway's own CPU (context switches and eventfd writes) and a share of its latency.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};

use super::{Db, DbConnection, DbError};

/// The work of one batch: the answers, one per input and in the inputs' order. It may run more
/// than once for one batch (see [`run_batch`]), so it must be safe to repeat: a read, or a
/// write whose second run finds the first one's rows.
pub type BatchWork<Q, R> = dyn Fn(&mut DbConnection, &[Q]) -> Result<Vec<R>, DbError> + Send + Sync;

struct Request<Q, R> {
    input: Q,
    done: oneshot::Sender<Result<R, Arc<DbError>>>,
}

type Queue<Q, R> = Mutex<mpsc::Receiver<Request<Q, R>>>;

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
    /// Starts `runners` runner threads named `name` (at least one) that serve batches of at
    /// most `batch_max` requests with `work`, each on a connection of `db`
    /// ([`Db::run_blocking`]). The runners stop when every [`Group`] handle is dropped.
    pub fn start(
        name: &str,
        db: Db,
        batch_max: usize,
        runners: usize,
        work: Arc<BatchWork<Q, R>>,
    ) -> std::io::Result<Self> {
        let batch_max = batch_max.max(1);
        let (queue, receiver) = mpsc::channel(batch_max * 4);
        let receiver: Arc<Queue<Q, R>> = Arc::new(Mutex::new(receiver));
        for _ in 0..runners.max(1) {
            let (db, receiver, work) = (db.clone(), receiver.clone(), work.clone());
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || run_forever(&db, &receiver, batch_max, &*work))?;
        }
        Ok(Self { queue })
    }

    /// Queues `input` and returns its answer once the batch that holds it has run. A batch
    /// that fails answers each of its requests with [`DbError::Shared`]. The input is queued
    /// when this is first polled (by a task of its own when the queue is full), so its batch
    /// runs it even if the caller stops waiting: a request dropped halfway (its client went
    /// away) still has its answer kept, without a task per call to ensure it.
    pub async fn run(&self, input: Q) -> Result<R, DbError> {
        let (done, answered) = oneshot::channel();
        match self.queue.try_send(Request { input, done }) {
            Ok(()) => {}
            Err(TrySendError::Full(request)) => {
                let queue = self.queue.clone();
                tokio::spawn(async move {
                    // Closed: the request is dropped with its sender, and the wait below ends.
                    let _ = queue.send(request).await;
                });
            }
            Err(TrySendError::Closed(_)) => {
                return Err(DbError::Task("the batch runners are shut down".into()))
            }
        }
        answered
            .await
            .map_err(|_| DbError::Task("a batch runner stopped".into()))?
            .map_err(DbError::Shared)
    }
}

fn run_forever<Q, R>(db: &Db, queue: &Queue<Q, R>, batch_max: usize, work: &BatchWork<Q, R>) {
    loop {
        let batch = {
            let mut receiver = queue.lock().unwrap_or_else(PoisonError::into_inner);
            let mut batch = Vec::new();
            if receiver.blocking_recv_many(&mut batch, batch_max) == 0 {
                return;
            }
            batch
        };
        run_batch(db, batch, work);
    }
}

fn run_batch<Q, R>(db: &Db, batch: Vec<Request<Q, R>>, work: &BatchWork<Q, R>) {
    let (inputs, waiting): (Vec<Q>, Vec<_>) = batch
        .into_iter()
        .map(|request| (request.input, request.done))
        .unzip();
    let count = inputs.len();
    let started = std::time::Instant::now();
    // A connection found dead under the batch is dropped, and the batch runs again on another:
    // after a database restart each idle connection fails once, and a request must not fail
    // with it. Each dead one is dropped, so the attempts are bounded by the pool's size.
    let attempts = db.max_connections() + 1;
    let mut attempt = 1;
    let result = loop {
        // A panic in the work fails its batch, not the runner: the next batch is served.
        let result = catch_unwind(AssertUnwindSafe(|| {
            db.run_blocking(|conn| work(conn, &inputs))
        }))
        .unwrap_or_else(|_| Err(DbError::Task("a batch's work panicked".into())));
        match result {
            Err(DbError::ConnectionLost) if attempt < attempts => {
                tracing::warn!(
                    attempt,
                    "a batch's connection was lost; it runs again on another"
                );
                attempt += 1;
            }
            result => break result,
        }
    };
    tracing::trace!(
        requests = count,
        elapsed_us = started.elapsed().as_micros() as u64,
        "batch ran"
    );
    let failure = match result {
        Ok(answers) if answers.len() == count => {
            for (done, answer) in waiting.into_iter().zip(answers) {
                let _ = done.send(Ok(answer));
            }
            return;
        }
        Ok(answers) => DbError::Task(format!(
            "a batch of {count} requests got {} answers",
            answers.len()
        )),
        Err(err) => err,
    };
    let err = Arc::new(failure);
    for done in waiting {
        let _ = done.send(Err(err.clone()));
    }
}

#[cfg(test)]
impl<Q, R> Group<Q, R> {
    /// Requests queued and not yet taken by a runner.
    fn queued(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc as sync_mpsc;
    use std::sync::Mutex as SyncMutex;

    use super::*;
    use crate::db::DatabaseUrl;

    fn sqlite(dir: &tempfile::TempDir) -> Db {
        let url = format!("sqlite://{}", dir.path().join("group.db").display());
        Db::connect(
            &DatabaseUrl::parse(&url).unwrap(),
            2,
            std::time::Duration::from_secs(5),
        )
        .unwrap()
    }

    /// A request whose caller stops waiting after the first poll (a request dropped halfway) is
    /// still run by its batch.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_is_run_even_when_its_caller_stops_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let (ran, runs) = sync_mpsc::channel::<u32>();
        let (release, held) = sync_mpsc::channel::<()>();
        let (ran, held) = (SyncMutex::new(ran), SyncMutex::new(held));
        let work = move |_: &mut DbConnection, inputs: &[u32]| {
            // Held until the caller is gone, so its one poll cannot see the answer.
            held.lock().unwrap().recv().unwrap();
            for n in inputs {
                ran.lock().unwrap().send(*n).unwrap();
            }
            Ok(inputs.to_vec())
        };
        let group: Group<u32, u32> =
            Group::start("test", sqlite(&dir), 64, 1, Arc::new(work)).unwrap();
        let mut waiting = Box::pin(group.run(7));
        assert!(futures_util::FutureExt::now_or_never(&mut waiting).is_none());
        drop(waiting);
        release.send(()).unwrap();
        let got = tokio::task::spawn_blocking(move || {
            runs.recv_timeout(std::time::Duration::from_secs(10))
        })
        .await
        .unwrap();
        assert_eq!(got, Ok(7));
    }

    /// A batch holds what queued while the previous one ran, answered in order; a lone request
    /// ran at once, by itself.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_queued_during_a_batch_share_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let sizes = Arc::new(SyncMutex::new(Vec::new()));
        let (entered, first_entered) = sync_mpsc::channel::<()>();
        let (release, held) = sync_mpsc::channel::<()>();
        let held = SyncMutex::new(held);
        let seen = sizes.clone();
        let work = move |_: &mut DbConnection, inputs: &[u32]| {
            let first = {
                let mut sizes = seen.lock().unwrap();
                sizes.push(inputs.len());
                sizes.len() == 1
            };
            if first {
                entered.send(()).unwrap();
                held.lock().unwrap().recv().unwrap();
            }
            Ok(inputs.iter().map(|n| n * 10).collect())
        };
        let group: Group<u32, u32> =
            Group::start("test", sqlite(&dir), 64, 1, Arc::new(work)).unwrap();
        let lone = tokio::spawn({
            let group = group.clone();
            async move { group.run(1).await.unwrap() }
        });
        tokio::task::spawn_blocking(move || first_entered.recv().unwrap())
            .await
            .unwrap();
        let waiting: Vec<_> = (2..=5)
            .map(|n| {
                let group = group.clone();
                tokio::spawn(async move { group.run(n).await.unwrap() })
            })
            .collect();
        while group.queued() < 4 {
            tokio::task::yield_now().await;
        }
        release.send(()).unwrap();
        assert_eq!(lone.await.unwrap(), 10);
        let mut answers = Vec::new();
        for request in waiting {
            answers.push(request.await.unwrap());
        }
        assert_eq!(answers, [20, 30, 40, 50]);
        assert_eq!(*sizes.lock().unwrap(), [1, 4]);
    }

    /// Each request of a failed batch gets the batch's error, and whether the database was
    /// unavailable is kept; a batch answering the wrong number of requests fails them all.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_batch_fails_each_of_its_requests_with_its_error() {
        let dir = tempfile::tempdir().unwrap();
        let unavailable = |_: &mut DbConnection, _: &[u32]| -> Result<Vec<u32>, DbError> {
            Err(DbError::ConnectionLost)
        };
        let group = Group::start("test", sqlite(&dir), 64, 1, Arc::new(unavailable)).unwrap();
        let err = group.run(1).await.unwrap_err();
        assert!(matches!(err, DbError::Shared(_)), "{err:?}");
        assert!(err.is_unavailable());

        let short = |_: &mut DbConnection, _: &[u32]| Ok(Vec::<u32>::new());
        let group = Group::start("test", sqlite(&dir), 64, 1, Arc::new(short)).unwrap();
        let err = group.run(1).await.unwrap_err();
        assert!(!err.is_unavailable(), "{err:?}");
        assert!(err.to_string().contains("got 0 answers"), "{err}");
    }

    /// A batch whose connection was lost runs again on another connection, and its requests
    /// get the second run's answers: after a database restart, no request fails because the
    /// connection it was given had died.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_whose_connection_was_lost_runs_again() {
        let dir = tempfile::tempdir().unwrap();
        let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = runs.clone();
        let work = move |_: &mut DbConnection, inputs: &[u32]| {
            if counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                return Err(DbError::ConnectionLost);
            }
            Ok(inputs.iter().map(|n| n + 1).collect())
        };
        let group = Group::start("test", sqlite(&dir), 64, 1, Arc::new(work)).unwrap();
        assert_eq!(group.run(41).await.unwrap(), 42);
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    /// A batch whose work panics fails its requests; the runner lives on and serves the next.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_batch_fails_its_requests_and_the_runner_serves_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let work = |_: &mut DbConnection, inputs: &[u32]| {
            assert!(inputs != [0], "zero is refused by panicking");
            Ok(inputs.to_vec())
        };
        let group = Group::start("test", sqlite(&dir), 64, 1, Arc::new(work)).unwrap();
        let err = group.run(0).await.unwrap_err();
        assert!(err.to_string().contains("panicked"), "{err}");
        assert_eq!(group.run(7).await.unwrap(), 7);
    }

    /// Dropping the last handle ends every runner thread: the work they share (and whatever it
    /// holds, such as the inbox's pool) is released, so nothing outlives its application.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runner_threads_end_when_the_last_handle_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (held, released) = sync_mpsc::channel::<()>();
        let work = move |_: &mut DbConnection, inputs: &[u32]| {
            let _held = &held;
            Ok(inputs.to_vec())
        };
        let group = Group::start("test", sqlite(&dir), 64, 2, Arc::new(work)).unwrap();
        assert_eq!(group.clone().run(3).await.unwrap(), 3);
        drop(group);
        let ended = tokio::task::spawn_blocking(move || {
            released.recv_timeout(std::time::Duration::from_secs(10))
        })
        .await
        .unwrap();
        assert_eq!(ended, Err(sync_mpsc::RecvTimeoutError::Disconnected));
    }
}
