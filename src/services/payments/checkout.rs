//! A Checkout Session as a direct charge on the organizer's account: line items checked
//! against the catalog mirror, the buyer resolved to this account's customer, the platform fee
//! computed, the session created in Stripe, then recorded in the mirror with its audit row.

use std::collections::{BTreeMap, HashMap};

use super::{customer_by_email, fee_bps, fee_of, stripe_key, targets, Buyer, PaymentError};
use crate::auth::Principal;
use crate::db::models::{CheckoutSession, Organizer, Price};
use crate::db::{database_now, DbError};
use crate::domain::payment::{Amount, CheckoutMode, HttpUrl, LineItem};
use crate::domain::{OrganizerId, StripeAccountId};
use crate::idempotency::ClientKey;
use crate::services::audit::{AuditContext, AuditEntry, Outcome};
use crate::services::customers;
use crate::services::webhooks::checkout_row;
use crate::services::{organizers, AppState};
use crate::stripe::checkout::RemoteCheckoutSession;
use crate::stripe::customers::{CUSTOMER_ID_KEY, ORGANIZER_ID_KEY};
use crate::stripe::mirror::Fetched;
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
}

pub struct CreatedCheckout {
    pub session: RemoteCheckoutSession,
    pub stripe_account_id: String,
    pub customer_id: String,
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
    // The organizer, the catalog's view of the prices and the customer, in one trip.
    let (organizer, known, customer) =
        organizers::with_organizer(state, principal, org_id, move |conn, organizer| {
            let known = Price::find_by_ids_across_accounts(conn, &price_ids)?;
            let customer = buyer_id
                .map(|id| {
                    customers::active_by_account_and_id(conn, &organizer.stripe_account_id, &id)
                })
                .transpose()?;
            Ok::<_, PaymentError>((organizer, known, customer))
        })
        .await?;
    let account = organizers::connected_account(&organizer)?;
    let known = check_prices(&input, &account, known)?;
    // Everything that can refuse the request comes before the buyer is resolved: a refused
    // checkout must not leave a new customer behind.
    let fee = fee(state, &organizer, &account, &input, &known).await?;
    let customer = match (customer, input.buyer.clone()) {
        (Some(customer), _) => customer,
        (None, Buyer::Email(email)) => customer_by_email(state, principal, org_id, email).await?,
        (None, Buyer::Id(id)) => {
            return Err(customers::CustomerError::NotFound(id.to_string()).into())
        }
    };

    let mut metadata = input.metadata.clone();
    metadata.insert(ORGANIZER_ID_KEY.into(), organizer.id.clone());
    metadata.insert(CUSTOMER_ID_KEY.into(), customer.row.id.clone());
    let new = NewCheckout {
        mode: input.mode,
        customer: &customer.stripe_customer_id,
        line_items: &input.line_items,
        success_url: &input.success_url,
        cancel_url: &input.cancel_url,
        metadata: &metadata,
        allow_promotion_codes: input.allow_promotion_codes,
        fee,
    };
    let key = stripe_key("checkout_session.create", &account, client_key.as_ref());
    // Stamped before the create: a webhook's fetch that began later wins over this answer.
    let fetched_at = state
        .db
        .run(|conn| Ok::<_, DbError>(database_now(conn)?))
        .await?;
    let client = state.stripe.for_account(&account);
    let session = payments::create_checkout_session(&client, &new, key)
        .await
        .map_err(|err| PaymentError::stripe(&account, err))?;

    let row = checkout_row(account.as_str(), session.clone(), fetched_at);
    let audit = AuditContext::new(principal);
    let entry = AuditEntry {
        action: "checkout_session.created",
        organizer_id: Some(organizer.id.clone()),
        targets: targets("checkout_session_id", &session.id, &customer),
        outcome: Outcome::Succeeded,
        subject_hash: None,
        details: serde_json::json!({ "mode": session.mode, "fee": fee_details(fee) }),
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
    })
}

