//! The runner: registered duties become loops, tasks are tracked, and both stop on shutdown.

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use super::Duty;

/// What one unit came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ran {
    /// It did something: a queue's loop goes on at once.
    Worked,
    /// Nothing was due.
    Idle,
}

/// When a duty's units run.
#[derive(Clone)]
pub enum Cadence {
    /// One unit every `every`; the first at once when `at_start`, else after one period.
    Every { every: Duration, at_start: bool },
    /// `workers` loops, each running units while they find work; an idle loop waits for `wake`
    /// (notified when this process stores work) or `poll` (work other instances stored).
    Queue {
        workers: usize,
        poll: Duration,
        wake: Option<Arc<Notify>>,
    },
}

/// How long a loop waits after a failed unit: `base`, doubled with each failure in a row, up to
/// `cap`; with up to a quarter more at random, so instances do not retry in step.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    pub const DEFAULT: Backoff = Backoff {
        base: Duration::from_millis(250),
        cap: Duration::from_secs(30),
    };

    /// The wait after the `failures`-th failure in a row (from 1).
    pub fn delay(&self, failures: u32) -> Duration {
        let doubled = self
            .base
            .saturating_mul(1u32 << failures.saturating_sub(1).min(16));
        let delay = doubled.min(self.cap);
        delay + delay.mul_f64(fastrand::f64() / 4.0)
    }
}

struct Registration {
    name: &'static str,
    duty: Arc<dyn Duty>,
    cadence: Cadence,
}

/// The duties to run, before they start.
pub struct Runner {
    registrations: Vec<Registration>,
    jobs: Jobs,
}

impl Default for Runner {
    fn default() -> Self {
        Self::new()
    }
}

impl Runner {
    pub fn new() -> Self {
        Self {
            registrations: Vec::new(),
            jobs: Jobs {
                shared: Arc::new(Shared {
                    stop: watch::channel(false).0,
                    running: AtomicUsize::new(0),
                    finished: AtomicU64::new(0),
                    settled: Notify::new(),
                    handles: Mutex::new(Vec::new()),
                    queues: Mutex::new(Vec::new()),
                }),
            },
        }
    }

    /// The handle the started duties will have: what is built before they start (the state
    /// they share) can hold it already, to spawn tasks once they run.
    pub fn jobs(&self) -> Jobs {
        self.jobs.clone()
    }

    /// Registers `duty` as `name` (in logs) to run at `cadence`.
    pub fn register(&mut self, name: &'static str, cadence: Cadence, duty: impl Duty) -> &mut Self {
        self.registrations.push(Registration {
            name,
            duty: Arc::new(duty),
            cadence,
        });
        self
    }

    /// Starts every registered duty's loops.
    pub fn start(self) -> Jobs {
        let jobs = self.jobs;
        *jobs.shared.queues.lock().expect("not poisoned") = self
            .registrations
            .iter()
            .filter(|r| matches!(r.cadence, Cadence::Queue { .. }))
            .map(|r| r.duty.clone())
            .collect();
        for registration in self.registrations {
            let loops = match &registration.cadence {
                Cadence::Queue { workers, .. } => (*workers).max(1),
                Cadence::Every { .. } => 1,
            };
            for _ in 0..loops {
                // Subscribed now, not when the loop first runs: a stop sent before then is seen.
                let stop = jobs.shared.stop.subscribe();
                let handle = tokio::spawn(run_loop(
                    jobs.clone(),
                    stop,
                    registration.name,
                    registration.duty.clone(),
                    registration.cadence.clone(),
                ));
                jobs.shared
                    .handles
                    .lock()
                    .expect("not poisoned")
                    .push(handle);
            }
        }
        jobs
    }
}

struct Shared {
    stop: watch::Sender<bool>,
    /// Units running now.
    running: AtomicUsize,
    /// Units finished so far.
    finished: AtomicU64,
    /// Notified whenever a unit finishes.
    settled: Notify,
    handles: Mutex<Vec<JoinHandle<()>>>,
    /// The queue duties, which [`Jobs::drain`] runs until they are idle.
    queues: Mutex<Vec<Arc<dyn Duty>>>,
}

/// The running duties: a handle to spawn tasks on, drain, and shut down.
#[derive(Clone)]
pub struct Jobs {
    shared: Arc<Shared>,
}

impl Jobs {
    /// A runner with nothing registered (a process that runs no background duty).
    pub fn none() -> Jobs {
        Runner::new().start()
    }

