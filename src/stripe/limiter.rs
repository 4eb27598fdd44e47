//! The gateway's Stripe rate budget: every call waits for a permit before it is sent (retries
//! included). Interactive calls (a checkout, an upsert) may use all of it and go first; background
//! work (webhook workers, reconciliation) only its share, and only when no interactive call
//! waits, so a large backfill cannot slow another organizer's checkout. Of the accounts waiting
//! for the background share, the one served least lately goes next ([`FairTurns`]). The budget is shared by the instances on one database: each takes
//! `budget / live instances` (see [`rate_shares`](crate::services::rate_shares)).

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Notify;

use super::turns::FairTurns;

/// Who is waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    /// A client waits for the answer.
    Interactive,
    /// Webhook workers and reconciliation.
    Background,
}

pub use crate::configuration::RateBudget;

struct Limits {
    all: DefaultDirectRateLimiter,
    background: DefaultDirectRateLimiter,
    instances: u32,
}

pub struct Limiter {
    budget: RateBudget,
    limits: RwLock<Arc<Limits>>,
    turns: FairTurns,
    /// Interactive calls waiting for a permit; background calls wait while there are any.
    interactive_waiting: AtomicUsize,
    /// Told when the last waiting interactive call got its permit.
    interactive_done: Notify,
}

/// Counts an interactive call as waiting while it lives.
struct Waiting<'a>(&'a Limiter);

impl<'a> Waiting<'a> {
    fn new(limiter: &'a Limiter) -> Self {
        limiter.interactive_waiting.fetch_add(1, Ordering::AcqRel);
        Self(limiter)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.0.interactive_waiting.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.interactive_done.notify_waiters();
        }
    }
}

/// `per_second` calls a second, evenly spaced, of which `burst` may come at once.
fn quota(per_second: f64, burst: NonZeroU32) -> Quota {
    let period = Duration::from_secs_f64(1.0 / per_second.max(0.1)).max(Duration::from_micros(1));
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
        .allow_burst(burst)
}

/// The background share's burst: permits their waiters take late (woken milliseconds after
/// their time, on a loaded machine) are not lost, the next ones may follow at once. Four: two
/// kept up on one machine but not on a slower one (docs/design.md, "The rate budget").
const BACKGROUND_BURST: NonZeroU32 = NonZeroU32::new(4).expect("not zero");

/// The whole budget's burst: one permit in hand, for the same reason. Every background call
/// takes a permit of the whole budget after its share's, so without one in hand a waiter
/// woken late (a timer rounds up to its next millisecond, then waits for a thread) pushed
/// every later call back: at 300 calls a second, 3.3 ms apart, that gave 230-240. A second
/// sees at most one call over the budget per instance.
const WHOLE_BURST: NonZeroU32 = NonZeroU32::new(2).expect("not zero");

impl Limits {
    fn new(budget: RateBudget, instances: u32) -> Self {
        let mine = f64::from(budget.per_second) / f64::from(instances.max(1));
        Self {
            all: RateLimiter::direct(quota(mine, WHOLE_BURST)),
            background: RateLimiter::direct(quota(
                mine * budget.background_share.clamp(0.0, 1.0),
                BACKGROUND_BURST,
            )),
            instances,
        }
    }
}

impl Limiter {
    pub fn new(budget: RateBudget) -> Self {
        Self {
            budget,
            limits: RwLock::new(Arc::new(Limits::new(budget, 1))),
            turns: FairTurns::default(),
            interactive_waiting: AtomicUsize::new(0),
            interactive_done: Notify::new(),
        }
    }

    /// Waits until a call of this priority, for `account` ("" for the platform's own), may
    /// go. Background calls take the background share in turns between accounts.
    pub async fn acquire(&self, priority: Priority, account: &str) {
        match priority {
            Priority::Interactive => {
                let _waiting = Waiting::new(self);
                self.limits().all.until_ready().await;
            }
            Priority::Background => {
                // The limits are read once the turn is won: a waiter queued before the
                // instances changed takes from the limits in force, not from replaced ones.
                let permit = async {
                    let limits = self.limits();
                    limits.background.until_ready().await;
                    self.after_interactive(&limits.all).await;
                };
                self.turns.take_turn(account, permit).await;
            }
        }
    }

