//! Mirror rows built from what Stripe answered.

use chrono::{DateTime, NaiveDateTime};

use crate::db::models::{
    CheckoutSession, Entitlements, Price, Product, Subscription, SubscriptionItem,
};
use crate::stripe::checkout::RemoteCheckoutSession;
use crate::stripe::mirror::{RemotePrice, RemoteProduct, RemoteSubscription};

pub(super) fn timestamp(seconds: Option<i64>) -> Option<NaiveDateTime> {
    seconds
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .map(|t| t.naive_utc())
}

pub(super) fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("maps and lists of strings serialize")
}

/// The customer's active features (their lookup keys), as fetched at `fetched_at`.
pub(crate) fn entitlements_row(
    account: &str,
    stripe_customer_id: &str,
    features: &[String],
    fetched_at: NaiveDateTime,
) -> Entitlements {
    Entitlements {
        stripe_account_id: account.to_string(),
        stripe_customer_id: stripe_customer_id.to_string(),
        features: json(&features),
        fetched_at,
    }
}

pub(crate) fn product_row(account: &str, p: RemoteProduct, fetched_at: NaiveDateTime) -> Product {
    Product {
        stripe_account_id: account.to_string(),
        id: p.id,
        name: p.name,
        description: p.description,
        active: p.active,
        metadata: json(&p.metadata),
        deleted: false,
        fetched_at,
    }
}

pub(crate) fn price_row(account: &str, p: RemotePrice, fetched_at: NaiveDateTime) -> Price {
    Price {
        stripe_account_id: account.to_string(),
        product_id: p
            .product
            .as_ref()
            .map(|p| p.id().to_string())
            .unwrap_or_default(),
        id: p.id,
        active: p.active,
        currency: p.currency,
        unit_amount: p.unit_amount,
        recurring_interval: p.recurring.as_ref().map(|r| r.interval.clone()),
        recurring_interval_count: p.recurring.as_ref().and_then(|r| r.interval_count),
        lookup_key: p.lookup_key,
        nickname: p.nickname,
        metadata: json(&p.metadata),
        deleted: false,
        fetched_at,
    }
}

pub(crate) fn subscription_row(
    account: &str,
    s: RemoteSubscription,
    fetched_at: NaiveDateTime,
) -> Subscription {
    let items: Vec<SubscriptionItem> = s
        .items
        .data
        .iter()
        .map(|item| SubscriptionItem {
            id: item.id.clone(),
            price: item.price.id().to_string(),
            quantity: item.quantity,
        })
        .collect();
    Subscription {
        stripe_account_id: account.to_string(),
        current_period_end: timestamp(s.period_end()),
        id: s.id,
        stripe_customer_id: s.customer.id().to_string(),
        status: s.status,
        items: json(&items),
        cancel_at_period_end: s.cancel_at_period_end,
        trial_end: timestamp(s.trial_end),
        metadata: json(&s.metadata),
        deleted: false,
        fetched_at,
    }
}

pub(crate) fn checkout_row(
    account: &str,
    s: RemoteCheckoutSession,
    fetched_at: NaiveDateTime,
) -> CheckoutSession {
    CheckoutSession {
        stripe_account_id: account.to_string(),
        stripe_customer_id: s.customer.as_ref().map(|c| c.id().to_string()),
        id: s.id,
        mode: s.mode,
        status: s.status,
        payment_status: s.payment_status,
        amount_total: s.amount_total,
        currency: s.currency,
        expires_at: timestamp(s.expires_at),
        metadata: json(&s.metadata.unwrap_or_default()),
        deleted: false,
        fetched_at,
        url: s.url,
    }
}
