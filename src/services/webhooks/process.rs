//! What processing an event does: re-fetch the object it names from Stripe, with the event's
//! account, and overwrite the mirror with the answer. The payload is never trusted, so the
//! order and number of deliveries do not change the result.

use chrono::NaiveDateTime;
use serde::Deserialize;

use super::rows::{checkout_row, entitlements_row, price_row, product_row, subscription_row};
use crate::db::models::{Entitlements, MirrorRow, Organizer, Subscription};
use crate::db::{DbError, QueryFailure};
use crate::domain::StripeAccountId;
use crate::services::customers::{self, CustomerError};
use crate::services::organizers::OrganizerError;
use crate::services::AppState;
use crate::stripe::checkout;
use crate::stripe::mirror::{self, Fetched};
use crate::stripe::{AccountClient, StripeError};

/// What an event's object is, as far as the mirror cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Customer,
    Product,
    Price,
    Subscription,
    /// An invoice event refreshes the invoice's subscription.
    InvoiceSubscription,
    CheckoutSession,
    /// A customer's active entitlements changed; the event names the customer.
    Entitlements,
    /// The account revoked the platform's access.
    Deauthorization,
}

impl Target {
    pub fn of(event_type: &str, object_type: &str) -> Option<Self> {
        if event_type == "account.application.deauthorized" {
            return Some(Self::Deauthorization);
        }
        match object_type {
            "customer" => Some(Self::Customer),
            "product" => Some(Self::Product),
            "price" => Some(Self::Price),
            "subscription" => Some(Self::Subscription),
            "checkout.session" => Some(Self::CheckoutSession),
            "entitlements.active_entitlement_summary" => Some(Self::Entitlements),
            "invoice" if matches!(event_type, "invoice.paid" | "invoice.payment_failed") => {
                Some(Self::InvoiceSubscription)
            }
            _ => None,
        }
    }
}

/// Whether events of this type and object are processed (others are stored and acknowledged).
pub fn handles(event_type: &str, object_type: &str) -> bool {
    Target::of(event_type, object_type).is_some()
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("Stripe: {0}")]
    Stripe(#[from] StripeError),
    #[error(transparent)]
    Customer(#[from] CustomerError),
    #[error(transparent)]
    Organizer(#[from] OrganizerError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    Event(String),
}

impl From<diesel::result::Error> for ProcessError {
    fn from(err: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(err))
    }
}

impl QueryFailure for ProcessError {
    fn is_query_failure(&self) -> bool {
        matches!(self, Self::Db(DbError::Query(_)))
    }
}

/// The event's fields processing reads.
pub struct EventRef<'a> {
    pub id: &'a str,
    pub event_type: &'a str,
    pub object_type: &'a str,
    pub object_id: &'a str,
    pub account: &'a StripeAccountId,
    /// The raw body; only an invoice event's subscription id is read from it.
    pub payload: Option<&'a str>,
}

/// Re-fetches the event's object and writes the mirror. `fetched_at` is when the fetch began.
pub async fn apply(
    state: &AppState,
    event: &EventRef<'_>,
    fetched_at: NaiveDateTime,
) -> Result<(), ProcessError> {
    let Some(target) = Target::of(event.event_type, event.object_type) else {
        return Ok(());
    };
    if target == Target::Deauthorization {
        super::deauthorize::disconnect_if_revoked(state, event.account, event.id).await?;
        return Ok(());
    }
    let account = event.account.to_string();
    let key = account.clone();
    let organizer = state
        .db
        .run(move |conn| Ok::<_, ProcessError>(Organizer::find_by_stripe_account_id(conn, &key)?))
        .await?;
    match organizer {
        Some(organizer) if organizer.disconnected_at.is_none() => {}
        // No Stripe call for an account that revoked access, or that no organizer has (any
        // more): the event is settled without a fetch.
        _ => return Ok(()),
    }
    let client = state.stripe.for_account(event.account);
    let written = Written {
        state,
        account: &account,
        id: event.object_id,
        fetched_at,
    };
    match target {
        Target::Customer => {
            let exists =
                customers::mirror_stripe_customer(state, event.account, event.object_id, event.id)
                    .await?;
            // A customer Stripe no longer has has no subscriptions to list (a late update
            // processed after the deletion must not fail on it).
            if exists {
                refresh_customer_subscriptions(
                    state,
                    &client,
                    &account,
                    event.object_id,
                    fetched_at,
                )
                .await?;
            }
            Ok(())
        }
        Target::Product => {
            let fetched = mirror::product(&client, event.object_id).await?;
            written.store(fetched, product_row).await
        }
        Target::Price => {
            let fetched = mirror::price(&client, event.object_id).await?;
            written.store(fetched, price_row).await
        }
        Target::Subscription => {
            let fetched = mirror::subscription(&client, event.object_id).await?;
            written.store(fetched, subscription_row).await
        }
        Target::CheckoutSession => {
            let fetched = checkout::checkout_session(&client, event.object_id).await?;
            written.store(fetched, checkout_row).await
        }
        Target::Entitlements => {
            let active = checkout::active_entitlements(&client, event.object_id).await?;
            let features: Vec<String> = active.into_iter().map(|e| e.lookup_key).collect();
            let row = entitlements_row(&account, event.object_id, &features, fetched_at);
            state
                .db
                .run(move |conn| {
                    Entitlements::upsert(conn, &row)?;
                    Ok(())
                })
                .await
        }
        // Settled before the organizer check, above.
        Target::Deauthorization => Ok(()),
        Target::InvoiceSubscription => {
            let Some(subscription) = event.payload.and_then(invoice_subscription) else {
                return Ok(()); // a one-off invoice: no subscription to refresh
            };
            refresh_subscription(state, &client, &account, &subscription, fetched_at).await
        }
    }
}

