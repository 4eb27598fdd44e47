//! Subscriptions: one row per Stripe subscription of the account, in every status. A
//! subscription is refreshed by its own events, by its invoices' payment events, and with
//! every other subscription of its customer by the customer's events.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use stripe_billing::subscription::{
    ListSubscription, ListSubscriptionStatus, RetrieveSubscription,
};
use utoipa::ToSchema;

use super::invoice::Links;
use super::PAGE_SIZE;
use super::{found, timestamp, Env, EventRef, Expandable, Fetched, MirrorError, Page, Rows};
use crate::db::columns::JsonColumn;
use crate::db::schema::subscriptions;
use crate::db::{DbConnection, DbError};
use crate::domain::GatewayEventType;
use crate::stripe::{AccountClient, StripeError};

pub struct Subscriptions;

// A subscription as the API serves it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionResponse {
    #[schema(example = "sub_1PqRst")]
    id: String,
    /// Stripe's status: `active`, `trialing`, `past_due`, `canceled`, `unpaid`, `incomplete`,
    /// `incomplete_expired` or `paused`.
    status: String,
    items: Vec<SubscriptionItem>,
    current_period_end: Option<DateTime<Utc>>,
    cancel_at_period_end: bool,
    trial_end: Option<DateTime<Utc>>,
    metadata: BTreeMap<String, String>,
}

impl From<Subscription> for SubscriptionResponse {
    fn from(row: Subscription) -> Self {
        Self {
            items: row.items.into_inner(),
            metadata: row.metadata.into_inner(),
            id: row.id,
            status: row.status,
            current_period_end: row.current_period_end.map(|t| t.and_utc()),
            cancel_at_period_end: row.cancel_at_period_end,
            trial_end: row.trial_end.map(|t| t.and_utc()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RemoteSubscription {
    pub id: String,
    pub customer: Expandable,
    pub status: String,
    pub items: ItemList,
    /// On the subscription up to API version 2025-03-31; on each item since.
    pub current_period_end: Option<i64>,
    #[serde(default)]
    pub cancel_at_period_end: bool,
    pub trial_end: Option<i64>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ItemList {
    pub data: Vec<RemoteItem>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RemoteItem {
    pub id: String,
    pub price: Expandable,
    pub quantity: Option<u64>,
    pub current_period_end: Option<i64>,
}

impl RemoteSubscription {
    /// The end of the current period: the subscription's own, or its items' latest.
    pub fn period_end(&self) -> Option<i64> {
        self.current_period_end.or_else(|| {
            self.items
                .data
                .iter()
                .filter_map(|item| item.current_period_end)
                .max()
        })
    }
}

/// One item of a subscription as the mirror keeps it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct SubscriptionItem {
    /// Stripe's subscription item id (`si_...`).
    pub id: String,
    /// The price (`price_...`).
    pub price: String,
    pub quantity: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = subscriptions, treat_none_as_null = true)]
pub struct Subscription {
    pub stripe_account_id: String,
    pub id: String,
    pub stripe_customer_id: String,
    pub status: String,
    pub items: JsonColumn<Vec<SubscriptionItem>>,
    pub current_period_end: Option<NaiveDateTime>,
    pub cancel_at_period_end: bool,
    pub trial_end: Option<NaiveDateTime>,
    pub metadata: JsonColumn<BTreeMap<String, String>>,
    pub deleted: bool,
    pub fetched_at: NaiveDateTime,
}

crate::mirror_row!(Subscription, subscriptions);

impl Rows for Subscriptions {
    const NAME: &'static str = "subscriptions";
    const EVENTS: &'static [&'static str] = &[
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.resumed",
        "customer.subscription.trial_will_end",
        "customer.subscription.pending_update_applied",
        "customer.subscription.pending_update_expired",
        "invoice.paid",
        "invoice.payment_failed",
    ];
    const LISTINGS: usize = 1;
    type Remote = RemoteSubscription;
    type Row = Subscription;

    /// An invoice's payment changes its subscription: the invoice's subscription is refreshed
    /// (none for a one-off invoice).
    fn targets(event: &EventRef<'_>) -> Vec<String> {
        if event.object_type == "invoice" {
            return event
                .payload
                .and_then(invoice_subscription)
                .into_iter()
                .collect();
        }
        vec![event.object_id.to_string()]
    }

    async fn fetch<'a>(
        client: &'a AccountClient<'a>,
        id: &'a str,
    ) -> Result<Fetched<RemoteSubscription>, StripeError> {
        found(
            client.read_json(&RetrieveSubscription::new(id)).await,
            |_| false,
        )
    }

    /// Subscriptions in every status: canceled ones included, which Stripe leaves out by default.
    async fn page<'a>(
        client: &'a AccountClient<'a>,
        _listing: usize,
        after: Option<&'a str>,
    ) -> Result<Page<RemoteSubscription>, StripeError> {
        let mut request = ListSubscription::new()
            .status(ListSubscriptionStatus::All)
            .limit(PAGE_SIZE);
        if let Some(after) = after {
            request = request.starting_after(after);
        }
        client.read_json(&request).await
    }

    const HEARD: bool = true;

    fn notes(before: Option<&Subscription>, after: &Subscription) -> Vec<GatewayEventType> {
        match before {
            None => vec![GatewayEventType::SubscriptionCreated],
            Some(before) if after.status == "canceled" && before.status != "canceled" => {
                vec![GatewayEventType::SubscriptionCanceled]
            }
            Some(_) => vec![GatewayEventType::SubscriptionUpdated],
        }
    }

    fn served(_conn: &mut DbConnection, row: &Subscription) -> QueryResult<serde_json::Value> {
        let served = SubscriptionResponse::from(row.clone());
        Ok(serde_json::to_value(served).unwrap_or_default())
    }

    fn row(account: &str, s: RemoteSubscription, fetched_at: NaiveDateTime) -> Subscription {
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
            items: JsonColumn::new(items),
            cancel_at_period_end: s.cancel_at_period_end,
            trial_end: timestamp(s.trial_end),
            metadata: JsonColumn::new(s.metadata),
            deleted: false,
            fetched_at,
        }
    }
}

