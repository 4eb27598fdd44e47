//! Settings from CLI flags and environment variables (a `.env` file is read first when present).
//! Secrets are `SecretString` from here to the one place each is used; `Debug` shows them redacted.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;

mod database_url;
pub use database_url::{Backend, DatabaseUrl};
mod outbound;
pub use outbound::OutboundSettings;
mod stripe;
mod sync;
mod workers;

use crate::domain::OrganizerId;
pub use stripe::{RateBudget, StripeArgs, StripeSettings, DEFAULT_MAX_APPLICATION_FEE_BPS};
pub use sync::SyncSettings;
pub use workers::{WebhookSettings, WorkerArgs, WorkerProcessSettings, WorkerSettings};

/// The longest retention a purge takes, in days (a century): a purge subtracts it from the
/// database's clock, which a larger one would run past the calendar's start.
pub const MAX_RETENTION_DAYS: i64 = 36_500;

#[derive(Debug, Parser)]
#[command(
    name = "stripe-gateway",
    version,
    about = "Multi-tenant billing gateway for Stripe Connect"
)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogSettings,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP gateway (applies pending migrations first unless AUTO_MIGRATE=false).
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseSettings),
    /// Print a signed JWT for local use, made with JWT_SECRET.
    Token(TokenArgs),
    /// Print the OpenAPI document this build serves (the source of `openapi.yaml`).
    Openapi,
    /// Print the SQL that places the tables on a Citus cluster, sharded by Stripe account
    /// (docs/design.md, "Past one database").
    Distribute,
    /// Run the webhook workers only (for separate worker processes; see RUN_WORKERS).
    Worker(WorkerArgs),
    /// Reconcile one organizer's account with Stripe now, and print the drift report.
    Sync(SyncArgs),
    /// Reconcile every active organizer's account with Stripe now, and print each report.
    Reconcile(SyncArgs),
}

/// Arguments of `sync` and `reconcile`.
#[derive(Clone, Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub database: DatabaseSettings,
    #[command(flatten)]
    pub stripe: StripeArgs,
    #[command(flatten)]
    pub audit: AuditArgs,
    /// The organizer whose account to reconcile (`sync` only; required there).
    #[arg(long, value_parser = OrganizerId::parse)]
    pub org: Option<OrganizerId>,
    /// Compare and report, write nothing.
    #[arg(long, default_value_t = false)]
    pub dry_run: bool,
    /// Accounts reconciled at once (`reconcile`).
    #[arg(long, env = "SYNC_CONCURRENCY", default_value_t = 4)]
    pub concurrency: usize,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

#[derive(Clone, Debug, Args)]
pub struct LogSettings {
    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty, global = true)]
    pub log_format: LogFormat,
    /// Log filter in `tracing` syntax, e.g. `info` or `info,gateway=debug`.
    #[arg(long, env = "RUST_LOG", default_value = "info", global = true)]
    pub log_filter: String,
}

#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub server: ServerSettings,
    #[command(flatten)]
    pub database: DatabaseSettings,
    #[command(flatten)]
    pub stripe: StripeArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub audit: AuditArgs,
    #[command(flatten)]
    pub webhooks: WebhookSettings,
    #[command(flatten)]
    pub worker: WorkerSettings,
    #[command(flatten)]
    pub sync: SyncSettings,
    #[command(flatten)]
    pub outbound: OutboundSettings,
}

#[derive(Clone, Debug, Args)]
pub struct AuditArgs {
    /// Key of the HMAC-SHA256 that stands for a person's email in the audit log and erasure
    /// receipts. Keep it stable: with another key, old entries no longer match the address.
    /// Required by `serve`.
    #[arg(long, env = "AUDIT_HASH_KEY", hide_env_values = true, value_parser = parse_secret)]
    pub audit_hash_key: Option<SecretString>,
}

