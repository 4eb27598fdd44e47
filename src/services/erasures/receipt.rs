//! The receipt of an erasure, as the API serves it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::models::{Erasure, ErasureAccount};
use crate::domain::{ErasureOutcome, ErasureStatus};

/// `completed` once every account is done; `partial` while some failed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = ErasureStatus)]
pub enum ReceiptStatus {
    Completed,
    Partial,
}

/// `erased`: deleted in Stripe (or already gone there) and erased locally. `failed`: the
/// Stripe call failed; the customer is untouched and the request can be repeated.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountOutcome {
    Erased,
    Failed,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErasureAccountResponse {
    organizer_id: String,
    stripe_account_id: String,
    /// The gateway's id of the erased customer.
    customer_id: String,
    stripe_customer_id: Option<String>,
    outcome: AccountOutcome,
    /// For `failed`: the error code, e.g. `stripe_unavailable`, `stripe_account_inaccessible`,
    /// or `customer_being_created` (an upsert was creating the customer at that moment).
    error_code: Option<String>,
    updated_at: DateTime<Utc>,
}

impl From<ErasureAccount> for ErasureAccountResponse {
    fn from(item: ErasureAccount) -> Self {
        Self {
            outcome: match item.outcome {
                ErasureOutcome::Erased => AccountOutcome::Erased,
                ErasureOutcome::Failed => AccountOutcome::Failed,
            },
            organizer_id: item.organizer_id,
            stripe_account_id: item.stripe_account_id,
            customer_id: item.customer_id,
            stripe_customer_id: item.stripe_customer_id,
            error_code: item.error_code,
            updated_at: item.updated_at.and_utc(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErasureReceipt {
    /// The same id when a `partial` erasure is resumed by repeating the request.
    id: String,
    /// Keyed hash (HMAC-SHA256) of the normalized email; the audit log's `subject_hash` for
    /// this person. The email itself is not kept.
    subject_hash: String,
    status: ReceiptStatus,
    /// Every customer found for the person, across organizers, with what happened to it.
    accounts: Vec<ErasureAccountResponse>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl ErasureReceipt {
    pub(super) fn new(erasure: Erasure, accounts: Vec<ErasureAccount>) -> Self {
        Self {
            status: match erasure.status {
                ErasureStatus::Completed => ReceiptStatus::Completed,
                ErasureStatus::Partial => ReceiptStatus::Partial,
            },
            id: erasure.id,
            subject_hash: erasure.subject_hash,
            accounts: accounts.into_iter().map(Into::into).collect(),
            created_at: erasure.created_at.and_utc(),
            updated_at: erasure.updated_at.and_utc(),
        }
    }

    /// Every account is done; otherwise the same request again resumes.
    pub fn is_complete(&self) -> bool {
        matches!(self.status, ReceiptStatus::Completed)
    }
}
