//! Stripe customers: requests built from domain values (never from rows), and Stripe's answers
//! read back into the profile the gateway mirrors.

use std::collections::{BTreeMap, HashMap};

use stripe_core::customer::{
    CreateCustomer, DeleteCustomer, ListCustomer, RetrieveCustomer, RetrieveCustomerReturned,
    UpdateCustomer,
};

use crate::domain::{Metadata, StripeAccountId};
use crate::stripe::{idempotency_key, AccountClient, StripeError};

/// Metadata keys the gateway writes on every Stripe customer it creates, so that a customer
/// found in Stripe can be tied back to its row (and to its tenant) without trusting the email.
pub const CUSTOMER_ID_KEY: &str = "gateway_customer_id";
pub const ORGANIZER_ID_KEY: &str = "gateway_organizer_id";

/// What the gateway mirrors of a Stripe customer.
#[derive(Clone, Debug)]
pub struct RemoteCustomer {
    pub id: String,
    /// As Stripe holds it: the last write wins there, which may be another request's.
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    /// Without the gateway's own keys.
    pub metadata: BTreeMap<String, String>,
    pub gateway_customer_id: Option<String>,
}

impl From<stripe_core::Customer> for RemoteCustomer {
    fn from(customer: stripe_core::Customer) -> Self {
        let mut metadata: BTreeMap<String, String> =
            customer.metadata.unwrap_or_default().into_iter().collect();
        let gateway_customer_id = metadata.remove(CUSTOMER_ID_KEY);
        metadata.retain(|key, _| !key.starts_with(Metadata::RESERVED_PREFIX));
        Self {
            id: customer.id.as_str().to_string(),
            email: customer.email,
            name: customer.name,
            phone: customer.phone,
            metadata,
            gateway_customer_id,
        }
    }
}

/// A profile change to send to Stripe; `None` leaves a field alone, `Some(None)` clears it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfileChange {
    pub email: Option<String>,
    pub name: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    /// Keys to set (an empty value removes the key); Stripe merges them into the customer's
    /// metadata.
    pub metadata: BTreeMap<String, String>,
}

impl ProfileChange {
    pub fn is_empty(&self) -> bool {
        self.email.is_none()
            && self.name.is_none()
            && self.phone.is_none()
            && self.metadata.is_empty()
    }

    /// The names of the fields it changes, for the audit log (never the values: they are
    /// personal data).
    pub fn field_names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.email.is_some() {
            names.push("email");
        }
        if self.name.is_some() {
            names.push("name");
        }
        if self.phone.is_some() {
            names.push("phone");
        }
        if !self.metadata.is_empty() {
            names.push("metadata");
        }
        names
    }
}

/// Which create a new Stripe customer belongs to: the gateway's row and its create attempt.
/// Every request resuming the same attempt, on any instance, sends the same idempotency key
/// and gets the same customer; a new attempt (after the customer was deleted in Stripe) gets a
/// new one.
pub struct CreateAttempt<'a> {
    pub account: &'a StripeAccountId,
    pub organizer_id: &'a str,
    pub customer_id: &'a str,
    pub attempt: i32,
}

/// The profile a new Stripe customer is created with.
pub struct NewProfile<'a> {
    pub email: &'a str,
    pub name: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub metadata: &'a BTreeMap<String, String>,
}

pub async fn create(
    client: &AccountClient<'_>,
    attempt: &CreateAttempt<'_>,
    profile: &NewProfile<'_>,
) -> Result<RemoteCustomer, StripeError> {
    let mut metadata: HashMap<String, String> = profile
        .metadata
        .iter()
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    metadata.insert(CUSTOMER_ID_KEY.into(), attempt.customer_id.to_string());
    metadata.insert(ORGANIZER_ID_KEY.into(), attempt.organizer_id.to_string());
    let mut request = CreateCustomer::new()
        .email(profile.email)
        .metadata(metadata);
    if let Some(name) = profile.name {
        request = request.name(name);
    }
    if let Some(phone) = profile.phone {
        request = request.phone(phone);
    }
    let number = attempt.attempt.to_string();
    let key = idempotency_key(
        "customer.create",
        &[attempt.account.as_str(), attempt.customer_id, &number],
    );
    client.write(&request, key).await.map(Into::into)
}

/// The Stripe customer an earlier attempt made for the gateway's customer `customer_id`, if one
/// exists: found by `email` (Stripe's filter is exact, and the row keeps the spelling that was
/// sent) and recognized by the gateway id in its metadata. Covers creates whose idempotency key
/// Stripe has forgotten.
pub async fn find_created(
    client: &AccountClient<'_>,
    email: &str,
    customer_id: &str,
) -> Result<Option<RemoteCustomer>, StripeError> {
    let list = client
        .read(&ListCustomer::new().email(email).limit(100))
        .await?;
    Ok(list
        .data
        .into_iter()
        .map(RemoteCustomer::from)
        .find(|customer| customer.gateway_customer_id.as_deref() == Some(customer_id)))
}

/// The customer as Stripe has it now; `None` when Stripe has deleted it or never had it.
pub async fn retrieve(
    client: &AccountClient<'_>,
    stripe_customer_id: &str,
) -> Result<Option<RemoteCustomer>, StripeError> {
    match client
        .read(&RetrieveCustomer::new(stripe_customer_id))
        .await
    {
        Ok(RetrieveCustomerReturned::Customer(customer)) => Ok(Some(customer.into())),
        Ok(RetrieveCustomerReturned::DeletedCustomer(_)) => Ok(None),
        Err(err) if err.is_not_found() => Ok(None),
        Err(err) => Err(err),
    }
}

/// Applies a profile change to the gateway's customer `customer_id`. An update sets fields, so
/// applying it twice does no harm, while replaying an old answer instead of applying would:
/// each call gets its own key, which the transport keeps across its retries of that call (so a
/// lost answer is replayed, not redone).
pub async fn update(
    client: &AccountClient<'_>,
    account: &StripeAccountId,
    customer_id: &str,
    stripe_customer_id: &str,
    change: &ProfileChange,
) -> Result<RemoteCustomer, StripeError> {
    let mut request = UpdateCustomer::new(stripe_customer_id);
    if let Some(email) = &change.email {
        request = request.email(email);
    }
    // Stripe clears a field sent as an empty string.
    if let Some(name) = &change.name {
        request = request.name(name.clone().unwrap_or_default());
    }
    if let Some(phone) = &change.phone {
        request = request.phone(phone.clone().unwrap_or_default());
    }
    if !change.metadata.is_empty() {
        request = request.metadata(
            change
                .metadata
                .clone()
                .into_iter()
                .collect::<HashMap<_, _>>(),
        );
    }
    let call = uuid::Uuid::new_v4().to_string();
    let key = idempotency_key("customer.update", &[account.as_str(), customer_id, &call]);
    client.write(&request, key).await.map(Into::into)
}

/// How a delete in Stripe ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deleted {
    Now,
    /// Stripe had no such customer (deleted before, in Stripe or by an earlier attempt).
    AlreadyGone,
}

pub async fn delete(
    client: &AccountClient<'_>,
    stripe_customer_id: &str,
) -> Result<Deleted, StripeError> {
    match client
        .delete(&DeleteCustomer::new(stripe_customer_id))
        .await
    {
        Ok(_) => Ok(Deleted::Now),
        Err(err) if err.is_not_found() => Ok(Deleted::AlreadyGone),
        Err(err) => Err(err),
    }
}