    fn limits(&self) -> Arc<Limits> {
        self.limits
            .read()
            .map(|l| l.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Takes a permit of the whole budget when no interactive call is waiting for one.
    async fn after_interactive(&self, all: &DefaultDirectRateLimiter) {
        let clock = DefaultClock::default();
        loop {
            // Created before the check: the last interactive call leaving between the two
            // still wakes it.
            let done = self.interactive_done.notified();
            if self.interactive_waiting.load(Ordering::Acquire) > 0 {
                done.await;
                continue;
            }
            match all.check() {
                Ok(()) => return,
                Err(not_until) => tokio::time::sleep(not_until.wait_time_from(clock.now())).await,
            }
        }
    }

    /// Takes `budget / instances` from now on, when the number of live instances changed.
    pub fn set_instances(&self, instances: u32) {
        let instances = instances.max(1);
        let mut limits = self.limits.write().unwrap_or_else(|e| e.into_inner());
        if limits.instances != instances {
            tracing::info!(
                instances,
                per_second = self.budget.per_second,
                "the Stripe rate budget is shared anew"
            );
            *limits = Arc::new(Limits::new(self.budget, instances));
        }
    }

    pub fn instances(&self) -> u32 {
        self.limits.read().map(|l| l.instances).unwrap_or(1)
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn calls_are_spaced_to_the_budget() {
        let limiter = Limiter::new(RateBudget {
            per_second: 50,
            background_share: 0.5,
        });
        let started = std::time::Instant::now();
        for _ in 0..11 {
            limiter.acquire(Priority::Interactive, "").await;
        }
        // Ten intervals of 20 ms after the first call, less the one permit in hand.
        assert!(
            started.elapsed() >= Duration::from_millis(170),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn background_calls_wait_while_an_interactive_call_waits() {
        let limiter = Limiter::new(RateBudget {
            per_second: 10,
            background_share: 0.9,
        });
        // The budget's permits in hand are spent: the next call waits about 100 ms.
        for _ in 0..WHOLE_BURST.get() {
            limiter.acquire(Priority::Interactive, "").await;
        }
        let mut interactive = Box::pin(limiter.acquire(Priority::Interactive, "acct_checkout"));
        let ready = std::future::poll_fn(|cx| {
            std::task::Poll::Ready(interactive.as_mut().poll(cx).is_ready())
        })
        .await;
        assert!(!ready);
        // Permits come free every 100 ms, but while the interactive call waits (it is never
        // polled again) none goes to background work.
        let background = limiter.acquire(Priority::Background, "acct_backfilled");
        let waited = tokio::time::timeout(Duration::from_millis(350), background).await;
        assert!(waited.is_err(), "a background call went first");
        drop(interactive);
        tokio::time::timeout(
            Duration::from_secs(5),
            limiter.acquire(Priority::Background, "acct_backfilled"),
        )
        .await
        .expect("background calls go once no interactive call waits");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn each_instance_takes_its_share() {
        let limiter = Limiter::new(RateBudget {
            per_second: 100,
            background_share: 0.7,
        });
        limiter.set_instances(4);
        assert_eq!(limiter.instances(), 4);
        // 100 a second over 4 instances: 25 a second here, ten intervals of 40 ms less the
        // one permit in hand.
        let started = std::time::Instant::now();
        for _ in 0..11 {
            limiter.acquire(Priority::Interactive, "").await;
        }
        assert!(
            started.elapsed() >= Duration::from_millis(350),
            "{:?}",
            started.elapsed()
        );
        limiter.set_instances(0);
        assert_eq!(limiter.instances(), 1);
    }
}
