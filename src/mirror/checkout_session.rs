//! Checkout Sessions: one row per session the account's checkouts created, refreshed by the
//! session's events. Not listed by reconciliation: a session lives a day at most, and its
//! events (or the create's own answer) keep the row.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use stripe_checkout::checkout_session::RetrieveCheckoutSession;
use utoipa::ToSchema;

use super::{found, timestamp, Expandable, Fetched, Page, Rows};
use crate::db::columns::JsonColumn;
use crate::db::models::Organizer;
use crate::db::schema::{checkout_sessions, customers, organizers};
use crate::db::DbConnection;
use crate::domain::GatewayEventType;
use crate::on_each_backend;
use crate::stripe::customers::ORGANIZER_ID_KEY;
use crate::stripe::{AccountClient, Get, StripeError};

pub struct CheckoutSessions;

// A checkout session as the API serves it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckoutSessionResponse {
    #[schema(example = "cs_test_a1B2c3")]
    id: String,
    /// The account the session was created on (direct charges on the organizer's account).
    stripe_account_id: String,
    stripe_customer_id: Option<String>,
    /// `payment`, `subscription` or `setup`.
    mode: String,
    /// `open`, `complete` or `expired`.
    status: Option<String>,
    /// `paid`, `unpaid` or `no_payment_required`.
    payment_status: String,
    /// In the currency's minor unit.
    amount_total: Option<i64>,
    currency: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    metadata: BTreeMap<String, String>,
    /// The hosted payment page, while the session is open.
    url: Option<String>,
    /// The payment it created (`payment` mode), once the buyer has paid or tried to.
    payment_id: Option<String>,
    /// The subscription it started (`subscription` mode), once paid.
    subscription_id: Option<String>,
}

impl From<CheckoutSession> for CheckoutSessionResponse {
    fn from(session: CheckoutSession) -> Self {
        Self {
            metadata: session.metadata.into_inner(),
            id: session.id,
            stripe_account_id: session.stripe_account_id,
            stripe_customer_id: session.stripe_customer_id,
            mode: session.mode,
            status: session.status,
            payment_status: session.payment_status,
            amount_total: session.amount_total,
            currency: session.currency,
            expires_at: session.expires_at.map(|t| t.and_utc()),
            url: session.url,
            payment_id: session.payment_intent_id,
            subscription_id: session.subscription_id,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RemoteCheckoutSession {
    pub id: String,
    pub customer: Option<Expandable>,
    pub mode: String,
    pub status: Option<String>,
    pub payment_status: String,
    pub amount_total: Option<i64>,
    pub currency: Option<String>,
    pub expires_at: Option<i64>,
    pub metadata: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub payment_intent: Option<Expandable>,
    #[serde(default)]
    pub subscription: Option<Expandable>,
}

#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = checkout_sessions, treat_none_as_null = true)]
pub struct CheckoutSession {
    pub stripe_account_id: String,
    pub id: String,
    pub stripe_customer_id: Option<String>,
    pub mode: String,
    pub status: Option<String>,
    pub payment_status: String,
    pub amount_total: Option<i64>,
    pub currency: Option<String>,
    pub expires_at: Option<NaiveDateTime>,
    pub metadata: JsonColumn<BTreeMap<String, String>>,
    pub deleted: bool,
    pub fetched_at: NaiveDateTime,
    /// The hosted page that takes the payment, while the session is open.
    pub url: Option<String>,
    pub payment_intent_id: Option<String>,
    pub subscription_id: Option<String>,
}

crate::mirror_row!(CheckoutSession, checkout_sessions);

impl Rows for CheckoutSessions {
    const NAME: &'static str = "checkout_sessions";
    const EVENTS: &'static [&'static str] = &[
        "checkout.session.completed",
        "checkout.session.expired",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
    ];
    const LISTINGS: usize = 0;
    type Remote = RemoteCheckoutSession;
    type Row = CheckoutSession;

    async fn fetch<'a>(
        client: &'a AccountClient<'a>,
        id: &'a str,
    ) -> Result<Fetched<RemoteCheckoutSession>, StripeError> {
        found(
            client.read_json(&RetrieveCheckoutSession::new(id)).await,
            |_| false,
        )
    }

    async fn page<'a>(
        client: &'a AccountClient<'a>,
        _listing: usize,
        after: Option<&'a str>,
    ) -> Result<Page<RemoteCheckoutSession>, StripeError> {
        client
            .read_json(&Get::new("/checkout/sessions").page(after))
            .await
    }

