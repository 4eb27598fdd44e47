//! The one conversion of each service's error into the HTTP error: status and stable code.

use super::{ApiError, FieldError};
use crate::services::customers::CustomerError;
use crate::services::erasures::ErasureError;
use crate::services::organizers::OrganizerError;
use crate::services::outbound::EndpointError;
use crate::services::payments::PaymentError;
use crate::services::sync::SyncError;
use crate::services::webhooks::admin::EventsError;
use crate::services::webhooks::WebhookError;

impl From<EventsError> for ApiError {
    fn from(err: EventsError) -> Self {
        match err {
            EventsError::NotFound(_) | EventsError::CursorGone => ApiError::NotFound {
                code: "webhook_event_not_found",
                message: err.to_string(),
            },
            EventsError::BadCursor => ApiError::validation("cursor", err.to_string()),
            EventsError::Db(db) => db.into(),
        }
    }
}

impl From<WebhookError> for ApiError {
    fn from(err: WebhookError) -> Self {
        let code = err.code();
        match err {
            WebhookError::NotConfigured => ApiError::NotReady(err.to_string()),
            WebhookError::Store(db) => db.into(),
            WebhookError::Signature(_)
            | WebhookError::Envelope(_)
            | WebhookError::LivemodeMismatch { .. } => ApiError::Refused {
                code,
                message: err.to_string(),
            },
        }
    }
}

impl From<PaymentError> for ApiError {
    fn from(err: PaymentError) -> Self {
        match err {
            PaymentError::Customer(err) => err.into(),
            PaymentError::Invalid { field, message } => ApiError::validation(field, message),
            PaymentError::Stripe { account, source } => {
                ApiError::from_stripe(&account, source.failure(), source)
            }
            PaymentError::FeeAboveCap { .. } => ApiError::Conflict {
                code: "organizer_fee_above_cap",
                message: err.to_string(),
            },
            PaymentError::PaymentNotFound(_) => ApiError::NotFound {
                code: "payment_not_found",
                message: err.to_string(),
            },
            PaymentError::NotRefundable { .. } => ApiError::Conflict {
                code: "payment_not_refundable",
                message: err.to_string(),
            },
            PaymentError::FullyRefunded(_) => ApiError::Conflict {
                code: "payment_fully_refunded",
                message: err.to_string(),
            },
            PaymentError::SubscriptionNotFound(_) => ApiError::NotFound {
                code: "subscription_not_found",
                message: err.to_string(),
            },
            PaymentError::SubscriptionCanceled(_) => ApiError::Conflict {
                code: "subscription_canceled",
                message: err.to_string(),
            },
            PaymentError::Db(db) => db.into(),
        }
    }
}

impl From<OrganizerError> for ApiError {
    fn from(err: OrganizerError) -> Self {
        let code = err.code();
        match err {
            OrganizerError::Forbidden(forbidden) => forbidden.into(),
            OrganizerError::Disabled => ApiError::Forbidden("this organizer is disabled"),
            OrganizerError::NotFound(_) => ApiError::NotFound {
                code,
                message: err.to_string(),
            },
            OrganizerError::Exists { .. }
            | OrganizerError::PlatformNotRegistered(_)
            | OrganizerError::Disconnected
            | OrganizerError::AccountNotReady(_)
            | OrganizerError::HasAccount { .. }
            | OrganizerError::NotExpress { .. }
            | OrganizerError::NotConnected { .. }
            | OrganizerError::AccountCreationConflict(_) => ApiError::Conflict {
                code,
                message: err.to_string(),
            },
            OrganizerError::AccountInaccessible { account, reason } => {
                ApiError::StripeAccountInaccessible {
                    account,
                    reason: reason.to_string(),
                }
            }
            OrganizerError::Stripe {
                account,
                failure,
                source,
            } => ApiError::from_stripe(&account, failure, source),
            OrganizerError::PlatformMismatch { .. } => ApiError::Misconfigured {
                code,
                message: err.to_string(),
            },
            OrganizerError::Db(db) => db.into(),
        }
    }
}

impl From<EndpointError> for ApiError {
    fn from(err: EndpointError) -> Self {
        let code = err.code();
        match err {
            EndpointError::Forbidden(forbidden) => forbidden.into(),
            EndpointError::NotFound(_) | EndpointError::EventNotFound(_) => ApiError::NotFound {
                code,
                message: err.to_string(),
            },
            EndpointError::Disabled(_) => ApiError::Conflict {
                code,
                message: err.to_string(),
            },
            EndpointError::Invalid { field, message } => {
                ApiError::Validation(vec![FieldError::new(field, message)])
            }
            EndpointError::Organizer(err) => err.into(),
            EndpointError::Db(db) => db.into(),
        }
    }
}

impl From<CustomerError> for ApiError {
    fn from(err: CustomerError) -> Self {
        let code = err.code();
        match err {
            CustomerError::Organizer(err) => err.into(),
            CustomerError::Stripe { account, source } => {
                ApiError::from_stripe(&account, source.failure(), source)
            }
            CustomerError::NotFound(_) | CustomerError::DeletedInStripe(_) => ApiError::NotFound {
                code,
                message: err.to_string(),
            },
            CustomerError::EmailTaken { .. }
            | CustomerError::ErasedWhileCreating
            | CustomerError::BeingCreated
            | CustomerError::ClaimLost => ApiError::Conflict {
                code,
                message: err.to_string(),
            },
            CustomerError::KeyReused => ApiError::Unprocessable {
                code,
                message: err.to_string(),
            },
            CustomerError::WaitTimedOut
            | CustomerError::ConcurrentCreateFailed
            | CustomerError::KeptChanging => ApiError::StripeUnavailable(err.into()),
            CustomerError::TooManyMetadataKeys { .. } => {
                ApiError::validation("metadata", err.to_string())
            }
            CustomerError::Db(db) => db.into(),
            CustomerError::Corrupt { .. } => ApiError::internal(err),
        }
    }
}

impl From<SyncError> for ApiError {
    fn from(err: SyncError) -> Self {
        match err {
            SyncError::Organizer(err) => err.into(),
            SyncError::NotFound(_) => ApiError::NotFound {
                code: "sync_run_not_found",
                message: err.to_string(),
            },
            SyncError::InProgress(_) => ApiError::Conflict {
                code: "sync_in_progress",
                message: err.to_string(),
            },
            SyncError::Stripe { account, source } => {
                ApiError::from_stripe(&account, source.failure(), source)
            }
            SyncError::LeaseLost | SyncError::Written(_) => ApiError::internal(err),
            SyncError::Db(db) => db.into(),
        }
    }
}

impl From<ErasureError> for ApiError {
    fn from(err: ErasureError) -> Self {
        match err {
            ErasureError::Forbidden(forbidden) => forbidden.into(),
            ErasureError::Db(db) => db.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::{header, StatusCode};
    use actix_web::ResponseError;

    use super::*;
    use crate::db::DbError;

    #[test]
    fn a_lost_or_busy_database_is_a_retryable_503_and_corrupt_data_a_500() {
        for unavailable in [
            DbError::ConnectionLost,
            DbError::Busy(std::time::Duration::from_secs(5)),
        ] {
            let customer = CustomerError::Db(unavailable);
            assert_eq!(customer.code(), "database_unavailable");
            assert!(customer.is_retryable());
            let response = ApiError::from(customer).error_response();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "5");
        }
        let corrupt = ApiError::from(CustomerError::Db(DbError::Corrupt("x".into())));
        assert_eq!(corrupt.code(), "internal_error");
        assert_eq!(corrupt.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
