use serde::Deserialize;
use stripe_client_core::StripeClientErr;

/// What went wrong talking to Stripe, with what the caller needs to decide: retry later or not.
#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    /// Stripe answered with an error.
    #[error("Stripe answered {status} ({kind}{}) after {attempts} attempt(s): {message}", code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
    Api {
        status: u16,
        /// Stripe's `error.type`, e.g. `invalid_request_error`.
        kind: String,
        /// Stripe's `error.code`, e.g. `resource_missing`.
        code: Option<String>,
        message: String,
        /// Stripe's `Stripe-Should-Retry` header, when it sent one.
        should_retry: Option<bool>,
        attempts: u32,
    },
    /// No answer: connection refused or reset, or the attempt timed out.
    #[error("Stripe could not be reached after {attempts} attempt(s): {message}")]
    Transport {
        message: String,
        timed_out: bool,
        attempts: u32,
    },
    /// An answer the SDK's types do not accept.
    #[error("Stripe's response could not be read: {0}")]
    Decode(String),
    #[error("Stripe client configuration: {0}")]
    Config(String),
}

/// What a failed Stripe call means, whoever made it: the one mapping from Stripe's answer to
/// the gateway's stable error codes, and to whether retrying later can help.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StripeFailure {
    /// Stripe refuses to act for the account: no such account, not connected to the
    /// platform, or access revoked. `stripe_account_inaccessible`.
    AccountInaccessible,
    /// Stripe refused the request's data (a 400 about a parameter): the client's to fix, and
    /// nothing was created. `stripe_invalid_request`.
    InvalidRequest,
    /// Stripe saw the request's idempotency key before with other parameters: the request
    /// derived its key from a client's `Idempotency-Key`, and what the gateway sends for it
    /// changed (the organizer's fee, a recreated customer). Only a new client key helps.
    /// `idempotency_key_reused`.
    KeyReused,
    /// Unreachable, rate-limiting or failing: retrying later can help. `stripe_unavailable`.
    Unavailable,
    /// Refused for a reason that is the gateway's (its key or permissions), or failed with
    /// Stripe saying retrying will not help. `stripe_error`.
    Rejected,
}

impl StripeFailure {
    /// Why Stripe answers `account_invalid`.
    pub const NO_ACCOUNT_ACCESS: &'static str =
        "the platform has no access to this account (not connected, or access revoked)";

    /// The gateway's stable error code for it, as clients, audit rows and receipts show it.
    pub fn code(self) -> &'static str {
        match self {
            Self::AccountInaccessible => "stripe_account_inaccessible",
            Self::InvalidRequest => "stripe_invalid_request",
            Self::KeyReused => "idempotency_key_reused",
            Self::Unavailable => "stripe_unavailable",
            Self::Rejected => "stripe_error",
        }
    }

    pub fn is_retryable(self) -> bool {
        self == Self::Unavailable
    }
}

impl StripeError {
    pub(super) fn from_response(
        status: u16,
        should_retry: Option<bool>,
        body: &[u8],
        attempts: u32,
    ) -> Self {
        #[derive(Deserialize)]
        struct Envelope {
            error: Body,
        }
        #[derive(Deserialize)]
        struct Body {
            #[serde(rename = "type")]
            kind: Option<String>,
            code: Option<String>,
            message: Option<String>,
        }
        match serde_json::from_slice::<Envelope>(body) {
            Ok(Envelope { error }) => Self::Api {
                status,
                kind: error.kind.unwrap_or_else(|| "unknown".into()),
                code: error.code,
                message: error.message.unwrap_or_default(),
                should_retry,
                attempts,
            },
            // Proxies and load balancers answer with HTML; keep the status, which decides retries.
            Err(_) => Self::Api {
                status,
                kind: "unparseable_response".into(),
                code: None,
                message: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
                should_retry,
                attempts,
            },
        }
    }

