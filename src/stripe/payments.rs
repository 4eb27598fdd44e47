//! Payment objects created on an organizer's account: Checkout Sessions, PaymentIntents for
//! embedded card forms, and billing portal sessions. The SDK's request types build every
//! parameter, so each is valid under the API version the gateway pins; answers are read with
//! serde into the few fields the gateway returns or mirrors.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use serde::Deserialize;
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionAutomaticTax, CreateCheckoutSessionCustomerUpdate,
    CreateCheckoutSessionCustomerUpdateAddress, CreateCheckoutSessionCustomerUpdateName,
    CreateCheckoutSessionCustomerUpdateShipping, CreateCheckoutSessionLineItems,
    CreateCheckoutSessionLineItemsPriceData, CreateCheckoutSessionLineItemsPriceDataRecurring,
    CreateCheckoutSessionLineItemsPriceDataRecurringInterval,
    CreateCheckoutSessionPaymentIntentData, CreateCheckoutSessionPaymentIntentDataTransferData,
    CreateCheckoutSessionSubscriptionData, ProductData,
};
use stripe_checkout::{CheckoutSessionBillingAddressCollection, CheckoutSessionMode};
use stripe_core::payment_intent::{CreatePaymentIntent, CreatePaymentIntentTransferData};
use stripe_core::refund::{CreateRefund, CreateRefundReason};

use super::{AccountClient, IdempotencyKey, StripeError};
use crate::domain::payment::{
    AddressCollection, Amount, CheckoutMode, Currency, CustomerUpdate, HttpUrl, Interval, LineItem,
    PortalConfiguration, RefundReason, Save,
};

/// The SDK's value for a currency the domain took (the two lists are equal: see the test).
fn sdk_currency(currency: &Currency) -> stripe_types::Currency {
    stripe_types::Currency::from_str(currency.as_str()).unwrap_or_default()
}

/// The platform's cut of a direct charge on a connected account.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fee {
    /// The platform's own account, or an organizer without a fee.
    None,
    /// `application_fee_amount`, in minor units (payments).
    Amount(i64),
    /// `application_fee_percent` (subscriptions), with at most two decimals.
    Percent(f64),
}

impl Fee {
    /// The fee in minor units, for a payment's.
    pub fn amount(self) -> Option<i64> {
        match self {
            Self::Amount(amount) => Some(amount),
            _ => None,
        }
    }

    /// The share of each invoice in percent, for a subscription's.
    pub fn percent(self) -> Option<f64> {
        match self {
            Self::Percent(percent) => Some(percent),
            _ => None,
        }
    }
}

pub struct NewCheckout<'a> {
    pub mode: CheckoutMode,
    /// The Stripe customer, of the same account.
    pub customer: &'a str,
    /// The gateway's customer id: Stripe's `client_reference_id`.
    pub reference: &'a str,
    pub line_items: &'a [LineItem],
    pub success_url: &'a HttpUrl,
    pub cancel_url: &'a HttpUrl,
    /// Set on the session and on the PaymentIntent or Subscription it creates, so each of
    /// them leads back to the gateway's customer and organizer.
    pub metadata: &'a BTreeMap<String, String>,
    pub allow_promotion_codes: Option<bool>,
    pub customer_update: CustomerUpdate,
    pub automatic_tax: bool,
    pub billing_address_collection: Option<AddressCollection>,
    pub fee: Fee,
    /// For a destination charge, the connected account the payment is made on behalf of and
    /// sent on to (payment mode only).
    pub destination: Option<&'a str>,
}

