//! Settings from CLI flags and environment variables (a `.env` file is read first when present).
//! Secrets are `SecretString` from here to the one place each is used; `Debug` shows them redacted.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;

use crate::db::DatabaseUrl;

mod sync;
mod workers;

use crate::domain::{OrganizerId, StripeAccountId};
pub use sync::SyncSettings;
pub use workers::{WebhookSettings, WorkerArgs, WorkerProcessSettings, WorkerSettings};

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
    /// Serve `GET /metrics` on this address instead of the main listener (e.g. a port only
    /// Prometheus can reach).
    #[arg(long = "metrics-bind", env = "METRICS_BIND_ADDRESS")]
    pub metrics_bind_address: Option<SocketAddr>,
}

impl ServerSettings {
    pub fn create_wait(&self) -> Duration {
        Duration::from_millis(self.create_wait_ms)
    }

    pub fn idempotency_times(&self) -> crate::db::models::idempotency::KeyTimes {
        crate::db::models::idempotency::KeyTimes {
            lease: Duration::from_secs(self.idempotency_lease_secs.max(1)),
            keep: Duration::from_secs(self.idempotency_keep_secs.max(1)),
        }
    }

    pub fn idempotency_purge_every(&self) -> Duration {
        Duration::from_secs(self.idempotency_purge_secs.max(1))
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

/// `MAX_APPLICATION_FEE_BPS` when unset: 30% of each charge.
pub const DEFAULT_MAX_APPLICATION_FEE_BPS: u16 = 3000;

#[derive(Clone, Debug, Args)]
pub struct StripeArgs {
    /// Stripe secret key (`sk_...` or a restricted `rk_...`). Required by `serve`.
    #[arg(long, env = "STRIPE_SECRET_KEY", hide_env_values = true, value_parser = parse_secret)]
    pub stripe_secret_key: Option<SecretString>,
    /// Root of the Stripe API; point it at a Stripe-compatible server for tests.
    #[arg(
        long,
        env = "STRIPE_API_BASE",
        default_value = "https://api.stripe.com"
    )]
    pub stripe_api_base: String,
    /// The platform's own account id. An organizer registered with it is served without a
    /// `Stripe-Account` header.
    #[arg(long, env = "STRIPE_PLATFORM_ACCOUNT_ID", value_parser = StripeAccountId::parse)]
    pub stripe_platform_account_id: Option<StripeAccountId>,
    /// The platform's publishable key (`pk_...`), returned with payment intents so a frontend
    /// can start Stripe.js; `publishable_key` is null when it is not set.
    #[arg(long, env = "STRIPE_PUBLISHABLE_KEY")]
    pub stripe_publishable_key: Option<String>,
    /// Calls per second to Stripe, all instances on one database together. Default: 20 for a
    /// test-mode key (Stripe allows 25), 80 otherwise (Stripe allows 100 in live mode).
    #[arg(long, env = "STRIPE_RATE_LIMIT")]
    pub stripe_rate_limit: Option<u32>,
    /// The percentage of the rate budget background work (webhook workers, reconciliation) may
    /// use; the rest is kept for interactive calls (checkouts, upserts).
    #[arg(long, env = "STRIPE_BACKGROUND_PERCENT", default_value_t = 70, value_parser = clap::value_parser!(u8).range(1..=99))]
    pub stripe_background_percent: u8,
    /// Per-attempt timeout for Stripe calls, in milliseconds.
    #[arg(long, env = "STRIPE_TIMEOUT_MS", default_value_t = 10_000)]
    pub stripe_timeout_ms: u64,
    /// Retries after a failed attempt (409, 429, 5xx, timeout, connection error).
    #[arg(long, env = "STRIPE_MAX_RETRIES", default_value_t = 3)]
    pub stripe_max_retries: u32,
    /// First backoff delay in milliseconds; it doubles per retry (with jitter), capped at 8 s.
    #[arg(long, env = "STRIPE_RETRY_BASE_MS", default_value_t = 250)]
    pub stripe_retry_base_ms: u64,
    /// The largest platform fee an organizer may be given, in basis points of each charge
    /// (0 to 10000): registering or updating an organizer above it is refused (422), and a
    /// payment for an organizer whose stored fee is above it (the cap was lowered since, or the
    /// fee set before there was a cap) is refused with 409 `organizer_fee_above_cap`.
    #[arg(long, env = "MAX_APPLICATION_FEE_BPS", default_value_t = DEFAULT_MAX_APPLICATION_FEE_BPS, value_parser = clap::value_parser!(u16).range(0..=10_000))]
    pub max_application_fee_bps: u16,
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
}

