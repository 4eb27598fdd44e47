//! Use cases. They take parsed domain values and the caller's [`Principal`](crate::domain::Principal),
//! talk to Stripe first and to the database second, and know nothing of actix.

pub mod audit;
pub mod billing;
pub mod customers;
pub mod effect_gate;
pub mod erasures;
pub mod events;
pub mod organizers;
pub mod outbound;
pub mod payments;
pub mod rate_shares;
pub mod readiness;
pub mod retention;
pub mod sync;
pub mod webhooks;

use std::time::Duration;

use crate::db::Db;
use crate::domain::SubjectHasher;
use crate::jobs::Jobs;
use crate::notify::target::Targets;
use crate::stripe::Stripe;

/// What every use case may reach; shared by all workers.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub stripe: Stripe,
    pub subject_hasher: SubjectHasher,
    /// How long a request waits for another request's Stripe create of the same customer
    /// before it answers "retry later".
    pub create_wait: Duration,
    /// Whether a newly registered organizer's mirror is backfilled from Stripe.
    pub backfill_on_register: bool,
    /// How often every account is reconciled, when the sweep is on (the health report's
    /// yardstick for an overdue reconciliation).
    pub reconcile_every: Option<Duration>,
    /// The hot reads, grouped into shared statements.
    pub reads: customers::GroupedReads,
    /// The background duties' runner, which runs the tasks requests start (sync runs).
    pub jobs: Jobs,
    /// Where webhook endpoints may point (`OUTBOUND_WEBHOOK_ALLOWED_HOSTS`).
    pub targets: Targets,
}

impl AppState {
    /// The same state for background work: its Stripe calls use only the background share of
    /// the rate budget.
    pub fn background(&self) -> AppState {
        AppState {
            stripe: self.stripe.background(),
            ..self.clone()
        }
    }
}