/// Creates the session; the answer is read into `T`, the fields the caller keeps.
pub async fn create_checkout_session<T: serde::de::DeserializeOwned>(
    client: &AccountClient<'_>,
    new: &NewCheckout<'_>,
    key: IdempotencyKey,
) -> Result<T, StripeError> {
    let items: Vec<CreateCheckoutSessionLineItems> = new.line_items.iter().map(line_item).collect();
    let mut request = CreateCheckoutSession::new()
        .mode(match new.mode {
            CheckoutMode::Payment => CheckoutSessionMode::Payment,
            CheckoutMode::Subscription => CheckoutSessionMode::Subscription,
        })
        .customer(new.customer)
        .line_items(items)
        .success_url(new.success_url.as_str())
        .cancel_url(new.cancel_url.as_str());
    request = request
        .client_reference_id(new.reference)
        .metadata(hash_map(new.metadata));
    if let Some(allow) = new.allow_promotion_codes {
        request = request.allow_promotion_codes(allow);
    }
    if new.customer_update != CustomerUpdate::default() {
        request = request.customer_update(customer_update(new.customer_update));
    }
    if new.automatic_tax {
        request = request.automatic_tax(CreateCheckoutSessionAutomaticTax::new(true));
    }
    if let Some(collection) = new.billing_address_collection {
        request = request.billing_address_collection(match collection {
            AddressCollection::Auto => CheckoutSessionBillingAddressCollection::Auto,
            AddressCollection::Required => CheckoutSessionBillingAddressCollection::Required,
        });
    }
    request = match new.mode {
        CheckoutMode::Payment => {
            let mut data = CreateCheckoutSessionPaymentIntentData::new();
            data.metadata = Some(hash_map(new.metadata));
            if let Fee::Amount(amount) = new.fee {
                data.application_fee_amount = Some(amount);
            }
            if let Some(destination) = new.destination {
                data.on_behalf_of = Some(destination.to_string());
                data.transfer_data = Some(CreateCheckoutSessionPaymentIntentDataTransferData::new(
                    destination,
                ));
            }
            request.payment_intent_data(data)
        }
        CheckoutMode::Subscription => {
            let mut data = CreateCheckoutSessionSubscriptionData::new();
            data.metadata = Some(hash_map(new.metadata));
            if let Fee::Percent(percent) = new.fee {
                data.application_fee_percent = Some(percent);
            }
            request.subscription_data(data)
        }
    };
    client.write_json(&request, key).await
}

fn customer_update(update: CustomerUpdate) -> CreateCheckoutSessionCustomerUpdate {
    /// The SDK's value of one field: its own enum per field, alike but for the name.
    fn pick<T>(save: Option<Save>, auto: T, never: T) -> Option<T> {
        save.map(|save| if save == Save::Auto { auto } else { never })
    }
    use CreateCheckoutSessionCustomerUpdateAddress as Address;
    use CreateCheckoutSessionCustomerUpdateName as Name;
    use CreateCheckoutSessionCustomerUpdateShipping as Shipping;
    let mut sent = CreateCheckoutSessionCustomerUpdate::new();
    sent.address = pick(update.address, Address::Auto, Address::Never);
    sent.name = pick(update.name, Name::Auto, Name::Never);
    sent.shipping = pick(update.shipping, Shipping::Auto, Shipping::Never);
    sent
}

fn line_item(item: &LineItem) -> CreateCheckoutSessionLineItems {
    let mut line = CreateCheckoutSessionLineItems::new();
    match item {
        LineItem::Price { price, quantity } => {
            line.price = Some(price.clone());
            line.quantity = Some(quantity.get());
        }
        LineItem::Custom {
            name,
            unit_amount,
            currency,
            quantity,
            recurring,
        } => {
            let mut data = CreateCheckoutSessionLineItemsPriceData::new(sdk_currency(currency));
            data.unit_amount = Some(unit_amount.get());
            data.product_data = Some(ProductData::new(name.as_str()));
            data.recurring = recurring.map(|recurring| {
                let mut every = CreateCheckoutSessionLineItemsPriceDataRecurring::new(
                    match recurring.interval {
                        Interval::Day => {
                            CreateCheckoutSessionLineItemsPriceDataRecurringInterval::Day
                        }
                        Interval::Week => {
                            CreateCheckoutSessionLineItemsPriceDataRecurringInterval::Week
                        }
                        Interval::Month => {
                            CreateCheckoutSessionLineItemsPriceDataRecurringInterval::Month
                        }
                        Interval::Year => {
                            CreateCheckoutSessionLineItemsPriceDataRecurringInterval::Year
                        }
                    },
                );
                every.interval_count = Some(recurring.interval_count);
                every
            });
            line.price_data = Some(data);
            line.quantity = Some(quantity.get());
        }
    }
    line
}

/// What an embedded card form needs of a PaymentIntent.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RemotePaymentIntent {
    pub id: String,
    pub client_secret: Option<String>,
    pub status: String,
}

