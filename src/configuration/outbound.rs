//! Settings of the gateway's own webhooks: where deliveries may go, how many run at once, how
//! long one may take, how retries are spaced and when a failing endpoint is disabled.

use std::time::Duration;

use clap::Args;

/// How much longer than the one before each retry waits, from the first (`base`) on: with the
/// default base of 5 s, 5 s, 1 min, 5 min, 30 min, 2 h, 6 h, 12 h, 24 h and 24 h, about three
/// days in all; after the last the delivery has failed.
const RETRY_FACTORS: [u32; 9] = [1, 12, 60, 360, 1_440, 4_320, 8_640, 17_280, 17_280];

#[derive(Clone, Debug, Args)]
pub struct OutboundSettings {
    /// Hosts (as written in endpoint URLs, comma-separated) that may be reached over plain
    /// `http` and at any address, e.g. `localhost` for a receiver during development. Every
    /// other endpoint must be `https` and resolve only to public addresses.
    #[arg(
        long = "outbound-webhook-allowed-host",
        env = "OUTBOUND_WEBHOOK_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,
    /// Endpoints one process delivers to at once; a slow endpoint holds one of them.
    #[arg(long, env = "OUTBOUND_WEBHOOK_WORKERS", default_value_t = 8)]
    pub outbound_webhook_workers: usize,
    /// How long one attempt may take before it counts as failed, in seconds.
    #[arg(long, env = "OUTBOUND_WEBHOOK_TIMEOUT_SECS", default_value_t = 10)]
    pub outbound_webhook_timeout_secs: u64,
    /// The wait before the first retry, in milliseconds; later retries wait longer (5 s gives
    /// about three days of retries in all).
    #[arg(long, env = "OUTBOUND_WEBHOOK_RETRY_BASE_MS", default_value_t = 5_000)]
    pub outbound_webhook_retry_base_ms: u64,
    /// An endpoint that has failed every attempt for this many hours is disabled.
    #[arg(
        long,
        env = "OUTBOUND_WEBHOOK_DISABLE_AFTER_HOURS",
        default_value_t = 120
    )]
    pub outbound_webhook_disable_after_hours: u32,
}

impl OutboundSettings {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.outbound_webhook_timeout_secs.max(1))
    }

    /// The wait after the `attempts`-th failed attempt, or `None` when that was the last.
    pub fn retry_after(&self, attempts: i32) -> Option<Duration> {
        let index = usize::try_from(attempts.checked_sub(1)?).ok()?;
        let factor = RETRY_FACTORS.get(index)?;
        Some(Duration::from_millis(self.outbound_webhook_retry_base_ms.max(1)) * *factor)
    }

    pub fn disable_after(&self) -> chrono::Duration {
        chrono::Duration::hours(i64::from(self.outbound_webhook_disable_after_hours.max(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_span_about_three_days_then_stop() {
        let settings = OutboundSettings {
            allowed_hosts: Vec::new(),
            outbound_webhook_workers: 8,
            outbound_webhook_timeout_secs: 10,
            outbound_webhook_retry_base_ms: 5_000,
            outbound_webhook_disable_after_hours: 120,
        };
        assert_eq!(settings.retry_after(0), None);
        assert_eq!(settings.retry_after(1), Some(Duration::from_secs(5)));
        assert_eq!(settings.retry_after(2), Some(Duration::from_secs(60)));
        let total: Duration = (1..).map_while(|n| settings.retry_after(n)).sum();
        let hours = total.as_secs_f64() / 3600.0;
        assert!((66.0..=75.0).contains(&hours), "{hours} hours of retries");
        assert_eq!(settings.retry_after(10), None);
    }
}
