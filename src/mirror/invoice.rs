//! Invoices: one row per Stripe invoice of the account, in every status; a customer's billing
//! history is read from them.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::invoice_payment::{InvoicePayment, InvoicePaymentResponse};
use super::{found, list_page, timestamp, Expandable, Fetched, Page, Rows};
use crate::db::schema::invoices;
use crate::db::DbConnection;
use crate::domain::GatewayEventType;
use crate::stripe::{AccountClient, Get, StripeError};

pub struct Invoices;

// An invoice as the API serves it.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceResponse {
    #[schema(example = "in_1PqRst")]
    id: String,
    /// The number on the invoice, once it is finalized.
    #[schema(example = "A1B2C3-0001")]
    number: Option<String>,
    /// Stripe's status: `draft`, `open`, `paid`, `uncollectible` or `void`.
    status: Option<String>,
    /// ISO 4217, lowercase.
    #[schema(example = "eur")]
    currency: String,
    /// In the currency's minor unit, as are the amounts below.
    total: i64,
    amount_due: i64,
    amount_paid: i64,
    /// The page where the customer pays or downloads it, once finalized.
    hosted_invoice_url: Option<String>,
    period_start: Option<DateTime<Utc>>,
    period_end: Option<DateTime<Utc>>,
    /// The subscription it bills (`sub_...`); null for a one-off invoice.
    subscription: Option<String>,
    created: Option<DateTime<Utc>>,
    /// How many times Stripe has tried to collect it (its retry schedule's count); null until
    /// the gateway next reads an invoice it mirrored before it kept the count.
    attempt_count: Option<i32>,
    /// Its payments, oldest first: each names the payment (`pi_...`) that paid or tried to.
    payments: Vec<InvoicePaymentResponse>,
}

impl InvoiceResponse {
    /// The invoice `row` with its payments.
    pub fn new(row: Invoice, payments: Vec<InvoicePayment>) -> Self {
        Self {
            payments: payments.into_iter().map(Into::into).collect(),
            id: row.id,
            number: row.number,
            status: row.status,
            currency: row.currency,
            total: row.total,
            amount_due: row.amount_due,
            amount_paid: row.amount_paid,
            hosted_invoice_url: row.hosted_invoice_url,
            period_start: row.period_start.map(|t| t.and_utc()),
            period_end: row.period_end.map(|t| t.and_utc()),
            subscription: row.subscription_id,
            created: row.created.map(|t| t.and_utc()),
            attempt_count: (row.attempt_count >= 0).then_some(row.attempt_count),
        }
    }
}

/// What the mirror reads of a Stripe invoice.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RemoteInvoice {
    pub id: String,
    pub customer: Option<Expandable>,
    pub number: Option<String>,
    pub status: Option<String>,
    #[serde(default)]
    pub currency: String,
    #[serde(default)]
    pub total: i64,
    #[serde(default)]
    pub amount_due: i64,
    #[serde(default)]
    pub amount_paid: i64,
    pub hosted_invoice_url: Option<String>,
    pub period_start: Option<i64>,
    pub period_end: Option<i64>,
    pub created: Option<i64>,
    #[serde(default)]
    pub attempt_count: i64,
    #[serde(default)]
    pub deleted: bool,
    #[serde(flatten)]
    pub links: Links,
}

/// Where an invoice says which subscription it belongs to: `subscription` up to API version
/// 2025-03-31, `parent.subscription_details.subscription` since; neither for a one-off invoice.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Links {
    #[serde(default)]
    subscription: Option<Expandable>,
    #[serde(default)]
    parent: Option<Parent>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
