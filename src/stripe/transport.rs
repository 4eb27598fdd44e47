use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use stripe_client_core::{CustomizedStripeRequest, StripeClient, StripeMethod};

use super::error::StripeError;
use super::limiter::{Limiter, Priority};
use super::metrics;
use crate::configuration::StripeSettings;

/// When to try again after a transient failure.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First delay; doubled per retry.
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// Exponential backoff with jitter, so that instances retrying together spread out.
    fn delay(&self, retry: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry))
            .min(self.max_delay);
        ceiling.mul_f64(0.5 + fastrand::f64() / 2.0)
    }
}

impl StripeTransport {
    /// The longest one call can take, every attempt timing out and every backoff at its
    /// ceiling. Work that waits on another caller's Stripe call waits at most this long.
    pub fn worst_case_call(&self) -> Duration {
        let attempts = self.retry.max_retries + 1;
        let backoff: Duration = (0..self.retry.max_retries)
            .map(|retry| {
                self.retry
                    .base_delay
                    .saturating_mul(2u32.saturating_pow(retry))
                    .min(self.retry.max_delay)
            })
            .sum();
        self.timeout.saturating_mul(attempts) + backoff
    }
}

/// Sends the SDK's requests: one pooled HTTP client (the SDK's stock client opens a new
/// connection per request), a timeout per attempt, and retries of transient failures with the
/// request's idempotency key unchanged.
#[derive(Clone)]
pub struct StripeTransport {
    http: reqwest::Client,
    api_base: String,
    authorization: HeaderValue,
    retry: RetryPolicy,
    timeout: Duration,
    /// The rate budget every attempt waits on, shared by all clones.
    limiter: Arc<Limiter>,
    priority: Priority,
}

impl StripeTransport {
    const MAX_DELAY: Duration = Duration::from_secs(8);

    pub fn new(settings: &StripeSettings) -> Result<Self, StripeError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("stripe-gateway/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| StripeError::Config(e.to_string()))?;
        Ok(Self {
            http,
            api_base: settings.api_base.trim_end_matches('/').to_string(),
            authorization: bearer(&settings.secret_key)?,
            retry: RetryPolicy {
                max_retries: settings.max_retries,
                base_delay: settings.retry_base,
                max_delay: Self::MAX_DELAY,
            },
            timeout: settings.timeout,
            limiter: Arc::new(Limiter::new(settings.budget)),
            priority: Priority::Interactive,
        })
    }

    /// The same transport, whose calls wait as `priority`.
    pub fn with_priority(&self, priority: Priority) -> Self {
        Self {
            priority,
            ..self.clone()
        }
    }

    pub fn limiter(&self) -> &Arc<Limiter> {
        &self.limiter
    }
}

fn bearer(secret: &SecretString) -> Result<HeaderValue, StripeError> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", secret.expose_secret()))
        .map_err(|_| StripeError::Config("STRIPE_SECRET_KEY is not a valid header value".into()))?;
    value.set_sensitive(true);
    Ok(value)
}

impl StripeClient for StripeTransport {
    type Err = StripeError;

    #[tracing::instrument(name = "stripe", skip_all, fields(method, path, account))]
    async fn execute(&self, request: CustomizedStripeRequest) -> Result<Bytes, StripeError> {
        let (request, config) = request.into_pieces();
        let method = match request.method {
            StripeMethod::Get => Method::GET,
            StripeMethod::Post => Method::POST,
            StripeMethod::Delete => Method::DELETE,
        };
        let span = tracing::Span::current();
        span.record("method", method.as_str());
        span.record("path", request.path.as_str());
        if let Some(account) = &config.account_id {
            span.record("account", account.as_str());
        }
        let key = config
            .request_strategy
            .as_ref()
            .and_then(|strategy| strategy.get_key());
        // A POST without a key might have reached Stripe before failing; sending it again
        // could create a second object.
        let may_retry = method != Method::POST || key.is_some();
        let url = match &request.query {
            Some(query) => format!("{}/v1{}?{query}", self.api_base, request.path),
            None => format!("{}/v1{}", self.api_base, request.path),
        };
        let timeout = config.timeout.unwrap_or(self.timeout);
        let operation = metrics::stripe_operation(method.as_str(), &request.path);

        let mut attempts = 0;
        loop {
            attempts += 1;
            let account = config.account_id.as_ref().map_or("", |a| a.as_str());
            let waiting = Instant::now();
            self.limiter.acquire(self.priority, account).await;
            metrics::limiter_wait(self.priority, waiting.elapsed());
            let sent = Instant::now();
            let mut builder = self
                .http
                .request(method.clone(), &url)
                .timeout(timeout)
                .header(AUTHORIZATION, self.authorization.clone())
                .header("Stripe-Version", stripe_client_core::VERSION.as_str());
            if let Some(account) = &config.account_id {
                builder = builder.header("Stripe-Account", account.as_str());
            }
            if let Some(key) = &key {
                builder = builder.header("Idempotency-Key", key.as_str());
            }
            if let Some(body) = &request.body {
                builder = builder
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(body.clone());
            }

            let answer = send(builder).await;
            let (status, timed_out) = match &answer {
                Ok((status, _, _)) => (Some(*status), false),
                Err(err) => (None, err.is_timeout()),
            };
            metrics::stripe_attempt(&operation, status, timed_out, sent.elapsed());
            let (error, retryable) = match answer {
                Ok((status, _, body)) if (200..300).contains(&status) => return Ok(body),
                Ok((status, should_retry, body)) => {
                    let error = StripeError::from_response(status, should_retry, &body, attempts);
                    let retryable = error.is_transient();
                    (error, retryable)
                }
                Err(err) => (
                    StripeError::Transport {
                        timed_out: err.is_timeout(),
                        // Without the URL: its query can carry an email (a list by email),
                        // and this message is logged.
                        message: crate::domain::chain(&err.without_url()),
                        attempts,
                    },
                    true,
                ),
            };
            if !(retryable && may_retry) || attempts > self.retry.max_retries {
                return Err(error);
            }
            metrics::stripe_retry(&operation);
            let delay = self.retry.delay(attempts - 1);
            tracing::warn!(attempt = attempts, delay_ms = delay.as_millis() as u64, %error, "retrying Stripe request");
            tokio::time::sleep(delay).await;
        }
    }
}

async fn send(
    builder: reqwest::RequestBuilder,
) -> Result<(u16, Option<bool>, Bytes), reqwest::Error> {
    let response = builder.send().await?;
    let status = response.status().as_u16();
    let should_retry = response
        .headers()
        .get("Stripe-Should-Retry")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok());
    let body = response.bytes().await?;
    Ok((status, should_retry, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let policy = RetryPolicy {
            max_retries: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
        };
        for _ in 0..100 {
            let first = policy.delay(0);
            assert!(
                first >= Duration::from_millis(50) && first <= Duration::from_millis(100),
                "{first:?}"
            );
            let third = policy.delay(2);
            assert!(
                third >= Duration::from_millis(200) && third <= Duration::from_millis(400),
                "{third:?}"
            );
            assert!(policy.delay(30) <= Duration::from_millis(1000));
        }
    }
}