    /// Worth retrying later: Stripe was unreachable, rate-limited or failing.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            // Stripe's own verdict, when given, beats the status-code rule.
            Self::Api {
                status,
                should_retry,
                ..
            } => should_retry.unwrap_or_else(|| is_retryable_status(*status)),
            Self::Decode(_) | Self::Config(_) => false,
        }
    }

    /// Stripe has no such object (or it was deleted). Only Stripe's own `resource_missing`
    /// counts: a 404 for an unknown URL (a misconfigured `STRIPE_API_BASE`, a proxy) must not
    /// read as "already deleted".
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Api { status: 404, code: Some(code), .. } if code == "resource_missing")
    }

    /// Stripe refused the request's parameters (a 400 `invalid_request_error`): the same request
    /// will never succeed, and nothing was created.
    pub fn is_invalid_request(&self) -> bool {
        matches!(self, Self::Api { status: 400, kind, .. } if kind == "invalid_request_error")
    }

    /// Stripe refuses to act for the connected account: it does not exist, is not connected to
    /// the platform, or has revoked the platform's access.
    pub fn is_account_inaccessible(&self) -> bool {
        matches!(self, Self::Api { code: Some(code), .. } if code == "account_invalid")
    }

    /// Stripe's `idempotency_error`: the key came before with other parameters.
    pub fn is_key_reused(&self) -> bool {
        matches!(self, Self::Api { status: 400, kind, .. } if kind == "idempotency_error")
    }

    /// What this failure means for the caller (see [`StripeFailure`]).
    pub fn failure(&self) -> StripeFailure {
        if self.is_account_inaccessible() {
            StripeFailure::AccountInaccessible
        } else if self.is_key_reused() {
            StripeFailure::KeyReused
        } else if self.is_invalid_request() {
            StripeFailure::InvalidRequest
        } else if self.is_transient() {
            StripeFailure::Unavailable
        } else {
            StripeFailure::Rejected
        }
    }
}

/// Stripe's documented transient statuses: 409 (a concurrent request holds the object or the
/// idempotency key), 429 (rate or lock limit) and 5xx.
fn is_retryable_status(status: u16) -> bool {
    matches!(status, 409 | 429 | 500..=599)
}

impl StripeClientErr for StripeError {
    fn deserialize_err(msg: impl std::fmt::Display) -> Self {
        Self::Decode(msg.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, kind: &str, code: Option<&str>, should_retry: Option<bool>) -> StripeError {
        StripeError::Api {
            status,
            kind: kind.into(),
            code: code.map(Into::into),
            message: "m".into(),
            should_retry,
            attempts: 1,
        }
    }

    #[test]
    fn each_failure_has_one_meaning() {
        let cases = [
            (
                api(403, "invalid_request_error", Some("account_invalid"), None),
                StripeFailure::AccountInaccessible,
            ),
            (
                api(400, "invalid_request_error", Some("email_invalid"), None),
                StripeFailure::InvalidRequest,
            ),
            (
                api(429, "rate_limit_error", None, None),
                StripeFailure::Unavailable,
            ),
            (
                api(400, "idempotency_error", None, None),
                StripeFailure::KeyReused,
            ),
            (
                api(500, "api_error", None, Some(false)),
                StripeFailure::Rejected,
            ),
            (
                api(401, "invalid_request_error", None, None),
                StripeFailure::Rejected,
            ),
            (
                api(404, "invalid_request_error", Some("resource_missing"), None),
                StripeFailure::Rejected,
            ),
            (
                StripeError::Transport {
                    message: "reset".into(),
                    timed_out: false,
                    attempts: 3,
                },
                StripeFailure::Unavailable,
            ),
            (StripeError::Decode("x".into()), StripeFailure::Rejected),
        ];
        for (error, expected) in cases {
            assert_eq!(error.failure(), expected, "{error}");
            assert_eq!(
                error.failure().is_retryable(),
                expected == StripeFailure::Unavailable
            );
        }
    }
}