async fn refresh_subscription(
    state: &AppState,
    client: &AccountClient<'_>,
    account: &str,
    id: &str,
    fetched_at: NaiveDateTime,
) -> Result<(), ProcessError> {
    let fetched = mirror::subscription(client, id).await?;
    let written = Written {
        state,
        account,
        id,
        fetched_at,
    };
    written.store(fetched, subscription_row).await
}

/// Where a fetch's answer goes: the object `id` of `account`, fetched at `fetched_at`.
struct Written<'a> {
    state: &'a AppState,
    account: &'a str,
    id: &'a str,
    fetched_at: NaiveDateTime,
}

impl Written<'_> {
    /// Writes what the fetch found: the row `row` builds from the object, or the object
    /// marked deleted when Stripe no longer has it.
    async fn store<T, R>(
        &self,
        fetched: Fetched<T>,
        row: fn(&str, T, NaiveDateTime) -> R,
    ) -> Result<(), ProcessError>
    where
        T: Send + 'static,
        R: MirrorRow + Send + 'static,
    {
        let (account, id, at) = (
            self.account.to_string(),
            self.id.to_string(),
            self.fetched_at,
        );
        self.state
            .db
            .run(move |conn| {
                match fetched {
                    Fetched::Found(object) => R::upsert(conn, &row(&account, object, at))?,
                    Fetched::Gone => R::mark_deleted(conn, &account, &id, at)?,
                };
                Ok(())
            })
            .await
    }
}

/// A customer event also refreshes every subscription of that customer.
async fn refresh_customer_subscriptions(
    state: &AppState,
    client: &AccountClient<'_>,
    account: &str,
    customer: &str,
    fetched_at: NaiveDateTime,
) -> Result<(), ProcessError> {
    let all = mirror::customer_subscriptions(client, customer).await?;
    let account = account.to_string();
    state
        .db
        .run(move |conn| {
            for subscription in all {
                Subscription::upsert(conn, &subscription_row(&account, subscription, fetched_at))?;
            }
            Ok(())
        })
        .await
}

/// The subscription an invoice belongs to: `subscription` up to API version 2025-03-31,
/// `parent.subscription_details.subscription` since. An invoice's subscription never changes,
/// so reading it from the payload is safe.
fn invoice_subscription(payload: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Event {
        data: Data,
    }
    #[derive(Deserialize)]
    struct Data {
        object: serde_json::Value,
    }
    let event: Event = serde_json::from_str(payload).ok()?;
    let invoice = &event.data.object;
    let id = |value: &serde_json::Value| match value {
        serde_json::Value::String(id) => Some(id.clone()),
        serde_json::Value::Object(object) => object.get("id")?.as_str().map(str::to_string),
        _ => None,
    };
    id(&invoice["subscription"])
        .or_else(|| id(&invoice["parent"]["subscription_details"]["subscription"]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invoice_names_its_subscription_in_either_api_version() {
        let old = r#"{"data":{"object":{"id":"in_1","object":"invoice","subscription":"sub_1"}}}"#;
        let new = r#"{"data":{"object":{"id":"in_1","object":"invoice","parent":{"subscription_details":{"subscription":"sub_2"}}}}}"#;
        let one_off = r#"{"data":{"object":{"id":"in_1","object":"invoice","subscription":null}}}"#;
        assert_eq!(invoice_subscription(old).as_deref(), Some("sub_1"));
        assert_eq!(invoice_subscription(new).as_deref(), Some("sub_2"));
        assert_eq!(invoice_subscription(one_off), None);
    }

    #[test]
    fn only_mirrored_objects_are_processed() {
        assert!(handles("customer.updated", "customer"));
        assert!(handles("customer.subscription.deleted", "subscription"));
        assert!(handles("invoice.paid", "invoice"));
        assert!(handles("checkout.session.completed", "checkout.session"));
        assert!(handles(
            "entitlements.active_entitlement_summary.updated",
            "entitlements.active_entitlement_summary"
        ));
        assert!(handles("account.application.deauthorized", "application"));
        assert!(!handles("invoice.created", "invoice"));
        assert!(!handles("customer.discount.created", "discount"));
        assert!(!handles("balance.available", "balance"));
    }
}