    /// Runs `work` as a task of the runner, stopped by [`Jobs::shutdown`] if it outlasts the
    /// grace period.
    pub fn spawn(&self, name: &'static str, work: impl Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(async move {
            work.await;
            tracing::debug!(task = name, "background task finished");
        });
        let mut handles = self.shared.handles.lock().expect("not poisoned");
        handles.retain(|handle| !handle.is_finished());
        handles.push(handle);
    }

    /// Returns once no queue has due work and none of its units is running: every queue duty
    /// is run here until it finds nothing, then the loops' running units are waited for, and
    /// again until a round finds nothing new. Tests wait on this rather than sleeping. Tasks
    /// are not waited for: a sync run reports its own end.
    pub async fn drain(&self) {
        loop {
            let before = self.shared.finished.load(Ordering::SeqCst);
            let mut worked = false;
            let queues = self.shared.queues.lock().expect("not poisoned").clone();
            for duty in &queues {
                while let Ok(Ran::Worked) = duty.unit().await {
                    worked = true;
                }
            }
            loop {
                let settled = self.shared.settled.notified();
                tokio::pin!(settled);
                settled.as_mut().enable();
                if self.shared.running.load(Ordering::SeqCst) == 0 {
                    break;
                }
                settled.await;
            }
            if !worked && self.shared.finished.load(Ordering::SeqCst) == before {
                return;
            }
        }
    }

    /// Stops every loop after its current unit, and waits up to `grace` for them and the
    /// tasks; what is still running then is aborted (its claims and leases expire, and another
    /// instance takes the work over).
    pub async fn shutdown(&self, grace: Duration) {
        self.shared.stop.send_replace(true);
        let handles: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.shared.handles.lock().expect("not poisoned"));
        let aborts: Vec<_> = handles.iter().map(JoinHandle::abort_handle).collect();
        let all = futures_join(handles);
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!("background work outlived the shutdown grace period; stopped");
            for abort in aborts {
                abort.abort();
            }
        }
    }
}

async fn futures_join(handles: Vec<JoinHandle<()>>) {
    for handle in handles {
        let _ = handle.await;
    }
}

/// Counts a unit as running while it lives.
struct Running(Arc<Shared>);

impl Running {
    fn start(shared: &Arc<Shared>) -> Self {
        shared.running.fetch_add(1, Ordering::SeqCst);
        Self(shared.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Ordering::SeqCst);
        self.0.running.fetch_sub(1, Ordering::SeqCst);
        self.0.settled.notify_waiters();
    }
}

async fn run_loop(
    jobs: Jobs,
    mut stop: watch::Receiver<bool>,
    name: &'static str,
    duty: Arc<dyn Duty>,
    cadence: Cadence,
) {
    let mut failures = 0u32;
    if let Cadence::Every {
        every,
        at_start: false,
    } = &cadence
    {
        if wait_or_stop(&mut stop, tokio::time::sleep(*every)).await {
            return;
        }
    }
    let wake = match &cadence {
        Cadence::Queue {
            wake: Some(wake), ..
        } => Some(wake.clone()),
        _ => None,
    };
    loop {
        if *stop.borrow() {
            return;
        }
        // Registered before the unit looks for work, so a store that lands meanwhile still
        // wakes the loop.
        let notified = wake.as_ref().map(|wake| wake.notified());
        tokio::pin!(notified);
        if let Some(notified) = notified.as_mut().as_pin_mut() {
            notified.enable();
        }
        let ran = {
            let _running = Running::start(&jobs.shared);
            duty.unit().await
        };
        let ran = match ran {
            Ok(ran) => {
                failures = 0;
                ran
            }
            Err(err) => {
                failures += 1;
                tracing::warn!(duty = name, failures, error = %crate::domain::chain(&*err), "a background unit failed");
                let delay = Backoff::DEFAULT.delay(failures);
                if wait_or_stop(&mut stop, tokio::time::sleep(delay)).await {
                    return;
                }
                continue;
            }
        };
        let stopped = match (&cadence, ran) {
            (Cadence::Every { every, .. }, _) => {
                wait_or_stop(&mut stop, tokio::time::sleep(*every)).await
            }
            (Cadence::Queue { .. }, Ran::Worked) => false,
            (Cadence::Queue { poll, .. }, Ran::Idle) => {
                let poll = tokio::time::sleep(*poll);
                let woken = async {
                    match notified.as_mut().as_pin_mut() {
                        Some(notified) => {
                            tokio::select! {
                                _ = notified => {}
                                _ = poll => {}
                            }
                        }
                        None => poll.await,
                    }
                };
                wait_or_stop(&mut stop, woken).await
            }
        };
        if stopped {
            return;
        }
    }
}

/// Waits for `work`, or for the stop signal; says whether it stopped.
async fn wait_or_stop(stop: &mut watch::Receiver<bool>, work: impl Future<Output = ()>) -> bool {
    let stopped = tokio::select! {
        _ = work => None,
        _ = stop.wait_for(|stopped| *stopped) => Some(true),
    };
    stopped.unwrap_or_else(|| *stop.borrow())
}
