//! A customer as the API serves it, and what an app is told of a deleted one.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::ActiveCustomer;
use crate::db::models::Customer;

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerResponse {
    /// The gateway's id; stays the same for the customer's life, even if its Stripe customer
    /// is recreated.
    #[schema(example = "0193a7c0-5b1e-7c3a-9f10-2d4e6f8a0b1c")]
    id: String,
    organizer_id: String,
    /// The organizer's Stripe account, which holds the Stripe customer.
    #[schema(example = "acct_1Nv0FGQ9RKHgCVdK")]
    stripe_account_id: String,
    /// The customer in that account; never valid with any other account.
    #[schema(example = "cus_QzX4hJ2mT8k9Lp")]
    stripe_customer_id: String,
    /// As first spelled by the client.
    email: String,
    name: Option<String>,
    phone: Option<String>,
    /// The Stripe customer's metadata, without the gateway's own `gateway_*` keys.
    metadata: BTreeMap<String, String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<ActiveCustomer> for CustomerResponse {
    fn from(customer: ActiveCustomer) -> Self {
        let row = customer.row;
        Self {
            metadata: row.metadata.0,
            id: row.id,
            organizer_id: row.organizer_id,
            stripe_account_id: row.stripe_account_id,
            stripe_customer_id: customer.stripe_customer_id,
            email: row.email.as_str().to_string(),
            name: row.name,
            phone: row.phone,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        }
    }
}

/// A customer that was deleted (`customer.deleted`): its ids only, since the person's details
/// go with the customer (and an erasure takes the customer's earlier events too).
#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedCustomer {
    pub id: String,
    pub organizer_id: String,
    pub stripe_account_id: String,
    /// The Stripe customer deleted with it, when it had one.
    pub stripe_customer_id: Option<String>,
    pub deleted: bool,
}

impl From<&Customer> for DeletedCustomer {
    fn from(row: &Customer) -> Self {
        Self {
            id: row.id.clone(),
            organizer_id: row.organizer_id.clone(),
            stripe_account_id: row.stripe_account_id.clone(),
            stripe_customer_id: row.stripe_customer_id.clone(),
            deleted: true,
        }
    }
}
