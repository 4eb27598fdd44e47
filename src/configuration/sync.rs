//! Settings of reconciliation: the periodic sweep and the backfill of new organizers.

use std::time::Duration;

use clap::Args;

#[derive(Clone, Debug, Args)]
pub struct SyncSettings {
    /// How often every organizer's account is reconciled with Stripe, in seconds (where the
    /// workers run; one instance sweeps at a time). 0 turns the sweep off.
    #[arg(long, env = "RECONCILE_INTERVAL_SECS", default_value_t = 86_400)]
    pub reconcile_interval_secs: u64,
    /// Sweep once at start-up too, rather than one interval after it.
    #[arg(long, env = "RECONCILE_ON_START", default_value_t = false, action = clap::ArgAction::Set)]
    pub reconcile_on_start: bool,
    /// Backfill a newly registered organizer's mirror (customers, products, prices,
    /// subscriptions) from Stripe in the background.
    #[arg(long, env = "BACKFILL_ON_REGISTER", default_value_t = true, action = clap::ArgAction::Set)]
    pub backfill_on_register: bool,
    /// Accounts a sweep reconciles at once (each one call at a time, all within the rate
    /// budget's background share).
    #[arg(long, env = "SYNC_CONCURRENCY", default_value_t = 4)]
    pub sync_concurrency: usize,
    /// A sweep leaves out an account whose last full reconciliation (every kind, not a dry run)
    /// succeeded less than this many seconds ago: a large account reconciled on demand, or just
    /// backfilled, does not take the background budget again straight away. 0: no cooldown.
    #[arg(long, env = "SYNC_COOLDOWN_SECS", default_value_t = 3_600)]
    pub sync_cooldown_secs: u64,
}

impl SyncSettings {
    /// The sweep's interval, when it is on.
    pub fn interval(&self) -> Option<Duration> {
        (self.reconcile_interval_secs > 0)
            .then(|| Duration::from_secs(self.reconcile_interval_secs))
    }
}
