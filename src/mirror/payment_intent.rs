//! Payments: one row per Stripe PaymentIntent of the account, in every status; an app reads a
//! payment's state and a customer's payment history from them.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::checkout_session::CheckoutSession;
use super::invoice::Invoice;
use super::invoice_payment::InvoicePayment;
use super::refund::Refund;
use super::{list_page, retrieve, timestamp, Expandable, Fetched, MirrorRow, Page, Rows};
use crate::db::columns::JsonColumn;
use crate::db::schema::payment_intents;
use crate::db::DbConnection;
use crate::domain::GatewayEventType;
use crate::stripe::{AccountClient, StripeError};

pub struct PaymentIntents;

/// A payment as the API serves it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentResponse {
    /// Stripe's PaymentIntent id.
    #[schema(example = "pi_3PqRst")]
    id: String,
    /// Stripe's status: `requires_payment_method`, `requires_confirmation`, `requires_action`,
    /// `processing`, `requires_capture`, `canceled` or `succeeded`.
    status: String,
    /// ISO 4217, lowercase.
    #[schema(example = "eur")]
    currency: String,
    /// What the payment asks for, in the currency's minor unit, as are the amounts below.
    amount: i64,
    /// What has been received.
    amount_received: i64,
    /// What its refunds that did not fail give back (pending ones included).
    amount_refunded: i64,
    /// The platform's fee on it, when the organizer has one.
    application_fee_amount: Option<i64>,
    /// The Stripe customer paying (`cus_...`).
    stripe_customer_id: Option<String>,
    /// The charge that paid it (`ch_...`), once one was attempted.
    latest_charge: Option<String>,
    /// Why the last attempt failed, when it did.
    last_error: Option<PaymentError>,
    /// The PaymentIntent's metadata: the gateway's ids for payments it created.
    metadata: BTreeMap<String, String>,
    created: Option<DateTime<Utc>>,
    /// The Checkout Session that created it, when one did.
    checkout_session_id: Option<String>,
    /// The invoice it paid, for a subscription's or an invoice's payment.
    invoice_id: Option<String>,
    /// The subscription that invoice bills.
    subscription_id: Option<String>,
    /// For a destination charge (taken on the platform's account), the organizer's account
    /// the money is sent on to; null for a direct charge.
    destination_account: Option<String>,
}

/// What other mirrored objects say about a payment: what its refunds give back, and what it
/// belongs to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PaymentLinks {
    pub amount_refunded: i64,
    pub checkout_session_id: Option<String>,
    pub invoice_id: Option<String>,
    pub subscription_id: Option<String>,
}

/// Why a payment attempt failed, as Stripe said it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PaymentError {
    /// Stripe's error code, e.g. `card_declined`.
    pub code: Option<String>,
    /// For a declined card, the issuer's reason, e.g. `insufficient_funds`.
    pub decline_code: Option<String>,
    /// Stripe's message, fit to show to the buyer.
    pub message: Option<String>,
}

impl PaymentResponse {
    /// The payment `row`, with what other objects say about it.
    pub fn new(row: PaymentIntent, links: PaymentLinks) -> Self {
        Self {
            amount_refunded: links.amount_refunded,
            checkout_session_id: links.checkout_session_id,
            invoice_id: links.invoice_id,
            subscription_id: links.subscription_id,
            last_error: row.last_error.into_inner(),
            metadata: row.metadata.into_inner(),
            id: row.id,
            status: row.status,
            currency: row.currency,
            amount: row.amount,
            amount_received: row.amount_received,
            application_fee_amount: row.application_fee_amount,
            stripe_customer_id: row.stripe_customer_id,
            latest_charge: row.latest_charge,
            created: row.created.map(|t| t.and_utc()),
            destination_account: row.destination_account,
        }
    }
}

/// What the mirror reads of a Stripe PaymentIntent.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RemotePaymentIntent {
    pub id: String,
    pub customer: Option<Expandable>,
    pub status: String,
    #[serde(default)]
    pub currency: String,
    #[serde(default)]
    pub amount: i64,
    #[serde(default)]
    pub amount_received: i64,
    pub application_fee_amount: Option<i64>,
    pub latest_charge: Option<Expandable>,
    pub last_payment_error: Option<PaymentError>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    pub created: Option<i64>,
    /// A destination charge's transfer: the connected account the money is sent on to.
    pub transfer_data: Option<TransferData>,
}

