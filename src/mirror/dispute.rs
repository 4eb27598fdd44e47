//! Disputes: one row per Stripe dispute of the account, read-only, so an app can warn the
//! organizer before the evidence deadline.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::writes::payment_heard_by;
use super::{list_page, retrieve, timestamp, Expandable, Fetched, Page, Rows};
use crate::db::schema::{disputes, payment_intents};
use crate::db::DbConnection;
use crate::domain::GatewayEventType;
use crate::stripe::{AccountClient, StripeError};

pub struct Disputes;

// A dispute as the API serves it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DisputeResponse {
    #[schema(example = "dp_1PqRst")]
    id: String,
    /// The payment disputed (`pi_...`).
    payment_id: Option<String>,
    /// The charge disputed (`ch_...`).
    charge: Option<String>,
    /// In the currency's minor unit.
    amount: i64,
    /// ISO 4217, lowercase.
    #[schema(example = "eur")]
    currency: String,
    /// Stripe's status: `warning_needs_response`, `warning_under_review`, `warning_closed`,
    /// `needs_response`, `under_review`, `won` or `lost`.
    status: String,
    /// Stripe's reason, e.g. `fraudulent` or `product_not_received`.
    reason: Option<String>,
    /// When evidence is due; after it the dispute can no longer be answered.
    evidence_due_by: Option<DateTime<Utc>>,
    created: Option<DateTime<Utc>>,
}

impl From<Dispute> for DisputeResponse {
    fn from(row: Dispute) -> Self {
        Self {
            id: row.id,
            payment_id: row.payment_intent_id,
            charge: row.charge_id,
            amount: row.amount,
            currency: row.currency,
            status: row.status,
            reason: row.reason,
            evidence_due_by: row.evidence_due_by.map(|t| t.and_utc()),
            created: row.created.map(|t| t.and_utc()),
        }
    }
}

/// What the mirror reads of a Stripe dispute.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RemoteDispute {
    pub id: String,
    pub payment_intent: Option<Expandable>,
    pub charge: Option<Expandable>,
    #[serde(default)]
    pub amount: i64,
    #[serde(default)]
    pub currency: String,
    pub status: String,
    pub reason: Option<String>,
    pub evidence_details: Option<EvidenceDetails>,
    pub created: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct EvidenceDetails {
    pub due_by: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = disputes, treat_none_as_null = true)]
pub struct Dispute {
    pub stripe_account_id: String,
    pub id: String,
    pub payment_intent_id: Option<String>,
    pub charge_id: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub reason: Option<String>,
    pub evidence_due_by: Option<NaiveDateTime>,
    pub created: Option<NaiveDateTime>,
    pub deleted: bool,
    pub fetched_at: NaiveDateTime,
}

crate::mirror_row!(Dispute, disputes);

impl Rows for Disputes {
    const NAME: &'static str = "disputes";
    const EVENTS: &'static [&'static str] = &[
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.closed",
        "charge.dispute.funds_reinstated",
        "charge.dispute.funds_withdrawn",
    ];
    const LISTINGS: usize = 1;
    type Remote = RemoteDispute;
    type Row = Dispute;

    async fn fetch<'a>(
        client: &'a AccountClient<'a>,
        id: &'a str,
    ) -> Result<Fetched<RemoteDispute>, StripeError> {
        retrieve(client, "disputes", id).await
    }

    async fn page<'a>(
        client: &'a AccountClient<'a>,
        _listing: usize,
        after: Option<&'a str>,
    ) -> Result<Page<RemoteDispute>, StripeError> {
        list_page(client, "disputes", after).await
    }

    const HEARD: bool = true;

    fn notes(_before: Option<&Dispute>, _after: &Dispute) -> Vec<GatewayEventType> {
        vec![GatewayEventType::DisputeUpdated]
    }

    /// A destination charge's dispute is the platform's to answer, and told to the organizer.
    fn heard_by(conn: &mut DbConnection, row: &Dispute) -> QueryResult<Option<String>> {
        let payment = row.payment_intent_id.as_deref();
        payment_heard_by(conn, &row.stripe_account_id, payment).map(Some)
    }

    fn served(_conn: &mut DbConnection, row: &Dispute) -> QueryResult<serde_json::Value> {
        Ok(serde_json::to_value(DisputeResponse::from(row.clone())).unwrap_or_default())
    }

    fn row(account: &str, d: RemoteDispute, fetched_at: NaiveDateTime) -> Dispute {
        Dispute {
            stripe_account_id: account.to_string(),
            payment_intent_id: d.payment_intent.as_ref().map(|p| p.id().to_string()),
            charge_id: d.charge.as_ref().map(|c| c.id().to_string()),
            evidence_due_by: timestamp(d.evidence_details.and_then(|e| e.due_by)),
            id: d.id,
            amount: d.amount,
            currency: d.currency,
            status: d.status,
            reason: d.reason,
            created: timestamp(d.created),
            deleted: false,
            fetched_at,
        }
    }
}

impl Dispute {
    /// Up to `limit` of the account's disputes (in `status`, when given), newest first, after
    /// the dispute `after` of an earlier page: every dispute of the account, or with a
    /// `destination` those of the payments sent on to it (the platform bears a destination
    /// charge's disputes; the organizer is told of its own).
    pub fn list(
        conn: &mut DbConnection,
        account: &str,
        destination: Option<&str>,
        status: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> QueryResult<Vec<Self>> {
        let mut query = disputes::table
            .filter(disputes::stripe_account_id.eq(account))
            .filter(disputes::deleted.eq(false))
            .order((disputes::created.desc(), disputes::id.desc()))
            .limit(limit)
            .select(Self::as_select())
            .into_boxed();
        if let Some(destination) = destination {
            let sent_on = payment_intents::table
                .filter(payment_intents::stripe_account_id.eq(account.to_string()))
                .filter(payment_intents::destination_account.eq(destination.to_string()))
                .select(payment_intents::id);
            query = query.filter(disputes::payment_intent_id.eq_any(sent_on.nullable()));
        }
        if let Some(status) = status {
            query = query.filter(disputes::status.eq(status.to_string()));
        }
        if let Some(after) = after {
            match crate::newest_after!(conn, disputes, query, account, after) {
                Some(after) => query = after,
                None => return Ok(Vec::new()),
            }
        }
        query.load(conn)
    }
}
