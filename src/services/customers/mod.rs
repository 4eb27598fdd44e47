//! Customers of one organizer, keyed by (normalized email, the organizer's Stripe account):
//! the same person buying from two organizers is two customers, each with its own Stripe
//! customer in its own account, and no Stripe id ever crosses accounts.
//!
//! Writes go to Stripe first, then to the row. By protocol:
//! - [`read`]: get and list, from rows only;
//! - [`upsert`]: find or create by email, and how racing requests end with one customer;
//! - [`create`]: the reservation row, its create lease, and the Stripe create itself;
//! - [`update`]: a profile change sent to Stripe, then mirrored (PATCH and upserts);
//! - [`sync`]: a Stripe answer applied to the row, a refresh from Stripe, an undo in Stripe
//!   (what the webhook worker will call);
//! - [`erase`]: deletion in Stripe, then of the row (DELETE and erasures).

mod adopt;
mod create;
mod erase;
mod from_stripe;
mod grouped;
mod read;
mod told;
mod update;
mod upsert;
mod view;

use chrono::NaiveDateTime;
use serde_json::json;

pub use adopt::adopt_page;
pub use erase::{delete, erase_row};
pub use from_stripe::apply_stripe_customer;
pub use grouped::GroupedReads;
pub use read::{active_of, get, list, with_active_customer};
pub use update::update;
pub use upsert::upsert;
pub use view::{CustomerResponse, DeletedCustomer};

use crate::db::models::{Customer, CustomerStatus};
use crate::db::DbError;
use crate::domain::{Cursor, CustomerName, Email, Metadata, Phone};
use crate::services::effect_gate::GateShut;
use crate::services::organizers::OrganizerError;
use crate::stripe::StripeError;

pub struct UpsertInput {
    pub email: Email,
    pub name: Option<CustomerName>,
    pub phone: Option<Phone>,
    pub metadata: Option<Metadata>,
}

/// A profile update; `None` leaves a field alone, `Some(None)` clears it.
#[derive(Default)]
pub struct CustomerPatch {
    pub email: Option<Email>,
    pub name: Option<Option<CustomerName>>,
    pub phone: Option<Option<Phone>>,
}

/// How an upsert ended.
pub enum Upserted {
    /// This request created the customer (201).
    Created(ActiveCustomer),
    /// The customer existed (200), possibly with details this request updated, or recreated
    /// in Stripe after it was deleted there.
    Existing(ActiveCustomer),
}

pub struct CustomerPage {
    pub customers: Vec<ActiveCustomer>,
    pub next_cursor: Option<Cursor>,
}

/// Where a customer stands, read from its row (and its create lease) in one place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CustomerState {
    /// Reserved; its Stripe customer is being created while `lease_until` is set (a live
    /// create lease), else its last create failed and the next upsert resumes it.
    Pending {
        lease_until: Option<NaiveDateTime>,
    },
    Active {
        stripe_customer_id: String,
    },
    /// Stripe deleted the customer; the next upsert creates a new one.
    StripeDeleted,
}

impl CustomerState {
    /// `lease_until`: when the row's live create lease ends, if it has one.
    pub fn of(row: &Customer, lease_until: Option<NaiveDateTime>) -> Result<Self, CustomerError> {
        match (row.status, &row.stripe_customer_id) {
            (CustomerStatus::Pending, None) => Ok(Self::Pending { lease_until }),
            (CustomerStatus::Active, Some(id)) => Ok(Self::Active {
                stripe_customer_id: id.clone(),
            }),
            (CustomerStatus::StripeDeleted, None) => Ok(Self::StripeDeleted),
            (status, id) => Err(CustomerError::Corrupt {
                id: row.id.clone(),
                problem: format!(
                    "status {} with{} a Stripe id",
                    status.as_str(),
                    if id.is_some() { "" } else { "out" }
                ),
            }),
        }
    }
}

/// A customer clients can see: active, with its Stripe customer.
#[derive(Clone, Debug)]
pub struct ActiveCustomer {
    pub row: Customer,
    pub stripe_customer_id: String,
}

impl ActiveCustomer {
    /// The row as clients see it; `None` when it is not active.
    pub fn of(row: Customer) -> Result<Option<Self>, CustomerError> {
        Ok(match CustomerState::of(&row, None)? {
            CustomerState::Active { stripe_customer_id } => Some(Self {
                row,
                stripe_customer_id,
            }),
            _ => None,
        })
    }

    /// [`ActiveCustomer::of`] for a row that may not have been found.
    pub fn of_found(row: Option<Customer>) -> Result<Option<Self>, CustomerError> {
        Ok(row.map(Self::of).transpose()?.flatten())
    }
}

