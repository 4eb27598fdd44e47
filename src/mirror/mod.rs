//! The mirror: each account's Stripe objects, kept as rows that apps read fast.
//!
//! One module per kind of object. Each says everything particular to its kind by implementing
//! [`Kind`] (most through [`Rows`], for the kinds kept as one row per object): which event
//! types name it, how it is fetched and listed from Stripe with the account, its row and table,
//! the write in which a newer fetch wins, how an object a listing lacks is confirmed deleted,
//! and when a row has drifted. [`KINDS`] lists them once: the webhook worker, reconciliation
//! and the health report iterate it, and an event type no kind claims is stored and ignored.
//!
//! Rows are written only from what a fetch from Stripe answered, whole. `fetched_at` is when
//! that fetch began, by the database's clock, and a write whose fetch began before the stored
//! one's is dropped: two workers racing on one object cannot leave the older state.
//!
//! Adding a kind: a module like [`invoice`] (the Stripe shape, the row, [`Rows`]), its
//! migration on both backends, and one line in [`KINDS`].

pub mod account;
pub mod checkout_session;
pub mod customer;
pub mod dispute;
pub mod entitlements;
pub mod invoice;
pub mod invoice_payment;
mod listing;
pub mod payment_intent;
pub mod price;
pub mod product;
pub mod refund;
mod remote;
mod rows;
mod run;
pub mod subscription;
mod writes;

use chrono::NaiveDateTime;

pub use customer::{Cause, CustomerWrites};
pub use remote::{found, list_page, retrieve, timestamp, Expandable, Fetched, Page, PAGE_SIZE};
pub use rows::{MirrorRow, Rows};
pub use run::{DriftReport, Examples, KindDrift, RunContext, EXAMPLES, LEASE_KIND, LEASE_TTL};
pub use writes::{refresh, write};

use crate::db::{Db, DbError};
use crate::domain::StripeAccountId;
use crate::stripe::{AccountClient, StripeError};

/// What a [`Kind`]'s work returns: a boxed future, so the registry can hold every kind.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Every mirrored kind, once, in the order a run reconciles them and an event refreshes them:
/// the account first (what it can do), a customer before its subscriptions, entitlements after
/// the subscriptions that grant them.
pub static KINDS: [&dyn Kind; 12] = [
    &account::Accounts,
    &customer::Customers,
    &product::Products,
    &price::Prices,
    &subscription::Subscriptions,
    &invoice::Invoices,
    &invoice_payment::InvoicePayments,
    &payment_intent::PaymentIntents,
    &refund::Refunds,
    &dispute::Disputes,
    &entitlements::Entitlements,
    &checkout_session::CheckoutSessions,
];

/// A kind of Stripe object the mirror keeps.
pub trait Kind: Sync {
    /// The kind's name in sync runs and drift reports (`products`).
    fn name(&self) -> &'static str;

    /// The event types this kind refreshes objects for.
    fn events(&self) -> &'static [&'static str];

    /// Re-fetches what `event` names of this kind and writes what Stripe answered.
    fn refresh<'a>(
        &'a self,
        env: &'a Env<'a>,
        event: &'a EventRef<'a>,
    ) -> BoxFuture<'a, Result<(), MirrorError>>;

    /// Whether reconciliation lists this kind.
    fn listed(&self) -> bool;

    /// Lists the account's objects of this kind, compares them with the mirror and repairs it;
    /// `None` when the kind is not [`Kind::listed`].
    fn reconcile<'a>(
        &'a self,
        run: &'a mut RunContext<'_>,
    ) -> Option<BoxFuture<'a, Result<(), MirrorError>>>;
}

/// Every kind kept as one row per object is a [`Kind`]: its events refresh each object they
/// name, and reconciliation lists it unless it has no listing.
impl<K: Rows> Kind for K {
    fn name(&self) -> &'static str {
        K::NAME
    }

    fn events(&self) -> &'static [&'static str] {
        K::EVENTS
    }

    fn refresh<'a>(
        &'a self,
        env: &'a Env<'a>,
        event: &'a EventRef<'a>,
    ) -> BoxFuture<'a, Result<(), MirrorError>> {
        Box::pin(async move {
            for id in K::targets(event) {
                writes::refresh::<K>(env, &id).await?;
            }
            Ok(())
        })
    }

    fn listed(&self) -> bool {
        K::LISTINGS > 0
    }

    fn reconcile<'a>(
        &'a self,
        run: &'a mut RunContext<'_>,
    ) -> Option<BoxFuture<'a, Result<(), MirrorError>>> {
        (K::LISTINGS > 0).then(|| Box::pin(listing::reconcile::<K>(run)) as BoxFuture<_>)
    }
}