#[derive(Clone, Debug, Args)]
pub struct ServerSettings {
    /// Address and port to listen on (port 0 picks a free one).
    #[arg(long = "bind", env = "BIND_ADDRESS", default_value = "127.0.0.1:8080")]
    pub bind_address: SocketAddr,
    /// HTTP worker threads; defaults to the number of CPUs.
    #[arg(long, env = "HTTP_WORKERS")]
    pub workers: Option<usize>,
    /// Largest request body accepted, in bytes; larger ones get 413.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,
    /// How long a request waits for another request's Stripe create of the same customer, in
    /// milliseconds, before it answers 503 `stripe_unavailable` with `Retry-After`.
    #[arg(long, env = "CREATE_WAIT_MS", default_value_t = 10_000)]
    pub create_wait_ms: u64,
    /// How long the answer to a POST sent with an `Idempotency-Key` is kept for retries, in
    /// seconds; expired keys are purged by the gateway.
    #[arg(long, env = "IDEMPOTENCY_KEEP_SECS", default_value_t = 86_400)]
    pub idempotency_keep_secs: u64,
    /// How long a request with an `Idempotency-Key` holds its key while it runs, in seconds.
    /// Retries meanwhile get 409; a holder that died frees the key when this ends.
    #[arg(long, env = "IDEMPOTENCY_LEASE_SECS", default_value_t = 60)]
    pub idempotency_lease_secs: u64,
    /// How often expired idempotency keys are purged, in seconds.
    #[arg(long, env = "IDEMPOTENCY_PURGE_SECS", default_value_t = 600)]
    pub idempotency_purge_secs: u64,
    /// How long the gateway's own events (the feed, `GET /v1/organizers/{org_id}/events`) are
    /// kept, in days (1 to 36,500); older ones are purged as often as idempotency keys are.
    #[arg(long, env = "GATEWAY_EVENTS_RETENTION_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=MAX_RETENTION_DAYS))]
    pub events_retention_days: u32,
    /// Serve `GET /metrics` on this address instead of the main listener (e.g. a port only
    /// Prometheus can reach).
    #[arg(long = "metrics-bind", env = "METRICS_BIND_ADDRESS")]
    pub metrics_bind_address: Option<SocketAddr>,
}

impl ServerSettings {
    pub fn create_wait(&self) -> Duration {
        Duration::from_millis(self.create_wait_ms)
    }

    pub fn idempotency_times(&self) -> KeyTimes {
        KeyTimes {
            lease: Duration::from_secs(self.idempotency_lease_secs.max(1)),
            keep: Duration::from_secs(self.idempotency_keep_secs.max(1)),
        }
    }

    pub fn idempotency_purge_every(&self) -> Duration {
        Duration::from_secs(self.idempotency_purge_secs.max(1))
    }

    pub fn events_retention(&self) -> chrono::Duration {
        chrono::Duration::days(i64::from(self.events_retention_days))
    }
}

#[derive(Clone, Debug, Args)]
pub struct DatabaseSettings {
    /// `postgres://...` for PostgreSQL, or `sqlite://<path>` for an embedded SQLite file.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://./data/gateway.db", value_parser = DatabaseUrl::parse, hide_env_values = true)]
    pub database_url: DatabaseUrl,
    /// Most connections the pool opens.
    #[arg(long, env = "DATABASE_POOL_SIZE", default_value_t = 10)]
    pub database_pool_size: u32,
    /// How long a request waits for a pooled connection, in seconds.
    #[arg(long, env = "DATABASE_CONNECT_TIMEOUT_SECS", default_value_t = 5)]
    pub database_connect_timeout_secs: u64,
    /// Grouped statements each hot read (a customer by email, entitlements) runs at once:
    /// reads arriving meanwhile wait and share the next one. 1 suits PostgreSQL on few cores;
    /// on its own many-core machine, across a network, 2-4 keep it busier.
    #[arg(long, env = "DATABASE_READ_RUNNERS", default_value_t = 1)]
    pub database_read_runners: usize,
    /// Apply pending migrations when `serve` starts.
    #[arg(long, env = "AUTO_MIGRATE", default_value_t = true, action = clap::ArgAction::Set)]
    pub auto_migrate: bool,
}

impl DatabaseSettings {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.database_connect_timeout_secs.max(1))
    }
}