/// What can go wrong with a customer, in domain terms; [`CustomerError::is_retryable`] tells a
/// caller (a client, a worker) whether the same call later can succeed.
#[derive(Debug, thiserror::Error)]
pub enum CustomerError {
    #[error(transparent)]
    Organizer(#[from] OrganizerError),
    #[error("this organizer has no customer {0}")]
    NotFound(String),
    #[error("customer {0} was deleted in Stripe; upsert it by email to create it again")]
    DeletedInStripe(String),
    /// Another customer of the organizer has the email: `holder`, when clients can see it.
    #[error("another customer of this organizer{} already has that email", holder.as_ref().map(|h| format!(" ({h})")).unwrap_or_default())]
    EmailTaken { holder: Option<String> },
    #[error("the customer was deleted while it was being created")]
    ErasedWhileCreating,
    /// An upsert is creating the customer's Stripe customer right now.
    #[error("the customer is being created; retry the erasure")]
    BeingCreated,
    /// Another request's create of the same customer outlasted this request's wait.
    #[error("gave up waiting for a concurrent create of the same customer")]
    WaitTimedOut,
    /// The create this request waited for failed against Stripe.
    #[error("creating the customer in Stripe failed")]
    ConcurrentCreateFailed,
    #[error("the customer kept changing while it was being deleted")]
    KeptChanging,
    /// Another request with the same `Idempotency-Key` claimed it before this one's first
    /// effect (see [`crate::services::effect_gate`]): this one did nothing, and the same
    /// request again gets that one's answer.
    #[error("another request with this Idempotency-Key claimed it first; repeat the request to get its answer")]
    ClaimLost,
    /// Another request claimed the `Idempotency-Key` first with another method, path or body.
    #[error("this Idempotency-Key was used with another request (method, path or body); use a new key for a new request")]
    KeyReused,
    #[error("the customer would have {count} keys; at most {max} (an empty value removes a key)", max = Metadata::MAX_KEYS)]
    TooManyMetadataKeys { count: usize },
    #[error("a Stripe call for account {account} failed")]
    Stripe {
        account: String,
        #[source]
        source: StripeError,
    },
    #[error(transparent)]
    Db(#[from] DbError),
    /// A stored row breaks an invariant: a bug, or a change behind the gateway's back.
    #[error("stored customer {id} is inconsistent: {problem}")]
    Corrupt { id: String, problem: String },
}

impl crate::db::QueryFailure for CustomerError {
    fn is_query_failure(&self) -> bool {
        match self {
            Self::Db(db) => db.is_query_failure(),
            Self::Organizer(err) => err.is_query_failure(),
            _ => false,
        }
    }
}

impl From<GateShut> for CustomerError {
    fn from(shut: GateShut) -> Self {
        match shut {
            // Settled: the idempotency middleware answers with what the key's row says.
            GateShut::ClaimLost | GateShut::Settled => Self::ClaimLost,
            GateShut::KeyReused => Self::KeyReused,
            GateShut::Db(err) => Self::Db(err),
        }
    }
}

impl From<diesel::result::Error> for CustomerError {
    fn from(err: diesel::result::Error) -> Self {
        Self::Db(err.into())
    }
}

impl CustomerError {
    pub(crate) fn stripe(account: &crate::domain::StripeAccountId, source: StripeError) -> Self {
        Self::Stripe {
            account: account.to_string(),
            source,
        }
    }

    /// Whether the same call later can succeed without anyone changing anything.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Organizer(err) => err.is_retryable(),
            Self::Stripe { source, .. } => source.failure().is_retryable(),
            Self::BeingCreated
            | Self::WaitTimedOut
            | Self::ConcurrentCreateFailed
            | Self::KeptChanging
            | Self::ClaimLost
            | Self::Db(_) => true,
            Self::NotFound(_)
            | Self::DeletedInStripe(_)
            | Self::EmailTaken { .. }
            | Self::ErasedWhileCreating
            | Self::KeyReused
            | Self::TooManyMetadataKeys { .. }
            | Self::Corrupt { .. } => false,
        }
    }
}

impl CustomerError {
    /// The stable code clients, audit rows and erasure receipts know this failure by.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Organizer(err) => err.code(),
            Self::Stripe { source, .. } => source.failure().code(),
            Self::NotFound(_) | Self::DeletedInStripe(_) => "customer_not_found",
            Self::EmailTaken { .. } => "customer_exists",
            Self::ErasedWhileCreating => "customer_deleted",
            Self::BeingCreated => "customer_being_created",
            Self::ClaimLost => "idempotency_claim_lost",
            Self::KeyReused => "idempotency_key_reused",
            Self::WaitTimedOut | Self::ConcurrentCreateFailed | Self::KeptChanging => {
                "stripe_unavailable"
            }
            Self::TooManyMetadataKeys { .. } => "validation_failed",
            Self::Db(db) if db.is_unavailable() => "database_unavailable",
            Self::Db(_) | Self::Corrupt { .. } => "internal_error",
        }
    }
}

/// The ids an audit row about `row` names.
fn targets(row: &Customer) -> serde_json::Value {
    json!({ "customer_id": row.id, "stripe_customer_id": row.stripe_customer_id })
}
