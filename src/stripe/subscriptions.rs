//! Changes to a subscription on the organizer's account: its price and quantity, cancelling at
//! the period's end or resuming, and cancelling now. Answers are read as the caller's type (the
//! mirror's shape of a subscription).

use serde::de::DeserializeOwned;
use stripe_billing::subscription::{
    CancelSubscription, UpdateSubscription, UpdateSubscriptionItems,
    UpdateSubscriptionProrationBehavior,
};

use super::{AccountClient, IdempotencyKey, StripeError};
use crate::domain::payment::Proration;

/// What changes; `None` leaves it as it is.
pub struct SubscriptionChange<'a> {
    pub id: &'a str,
    /// The item whose price or quantity changes (`si_...`), with its new price and quantity.
    pub item: Option<ItemChange<'a>>,
    pub proration: Option<Proration>,
    pub cancel_at_period_end: Option<bool>,
}

pub struct ItemChange<'a> {
    pub id: &'a str,
    pub price: Option<&'a str>,
    pub quantity: Option<u64>,
}

pub async fn update_subscription<T: DeserializeOwned>(
    client: &AccountClient<'_>,
    change: &SubscriptionChange<'_>,
    key: IdempotencyKey,
) -> Result<T, StripeError> {
    let mut request = UpdateSubscription::new(change.id);
    if let Some(item) = &change.item {
        let mut update = UpdateSubscriptionItems::new();
        update.id = Some(item.id.to_string());
        update.price = item.price.map(str::to_string);
        update.quantity = item.quantity;
        request = request.items(vec![update]);
    }
    if let Some(proration) = change.proration {
        request = request.proration_behavior(match proration {
            Proration::CreateProrations => UpdateSubscriptionProrationBehavior::CreateProrations,
            Proration::NoProrations => UpdateSubscriptionProrationBehavior::None,
            Proration::AlwaysInvoice => UpdateSubscriptionProrationBehavior::AlwaysInvoice,
        });
    }
    if let Some(cancel) = change.cancel_at_period_end {
        request = request.cancel_at_period_end(cancel);
    }
    client.write_json(&request, key).await
}

/// Cancels the subscription now; Stripe answers with it `canceled`.
pub async fn cancel_subscription<T: DeserializeOwned>(
    client: &AccountClient<'_>,
    id: &str,
    key: IdempotencyKey,
) -> Result<T, StripeError> {
    client.write_json(&CancelSubscription::new(id), key).await
}
