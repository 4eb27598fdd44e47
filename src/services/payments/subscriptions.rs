//! Subscription changes from the platform's backend: a new price or quantity (with Stripe's
//! proration), cancelling at the period's end or resuming, and cancelling now. Checked against
//! the mirror before Stripe is called (the organizer's subscription, not canceled; a price of
//! the account, active and recurring), then sent, then the row written from Stripe's answer.
//! Entitlements follow through the webhook path, as for any subscription change.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{lines, stripe_key, PaymentError};
use crate::db::DbError;
use crate::domain::payment::Proration;
use crate::domain::{ClientKey, OrganizerId, Principal, StripeAccountId};
use crate::mirror::price::Price;
use crate::mirror::subscription::{
    RemoteSubscription, Subscription, SubscriptionResponse, Subscriptions,
};
use crate::mirror::Rows;
use crate::services::audit::{AuditContext, AuditEntry, Outcome};
use crate::services::{organizers, AppState};
use crate::stripe::subscriptions::{self as requests, ItemChange, SubscriptionChange};

/// What a request changes; `None` leaves it as it is.
#[derive(Default)]
pub struct ChangeInput {
    pub price: Option<String>,
    pub quantity: Option<u64>,
    pub proration: Option<Proration>,
    pub cancel_at_period_end: Option<bool>,
}

impl ChangeInput {
    fn is_empty(&self) -> bool {
        !self.changes_item() && self.proration.is_none() && self.cancel_at_period_end.is_none()
    }

    fn changes_item(&self) -> bool {
        self.price.is_some() || self.quantity.is_some()
    }
}

fn not_recurring(price: &str) -> PaymentError {
    PaymentError::Invalid {
        field: "price".into(),
        message: format!("{price} is not an active recurring price"),
    }
}

/// A subscription as a change reads it.
struct Loaded {
    organizer_id: String,
    /// The account to change it on.
    account: StripeAccountId,
    subscription: Subscription,
    /// When it was read, by the database's clock: before any Stripe call, so the `fetched_at`
    /// of the change's answer (a webhook's fetch that began later wins over it).
    read_at: NaiveDateTime,
}

/// The organizer's subscription `id` from the mirror, with the account to change it on; a
/// canceled one is refused. `price`, when given, must be an active recurring price of the
/// account.
async fn load(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    id: String,
    price: Option<String>,
) -> Result<Loaded, PaymentError> {
    let wanted = id.clone();
    let (organizer, found, price, read_at) =
        organizers::with_organizer(state, principal, org_id, move |conn, organizer| {
            let account = organizer.data_account().to_string();
            let found = Subscription::find(conn, &account, &wanted)?;
            let price = match price {
                Some(price) => Some((Price::find(conn, &account, &price)?, price)),
                None => None,
            };
            let read_at = crate::db::database_now(conn).map_err(DbError::from)?;
            Ok::<_, PaymentError>((organizer, found, price, read_at))
        })
        .await?;
    let subscription = found.ok_or(PaymentError::SubscriptionNotFound(id))?;
    let account = organizers::connected_account(&organizer)?;
    if subscription.status == "canceled" {
        return Err(PaymentError::SubscriptionCanceled(subscription.id));
    }
    if let Some((found, asked)) = price {
        let recurring = match found {
            Some(price) if price.active => price.recurring_interval.is_some(),
            Some(_) => return Err(not_recurring(&asked)),
            // Not mirrored yet (its event may still be on its way): Stripe says.
            None => lines::remote(state, &account, &asked, "price").await?.0,
        };
        if !recurring {
            return Err(not_recurring(&asked));
        }
    }
    Ok(Loaded {
        organizer_id: organizer.id,
        account,
        subscription,
        read_at,
    })
}

/// Changes the organizer's subscription `id`.
#[tracing::instrument(skip_all, fields(organizer_id = %org_id))]
pub async fn change(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    id: String,
    input: ChangeInput,
    client_key: Option<ClientKey>,
) -> Result<SubscriptionResponse, PaymentError> {
    let Loaded {
        organizer_id,
        account,
        subscription,
        read_at: fetched_at,
    } = load(state, principal, org_id, id, input.price.clone()).await?;
    if input.is_empty() {
        // Nothing to change: no Stripe call, no audit row.
        return Ok(subscription.into());
    }
    let change = requested(&subscription, &input)?;
    let key = stripe_key("subscription.update", &account, client_key.as_ref());
    let client = state.stripe.for_account(&account);
    let answer: RemoteSubscription = requests::update_subscription(&client, &change, key)
        .await
        .map_err(|err| PaymentError::stripe(&account, err))?;
    let details = serde_json::json!({
        "price": input.price,
        "quantity": input.quantity,
        "proration_behavior": input.proration.map(Proration::as_str),
        "cancel_at_period_end": input.cancel_at_period_end,
    });
    let row = Subscriptions::row(account.as_str(), answer, fetched_at);
    record(
        state,
        principal,
        &organizer_id,
        row,
        "subscription.updated",
        details,
    )
    .await
}

