//! Refunds: one row per Stripe refund of the account, written from the create's answer and from
//! the refund's events; what is left to refund of a payment is read from them.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::writes::payment_heard_by;
use super::{list_page, retrieve, timestamp, Expandable, Fetched, Page, Rows};
use crate::db::columns::JsonColumn;
use crate::db::schema::refunds;
use crate::db::DbConnection;
use crate::domain::GatewayEventType;
use crate::stripe::{AccountClient, StripeError};

pub struct Refunds;

// A refund as the API serves it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefundResponse {
    #[schema(example = "re_3PqRst")]
    id: String,
    /// The payment refunded (`pi_...`).
    payment_id: Option<String>,
    /// In the currency's minor unit.
    amount: i64,
    /// ISO 4217, lowercase.
    #[schema(example = "eur")]
    currency: String,
    /// Stripe's status: `pending`, `requires_action`, `succeeded`, `failed` or `canceled`.
    status: String,
    /// `duplicate`, `fraudulent` or `requested_by_customer`, when one was given.
    reason: Option<String>,
    /// Why a `failed` refund failed, as Stripe says it.
    failure_reason: Option<String>,
    /// The refund's metadata: the gateway's ids, and the client's.
    metadata: BTreeMap<String, String>,
    created: Option<DateTime<Utc>>,
}

impl From<Refund> for RefundResponse {
    fn from(row: Refund) -> Self {
        Self {
            metadata: row.metadata.into_inner(),
            id: row.id,
            payment_id: row.payment_intent_id,
            amount: row.amount,
            currency: row.currency,
            status: row.status,
            reason: row.reason,
            failure_reason: row.failure_reason,
            created: row.created.map(|t| t.and_utc()),
        }
    }
}

/// What the mirror reads of a Stripe refund.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RemoteRefund {
    pub id: String,
    pub payment_intent: Option<Expandable>,
    pub charge: Option<Expandable>,
    #[serde(default)]
    pub amount: i64,
    #[serde(default)]
    pub currency: String,
    pub status: Option<String>,
    pub reason: Option<String>,
    pub failure_reason: Option<String>,
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    pub created: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = refunds, treat_none_as_null = true)]
pub struct Refund {
    pub stripe_account_id: String,
    pub id: String,
    pub payment_intent_id: Option<String>,
    pub charge_id: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub reason: Option<String>,
    pub failure_reason: Option<String>,
    pub metadata: JsonColumn<BTreeMap<String, String>>,
    pub created: Option<NaiveDateTime>,
    pub deleted: bool,
    pub fetched_at: NaiveDateTime,
}

crate::mirror_row!(Refund, refunds);

impl Rows for Refunds {
    const NAME: &'static str = "refunds";
    const EVENTS: &'static [&'static str] = &[
        "refund.created",
        "refund.updated",
        "refund.failed",
        "charge.refund.updated",
    ];
    const LISTINGS: usize = 1;
    type Remote = RemoteRefund;
    type Row = Refund;

    async fn fetch<'a>(
        client: &'a AccountClient<'a>,
        id: &'a str,
    ) -> Result<Fetched<RemoteRefund>, StripeError> {
        retrieve(client, "refunds", id).await
    }

    async fn page<'a>(
        client: &'a AccountClient<'a>,
        _listing: usize,
        after: Option<&'a str>,
    ) -> Result<Page<RemoteRefund>, StripeError> {
        list_page(client, "refunds", after).await
    }

    const HEARD: bool = true;

    fn notes(_before: Option<&Refund>, _after: &Refund) -> Vec<GatewayEventType> {
        vec![GatewayEventType::RefundUpdated]
    }

    fn heard_by(conn: &mut DbConnection, row: &Refund) -> QueryResult<Option<String>> {
        let payment = row.payment_intent_id.as_deref();
        payment_heard_by(conn, &row.stripe_account_id, payment).map(Some)
    }

    fn served(_conn: &mut DbConnection, row: &Refund) -> QueryResult<serde_json::Value> {
        Ok(serde_json::to_value(RefundResponse::from(row.clone())).unwrap_or_default())
    }

    fn row(account: &str, r: RemoteRefund, fetched_at: NaiveDateTime) -> Refund {
        Refund {
            stripe_account_id: account.to_string(),
            payment_intent_id: r.payment_intent.as_ref().map(|p| p.id().to_string()),
            charge_id: r.charge.as_ref().map(|c| c.id().to_string()),
            metadata: JsonColumn::new(r.metadata.unwrap_or_default()),
            status: r.status.unwrap_or_else(|| "pending".to_string()),
            id: r.id,
            amount: r.amount,
            currency: r.currency,
            reason: r.reason,
            failure_reason: r.failure_reason,
            created: timestamp(r.created),
            deleted: false,
            fetched_at,
        }
    }
}

/// Whether a refund in `status` takes, or may still take, money back.
fn counts(status: &str) -> bool {
    !matches!(status, "failed" | "canceled")
}

impl Refund {
    /// What the refunds that count give back of each of the account's payments `ids` (those
    /// without one are absent).
    pub fn refunded_of(
        conn: &mut DbConnection,
        account: &str,
        ids: &[&str],
    ) -> QueryResult<HashMap<String, i64>> {
        let rows: Vec<(Option<String>, i64, String)> = refunds::table
            .filter(refunds::stripe_account_id.eq(account))
            .filter(refunds::payment_intent_id.eq_any(ids))
            .filter(refunds::deleted.eq(false))
            .select((refunds::payment_intent_id, refunds::amount, refunds::status))
            .load(conn)?;
        let mut refunded = HashMap::new();
        for (payment, amount, status) in rows {
            if let Some(payment) = payment.filter(|_| counts(&status)) {
                *refunded.entry(payment).or_insert(0) += amount;
            }
        }
        Ok(refunded)
    }

    /// The refunds of the account's payment `payment_intent_id`, newest first.
    pub fn of_payment(
        conn: &mut DbConnection,
        account: &str,
        payment_intent_id: &str,
    ) -> QueryResult<Vec<Self>> {
        refunds::table
            .filter(refunds::stripe_account_id.eq(account))
            .filter(refunds::payment_intent_id.eq(payment_intent_id))
            .filter(refunds::deleted.eq(false))
            .order((refunds::created.desc(), refunds::id.desc()))
            .select(Self::as_select())
            .load(conn)
    }
}