pub struct NewPaymentIntent<'a> {
    pub customer: &'a str,
    pub amount: Amount,
    pub currency: &'a Currency,
    pub description: Option<&'a str>,
    pub metadata: &'a BTreeMap<String, String>,
    /// [`Fee::Amount`] or [`Fee::None`].
    pub fee: Fee,
    /// For a destination charge, the connected account the payment is made on behalf of and
    /// sent on to.
    pub destination: Option<&'a str>,
}

/// Creates a PaymentIntent; payment methods are the account's automatic ones (Stripe's
/// default), so the form offers whatever the organizer enabled.
pub async fn create_payment_intent(
    client: &AccountClient<'_>,
    new: &NewPaymentIntent<'_>,
    key: IdempotencyKey,
) -> Result<RemotePaymentIntent, StripeError> {
    let mut request = CreatePaymentIntent::new(new.amount.get(), sdk_currency(new.currency))
        .customer(new.customer);
    if let Some(description) = new.description {
        request = request.description(description);
    }
    if !new.metadata.is_empty() {
        request = request.metadata(hash_map(new.metadata));
    }
    if let Fee::Amount(amount) = new.fee {
        request = request.application_fee_amount(amount);
    }
    if let Some(destination) = new.destination {
        request = request
            .on_behalf_of(destination)
            .transfer_data(CreatePaymentIntentTransferData::new(destination));
    }
    client.write_json(&request, key).await
}

/// A refund of (part of) a PaymentIntent's charge, on the organizer's account.
pub struct NewRefund<'a> {
    pub payment_intent: &'a str,
    /// `None`: what is left of the charge.
    pub amount: Option<i64>,
    pub reason: Option<RefundReason>,
    /// Whether the platform's fee goes back in proportion (a charge with a fee).
    pub refund_application_fee: bool,
    /// Whether the transfer to the connected account is reversed in proportion: a
    /// destination charge's refund takes the money back from the organizer's account.
    pub reverse_transfer: bool,
    pub metadata: &'a BTreeMap<String, String>,
}

/// Creates a refund; the answer is read as `T` (the mirror's shape of a refund).
pub async fn create_refund<T: serde::de::DeserializeOwned>(
    client: &AccountClient<'_>,
    new: &NewRefund<'_>,
    key: IdempotencyKey,
) -> Result<T, StripeError> {
    let mut request = CreateRefund::new().payment_intent(new.payment_intent);
    if let Some(amount) = new.amount {
        request = request.amount(amount);
    }
    if let Some(reason) = new.reason {
        request = request.reason(match reason {
            RefundReason::Duplicate => CreateRefundReason::Duplicate,
            RefundReason::Fraudulent => CreateRefundReason::Fraudulent,
            RefundReason::RequestedByCustomer => CreateRefundReason::RequestedByCustomer,
        });
    }
    if new.refund_application_fee {
        request = request.refund_application_fee(true);
    }
    if new.reverse_transfer {
        request = request.reverse_transfer(true);
    }
    if !new.metadata.is_empty() {
        request = request.metadata(hash_map(new.metadata));
    }
    client.write_json(&request, key).await
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RemotePortalSession {
    pub id: String,
    pub url: String,
}

pub async fn create_portal_session(
    client: &AccountClient<'_>,
    customer: &str,
    return_url: &HttpUrl,
    configuration: Option<&PortalConfiguration>,
    key: IdempotencyKey,
) -> Result<RemotePortalSession, StripeError> {
    let mut request = CreateBillingPortalSession::new()
        .customer(customer)
        .return_url(return_url.as_str());
    if let Some(configuration) = configuration {
        request = request.configuration(configuration.as_str());
    }
    client.write_json(&request, key).await
}

fn hash_map(metadata: &BTreeMap<String, String>) -> HashMap<String, String> {
    metadata
        .iter()
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every three-letter code the SDK knows is a currency the domain takes, and no other.
    #[test]
    fn the_domain_takes_the_currencies_the_sdk_knows() {
        let letters = || b'a'..=b'z';
        let known: Vec<String> = letters()
            .flat_map(|a| letters().flat_map(move |b| letters().map(move |c| [a, b, c])))
            .map(|code| String::from_utf8(code.to_vec()).expect("ASCII"))
            .filter(|code| {
                !matches!(
                    stripe_types::Currency::from_str(code),
                    Ok(stripe_types::Currency::Unknown(_)) | Err(_)
                )
            })
            .collect();
        assert_eq!(known, Currency::all());
    }
}