/// The change `input` asks of `subscription`, for Stripe.
fn requested<'a>(
    subscription: &'a Subscription,
    input: &'a ChangeInput,
) -> Result<SubscriptionChange<'a>, PaymentError> {
    let item = if input.changes_item() {
        let [item] = subscription.items.as_slice() else {
            return Err(PaymentError::Invalid {
                field: "price".into(),
                message: format!(
                    "the subscription has {} items; only one with a single item can change its price or quantity here",
                    subscription.items.len()
                ),
            });
        };
        Some(ItemChange {
            id: &item.id,
            price: input.price.as_deref(),
            quantity: input.quantity,
        })
    } else {
        None
    };
    Ok(SubscriptionChange {
        id: &subscription.id,
        item,
        proration: input.proration,
        cancel_at_period_end: input.cancel_at_period_end,
    })
}

/// The next invoice of the organizer's subscription `id` if `input` were applied: what Stripe's
/// invoice preview says, nothing changed.
#[tracing::instrument(skip_all, fields(organizer_id = %org_id))]
pub async fn preview(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    id: String,
    input: ChangeInput,
) -> Result<SubscriptionPreview, PaymentError> {
    let Loaded {
        account,
        subscription,
        ..
    } = load(state, principal, org_id, id, input.price.clone()).await?;
    let change = requested(&subscription, &input)?;
    let key = stripe_key("subscription.preview", &account, None);
    let client = state.stripe.for_account(&account);
    let preview: RemotePreview = requests::preview_change(&client, &change, key)
        .await
        .map_err(|err| PaymentError::stripe(&account, err))?;
    Ok(SubscriptionPreview {
        currency: preview.currency,
        amount_due: preview.amount_due,
        total: preview.total,
        lines: preview.lines.data,
    })
}

/// What the gateway reads of Stripe's invoice preview.
#[derive(Deserialize)]
struct RemotePreview {
    currency: String,
    #[serde(default)]
    amount_due: i64,
    #[serde(default)]
    total: i64,
    #[serde(default)]
    lines: PreviewLines,
}

#[derive(Default, Deserialize)]
struct PreviewLines {
    #[serde(default)]
    data: Vec<PreviewLine>,
}

/// One line of a previewed invoice.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct PreviewLine {
    /// Stripe's description, e.g. `Remaining time on 1 × Platinum after 3 Dec 2026`.
    pub description: Option<String>,
    /// In the currency's minor unit; a credit for unused time is negative.
    pub amount: i64,
}

/// The subscription's next invoice after a proposed change, as Stripe previews it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionPreview {
    /// ISO 4217, lowercase.
    #[schema(example = "eur")]
    pub currency: String,
    /// What the customer would be asked to pay, in the currency's minor unit.
    pub amount_due: i64,
    pub total: i64,
    /// Its lines: with a new price and prorations, the credit for unused time and the charge
    /// for the remaining time come first.
    pub lines: Vec<PreviewLine>,
}

/// Cancels the organizer's subscription `id` now.
#[tracing::instrument(skip_all, fields(organizer_id = %org_id))]
pub async fn cancel(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    id: String,
) -> Result<SubscriptionResponse, PaymentError> {
    let Loaded {
        organizer_id,
        account,
        subscription,
        read_at: fetched_at,
    } = load(state, principal, org_id, id, None).await?;
    let client = state.stripe.for_account(&account);
    let answer: RemoteSubscription = requests::cancel_subscription(&client, &subscription.id)
        .await
        .map_err(|err| PaymentError::stripe(&account, err))?;
    let row = Subscriptions::row(account.as_str(), answer, fetched_at);
    let details = serde_json::json!({});
    record(
        state,
        principal,
        &organizer_id,
        row,
        "subscription.canceled",
        details,
    )
    .await
}

/// Writes the subscription's `row`, made from Stripe's answer, and audits the change, in one
/// transaction.
async fn record(
    state: &AppState,
    principal: &Principal,
    organizer_id: &str,
    row: Subscription,
    action: &'static str,
    details: serde_json::Value,
) -> Result<SubscriptionResponse, PaymentError> {
    let audit = AuditContext::new(principal);
    let entry = AuditEntry {
        action,
        organizer_id: Some(organizer_id.to_string()),
        targets: serde_json::json!({ "subscription_id": row.id }),
        outcome: Outcome::Succeeded,
        subject_hash: None,
        details,
    };
    let stored = row.clone();
    state
        .db
        .run(move |conn| {
            crate::db::write_transaction(conn, |conn| {
                crate::mirror::write::<Subscriptions>(conn, &stored)?;
                audit.record(conn, &entry)
            })
            .map_err(DbError::from)
        })
        .await?;
    Ok(row.into())
}
