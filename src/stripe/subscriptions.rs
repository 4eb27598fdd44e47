//! Changes to a subscription on the organizer's account: its price and quantity, cancelling at
//! the period's end or resuming, and cancelling now; and the preview of a change's invoice. Answers are read as the caller's type (the
//! mirror's shape of a subscription).

use serde::de::DeserializeOwned;
use stripe_billing::invoice::{
    CreatePreviewInvoice, CreatePreviewInvoiceSubscriptionDetails,
    CreatePreviewInvoiceSubscriptionDetailsItems,
    CreatePreviewInvoiceSubscriptionDetailsProrationBehavior as PreviewProration,
};
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

/// Cancels the subscription now; Stripe answers with it `canceled`. A DELETE: a second one
/// finds it canceled, and Stripe takes no idempotency key on it.
pub async fn cancel_subscription<T: DeserializeOwned>(
    client: &AccountClient<'_>,
    id: &str,
) -> Result<T, StripeError> {
    client.delete_json(&CancelSubscription::new(id)).await
}

/// The invoice the subscription's next bill would be after `change` (Stripe's invoice
/// preview): nothing changes in Stripe.
pub async fn preview_change<T: DeserializeOwned>(
    client: &AccountClient<'_>,
    change: &SubscriptionChange<'_>,
    key: IdempotencyKey,
) -> Result<T, StripeError> {
    let mut details = CreatePreviewInvoiceSubscriptionDetails::new();
    if let Some(item) = &change.item {
        let mut update = CreatePreviewInvoiceSubscriptionDetailsItems::new();
        update.id = Some(item.id.to_string());
        update.price = item.price.map(str::to_string);
        update.quantity = item.quantity;
        details.items = Some(vec![update]);
    }
    details.proration_behavior = change.proration.map(|proration| match proration {
        Proration::CreateProrations => PreviewProration::CreateProrations,
        Proration::NoProrations => PreviewProration::None,
        Proration::AlwaysInvoice => PreviewProration::AlwaysInvoice,
    });
    details.cancel_at_period_end = change.cancel_at_period_end;
    let request = CreatePreviewInvoice::new()
        .subscription(change.id)
        .subscription_details(details);
    client.write_json(&request, key).await
}