/// Refreshes every subscription of `customer`, whatever its status, page by page: a customer's
/// event may change them all.
pub async fn refresh_customer(env: &Env<'_>, customer: &str) -> Result<(), MirrorError> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut request = ListSubscription::new()
            .customer(customer)
            .status(ListSubscriptionStatus::All)
            .limit(PAGE_SIZE);
        if let Some(last) = &after {
            request = request.starting_after(last.as_str());
        }
        let page: Page<RemoteSubscription> = env
            .client
            .read_json(&request)
            .await
            .map_err(|err| env.stripe_failed(err))?;
        after = page.data.last().map(|s| s.id.clone());
        all.extend(page.data);
        if !page.has_more || after.is_none() {
            break;
        }
    }
    let (account, at) = (env.account.to_string(), env.fetched_at);
    env.db
        .run(move |conn| {
            for subscription in all {
                let row = Subscriptions::row(&account, subscription, at);
                super::writes::write::<Subscriptions>(conn, &row)?;
            }
            Ok::<_, DbError>(())
        })
        .await?;
    Ok(())
}

impl Subscription {
    /// A customer's subscriptions in the account, by id.
    pub fn list_by_account_and_customer(
        conn: &mut DbConnection,
        account: &str,
        stripe_customer_id: &str,
    ) -> QueryResult<Vec<Subscription>> {
        subscriptions::table
            .filter(subscriptions::stripe_account_id.eq(account))
            .filter(subscriptions::stripe_customer_id.eq(stripe_customer_id))
            .filter(subscriptions::deleted.eq(false))
            .order(subscriptions::id.asc())
            .select(Subscription::as_select())
            .load(conn)
    }

    /// The Stripe ids of the account's customers with a subscription in one of `statuses`.
    pub fn customers_by_account_and_status(
        conn: &mut DbConnection,
        account: &str,
        statuses: &[&str],
    ) -> QueryResult<Vec<String>> {
        subscriptions::table
            .filter(subscriptions::stripe_account_id.eq(account))
            .filter(subscriptions::deleted.eq(false))
            .filter(subscriptions::status.eq_any(statuses))
            .select(subscriptions::stripe_customer_id)
            .distinct()
            .load(conn)
    }
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
        object: Links,
    }
    let event: Event = serde_json::from_str(payload).ok()?;
    event.data.object.subscription().map(str::to_string)
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
}
