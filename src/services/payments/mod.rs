//! Payments on an organizer's own account (direct charges): Checkout Sessions, PaymentIntents
//! for embedded card forms, and billing portal sessions. Each is created in Stripe with the
//! `Stripe-Account` of the organizer and that account's customer, so a buyer known to two
//! organizers pays each through its own account; then it is recorded here.
//!
//! - [`checkout`]: line items checked against the catalog mirror, the platform fee, the session;
//! - [`intents`]: PaymentIntents and portal sessions.
//!
//! A client's `Idempotency-Key` becomes the Stripe idempotency key of the create (with the
//! caller's scope and the account), so a retry after a crash between Stripe's answer and the
//! local write gets the object the first attempt created instead of a second one.

mod checkout;
mod fees;
mod intents;
mod lines;
pub mod refunds;
pub mod subscriptions;

pub use checkout::{create_checkout_session, CheckoutInput, CreatedCheckout};
pub use intents::{
    create_payment_intent, create_portal_session, CreatedPaymentIntent, PaymentIntentInput,
};

use serde_json::json;

use super::customers::{self, ActiveCustomer, CustomerError, UpsertInput, Upserted};
use super::effect_gate::EffectGate;
use super::organizers::OrganizerError;
use super::AppState;
use crate::db::DbError;
use crate::domain::ClientKey;
use crate::domain::Principal;
use crate::domain::{CustomerId, Email, OrganizerId, StripeAccountId};
use crate::stripe::{idempotency_key, IdempotencyKey, StripeError};

/// Who pays: a customer of the organizer, or an email that the customers upsert resolves.
#[derive(Clone, Debug)]
pub enum Buyer {
    Id(CustomerId),
    Email(Email),
}

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error(transparent)]
    Customer(#[from] CustomerError),
    /// A field the request got wrong, found by looking at the catalog or at Stripe.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("a Stripe call for account {account} failed")]
    Stripe {
        account: String,
        #[source]
        source: StripeError,
    },
    /// The organizer's stored fee is above `MAX_APPLICATION_FEE_BPS` (the cap was lowered
    /// after it was set): no payment is taken at a fee the platform no longer allows.
    #[error("the organizer's application fee of {bps} basis points is above the platform's cap of {cap} (MAX_APPLICATION_FEE_BPS); update the organizer's fee")]
    FeeAboveCap { bps: i64, cap: i64 },
    /// The organizer has no such payment in the mirror (another tenant's is not its).
    #[error("no payment {0}")]
    PaymentNotFound(String),
    #[error("payment {payment} is `{status}`: only a succeeded payment can be refunded")]
    NotRefundable { payment: String, status: String },
    #[error("payment {0} is refunded in full")]
    FullyRefunded(String),
    /// The organizer has no such subscription in the mirror.
    #[error("no subscription {0}")]
    SubscriptionNotFound(String),
    #[error("subscription {0} is canceled")]
    SubscriptionCanceled(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl PaymentError {
    fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    fn stripe(account: &StripeAccountId, source: StripeError) -> Self {
        Self::Stripe {
            account: account.to_string(),
            source,
        }
    }
}

impl From<OrganizerError> for PaymentError {
    fn from(err: OrganizerError) -> Self {
        Self::Customer(err.into())
    }
}

impl From<diesel::result::Error> for PaymentError {
    fn from(err: diesel::result::Error) -> Self {
        Self::Db(err.into())
    }
}

impl crate::db::QueryFailure for PaymentError {
    fn is_query_failure(&self) -> bool {
        match self {
            Self::Db(db) => db.is_query_failure(),
            Self::Customer(err) => err.is_query_failure(),
            _ => false,
        }
    }
}

/// The customer who pays: the one `found` for a `Buyer::Id` (read with the organizer), or the
/// one an email names, found or created through the customers upsert (with its races, healing
/// and audit). Called once everything else that can refuse the request has been checked: a
/// refused payment must not leave a new customer behind.
async fn paying_customer(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    found: Option<ActiveCustomer>,
    buyer: Buyer,
) -> Result<ActiveCustomer, PaymentError> {
    let email = match (found, buyer) {
        (Some(customer), _) => return Ok(customer),
        (None, Buyer::Id(id)) => return Err(CustomerError::NotFound(id.to_string()).into()),
        (None, Buyer::Email(email)) => email,
    };
    let input = UpsertInput {
        email,
        name: None,
        phone: None,
        metadata: None,
    };
    // The payment's own key (if any) was claimed durably before its handler ran: only the
    // customers' upsert route defers that to its effects.
    Ok(
        match customers::upsert(state, principal, org_id, input, &EffectGate::open()).await? {
            Upserted::Created(customer) | Upserted::Existing(customer) => customer,
        },
    )
}

/// The Stripe idempotency key of a create: from the client's key when it sent one (a retry of
/// the same request gets the first object), else one of its own (a request without a key is a
/// new intent each time; the transport still keeps the key across its own retries).
fn stripe_key(
    intent: &str,
    account: &StripeAccountId,
    client: Option<&ClientKey>,
) -> IdempotencyKey {
    match client {
        Some(client) => {
            let [scope, key, fingerprint] = client.parts();
            idempotency_key(intent, &[account.as_str(), scope, key, fingerprint])
        }
        None => idempotency_key(
            intent,
            &[account.as_str(), &uuid::Uuid::new_v4().to_string()],
        ),
    }
}

/// Ids of what a payment object touched, for its audit row.
fn targets(object: &str, id: &str, customer: &ActiveCustomer) -> serde_json::Value {
    json!({
        object: id,
        "customer_id": customer.row.id,
        "stripe_customer_id": customer.stripe_customer_id,
    })
}
