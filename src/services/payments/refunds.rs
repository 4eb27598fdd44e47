//! Refunds of an organizer's payments: checked against the mirror (the payment is the
//! organizer's, it succeeded, the amount is at most what is left to refund) before Stripe is
//! called, then created on the organizer's account, then recorded.

use std::collections::BTreeMap;

use super::{stripe_key, PaymentError};
use crate::db::DbError;
use crate::domain::payment::{Amount, RefundReason};
use crate::domain::{ClientKey, OrganizerId, Principal};
use crate::mirror::payment_intent::PaymentIntent;
pub use crate::mirror::refund::RefundResponse;
use crate::mirror::refund::{Refund, Refunds, RemoteRefund};
use crate::mirror::Rows;
use crate::services::audit::{AuditContext, AuditEntry, Outcome};
use crate::services::{organizers, AppState};
use crate::stripe::customers::ORGANIZER_ID_KEY;
use crate::stripe::payments::{self, NewRefund};

/// The metadata key of the refunded payment's id on a refund the gateway creates.
pub const PAYMENT_ID_KEY: &str = "gateway_payment_id";

pub struct RefundInput {
    /// `None`: what is left to refund.
    pub amount: Option<Amount>,
    pub reason: Option<RefundReason>,
    /// Whether the platform's fee goes back in proportion; the organizer's
    /// `refund_application_fee` when `None`.
    pub refund_application_fee: Option<bool>,
    pub metadata: BTreeMap<String, String>,
}

/// Refunds (part of) the organizer's payment `payment_id`.
#[tracing::instrument(skip_all, fields(organizer_id = %org_id))]
pub async fn refund(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    payment_id: String,
    input: RefundInput,
    client_key: Option<ClientKey>,
) -> Result<RefundResponse, PaymentError> {
    let id = payment_id.clone();
    let platform = state.stripe.platform_account().cloned();
    let (organizer, found, fetched_at) =
        organizers::with_organizer(state, principal, org_id, move |conn, organizer| {
            let account = organizer.charge_account(platform.as_ref()).to_string();
            let destination = organizer.destination();
            let found = match PaymentIntent::find_for(conn, &account, destination, &id)? {
                // What its refunds that did not fail already give back.
                Some(payment) => {
                    let refunded = Refund::refunded_of(conn, &account, &[&id])?;
                    Some((payment, refunded.get(&id).copied().unwrap_or(0)))
                }
                None => None,
            };
            // Read before the create: a webhook's fetch that began later wins over its answer.
            let fetched_at = crate::db::database_now(conn).map_err(DbError::from)?;
            Ok::<_, PaymentError>((organizer, found, fetched_at))
        })
        .await?;
    let (payment, refunded) = found.ok_or(PaymentError::PaymentNotFound(payment_id))?;
    let charging = organizers::charging(&organizer, state.stripe.platform_account())?;
    let account = charging.account;
    if payment.status != "succeeded" {
        return Err(PaymentError::NotRefundable {
            payment: payment.id,
            status: payment.status,
        });
    }
    // What is left to refund: what it received, less its refunds that did not fail.
    let left = (payment.amount_received - refunded).max(0);
    if left == 0 {
        return Err(PaymentError::FullyRefunded(payment.id));
    }
    if let Some(amount) = input.amount {
        if amount.get() > left {
            return Err(PaymentError::Invalid {
                field: "amount".into(),
                message: format!(
                    "must be at most {left}, what is left to refund of the payment's {} {}",
                    payment.amount_received, payment.currency
                ),
            });
        }
    }
    let mut metadata = input.metadata;
    metadata.insert(ORGANIZER_ID_KEY.into(), organizer.id.clone());
    metadata.insert(PAYMENT_ID_KEY.into(), payment.id.clone());
    let refund_fee = input
        .refund_application_fee
        .unwrap_or(organizer.refund_application_fee);
    let new = NewRefund {
        payment_intent: &payment.id,
        amount: input.amount.map(Amount::get),
        reason: input.reason,
        // Only a payment with a fee has one to give back.
        refund_application_fee: refund_fee
            && payment.application_fee_amount.is_some_and(|fee| fee > 0),
        // A destination charge's refund takes the money back from the organizer's account.
        reverse_transfer: payment.destination_account.is_some(),
        metadata: &metadata,
    };
    let key = stripe_key("refund.create", &account, client_key.as_ref());
    let client = state.stripe.for_account(&account);
    let refund: RemoteRefund = payments::create_refund(&client, &new, key)
        .await
        .map_err(|err| PaymentError::stripe(&account, err))?;
    let row = Refunds::row(account.as_str(), refund, fetched_at);
    let audit = AuditContext::new(principal);
    let entry = AuditEntry {
        action: "refund.created",
        organizer_id: Some(organizer.id.clone()),
        targets: serde_json::json!({ "refund_id": row.id, "payment_intent_id": payment.id }),
        outcome: Outcome::Succeeded,
        subject_hash: None,
        details: serde_json::json!({
            "amount": row.amount,
            "currency": row.currency,
            "refund_application_fee": new.refund_application_fee,
            "reverse_transfer": new.reverse_transfer,
        }),
    };
    let stored = row.clone();
    state
        .db
        .run(move |conn| {
            crate::db::write_transaction(conn, |conn| {
                crate::mirror::write::<Refunds>(conn, &stored)?;
                audit.record(conn, &entry)
            })
            .map_err(DbError::from)
        })
        .await?;
    Ok(row.into())
}

/// The refunds of the organizer's payment `payment_id`, newest first.
pub async fn refunds(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    payment_id: String,
) -> Result<Vec<RefundResponse>, PaymentError> {
    let platform = state.stripe.platform_account().cloned();
    organizers::with_organizer(state, principal, org_id, move |conn, organizer| {
        let account = organizer.charge_account(platform.as_ref());
        let destination = organizer.destination();
        if PaymentIntent::find_for(conn, account, destination, &payment_id)?.is_none() {
            return Err(PaymentError::PaymentNotFound(payment_id));
        }
        let rows = Refund::of_payment(conn, account, &payment_id)?;
        Ok(rows.into_iter().map(Into::into).collect())
    })
    .await
}
