//! Settings of webhook ingestion and of the webhook workers (inside `serve`, or the `worker`
//! subcommand).

use std::time::Duration;

use clap::Args;
use secrecy::SecretString;

use super::{
    audit_hash_key, parse_secret, AuditArgs, ConfigError, DatabaseSettings, StripeArgs,
    StripeSettings,
};

/// Arguments of the `worker` subcommand: the webhook workers alone, no HTTP listener.
#[derive(Clone, Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub database: DatabaseSettings,
    #[command(flatten)]
    pub stripe: StripeArgs,
    #[command(flatten)]
    pub audit: AuditArgs,
    #[command(flatten)]
    pub worker: WorkerSettings,
    #[command(flatten)]
    pub sync: super::SyncSettings,
    #[command(flatten)]
    pub outbound: super::OutboundSettings,
    /// Serve `GET /metrics` on this address (a worker process has no other listener).
    #[arg(long = "metrics-bind", env = "METRICS_BIND_ADDRESS")]
    pub metrics_bind_address: Option<std::net::SocketAddr>,
}

#[derive(Clone, Debug, Args)]
pub struct WebhookSettings {
    /// Webhook signing secrets (`whsec_...`), comma-separated: the platform endpoint's, the
    /// Connect endpoint's, and during a rotation the old and the new. A delivery signed by any
    /// of them is accepted. With none, `POST /webhooks/stripe` answers 503 (Stripe retries).
    #[arg(long = "webhook-secret", env = "STRIPE_WEBHOOK_SECRETS", value_delimiter = ',', hide_env_values = true, value_parser = parse_secret)]
    pub secrets: Vec<SecretString>,
    /// How far a delivery's signature timestamp may be from now, in seconds.
    #[arg(long, env = "WEBHOOK_TOLERANCE_SECS", default_value_t = 300)]
    pub webhook_tolerance_secs: u64,
    /// Largest webhook body accepted, in bytes; larger ones get 400 `payload_too_large`.
    #[arg(long, env = "WEBHOOK_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub webhook_max_body_bytes: usize,
    /// Most deliveries stored by one commit (group commit batches concurrent deliveries).
    #[arg(long, env = "WEBHOOK_BATCH_MAX", default_value_t = 256)]
    pub webhook_batch_max: usize,
    /// Batches committing at once. One takes everything queued while the previous commit ran;
    /// more overlap their commits but split the queue into smaller batches. On PostgreSQL each
    /// committer has a connection of its own, outside the pool.
    #[arg(long, env = "WEBHOOK_COMMITTERS", default_value_t = 1)]
    pub webhook_committers: usize,
    /// How long settled events (processed, ignored, of an unknown account) stay in the inbox,
    /// in days; older ones are purged as often as idempotency keys are. Pending and dead events
    /// stay. At least 30 (a smaller value is refused at start): Stripe lists events for 30
    /// days, and the missed-event recovery would store an event purged sooner again, as missed.
    #[arg(long, env = "WEBHOOK_EVENTS_RETENTION_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(30..=super::MAX_RETENTION_DAYS))]
    pub webhook_events_retention_days: u32,
}

impl WebhookSettings {
    /// [`WebhookSettings::webhook_events_retention_days`] (never under 30: see its parser).
    pub fn events_retention(&self) -> chrono::Duration {
        chrono::Duration::days(i64::from(self.webhook_events_retention_days))
    }
}

#[derive(Clone, Debug, Args)]
pub struct WorkerSettings {
    /// Run the webhook workers inside `serve`; turn off when they run as `worker` processes.
    #[arg(long, env = "RUN_WORKERS", default_value_t = true, action = clap::ArgAction::Set)]
    pub run_workers: bool,
    /// Events processed at once by one process.
    #[arg(long, env = "WORKER_CONCURRENCY", default_value_t = 4)]
    pub worker_concurrency: usize,
    /// Attempts before an event is dead-lettered.
    #[arg(long, env = "WEBHOOK_MAX_ATTEMPTS", default_value_t = 10)]
    pub webhook_max_attempts: i32,
    /// Delay before the first retry of a failed event, in milliseconds; it doubles per attempt.
    #[arg(long, env = "WEBHOOK_RETRY_BASE_MS", default_value_t = 2_000)]
    pub webhook_retry_base_ms: u64,
    /// Longest delay between retries, in milliseconds.
    #[arg(long, env = "WEBHOOK_RETRY_CAP_MS", default_value_t = 3_600_000)]
    pub webhook_retry_cap_ms: u64,
    /// How long a worker owns a claimed event before another may take it, in seconds.
    #[arg(long, env = "WORKER_LEASE_SECS", default_value_t = 120)]
    pub worker_lease_secs: u64,
    /// How often an idle worker looks for events stored by other instances, in milliseconds.
    #[arg(long, env = "WORKER_POLL_MS", default_value_t = 1_000)]
    pub worker_poll_ms: u64,
}

/// Everything `worker` needs.
#[derive(Clone, Debug)]
pub struct WorkerProcessSettings {
    pub database: DatabaseSettings,
    pub stripe: StripeSettings,
    pub audit_hash_key: SecretString,
    pub worker: WorkerSettings,
    pub sync: super::SyncSettings,
    pub outbound: super::OutboundSettings,
    pub metrics_bind_address: Option<std::net::SocketAddr>,
}

impl WorkerProcessSettings {
    pub fn from_args(args: WorkerArgs) -> Result<Self, ConfigError> {
        Ok(Self {
            database: args.database,
            stripe: StripeSettings::from_args(args.stripe)?,
            audit_hash_key: audit_hash_key(args.audit)?,
            worker: args.worker,
            sync: args.sync,
            outbound: args.outbound,
            metrics_bind_address: args.metrics_bind_address,
        })
    }
}

impl WorkerSettings {
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.worker_lease_secs.max(1))
    }

    pub fn poll(&self) -> Duration {
        Duration::from_millis(self.worker_poll_ms.max(10))
    }

    /// The delay before retrying an event that has failed `attempts` times.
    pub fn backoff(&self, attempts: i32) -> Duration {
        let exponent = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(0)
            .min(30);
        let delay = self.webhook_retry_base_ms.saturating_mul(1u64 << exponent);
        Duration::from_millis(delay.min(self.webhook_retry_cap_ms))
    }
}