/// Where a destination charge sends its money.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct TransferData {
    pub destination: Expandable,
}

#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = payment_intents, treat_none_as_null = true)]
pub struct PaymentIntent {
    pub stripe_account_id: String,
    pub id: String,
    pub stripe_customer_id: Option<String>,
    pub status: String,
    pub currency: String,
    pub amount: i64,
    pub amount_received: i64,
    pub application_fee_amount: Option<i64>,
    pub latest_charge: Option<String>,
    pub last_error: JsonColumn<Option<PaymentError>>,
    pub metadata: JsonColumn<BTreeMap<String, String>>,
    pub created: Option<NaiveDateTime>,
    pub deleted: bool,
    pub fetched_at: NaiveDateTime,
    /// For a destination charge, the connected account it is sent on to: the organizer whose
    /// payment it is among the others of the platform's account.
    pub destination_account: Option<String>,
}

crate::mirror_row!(PaymentIntent, payment_intents);

impl Rows for PaymentIntents {
    const NAME: &'static str = "payments";
    const EVENTS: &'static [&'static str] = &[
        "payment_intent.created",
        "payment_intent.processing",
        "payment_intent.requires_action",
        "payment_intent.amount_capturable_updated",
        "payment_intent.partially_funded",
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.canceled",
    ];
    const LISTINGS: usize = 1;
    type Remote = RemotePaymentIntent;
    type Row = PaymentIntent;

    async fn fetch<'a>(
        client: &'a AccountClient<'a>,
        id: &'a str,
    ) -> Result<Fetched<RemotePaymentIntent>, StripeError> {
        retrieve(client, "payment_intents", id).await
    }

    async fn page<'a>(
        client: &'a AccountClient<'a>,
        _listing: usize,
        after: Option<&'a str>,
    ) -> Result<Page<RemotePaymentIntent>, StripeError> {
        list_page(client, "payment_intents", after).await
    }

    const HEARD: bool = true;

    /// A payment that succeeded, failed (a new error) or was canceled; its other steps
    /// (`processing`, `requires_action`) are the buyer's, not the app's.
    fn notes(before: Option<&PaymentIntent>, after: &PaymentIntent) -> Vec<GatewayEventType> {
        let was = before.map(|before| before.status.as_str());
        let error = after.last_error.as_ref();
        let new_error =
            error.is_some() && before.is_none_or(|before| before.last_error.as_ref() != error);
        match after.status.as_str() {
            "succeeded" if was != Some("succeeded") => vec![GatewayEventType::PaymentSucceeded],
            "canceled" if was != Some("canceled") => vec![GatewayEventType::PaymentCanceled],
            "succeeded" | "canceled" => vec![],
            _ if new_error => vec![GatewayEventType::PaymentFailed],
            _ => vec![],
        }
    }

    /// A destination charge is the organizer's it is sent on to.
    fn heard_by(_conn: &mut DbConnection, row: &PaymentIntent) -> QueryResult<Option<String>> {
        let account = row.destination_account.as_ref();
        Ok(Some(account.unwrap_or(&row.stripe_account_id).clone()))
    }

    fn served(conn: &mut DbConnection, row: &PaymentIntent) -> QueryResult<serde_json::Value> {
        let served = PaymentIntent::with_links(conn, &row.stripe_account_id, vec![row.clone()])?
            .pop()
            .map(|(row, links)| PaymentResponse::new(row, links));
        Ok(serde_json::to_value(served).unwrap_or_default())
    }

    fn row(account: &str, p: RemotePaymentIntent, fetched_at: NaiveDateTime) -> PaymentIntent {
        PaymentIntent {
            stripe_account_id: account.to_string(),
            stripe_customer_id: p.customer.as_ref().map(|c| c.id().to_string()),
            latest_charge: p.latest_charge.as_ref().map(|c| c.id().to_string()),
            last_error: JsonColumn::new(p.last_payment_error),
            metadata: JsonColumn::new(p.metadata),
            id: p.id,
            status: p.status,
            currency: p.currency,
            amount: p.amount,
            amount_received: p.amount_received,
            application_fee_amount: p.application_fee_amount,
            created: timestamp(p.created),
            deleted: false,
            fetched_at,
            destination_account: p.transfer_data.map(|t| t.destination.id().to_string()),
        }
    }
}

