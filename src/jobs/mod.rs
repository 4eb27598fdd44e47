//! The one runner of background duties. Every duty the gateway runs besides answering requests
//! is registered here, from one place (`startup::start_jobs`), and runs the same way:
//!
//! - a **queue** ([`Cadence::Queue`]): `workers` loops, each doing one unit after another while
//!   work is found, and when none is, waiting for a wake-up or `poll` (the inbox's events);
//! - a **schedule** ([`Cadence::Every`]): one unit every period (the instance heartbeat behind the
//!   shared rate budget, the reconciliation sweep, the idempotency purge, metrics upkeep);
//! - a **task** ([`Jobs::spawn`]): one piece of work started by a request (a sync run).
//!
//! What a unit claims is the duty's own: rows are claimed with `FOR UPDATE SKIP LOCKED` and a
//! claim that expires (the inbox's events), and a piece of work that must have one holder
//! across instances is held by a lease (`db::Lease`: an object's fetch, an account's run, a
//! sweep). A unit that fails is logged and its loop waits [`Backoff`] before the next, growing
//! while failures repeat; a duty's own retry schedule and dead letters (the inbox's) are the
//! duty's. [`Jobs::shutdown`] stops every loop after its current unit; [`Jobs::drain`] lets a
//! test wait until no unit is due or running, instead of sleeping.

mod runner;
#[cfg(test)]
mod tests;

pub use runner::{Backoff, Cadence, Jobs, Ran, Runner};

use std::future::Future;
use std::pin::Pin;

/// What a unit of a duty returns.
pub type UnitResult = Result<Ran, Box<dyn std::error::Error + Send + Sync>>;

/// One unit of a duty, as the runner calls it.
pub type Unit = Pin<Box<dyn Future<Output = UnitResult> + Send>>;

/// A duty: something the runner calls for one unit of work at a time.
pub trait Duty: Send + Sync + 'static {
    fn unit(&self) -> Unit;
}

impl<F, Fut> Duty for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = UnitResult> + Send + 'static,
{
    fn unit(&self) -> Unit {
        Box::pin(self())
    }
}