#[derive(Clone, Debug, Args)]
pub struct AuthArgs {
    /// Shared secret for HS256 tokens.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub jwt_secret: Option<SecretString>,
    /// PEM file with an RSA (RS256) or Ed25519 (EdDSA) public key, for tokens signed elsewhere.
    #[arg(long, env = "JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<PathBuf>,
    /// Required `iss` claim, when set.
    #[arg(long, env = "JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Required `aud` claim, when set.
    #[arg(long, env = "JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TokenRole {
    Admin,
    Organizer,
}

#[derive(Clone, Debug, Args)]
pub struct TokenArgs {
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Role the token grants.
    #[arg(long, value_enum)]
    pub role: TokenRole,
    /// Organizer id; required with `--role organizer`.
    #[arg(long, value_parser = OrganizerId::parse, required_if_eq("role", "organizer"))]
    pub org: Option<OrganizerId>,
    /// Subject (`sub` claim): who the token stands for.
    #[arg(long, default_value = "local-cli")]
    pub sub: String,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub ttl_secs: u64,
}

pub(crate) fn parse_secret(raw: &str) -> Result<SecretString, String> {
    if raw.trim().is_empty() {
        return Err("must not be empty".to_string());
    }
    Ok(SecretString::from(raw.trim()))
}

/// Everything `serve` needs. `from_args` checks the Stripe settings; the token keys are checked
/// by [`JwtVerifier::from_settings`](crate::auth::JwtVerifier::from_settings).
#[derive(Clone, Debug)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub stripe: StripeSettings,
    pub auth: AuthArgs,
    pub audit_hash_key: SecretString,
    pub webhooks: WebhookSettings,
    pub worker: WorkerSettings,
    pub sync: SyncSettings,
    pub outbound: OutboundSettings,
}

/// Settings that stop start-up, each phrased as the one thing to fix: every problem found is
/// named at once, so a first start does not take one run per missing variable.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl ConfigError {
    /// One error naming each problem (`None` when there is none).
    pub fn all(problems: Vec<ConfigError>) -> Option<Self> {
        match problems.len() {
            0 => None,
            1 => problems.into_iter().next(),
            n => Some(Self(format!(
                "{n} settings must be fixed:\n- {}",
                problems
                    .iter()
                    .map(|problem| problem.0.as_str())
                    .collect::<Vec<_>>()
                    .join("\n- ")
            ))),
        }
    }
}

impl Settings {
    pub fn from_args(args: ServeArgs) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        if args.auth.jwt_secret.is_none() && args.auth.jwt_public_key_file.is_none() {
            problems.push(ConfigError(
                "JWT_SECRET is not set: set it (HS256 shared secret) or JWT_PUBLIC_KEY_FILE (RS256/EdDSA public key)".into(),
            ));
        }
        let stripe = StripeSettings::check(args.stripe)
            .map_err(|found| problems.extend(found))
            .ok();
        let audit_hash_key = audit_hash_key(args.audit)
            .map_err(|err| problems.push(err))
            .ok();
        if let Some(problem) = ConfigError::all(problems) {
            return Err(problem);
        }
        Ok(Self {
            server: args.server,
            database: args.database,
            stripe: stripe.expect("checked above"),
            auth: args.auth,
            audit_hash_key: audit_hash_key.expect("checked above"),
            webhooks: args.webhooks,
            worker: args.worker,
            sync: args.sync,
            outbound: args.outbound,
        })
    }
}

pub(crate) fn audit_hash_key(args: AuditArgs) -> Result<SecretString, ConfigError> {
    args.audit_hash_key.ok_or_else(|| {
        ConfigError("AUDIT_HASH_KEY is not set: set it to a long random secret (e.g. `openssl rand -hex 32`) and keep it stable".into())
    })
}

#[cfg(test)]
mod tests;

/// How long a client's `Idempotency-Key` lives: the first request's lease, and how long its
/// answer is kept.
#[derive(Clone, Copy, Debug)]
pub struct KeyTimes {
    pub lease: Duration,
    pub keep: Duration,
}