#[derive(Clone, Debug)]
pub struct StripeSettings {
    pub secret_key: SecretString,
    pub publishable_key: Option<String>,
    pub budget: crate::stripe::limiter::RateBudget,
    pub api_base: String,
    pub platform_account_id: Option<StripeAccountId>,
    pub timeout: Duration,
    pub max_retries: u32,
    pub retry_base: Duration,
    /// `MAX_APPLICATION_FEE_BPS`.
    pub max_application_fee_bps: u16,
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
        })
    }
}

/// A secret key that is only the dashboard's placeholder: a prefix with nothing after it, or
/// the `...` of the documentation's examples.
fn placeholder_key(key: &str) -> bool {
    let rest = ["sk_test_", "sk_live_", "rk_test_", "rk_live_"]
        .iter()
        .find_map(|prefix| key.strip_prefix(prefix));
    rest.is_some_and(|rest| rest.is_empty()) || key.contains("...") || key.contains('…')
}

pub(crate) fn audit_hash_key(args: AuditArgs) -> Result<SecretString, ConfigError> {
    args.audit_hash_key.ok_or_else(|| {
        ConfigError("AUDIT_HASH_KEY is not set: set it to a long random secret (e.g. `openssl rand -hex 32`) and keep it stable".into())
    })
}

impl StripeSettings {
    /// The Stripe settings, or an error naming every problem with them.
    pub(crate) fn from_args(args: StripeArgs) -> Result<Self, ConfigError> {
        Self::check(args)
            .map_err(|problems| ConfigError::all(problems).expect("a failed check names a problem"))
    }

    /// The Stripe settings, or every problem with them.
    fn check(args: StripeArgs) -> Result<Self, Vec<ConfigError>> {
        let mut problems = Vec::new();
        let secret_key = match args.stripe_secret_key {
            None => {
                problems.push(ConfigError("STRIPE_SECRET_KEY is not set: set it to your Stripe secret key (sk_live_... or sk_test_...)".into()));
                None
            }
            Some(key) if placeholder_key(secrecy::ExposeSecret::expose_secret(&key)) => {
                problems.push(ConfigError("STRIPE_SECRET_KEY is a placeholder, not a key: copy the secret key from the Stripe dashboard (Developers > API keys), or use any sk_test_ key with the local fake Stripe".into()));
                None
            }
            Some(key) => Some(key),
        };
        let api_base = args.stripe_api_base.trim_end_matches('/').to_string();
        if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
            problems.push(ConfigError(
                "STRIPE_API_BASE must be an http:// or https:// URL".into(),
            ));
        }
        let publishable_key = args
            .stripe_publishable_key
            .map(|key| key.trim().to_string())
            .filter(|key| !key.is_empty());
        if publishable_key
            .as_deref()
            .is_some_and(|key| !key.starts_with("pk_"))
        {
            problems.push(ConfigError(
                "STRIPE_PUBLISHABLE_KEY must be a publishable key (pk_live_... or pk_test_...), never a secret one".into(),
            ));
        }
        if args.stripe_rate_limit == Some(0) {
            problems.push(ConfigError(
                "STRIPE_RATE_LIMIT must be at least 1 call per second".into(),
            ));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let secret_key = secret_key.expect("checked above");
        let test_mode = {
            use secrecy::ExposeSecret;
            let key = secret_key.expose_secret();
            key.starts_with("sk_test_") || key.starts_with("rk_test_")
        };
        let per_second = args
            .stripe_rate_limit
            .unwrap_or(if test_mode { 20 } else { 80 });
        let budget = crate::stripe::limiter::RateBudget {
            per_second,
            background_share: f64::from(args.stripe_background_percent) / 100.0,
        };
        Ok(Self {
            secret_key,
            publishable_key,
            budget,
            api_base,
            platform_account_id: args.stripe_platform_account_id,
            timeout: Duration::from_millis(args.stripe_timeout_ms.max(1)),
            max_retries: args.stripe_max_retries,
            retry_base: Duration::from_millis(args.stripe_retry_base_ms),
            max_application_fee_bps: args.max_application_fee_bps,
        })
    }

    /// Whether the key is a live-mode one (`sk_live_`, `rk_live_`), a test-mode one, or says
    /// neither (a key for a Stripe-compatible server): webhook events of the other mode are
    /// refused.
    pub fn livemode(&self) -> Option<bool> {
        use secrecy::ExposeSecret;
        let key = self.secret_key.expose_secret();
        if key.starts_with("sk_live_") || key.starts_with("rk_live_") {
            Some(true)
        } else if key.starts_with("sk_test_") || key.starts_with("rk_test_") {
            Some(false)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests;
