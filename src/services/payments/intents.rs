//! PaymentIntents for embedded card forms, and billing portal sessions, on the account the
//! organizer charges on (its own, or the platform's for destination charges) with the
//! organizer's customer there.

use std::collections::BTreeMap;

use super::fees::FeeRules;
use super::{paying_customer, stripe_key, targets, Buyer, PaymentError};
use crate::db::DbError;
use crate::domain::payment::{Amount, Currency, HttpUrl, PortalConfiguration};
use crate::domain::ClientKey;
use crate::domain::Principal;
use crate::domain::{CustomerId, OrganizerId, StripeAccountId};
use crate::mirror::account::StripeAccount;
use crate::services::audit::{AuditContext, AuditEntry, Outcome};
use crate::services::customers::{self, ActiveCustomer};
use crate::services::{organizers, AppState};
use crate::stripe::customers::{CUSTOMER_ID_KEY, ORGANIZER_ID_KEY};
use crate::stripe::payments::{self, Fee, NewPaymentIntent, RemotePaymentIntent};

pub struct PaymentIntentInput {
    pub buyer: Buyer,
    pub amount: Amount,
    pub currency: Currency,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// An admin's platform fee for this payment, replacing the organizer's rules.
    pub application_fee_amount: Option<i64>,
}

/// Everything a card form needs: `Stripe(publishable_key, {stripeAccount})` and the secret.
pub struct CreatedPaymentIntent {
    pub intent: RemotePaymentIntent,
    pub stripe_account_id: String,
    pub customer_id: String,
    pub publishable_key: Option<String>,
    /// The platform's fee taken.
    pub application_fee_amount: Option<i64>,
}

#[tracing::instrument(skip_all, fields(organizer_id = %org_id))]
pub async fn create_payment_intent(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    input: PaymentIntentInput,
    client_key: Option<ClientKey>,
) -> Result<CreatedPaymentIntent, PaymentError> {
    let buyer_id = match &input.buyer {
        Buyer::Id(id) => Some(id.to_string()),
        Buyer::Email(_) => None,
    };
    let platform = state.stripe.platform_account().cloned();
    let (organizer, status, customer) =
        organizers::with_organizer(state, principal, org_id, move |conn, organizer| {
            let status = StripeAccount::of(conn, organizer.stripe_account_id.as_deref())?;
            let customer = buyer_id
                .map(|id| customers::active_of(conn, &organizer, platform.as_ref(), &id))
                .transpose()?;
            Ok::<_, PaymentError>((organizer, status, customer))
        })
        .await?;
    let charging = organizers::onboarding::account_for_payment(state, &organizer, status).await?;
    let account = &charging.account;
    // Before the buyer is resolved: a refused payment must not leave a new customer behind.
    let rules = FeeRules::of(
        state,
        principal,
        &charging,
        &organizer,
        input.application_fee_amount,
    )?;
    let fee = match &rules {
        Some(rules) => rules.payment((input.amount.get(), "amount"), input.currency.as_str(), 1)?,
        None => Fee::None,
    };
    let customer = paying_customer(state, principal, org_id, customer, input.buyer).await?;
    let mut metadata = input.metadata;
    metadata.insert(ORGANIZER_ID_KEY.into(), organizer.id.clone());
    metadata.insert(CUSTOMER_ID_KEY.into(), customer.row.id.clone());
    let new = NewPaymentIntent {
        customer: &customer.stripe_customer_id,
        amount: input.amount,
        currency: &input.currency,
        description: input.description.as_deref(),
        metadata: &metadata,
        fee,
        destination: charging.destination.as_ref().map(StripeAccountId::as_str),
    };
    let key = stripe_key("payment_intent.create", account, client_key.as_ref());
    let client = state.stripe.for_account(account);
    let intent = payments::create_payment_intent(&client, &new, key)
        .await
        .map_err(|err| PaymentError::stripe(account, err))?;
    let details = serde_json::json!({
        "amount": input.amount.get(),
        "currency": input.currency.as_str(),
        "application_fee_amount": fee.amount(),
        "destination": charging.destination.as_ref().map(StripeAccountId::as_str),
    });
    record(
        state,
        principal,
        &organizer.id,
        "payment_intent.created",
        targets("payment_intent_id", &intent.id, &customer),
        details,
    )
    .await?;
    Ok(CreatedPaymentIntent {
        intent,
        stripe_account_id: account.to_string(),
        customer_id: customer.row.id,
        publishable_key: state.stripe.publishable_key().map(str::to_string),
        application_fee_amount: fee.amount(),
    })
}

/// A billing portal session for the organizer's customer: its URL, where the customer manages
/// payment methods, invoices and subscriptions, and comes back to `return_url`.
#[tracing::instrument(skip_all, fields(organizer_id = %org_id))]
pub async fn create_portal_session(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    customer_id: CustomerId,
    return_url: HttpUrl,
    configuration: Option<PortalConfiguration>,
    client_key: Option<ClientKey>,
) -> Result<String, PaymentError> {
    let id = customer_id.to_string();
    let platform = state.stripe.platform_account().cloned();
    let (organizer, customer): (_, ActiveCustomer) =
        organizers::with_organizer(state, principal, org_id, move |conn, organizer| {
            let customer = customers::active_of(conn, &organizer, platform.as_ref(), &id)?;
            Ok::<_, PaymentError>((organizer, customer))
        })
        .await?;
    let account = organizers::charging(&organizer, state.stripe.platform_account())?.account;
    let key = stripe_key("portal_session.create", &account, client_key.as_ref());
    let client = state.stripe.for_account(&account);
    let session = payments::create_portal_session(
        &client,
        &customer.stripe_customer_id,
        &return_url,
        configuration.as_ref(),
        key,
    )
    .await
    .map_err(|err| PaymentError::stripe(&account, err))?;
    let targets = targets("portal_session_id", &session.id, &customer);
    record(
        state,
        principal,
        &organizer.id,
        "portal_session.created",
        targets,
        serde_json::json!({}),
    )
    .await?;
    Ok(session.url)
}

/// Writes the audit row of a created payment object.
async fn record(
    state: &AppState,
    principal: &Principal,
    organizer_id: &str,
    action: &'static str,
    targets: serde_json::Value,
    details: serde_json::Value,
) -> Result<(), PaymentError> {
    let audit = AuditContext::new(principal);
    let entry = AuditEntry {
        action,
        organizer_id: Some(organizer_id.to_string()),
        targets,
        outcome: Outcome::Succeeded,
        subject_hash: None,
        details,
    };
    state
        .db
        .run(move |conn| Ok::<_, DbError>(audit.record(conn, &entry)?))
        .await?;
    Ok(())
}