struct Parent {
    #[serde(default)]
    subscription_details: Option<SubscriptionDetails>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
struct SubscriptionDetails {
    #[serde(default)]
    subscription: Option<Expandable>,
}

impl Links {
    pub fn subscription(&self) -> Option<&str> {
        self.subscription
            .as_ref()
            .or_else(|| {
                let details = self.parent.as_ref()?.subscription_details.as_ref()?;
                details.subscription.as_ref()
            })
            .map(Expandable::id)
    }
}

#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = invoices, treat_none_as_null = true)]
pub struct Invoice {
    pub stripe_account_id: String,
    pub id: String,
    pub stripe_customer_id: Option<String>,
    pub subscription_id: Option<String>,
    pub number: Option<String>,
    pub status: Option<String>,
    pub currency: String,
    pub total: i64,
    pub amount_due: i64,
    pub amount_paid: i64,
    pub hosted_invoice_url: Option<String>,
    pub period_start: Option<NaiveDateTime>,
    pub period_end: Option<NaiveDateTime>,
    pub created: Option<NaiveDateTime>,
    pub deleted: bool,
    pub fetched_at: NaiveDateTime,
    /// Stripe's `attempt_count`: how many times it has tried to collect the invoice; -1 on a
    /// row mirrored before the count was kept, until its next read.
    pub attempt_count: i32,
}

crate::mirror_row!(Invoice, invoices);

impl Rows for Invoices {
    const NAME: &'static str = "invoices";
    const EVENTS: &'static [&'static str] = &[
        "invoice.created",
        "invoice.updated",
        "invoice.deleted",
        "invoice.finalized",
        "invoice.finalization_failed",
        "invoice.paid",
        "invoice.payment_action_required",
        "invoice.payment_failed",
        "invoice.payment_succeeded",
        "invoice.marked_uncollectible",
        "invoice.overdue",
        "invoice.sent",
        "invoice.voided",
        "invoice.will_be_due",
    ];
    const LISTINGS: usize = 1;
    type Remote = RemoteInvoice;
    type Row = Invoice;

    async fn fetch<'a>(
        client: &'a AccountClient<'a>,
        id: &'a str,
    ) -> Result<Fetched<RemoteInvoice>, StripeError> {
        let request = Get::new(format!("/invoices/{id}"));
        found(client.read_json(&request).await, |i: &RemoteInvoice| {
            i.deleted
        })
    }

    async fn page<'a>(
        client: &'a AccountClient<'a>,
        _listing: usize,
        after: Option<&'a str>,
    ) -> Result<Page<RemoteInvoice>, StripeError> {
        list_page(client, "invoices", after).await
    }

    const HEARD: bool = true;

    /// Paid; or still open after one more attempt to collect it (Stripe counts an attempt once
    /// it is made, so an invoice still open with a higher count is one whose payment failed).
    /// A row whose count was not known (-1) tells nothing of the attempts before its read.
    fn notes(before: Option<&Invoice>, after: &Invoice) -> Vec<GatewayEventType> {
        let was = before.and_then(|before| before.status.as_deref());
        let attempts = before.map_or(0, |before| before.attempt_count);
        match after.status.as_deref() {
            Some("paid") if was != Some("paid") => vec![GatewayEventType::InvoicePaid],
            Some("open") if attempts >= 0 && after.attempt_count > attempts => {
                vec![GatewayEventType::InvoicePaymentFailed]
            }
            _ => vec![],
        }
    }

    fn served(conn: &mut DbConnection, row: &Invoice) -> QueryResult<serde_json::Value> {
        let payments = InvoicePayment::of_invoices(conn, &row.stripe_account_id, &[&row.id])?;
        let served = InvoiceResponse::new(row.clone(), payments);
        Ok(serde_json::to_value(served).unwrap_or_default())
    }

    fn row(account: &str, i: RemoteInvoice, fetched_at: NaiveDateTime) -> Invoice {
        let subscription = i.links.subscription().map(str::to_string);
        Invoice {
            stripe_account_id: account.to_string(),
            id: i.id,
            stripe_customer_id: i.customer.as_ref().map(|c| c.id().to_string()),
            subscription_id: subscription,
            number: i.number,
            status: i.status,
            currency: i.currency,
            total: i.total,
            amount_due: i.amount_due,
            amount_paid: i.amount_paid,
            hosted_invoice_url: i.hosted_invoice_url,
            period_start: timestamp(i.period_start),
            period_end: timestamp(i.period_end),
            created: timestamp(i.created),
            deleted: false,
            fetched_at,
            attempt_count: i32::try_from(i.attempt_count).unwrap_or(i32::MAX),
        }
    }
}

impl Invoice {
    /// Up to `limit` of a customer's invoices in the account, newest first (by creation, then
    /// id), after the invoice `after` of an earlier page.
    pub fn list_by_account_and_customer(
        conn: &mut DbConnection,
        account: &str,
        stripe_customer_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> QueryResult<Vec<Invoice>> {
        let mut query = invoices::table
            .filter(invoices::stripe_account_id.eq(account))
            .filter(invoices::stripe_customer_id.eq(stripe_customer_id))
            .filter(invoices::deleted.eq(false))
            .order((invoices::created.desc(), invoices::id.desc()))
            .limit(limit)
            .select(Invoice::as_select())
            .into_boxed();
        if let Some(after) = after {
            match crate::newest_after!(conn, invoices, query, account, after) {
                Some(after) => query = after,
                None => return Ok(Vec::new()),
            }
        }
        query.load(conn)
    }
}
