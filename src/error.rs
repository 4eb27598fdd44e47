//! The one error type that becomes an HTTP response, and its JSON shape:
//! `{"error": {"code": "stable_snake_case", "message": "...", "request_id": "...", "fields": [...]}}`.
//! Codes are part of the API: clients switch on them, so they never change meaning.
//!
//! Services return their own errors (`CustomerError`, `OrganizerError`, `ErasureError`), which
//! say what happened in domain terms and whether retrying can help; each converts into
//! [`ApiError`] with one `From` here, at the edge.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::DbError;
use crate::domain::Forbidden;
use crate::stripe::{StripeError, StripeFailure};
use crate::telemetry::current_request_id;

mod services;

/// One problem with one input field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// Where the problem is: a body field (`name`), a nested path (`address.city`),
    /// a query parameter or a path segment.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// `allow` lists the methods the path serves, for the `Allow` header.
    #[error("method not allowed on this route; it serves {allow}")]
    MethodNotAllowed { allow: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// A well-formed request that cannot be done as asked (422), with its own code.
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    MalformedJson(String),
    #[error("{0}")]
    InvalidQuery(String),
    #[error("the body must be JSON sent with `Content-Type: application/json`")]
    UnsupportedMediaType,
    #[error("the body is larger than the {limit} bytes this server accepts")]
    PayloadTooLarge { limit: usize },
    #[error("Stripe refused access to account {account}: {reason}")]
    StripeAccountInaccessible { account: String, reason: String },
    /// Stripe unreachable, rate-limiting or failing, or the request gave up waiting for another
    /// one's Stripe call: retrying later helps. The cause goes to the log.
    #[error("Stripe could not be reached; retry later")]
    StripeUnavailable(#[source] anyhow::Error),
    #[error("Stripe rejected the request")]
    StripeRejected(#[source] StripeError),
    /// Stripe refused the client's data (a 400 about a parameter); the message is Stripe's.
    #[error("Stripe refused the request: {message}")]
    StripeInvalidRequest { message: String },
    #[error("{0}")]
    NotReady(String),
    /// The gateway's own configuration is wrong in a way only its operator can fix; the code
    /// and the message name what (503: nothing the caller sends changes it).
    #[error("{message}")]
    Misconfigured { code: &'static str, message: String },
    /// A request refused as a whole, with its own code (a webhook's bad signature).
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    /// No database connection within the timeout, or one lost under the request: retrying
    /// later helps. The cause goes to the log.
    #[error("the database is unavailable; retry later")]
    DatabaseUnavailable(#[source] DbError),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `organizer_exists`, `validation_failed`.
    #[schema(example = "validation_failed")]
    pub code: String,
    /// Human-readable explanation; wording may change.
    pub message: String,
    /// The id of the request, also sent as the `x-request-id` header; quote it in support requests.
    pub request_id: String,
    /// Field-level problems, for `validation_failed`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

impl ApiError {
    /// What `Retry-After` says when Stripe is unavailable: long enough for a rate limit or a
    /// brief outage to pass, short enough not to stall a checkout.
    pub const RETRY_AFTER_SECS: u64 = 5;

    /// A failed Stripe call made for an organizer's `account`, with what it means (usually
    /// `err.failure()`): Stripe's refusal of the client's data carries Stripe's message.
    pub fn from_stripe(account: &str, failure: StripeFailure, err: StripeError) -> Self {
        match failure {
            StripeFailure::AccountInaccessible => Self::StripeAccountInaccessible {
                account: account.to_string(),
                reason: StripeFailure::NO_ACCOUNT_ACCESS.to_string(),
            },
            StripeFailure::InvalidRequest => Self::StripeInvalidRequest {
                message: match err {
                    StripeError::Api { message, .. } => message,
                    other => other.to_string(),
                },
            },
            StripeFailure::KeyReused => Self::Unprocessable {
                code: "idempotency_key_reused",
                message: "Stripe saw this request's Idempotency-Key with other parameters (the organizer's fee or the customer changed since the first attempt); send the request with a new key".into(),
            },
            StripeFailure::Unavailable => Self::StripeUnavailable(err.into()),
            StripeFailure::Rejected => Self::StripeRejected(err),
        }
    }

    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "unauthenticated",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound { code, .. }
            | Self::Conflict { code, .. }
            | Self::Unprocessable { code, .. }
            | Self::Refused { code, .. }
            | Self::Misconfigured { code, .. } => code,
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::Validation(_) => "validation_failed",
            Self::MalformedJson(_) => "malformed_json",
            Self::InvalidQuery(_) => "invalid_query",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::StripeAccountInaccessible { .. } => "stripe_account_inaccessible",
            Self::StripeUnavailable(_) => "stripe_unavailable",
            Self::StripeRejected(_) => "stripe_error",
            Self::StripeInvalidRequest { .. } => "stripe_invalid_request",
            Self::NotReady(_) => "not_ready",
            Self::DatabaseUnavailable(_) => "database_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Validation(_)
            | Self::Unprocessable { .. }
            | Self::StripeAccountInaccessible { .. }
            | Self::StripeInvalidRequest { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::MalformedJson(_) | Self::InvalidQuery(_) | Self::Refused { .. } => {
                StatusCode::BAD_REQUEST
            }
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::StripeUnavailable(_)
            | Self::NotReady(_)
            | Self::Misconfigured { .. }
            | Self::DatabaseUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::StripeRejected(_) => StatusCode::BAD_GATEWAY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let request_id = current_request_id();
        // Server-side causes go to the log, tied to the request id; the body stays opaque.
        match self {
            Self::Internal(cause) => tracing::error!(%request_id, error = ?cause, "request failed"),
            Self::StripeUnavailable(cause) => {
                tracing::warn!(%request_id, error = %cause, "Stripe call failed")
            }
            Self::DatabaseUnavailable(cause) => {
                tracing::warn!(%request_id, error = %cause, "database unavailable")
            }
            Self::StripeRejected(cause) => {
                tracing::warn!(%request_id, error = %cause, "Stripe call failed")
            }
            Self::Misconfigured { message, .. } => {
                tracing::error!(%request_id, %message, "the gateway is misconfigured")
            }
            _ => {}
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_string(),
                message: self.to_string(),
                request_id,
                fields: match self {
                    Self::Validation(fields) => fields.clone(),
                    _ => Vec::new(),
                },
            },
        };
        let mut response = HttpResponse::build(status);
        match self {
            Self::Unauthenticated(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            Self::StripeUnavailable(_) | Self::DatabaseUnavailable(_) => {
                response.insert_header((header::RETRY_AFTER, Self::RETRY_AFTER_SECS.to_string()));
            }
            Self::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, allow.as_str()));
            }
            _ => {}
        }
        response.json(body)
    }
}

impl From<DbError> for ApiError {
    fn from(err: DbError) -> Self {
        if err.is_unavailable() {
            Self::DatabaseUnavailable(err)
        } else {
            Self::Internal(err.into())
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(err: diesel::result::Error) -> Self {
        Self::Internal(err.into())
    }
}

impl From<Forbidden> for ApiError {
    fn from(err: Forbidden) -> Self {
        Self::Forbidden(err.0)
    }
}

pub use crate::domain::chain;