/// What to list of an account's payments.
#[derive(Clone, Debug, Default)]
pub struct PaymentFilter {
    pub stripe_customer_id: Option<String>,
    pub status: Option<String>,
    /// Created at or after.
    pub created_gte: Option<NaiveDateTime>,
    /// Created before.
    pub created_lt: Option<NaiveDateTime>,
}

impl PaymentIntent {
    /// Each payment with what its refunds that count give back and what it belongs to: one
    /// statement per kind of link for the whole page.
    pub fn with_links(
        conn: &mut DbConnection,
        account: &str,
        rows: Vec<PaymentIntent>,
    ) -> QueryResult<Vec<(PaymentIntent, PaymentLinks)>> {
        let ids: Vec<&str> = rows.iter().map(|row| row.id.as_str()).collect();
        let refunded = Refund::refunded_of(conn, account, &ids)?;
        let sessions = CheckoutSession::of_payments(conn, account, &ids)?;
        let paid = InvoicePayment::of_payments(conn, account, &ids)?;
        let invoice_ids: Vec<&str> = paid.iter().map(|p| p.invoice_id.as_str()).collect();
        let invoices = Invoice::live_among(conn, account, &invoice_ids)?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let session = sessions
                    .iter()
                    .find(|s| s.payment_intent_id.as_deref() == Some(row.id.as_str()));
                let invoice = paid
                    .iter()
                    .find(|p| p.payment_intent_id.as_deref() == Some(row.id.as_str()))
                    .map(|p| p.invoice_id.clone());
                let subscription = invoice.as_ref().and_then(|id| {
                    let invoice = invoices.iter().find(|i| i.id == *id)?;
                    invoice.subscription_id.clone()
                });
                let links = PaymentLinks {
                    amount_refunded: refunded.get(&row.id).copied().unwrap_or(0),
                    checkout_session_id: session.map(|s| s.id.clone()),
                    invoice_id: invoice,
                    subscription_id: subscription,
                };
                (row, links)
            })
            .collect())
    }

    /// The payment `id` of `account` sent on to `destination` (`None`: one that is the
    /// account's own, not a destination charge).
    pub fn find_for(
        conn: &mut DbConnection,
        account: &str,
        destination: Option<&str>,
        id: &str,
    ) -> QueryResult<Option<Self>> {
        let found = Self::find(conn, account, id)?;
        Ok(found.filter(|row| row.destination_account.as_deref() == destination))
    }

    /// Up to `limit` of the account's payments sent on to `destination` (`None`: its own) that
    /// pass `filter`, newest first (by creation, then id), after the payment `after` of an
    /// earlier page.
    pub fn list(
        conn: &mut DbConnection,
        account: &str,
        destination: Option<&str>,
        filter: &PaymentFilter,
        after: Option<&str>,
        limit: i64,
    ) -> QueryResult<Vec<Self>> {
        use payment_intents::dsl as p;
        let mut query = p::payment_intents
            .filter(p::stripe_account_id.eq(account))
            .filter(p::deleted.eq(false))
            .into_boxed();
        query = match destination {
            Some(destination) => query.filter(p::destination_account.eq(destination.to_string())),
            None => query.filter(p::destination_account.is_null()),
        };
        let mut query = query
            .order((p::created.desc(), p::id.desc()))
            .limit(limit)
            .select(Self::as_select());
        if let Some(customer) = &filter.stripe_customer_id {
            query = query.filter(p::stripe_customer_id.eq(customer.clone()));
        }
        if let Some(status) = &filter.status {
            query = query.filter(p::status.eq(status.clone()));
        }
        if let Some(from) = filter.created_gte {
            query = query.filter(p::created.ge(from));
        }
        if let Some(until) = filter.created_lt {
            query = query.filter(p::created.lt(until));
        }
        if let Some(after) = after {
            match crate::newest_after!(conn, payment_intents, query, account, after) {
                Some(after) => query = after,
                None => return Ok(Vec::new()),
            }
        }
        query.load(conn)
    }
}
