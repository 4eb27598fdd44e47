//! Invoice payments: one row per Stripe `InvoicePayment`, the link between an invoice and the
//! PaymentIntent that paid it (Stripe's invoices and PaymentIntents no longer name each other
//! since API version 2025-03-31). Served inside invoices, and read to tell which invoice and
//! subscription a payment belongs to.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{list_page, retrieve, timestamp, Expandable, Fetched, Page, Rows};
use crate::db::schema::invoice_payments;
use crate::db::DbConnection;
use crate::stripe::{AccountClient, StripeError};

pub struct InvoicePayments;

// One payment of an invoice as the API serves it.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoicePaymentResponse {
    #[schema(example = "inpay_1PqRst")]
    id: String,
    /// The payment (`pi_...`; `GET .../payments/{payment_id}`), when a PaymentIntent paid it.
    payment_id: Option<String>,
    /// Stripe's status: `open`, `paid` or `canceled`.
    status: String,
    /// In the currency's minor unit; null until paid.
    amount_paid: Option<i64>,
    amount_requested: i64,
    #[schema(example = "eur")]
    currency: String,
    /// Whether it is the invoice's current payment.
    is_default: bool,
    created: Option<DateTime<Utc>>,
}

impl From<InvoicePayment> for InvoicePaymentResponse {
    fn from(row: InvoicePayment) -> Self {
        Self {
            id: row.id,
            payment_id: row.payment_intent_id,
            status: row.status,
            amount_paid: row.amount_paid,
            amount_requested: row.amount_requested,
            currency: row.currency,
            is_default: row.is_default,
            created: row.created.map(|t| t.and_utc()),
        }
    }
}

/// What the mirror reads of a Stripe invoice payment.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RemoteInvoicePayment {
    pub id: String,
    pub invoice: Expandable,
    pub payment: PaymentRef,
    pub status: String,
    pub amount_paid: Option<i64>,
    #[serde(default)]
    pub amount_requested: i64,
    #[serde(default)]
    pub currency: String,
    #[serde(default)]
    pub is_default: bool,
    pub created: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct PaymentRef {
    pub payment_intent: Option<Expandable>,
}

#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = invoice_payments, treat_none_as_null = true)]
pub struct InvoicePayment {
    pub stripe_account_id: String,
    pub id: String,
    pub invoice_id: String,
    pub payment_intent_id: Option<String>,
    pub status: String,
    pub amount_paid: Option<i64>,
    pub amount_requested: i64,
    pub currency: String,
    pub is_default: bool,
    pub created: Option<NaiveDateTime>,
    pub deleted: bool,
    pub fetched_at: NaiveDateTime,
}

crate::mirror_row!(InvoicePayment, invoice_payments);

impl Rows for InvoicePayments {
    const NAME: &'static str = "invoice_payments";
    const EVENTS: &'static [&'static str] = &["invoice_payment.paid"];
    const LISTINGS: usize = 1;
    type Remote = RemoteInvoicePayment;
    type Row = InvoicePayment;

    async fn fetch<'a>(
        client: &'a AccountClient<'a>,
        id: &'a str,
    ) -> Result<Fetched<RemoteInvoicePayment>, StripeError> {
        retrieve(client, "invoice_payments", id).await
    }

    async fn page<'a>(
        client: &'a AccountClient<'a>,
        _listing: usize,
        after: Option<&'a str>,
    ) -> Result<Page<RemoteInvoicePayment>, StripeError> {
        list_page(client, "invoice_payments", after).await
    }

    fn row(account: &str, p: RemoteInvoicePayment, fetched_at: NaiveDateTime) -> InvoicePayment {
        InvoicePayment {
            stripe_account_id: account.to_string(),
            invoice_id: p.invoice.id().to_string(),
            payment_intent_id: p
                .payment
                .payment_intent
                .as_ref()
                .map(|p| p.id().to_string()),
            id: p.id,
            status: p.status,
            amount_paid: p.amount_paid,
            amount_requested: p.amount_requested,
            currency: p.currency,
            is_default: p.is_default,
            created: timestamp(p.created),
            deleted: false,
            fetched_at,
        }
    }
}

impl InvoicePayment {
    /// The account's invoice payments made by one of these PaymentIntents.
    pub fn of_payments(
        conn: &mut DbConnection,
        account: &str,
        payments: &[&str],
    ) -> QueryResult<Vec<Self>> {
        invoice_payments::table
            .filter(invoice_payments::stripe_account_id.eq(account))
            .filter(invoice_payments::payment_intent_id.eq_any(payments))
            .filter(invoice_payments::deleted.eq(false))
            .select(Self::as_select())
            .load(conn)
    }

    /// The account's payments of these invoices, oldest first.
    pub fn of_invoices(
        conn: &mut DbConnection,
        account: &str,
        invoices: &[&str],
    ) -> QueryResult<Vec<Self>> {
        invoice_payments::table
            .filter(invoice_payments::stripe_account_id.eq(account))
            .filter(invoice_payments::invoice_id.eq_any(invoices))
            .filter(invoice_payments::deleted.eq(false))
            .order((invoice_payments::created.asc(), invoice_payments::id.asc()))
            .select(Self::as_select())
            .load(conn)
    }
}