    const HEARD: bool = true;

    fn notes(before: Option<&CheckoutSession>, after: &CheckoutSession) -> Vec<GatewayEventType> {
        let was = before.and_then(|before| before.status.as_deref());
        match after.status.as_deref() {
            Some("complete") if was != Some("complete") => {
                vec![GatewayEventType::CheckoutCompleted]
            }
            Some("expired") if was != Some("expired") => vec![GatewayEventType::CheckoutExpired],
            _ => vec![],
        }
    }

    /// A session is heard by the organizer of its customer: on an account organizers share
    /// (destination charges on the platform's), the customer row says whose buyer it is (Stripe
    /// lets a session name only a customer of its own account, so its metadata need not be
    /// trusted); a session without a customer the gateway has is the account's organizer's.
    fn heard_by(conn: &mut DbConnection, row: &CheckoutSession) -> QueryResult<Option<String>> {
        let account = &row.stripe_account_id;
        let Some(stripe_customer) = row.stripe_customer_id.as_deref() else {
            return Ok(Some(account.clone()));
        };
        let buyers_organizer: Option<Option<String>> = customers::table
            .inner_join(organizers::table)
            .filter(customers::stripe_account_id.eq(account))
            .filter(customers::stripe_customer_id.eq(stripe_customer))
            .select(organizers::stripe_account_id)
            .first(conn)
            .optional()?;
        Ok(Some(
            buyers_organizer
                .flatten()
                .unwrap_or_else(|| account.clone()),
        ))
    }

    fn served(_conn: &mut DbConnection, row: &CheckoutSession) -> QueryResult<serde_json::Value> {
        let served = CheckoutSessionResponse::from(row.clone());
        Ok(serde_json::to_value(served).unwrap_or_default())
    }

    fn row(account: &str, s: RemoteCheckoutSession, fetched_at: NaiveDateTime) -> CheckoutSession {
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
            metadata: JsonColumn::new(s.metadata.unwrap_or_default()),
            deleted: false,
            fetched_at,
            url: s.url,
            payment_intent_id: s.payment_intent.as_ref().map(|p| p.id().to_string()),
            subscription_id: s.subscription.as_ref().map(|p| p.id().to_string()),
        }
    }
}

impl CheckoutSession {
    /// Whether the session is `organizer`'s, found under the account it charges on: on an
    /// account several organizers share (the platform's, with destination charges) by the
    /// organizer the gateway wrote into its metadata; a session made outside the gateway is
    /// the account's own organizer's.
    pub fn is_of(&self, organizer: &Organizer) -> bool {
        match self.metadata.get(ORGANIZER_ID_KEY) {
            Some(id) => *id == organizer.id,
            None => organizer.destination().is_none(),
        }
    }

    /// The account's sessions that created one of these payments.
    pub fn of_payments(
        conn: &mut DbConnection,
        account: &str,
        payments: &[&str],
    ) -> QueryResult<Vec<Self>> {
        checkout_sessions::table
            .filter(checkout_sessions::stripe_account_id.eq(account))
            .filter(checkout_sessions::payment_intent_id.eq_any(payments))
            .filter(checkout_sessions::deleted.eq(false))
            .select(Self::as_select())
            .load(conn)
    }

    /// Records a session as its create answered, unless the mirror has it already: a create
    /// retried with the same idempotency key gets Stripe's first answer again, which may be
    /// older than what a webhook's fetch stored meanwhile.
    pub fn insert_if_absent(conn: &mut DbConnection, row: &CheckoutSession) -> QueryResult<bool> {
        on_each_backend!(conn, |c| diesel::insert_into(checkout_sessions::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c))
        .map(|written| written > 0)
    }
}