/// The kinds that refresh objects for events of `event_type`, in [`KINDS`] order.
pub fn claiming(event_type: &str) -> impl Iterator<Item = &'static dyn Kind> + '_ {
    KINDS
        .iter()
        .copied()
        .filter(move |kind| kind.events().contains(&event_type))
}

/// The kinds a reconciliation run takes, in order.
pub fn reconciled() -> impl Iterator<Item = &'static dyn Kind> {
    KINDS.iter().copied().filter(|kind| kind.listed())
}

/// The fields of a stored event that refreshing reads.
pub struct EventRef<'a> {
    pub id: &'a str,
    pub event_type: &'a str,
    pub object_type: &'a str,
    pub object_id: &'a str,
    /// The raw body: read only for what never changes on an object (the subscription an
    /// invoice belongs to).
    pub payload: Option<&'a str>,
}

/// What refreshing an account's objects works with.
pub struct Env<'a> {
    pub db: &'a Db,
    pub client: AccountClient<'a>,
    pub account: &'a StripeAccountId,
    /// When the fetch began, by the database's clock: the mirror's newer-fetch-wins guard
    /// compares it.
    pub fetched_at: NaiveDateTime,
    pub customers: &'a dyn CustomerWrites,
}

impl Env<'_> {
    fn stripe_failed(&self, source: StripeError) -> MirrorError {
        MirrorError::Stripe {
            account: self.account.to_string(),
            source,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("a Stripe call for account {account} failed")]
    Stripe {
        account: String,
        #[source]
        source: StripeError,
    },
    #[error(transparent)]
    Db(#[from] DbError),
    /// A run could not renew the account's lease in time, and another run took the account.
    #[error("the account's sync lease was taken over; this run stops")]
    LeaseLost,
    /// The customers use case refused or failed.
    #[error(transparent)]
    Customer(Box<dyn std::error::Error + Send + Sync>),
}

impl From<diesel::result::Error> for MirrorError {
    fn from(err: diesel::result::Error) -> Self {
        Self::Db(err.into())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_kind_has_its_own_name_and_claims_events() {
        let names: HashSet<&str> = KINDS.iter().map(|kind| kind.name()).collect();
        assert_eq!(names.len(), KINDS.len());
        assert!(!names.contains("events"), "the events catch-up's name");
        for kind in KINDS {
            assert!(!kind.events().is_empty(), "{} claims no event", kind.name());
        }
    }

    #[test]
    fn events_go_to_the_kinds_that_mirror_their_objects() {
        let claimed = |event: &str| claiming(event).map(|k| k.name()).collect::<Vec<_>>();
        assert_eq!(claimed("account.updated"), ["accounts"]);
        assert_eq!(claimed("customer.updated"), ["customers"]);
        assert_eq!(claimed("customer.subscription.deleted"), ["subscriptions"]);
        assert_eq!(claimed("invoice.paid"), ["subscriptions", "invoices"]);
        assert_eq!(claimed("invoice.created"), ["invoices"]);
        assert_eq!(claimed("invoice_payment.paid"), ["invoice_payments"]);
        assert_eq!(claimed("checkout.session.completed"), ["checkout_sessions"]);
        assert_eq!(claimed("payment_intent.succeeded"), ["payments"]);
        assert_eq!(claimed("payment_intent.payment_failed"), ["payments"]);
        assert_eq!(claimed("refund.failed"), ["refunds"]);
        assert_eq!(claimed("charge.refund.updated"), ["refunds"]);
        assert_eq!(claimed("charge.dispute.created"), ["disputes"]);
        assert_eq!(
            claimed("entitlements.active_entitlement_summary.updated"),
            ["entitlements"]
        );
        assert!(claimed("customer.discount.created").is_empty());
        assert!(claimed("balance.available").is_empty());
    }
}
