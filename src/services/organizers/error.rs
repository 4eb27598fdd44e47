//! What can go wrong with organizers and with reaching an organizer's data, and the stable
//! code each failure is known by.

use crate::db::{DbError, QueryFailure};
use crate::domain::Forbidden;
use crate::stripe::{StripeError, StripeFailure};

/// What can go wrong with organizers, and with reaching an organizer's data.
#[derive(Debug, thiserror::Error)]
pub enum OrganizerError {
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error("no organizer has id {0}")]
    NotFound(String),
    /// The organizer is disabled; its own tokens are refused.
    #[error("this organizer is disabled")]
    Disabled,
    /// The organizer's account revoked the platform's access: nothing can be written to it.
    #[error("this organizer's Stripe account is disconnected from the platform")]
    Disconnected,
    /// The organizer has no Stripe account yet, or its account cannot take charges yet.
    #[error("{0}")]
    AccountNotReady(String),
    /// The organizer has an account already: the gateway creates one only for an organizer
    /// registered without.
    #[error("organizer {organizer} already has Stripe account {account}")]
    HasAccount { organizer: String, account: String },
    /// Another request created, or is creating, the organizer's account with other details.
    #[error("another request created or is creating organizer {0}'s Stripe account with other details: repeat it with the same details, or read the organizer")]
    AccountCreationConflict(String),
    /// Onboarding and login links are for connected accounts, not the platform's own.
    #[error("Stripe account {account} is the platform's own account: it is not onboarded through Connect")]
    NotConnected { account: String },
    /// Login links open the Express dashboard, which only Express accounts have.
    #[error("Stripe account {account} is a {kind} account: only Express accounts have a dashboard to log in to")]
    NotExpress { account: String, kind: String },
    /// A destination-charges organizer needs the platform's own organizer, whose account its
    /// payments are taken on.
    #[error("destination charges are taken on the platform's account {0}, which no organizer has yet: register the platform's own organizer first (POST /v1/organizers with stripe_account_id {0})")]
    PlatformNotRegistered(String),
    #[error("Stripe account {account} is already registered as organizer {existing}")]
    Exists { account: String, existing: String },
    #[error("Stripe refused access to account {account}: {reason}")]
    AccountInaccessible {
        account: String,
        reason: &'static str,
    },
    #[error("a Stripe call for account {account} failed")]
    Stripe {
        account: String,
        /// What the failure means here (see `verify_account_access`).
        failure: StripeFailure,
        #[source]
        source: StripeError,
    },
    /// `STRIPE_PLATFORM_ACCOUNT_ID` names another account than the key's own.
    #[error("STRIPE_PLATFORM_ACCOUNT_ID is {configured}, but STRIPE_SECRET_KEY is the key of {actual}: set STRIPE_PLATFORM_ACCOUNT_ID={actual} (or unset it) and restart the gateway")]
    PlatformMismatch { configured: String, actual: String },
    #[error(transparent)]
    Db(#[from] DbError),
}

impl QueryFailure for OrganizerError {
    fn is_query_failure(&self) -> bool {
        match self {
            Self::Db(db) => db.is_query_failure(),
            _ => false,
        }
    }
}

impl From<diesel::result::Error> for OrganizerError {
    fn from(err: diesel::result::Error) -> Self {
        Self::Db(err.into())
    }
}

impl OrganizerError {
    /// The stable code clients know this failure by.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Forbidden(_) | Self::Disabled => "forbidden",
            Self::NotFound(_) => "organizer_not_found",
            Self::Disconnected => "organizer_disconnected",
            Self::AccountNotReady(_) => "account_not_ready",
            Self::HasAccount { .. } => "organizer_has_account",
            Self::NotExpress { .. } => "account_not_express",
            Self::NotConnected { .. } => "account_not_connected",
            Self::AccountCreationConflict(_) => "account_creation_conflict",
            Self::Exists { .. } => "organizer_exists",
            Self::PlatformNotRegistered(_) => "platform_organizer_missing",
            Self::AccountInaccessible { .. } => StripeFailure::AccountInaccessible.code(),
            Self::Stripe { failure, .. } => failure.code(),
            Self::Db(db) if db.is_unavailable() => "database_unavailable",
            Self::PlatformMismatch { .. } => "platform_account_mismatch",
            Self::Db(_) => "internal_error",
        }
    }

    /// Whether the same call later can succeed without anyone changing anything.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Stripe { failure, .. } => failure.is_retryable(),
            Self::Db(_) => true,
            _ => false,
        }
    }
}
