//! A Checkout Session as a direct charge on the organizer's account, or a destination charge
//! on the platform's: line items checked against the catalog mirror of the account charged,
//! the buyer resolved to the organizer's customer there, the platform fee computed, the session
//! created in Stripe, then recorded in the mirror with its audit row.

use std::collections::BTreeMap;

use super::fees::FeeRules;
use super::lines::Lines;
use super::{paying_customer, stripe_key, targets, Buyer, PaymentError};
use crate::db::DbError;
use crate::domain::payment::{AddressCollection, CheckoutMode, CustomerUpdate, HttpUrl, LineItem};
use crate::domain::ClientKey;
use crate::domain::Principal;
use crate::domain::{OrganizerId, StripeAccountId};
use crate::mirror::account::StripeAccount;
use crate::mirror::checkout_session::{CheckoutSession, CheckoutSessions, RemoteCheckoutSession};
use crate::mirror::price::Price;
use crate::mirror::Rows;
use crate::services::audit::{AuditContext, AuditEntry, Outcome};
use crate::services::customers;
use crate::services::{organizers, AppState};
use crate::stripe::customers::{CUSTOMER_ID_KEY, ORGANIZER_ID_KEY};
use crate::stripe::payments::{self, Fee, NewCheckout};

pub struct CheckoutInput {
    pub buyer: Buyer,
    pub mode: CheckoutMode,
    pub line_items: Vec<LineItem>,
    pub success_url: HttpUrl,
    pub cancel_url: HttpUrl,
    /// Checked against Stripe's limits (see `Metadata`).
    pub metadata: BTreeMap<String, String>,
    pub allow_promotion_codes: Option<bool>,
    pub customer_update: CustomerUpdate,
    /// Stripe Tax computes the tax from the buyer's location; unless `customer_update.address`
    /// says otherwise, Checkout then saves the address it collects onto the customer, which
    /// Stripe requires of a customer without one.
    pub automatic_tax: bool,
    pub billing_address_collection: Option<AddressCollection>,
    /// An admin's platform fee for this payment, replacing the organizer's rules.
    pub application_fee_amount: Option<i64>,
}

pub struct CreatedCheckout {
    pub session: RemoteCheckoutSession,
    pub stripe_account_id: String,
    pub customer_id: String,
    /// The platform's fee taken: an amount (payment) or a percentage of each invoice.
    pub application_fee_amount: Option<i64>,
    pub application_fee_percent: Option<f64>,
}

#[tracing::instrument(skip_all, fields(organizer_id = %org_id))]
pub async fn create_checkout_session(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    input: CheckoutInput,
    client_key: Option<ClientKey>,
) -> Result<CreatedCheckout, PaymentError> {
    let price_ids: Vec<String> = input
        .line_items
        .iter()
        .filter_map(|item| match item {
            LineItem::Price { price, .. } => Some(price.clone()),
            LineItem::Custom { .. } => None,
        })
        .collect();
    let buyer_id = match &input.buyer {
        Buyer::Id(id) => Some(id.to_string()),
        Buyer::Email(_) => None,
    };
    // The organizer, the catalog's view of the prices, the customer and the database's clock,
    // in one trip.
    let platform = state.stripe.platform_account().cloned();
    let (organizer, status, known, customer, fetched_at) =
        organizers::with_organizer(state, principal, org_id, move |conn, organizer| {
            let status = StripeAccount::of(conn, organizer.stripe_account_id.as_deref())?;
            let accounts: Vec<&str> = [
                organizer.stripe_account_id.as_deref(),
                platform.as_ref().map(|account| account.as_str()),
            ]
            .into_iter()
            .flatten()
            .collect();
            let known = Price::find_by_ids_in_accounts(conn, &accounts, &price_ids)?;
            let customer = buyer_id
                .map(|id| customers::active_of(conn, &organizer, platform.as_ref(), &id))
                .transpose()?;
            // Read before the create: a webhook's fetch that began later wins over its answer.
            let read_at = crate::db::database_now(conn).map_err(DbError::from)?;
            Ok::<_, PaymentError>((organizer, status, known, customer, read_at))
        })
        .await?;
    let charging = organizers::onboarding::account_for_payment(state, &organizer, status).await?;
    let account = &charging.account;
    // Everything that can refuse the request comes before the buyer is resolved: a refused
    // checkout must not leave a new customer behind.
    if charging.destination.is_some() && input.mode == CheckoutMode::Subscription {
        return Err(PaymentError::invalid(
            "mode",
            "the organizer takes destination charges, which the gateway offers for one-time payments: subscriptions are sold by organizers with direct charges",
        ));
    }
    let rules = FeeRules::of(
        state,
        principal,
        &charging,
        &organizer,
        input.application_fee_amount,
    )?;
    let lines = Lines::check(state, account, &input, known).await?;
    let fee = lines.fee(&input, rules.as_ref())?;
    let customer = paying_customer(state, principal, org_id, customer, input.buyer.clone()).await?;

    let mut metadata = input.metadata.clone();
    metadata.insert(ORGANIZER_ID_KEY.into(), organizer.id.clone());
    metadata.insert(CUSTOMER_ID_KEY.into(), customer.row.id.clone());
    let mut customer_update = input.customer_update;
    if input.automatic_tax && customer_update.address.is_none() {
        customer_update.address = Some(crate::domain::payment::Save::Auto);
    }
    let new = NewCheckout {
        mode: input.mode,
        customer: &customer.stripe_customer_id,
        reference: &customer.row.id,
        line_items: &input.line_items,
        success_url: &input.success_url,
        cancel_url: &input.cancel_url,
        metadata: &metadata,
        allow_promotion_codes: input.allow_promotion_codes,
        customer_update,
        automatic_tax: input.automatic_tax,
        billing_address_collection: input.billing_address_collection,
        fee,
        destination: charging.destination.as_ref().map(StripeAccountId::as_str),
    };
    let key = stripe_key("checkout_session.create", account, client_key.as_ref());
    let client = state.stripe.for_account(account);
    let session: RemoteCheckoutSession = payments::create_checkout_session(&client, &new, key)
        .await
        .map_err(|err| PaymentError::stripe(account, err))?;

    let row = CheckoutSessions::row(account.as_str(), session.clone(), fetched_at);
    let audit = AuditContext::new(principal);
    let entry = AuditEntry {
        action: "checkout_session.created",
        organizer_id: Some(organizer.id.clone()),
        targets: targets("checkout_session_id", &session.id, &customer),
        outcome: Outcome::Succeeded,
        subject_hash: None,
        details: serde_json::json!({
            "mode": session.mode,
            "fee": fee_details(fee),
            "destination": charging.destination.as_ref().map(StripeAccountId::as_str),
        }),
    };
    state
        .db
        .run(move |conn| {
            crate::db::write_transaction(conn, |conn| {
                CheckoutSession::insert_if_absent(conn, &row)?;
                audit.record(conn, &entry)
            })
            .map_err(DbError::from)
        })
        .await?;
    Ok(CreatedCheckout {
        session,
        stripe_account_id: account.to_string(),
        customer_id: customer.row.id,
        application_fee_amount: fee.amount(),
        application_fee_percent: fee.percent(),
    })
}

fn fee_details(fee: Fee) -> serde_json::Value {
    match fee {
        Fee::None => serde_json::Value::Null,
        Fee::Amount(amount) => serde_json::json!({ "application_fee_amount": amount }),
        Fee::Percent(percent) => serde_json::json!({ "application_fee_percent": percent }),
    }
}
