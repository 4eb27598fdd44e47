//! The Stripe settings: the key, the API's address, the rate budget, retries, the platform's
//! own account and the platform fee's cap. Every problem with them is named at once.

use std::time::Duration;

use clap::Args;
use secrecy::SecretString;

use super::{parse_secret, ConfigError};
use crate::domain::{ConnectAccountType, StripeAccountId};

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
    /// The kind of connected account `POST /v1/organizers/{org_id}/stripe-account` creates:
    /// `express` (Stripe hosts onboarding and a light dashboard), `standard` (a full Stripe
    /// account of the organizer's own) or `custom` (the platform owns the experience).
    #[arg(long, env = "STRIPE_CONNECT_ACCOUNT_TYPE", default_value = "express", value_parser = |raw: &str| raw.parse::<ConnectAccountType>())]
    pub stripe_connect_account_type: ConnectAccountType,
}

#[derive(Clone, Debug)]
pub struct StripeSettings {
    pub secret_key: SecretString,
    pub publishable_key: Option<String>,
    pub budget: RateBudget,
    pub api_base: String,
    pub platform_account_id: Option<StripeAccountId>,
    pub timeout: Duration,
    pub max_retries: u32,
    pub retry_base: Duration,
    /// `MAX_APPLICATION_FEE_BPS`.
    pub max_application_fee_bps: u16,
    /// `STRIPE_CONNECT_ACCOUNT_TYPE`.
    pub connect_account_type: ConnectAccountType,
}

/// A secret key that is only the dashboard's placeholder: a prefix with nothing after it, or
/// the `...` of the documentation's examples.
fn placeholder_key(key: &str) -> bool {
    let rest = ["sk_test_", "sk_live_", "rk_test_", "rk_live_"]
        .iter()
        .find_map(|prefix| key.strip_prefix(prefix));
    rest.is_some_and(|rest| rest.is_empty()) || key.contains("...") || key.contains('…')
}

impl StripeSettings {
    /// The Stripe settings, or an error naming every problem with them.
    pub(crate) fn from_args(args: StripeArgs) -> Result<Self, ConfigError> {
        Self::check(args)
            .map_err(|problems| ConfigError::all(problems).expect("a failed check names a problem"))
    }

    /// The Stripe settings, or every problem with them.
    pub(super) fn check(args: StripeArgs) -> Result<Self, Vec<ConfigError>> {
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
        let budget = RateBudget {
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
            connect_account_type: args.stripe_connect_account_type,
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

/// The budget across every instance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateBudget {
    /// Calls per second to Stripe, all instances together.
    pub per_second: u32,
    /// The share background work may use, from 0 to 1; the rest is kept for interactive calls.
    pub background_share: f64,
}