/// Prices the mirror knows must be this account's, active, and fit the mode; their currency must
/// match the other items'. Prices it does not know are left for Stripe to judge. Returns the
/// known prices of this account by id.
fn check_prices(
    input: &CheckoutInput,
    account: &StripeAccountId,
    known: Vec<Price>,
) -> Result<HashMap<String, Price>, PaymentError> {
    let (ours, theirs): (Vec<Price>, Vec<Price>) = known
        .into_iter()
        .partition(|price| price.stripe_account_id == account.as_str());
    let ours: HashMap<String, Price> = ours.into_iter().map(|p| (p.id.clone(), p)).collect();
    let mut currency: Option<String> = None;
    for (index, item) in input.line_items.iter().enumerate() {
        let field = format!("line_items[{index}]");
        let (item_currency, recurring) = match item {
            LineItem::Custom {
                currency,
                recurring,
                ..
            } => (Some(currency.as_str().to_string()), recurring.is_some()),
            LineItem::Price { price, .. } => match ours.get(price) {
                Some(known) if known.deleted || !known.active => {
                    return Err(PaymentError::invalid(
                        format!("{field}.price"),
                        format!("price {price} is no longer active"),
                    ));
                }
                Some(known) => (
                    Some(known.currency.clone()),
                    known.recurring_interval.is_some(),
                ),
                None if theirs.iter().any(|other| other.id == *price) => {
                    return Err(PaymentError::invalid(
                        format!("{field}.price"),
                        format!("price {price} belongs to another Stripe account"),
                    ));
                }
                None => (None, false),
            },
        };
        if recurring && input.mode == CheckoutMode::Payment {
            return Err(PaymentError::invalid(
                field,
                "a recurring item needs `mode: subscription`",
            ));
        }
        if let Some(item_currency) = item_currency {
            match &currency {
                Some(first) if *first != item_currency => {
                    return Err(PaymentError::invalid(
                        field,
                        format!("all items must be in one currency; this one is {item_currency}, an earlier one {first}"),
                    ));
                }
                Some(_) => {}
                None => currency = Some(item_currency),
            }
        }
    }
    Ok(ours)
}

/// The platform fee of this checkout: a share of the total for a payment (prices the mirror
/// lacks are read from Stripe), a percentage of each invoice for a subscription.
async fn fee(
    state: &AppState,
    organizer: &Organizer,
    account: &StripeAccountId,
    input: &CheckoutInput,
    known: &HashMap<String, Price>,
) -> Result<Fee, PaymentError> {
    let Some(bps) = fee_bps(state, account, organizer.application_fee_bps) else {
        return Ok(Fee::None);
    };
    if input.mode == CheckoutMode::Subscription {
        // Basis points are hundredths of a percent: at most two decimals, as Stripe requires.
        return Ok(Fee::Percent(bps as f64 / 100.0));
    }
    let mut total: i64 = 0;
    // Prices the mirror lacks, read from Stripe once each however many lines name them.
    let mut fetched: HashMap<&str, Option<i64>> = HashMap::new();
    for (index, item) in input.line_items.iter().enumerate() {
        let (unit_amount, quantity) = match item {
            LineItem::Custom {
                unit_amount,
                quantity,
                ..
            } => (unit_amount.get(), quantity.get()),
            LineItem::Price { price, quantity } => {
                let amount = match (known.get(price), fetched.get(price.as_str())) {
                    (Some(known), _) => known.unit_amount,
                    (None, Some(amount)) => *amount,
                    (None, None) => {
                        let amount = remote_unit_amount(state, account, price, index).await?;
                        fetched.insert(price, amount);
                        amount
                    }
                };
                let amount = amount.ok_or_else(|| {
                    PaymentError::invalid(
                        format!("line_items[{index}].price"),
                        format!("price {price} has no fixed unit amount, so the platform fee cannot be computed"),
                    )
                })?;
                (amount, quantity.get())
            }
        };
        total = i64::try_from(quantity)
            .ok()
            .and_then(|quantity| unit_amount.checked_mul(quantity))
            .and_then(|line| total.checked_add(line))
            .filter(|total| *total <= Amount::MAX)
            .ok_or_else(|| {
                PaymentError::invalid(
                    "line_items",
                    format!("the total must be at most {} minor units", Amount::MAX),
                )
            })?;
    }
    let fee = fee_of(total, bps);
    Ok(if fee > 0 { Fee::Amount(fee) } else { Fee::None })
}

/// A price the mirror does not have yet, read from Stripe for its amount.
async fn remote_unit_amount(
    state: &AppState,
    account: &StripeAccountId,
    price: &str,
    index: usize,
) -> Result<Option<i64>, PaymentError> {
    let client = state.stripe.for_account(account);
    match crate::stripe::mirror::price(&client, price).await {
        Ok(Fetched::Found(remote)) if remote.active => Ok(remote.unit_amount),
        Ok(Fetched::Found(_)) => Err(PaymentError::invalid(
            format!("line_items[{index}].price"),
            format!("price {price} is no longer active"),
        )),
        Ok(Fetched::Gone) => Err(PaymentError::invalid(
            format!("line_items[{index}].price"),
            format!("the organizer's Stripe account has no price {price}"),
        )),
        Err(err) => Err(PaymentError::stripe(account, err)),
    }
}

fn fee_details(fee: Fee) -> serde_json::Value {
    match fee {
        Fee::None => serde_json::Value::Null,
        Fee::Amount(amount) => serde_json::json!({ "application_fee_amount": amount }),
        Fee::Percent(percent) => serde_json::json!({ "application_fee_percent": percent }),
    }
}
