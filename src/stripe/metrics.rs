//! The Stripe client's metrics, recorded through the `metrics` facade where calls happen (their
//! descriptions are in `telemetry/metrics.rs`, with every other metric's).

use std::time::Duration;

use ::metrics::{counter, histogram};

use super::limiter::Priority;

/// The label of a Stripe call: its method and path with object ids as `{id}`
/// (`GET /v1/customers/{id}`), so that every call of one kind counts together.
pub fn stripe_operation(method: &str, path: &str) -> String {
    let mut operation = format!("{method} /v1");
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        // Stripe ids are a prefix, `_` and random letters and digits (`cus_Q3x9`); path words
        // (`active_entitlements`) are lowercase letters only.
        let id = segment.contains('_')
            && segment
                .bytes()
                .any(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
        operation.push('/');
        operation.push_str(if id { "{id}" } else { segment });
    }
    operation
}

/// One attempt of a Stripe call: `status` is Stripe's answer, `None` when none came.
pub fn stripe_attempt(operation: &str, status: Option<u16>, timed_out: bool, took: Duration) {
    let outcome = match status {
        Some(200..=299) => "ok",
        Some(429) => "429",
        Some(500..) => "5xx",
        Some(_) => "4xx",
        None if timed_out => "timeout",
        None => "error",
    };
    let labels = [
        ("operation", operation.to_string()),
        ("outcome", outcome.to_string()),
    ];
    counter!("gateway_stripe_requests_total", &labels).increment(1);
    histogram!("gateway_stripe_request_duration_seconds", &labels).record(took);
}

pub fn stripe_retry(operation: &str) {
    counter!("gateway_stripe_retries_total", "operation" => operation.to_string()).increment(1);
}

pub fn limiter_wait(priority: Priority, waited: Duration) {
    let priority = match priority {
        Priority::Interactive => "interactive",
        Priority::Background => "background",
    };
    histogram!("gateway_stripe_limiter_wait_seconds", "priority" => priority).record(waited);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_name_ids_as_placeholders_and_keep_path_words() {
        assert_eq!(
            stripe_operation("GET", "/customers/cus_Q3x9aB"),
            "GET /v1/customers/{id}"
        );
        assert_eq!(
            stripe_operation("GET", "/entitlements/active_entitlements"),
            "GET /v1/entitlements/active_entitlements"
        );
        assert_eq!(
            stripe_operation("POST", "/checkout/sessions"),
            "POST /v1/checkout/sessions"
        );
        assert_eq!(
            stripe_operation("GET", "/accounts/acct_1PlatformFake0001"),
            "GET /v1/accounts/{id}"
        );
    }
}
