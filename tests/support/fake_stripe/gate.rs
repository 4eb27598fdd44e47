//! Gates: the fake holds chosen requests until the test releases them, so a test orders
//! concurrent requests by what it awaits, never by how long something sleeps.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// Where a held request waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    /// Before the fake looks at it: Stripe has not acted yet.
    Request,
    /// After the fake processed it (and saved its idempotent result): Stripe has acted, and
    /// only its answer waits.
    Answer,
}

/// How long [`Gate::arrived`] waits before it fails the test: a request that never comes is a
/// failure to report, not a reason to hang.
const ARRIVAL_LIMIT: Duration = Duration::from_secs(60);

struct Shared {
    /// Requests that reached their hold point so far.
    arrived: watch::Sender<usize>,
    released: watch::Sender<bool>,
}

/// The test's handle on held requests. Releasing it (or dropping it, so a failing test never
/// leaves a request hanging) lets every request it holds, and every later one it catches, go on.
pub struct Gate {
    shared: Arc<Shared>,
    expected: usize,
    what: String,
}

impl Gate {
    /// Resolves once every request the gate was set for has reached its hold point: arrived
    /// for [`Hold::Request`], processed for [`Hold::Answer`]. Panics after a minute without.
    pub async fn arrived(&self) {
        let mut arrivals = self.shared.arrived.subscribe();
        let all_here = arrivals.wait_for(|count| *count >= self.expected);
        // `Ok(false)` cannot happen: the sender lives in `shared`, which the gate holds.
        let waited = tokio::time::timeout(ARRIVAL_LIMIT, all_here)
            .await
            .map(|result| result.is_ok());
        assert!(
            waited.is_ok(),
            "{} of {} held requests ({}) reached the fake Stripe in {ARRIVAL_LIMIT:?}",
            *self.shared.arrived.borrow(),
            self.expected,
            self.what
        );
    }

    /// Lets the held requests go on.
    pub fn release(&self) {
        self.shared.released.send_replace(true);
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.release();
    }
}

/// The fake's side of a gate: which requests it catches, and how many are left to catch.
pub(super) struct Catch {
    method: String,
    path_prefix: String,
    left: usize,
    hold: Hold,
    shared: Arc<Shared>,
}

impl Catch {
    pub(super) fn new(method: &str, path_prefix: &str, n: usize, hold: Hold) -> (Self, Gate) {
        assert!(n > 0, "a gate holds at least one request");
        let shared = Arc::new(Shared {
            arrived: watch::Sender::new(0),
            released: watch::Sender::new(false),
        });
        let gate = Gate {
            shared: shared.clone(),
            expected: n,
            what: format!("{method} {path_prefix}… held at the {hold:?}"),
        };
        let catch = Self {
            method: method.to_string(),
            path_prefix: path_prefix.to_string(),
            left: n,
            hold,
            shared,
        };
        (catch, gate)
    }

    /// Takes the request if it is one this gate still catches.
    pub(super) fn take(&mut self, method: &str, path: &str) -> Option<Ticket> {
        if self.left == 0 || self.method != method || !path.starts_with(&self.path_prefix) {
            return None;
        }
        self.left -= 1;
        Some(Ticket {
            hold: self.hold,
            shared: self.shared.clone(),
        })
    }

    pub(super) fn is_spent(&self) -> bool {
        self.left == 0
    }
}

/// One caught request's place at the gate.
pub(super) struct Ticket {
    pub(super) hold: Hold,
    shared: Arc<Shared>,
}

impl Ticket {
    /// Reports the request at its hold point, then waits until the gate is released.
    pub(super) async fn wait(self) {
        let mut released = self.shared.released.subscribe();
        self.shared.arrived.send_modify(|count| *count += 1);
        // The gate's sender lives in `shared`, which this ticket holds: it cannot close.
        let _ = released.wait_for(|released| *released).await;
    }
}
