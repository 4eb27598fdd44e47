//! The Stripe side of customers: requests built from local rows, and Stripe's answers read back
//! into the profile the gateway mirrors.

use std::collections::{BTreeMap, HashMap};

use stripe_core::customer::{CreateCustomer, DeleteCustomer, ListCustomer, UpdateCustomer};

use crate::db::models::Customer;
use crate::domain::Metadata;
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

/// The row's stored metadata (a JSON object of strings).
pub fn stored_metadata(row: &Customer) -> BTreeMap<String, String> {
    serde_json::from_str(&row.metadata).unwrap_or_default()
}

/// Creates the Stripe customer of a reserved row. The idempotency key is the row and its
/// attempt: every request resuming the same attempt, on any instance, gets the same customer;
/// a new attempt (after the customer was deleted in Stripe) gets a new one.
pub async fn create(
    client: &AccountClient<'_>,
    row: &Customer,
) -> Result<RemoteCustomer, StripeError> {
    let mut metadata: HashMap<String, String> = stored_metadata(row).into_iter().collect();
    metadata.insert(CUSTOMER_ID_KEY.into(), row.id.clone());
    metadata.insert(ORGANIZER_ID_KEY.into(), row.organizer_id.clone());
    let mut request = CreateCustomer::new().email(&row.email).metadata(metadata);
    if let Some(name) = &row.name {
        request = request.name(name);
    }
    if let Some(phone) = &row.phone {
        request = request.phone(phone);
    }
    let attempt = row.create_attempt.to_string();
    let key = idempotency_key(
        "customer.create",
        &[&row.stripe_account_id, &row.id, &attempt],
    );
    client.write(&request, key).await.map(Into::into)
}

/// The Stripe customer an earlier attempt made for this row, if one exists: found by the row's
/// email (Stripe's filter is exact, and the row keeps the spelling that was sent) and recognized
/// by the row id in its metadata. Covers creates whose idempotency key Stripe has forgotten.
pub async fn find_created(
    client: &AccountClient<'_>,
    row: &Customer,
) -> Result<Option<RemoteCustomer>, StripeError> {
    let list = client
        .read(&ListCustomer::new().email(&row.email).limit(100))
        .await?;
    Ok(list
        .data
        .into_iter()
        .map(RemoteCustomer::from)
        .find(|customer| customer.gateway_customer_id.as_deref() == Some(row.id.as_str())))
}

/// Applies a profile change. An update sets fields, so applying it twice does no harm, while
/// replaying an old answer instead of applying would: each call gets its own key, which the
/// transport keeps across its retries of that call (so a lost answer is replayed, not redone).
pub async fn update(
    client: &AccountClient<'_>,
    row: &Customer,
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
    let key = idempotency_key("customer.update", &[&row.stripe_account_id, &row.id, &call]);
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
