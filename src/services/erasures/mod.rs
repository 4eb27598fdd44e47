//! GDPR erasure of one person across every organizer: their customer in each account that has
//! one is deleted in Stripe, then erased locally. Each account's outcome is kept; a failure in
//! one account leaves the request `partial`, and the same request again resumes it, leaving
//! what succeeded done.

use serde_json::json;

use crate::db::models::{
    Customer, CustomerKey, CustomerStatus, Erasure, ErasureAccount, CREATE_LEASE,
};
use crate::db::{now, DbConnection, DbError, Lease};
use crate::domain::{Email, StripeAccountId};
use crate::domain::{ErasureOutcome, ErasureStatus};
use crate::domain::{Forbidden, Principal};
use crate::services::audit::{AuditContext, AuditEntry, Outcome};
use crate::services::customers::{erase_row, CustomerError};
use crate::services::AppState;

mod receipt;
pub use receipt::ErasureReceipt;

/// What stops an erasure as a whole. A failure in one account is not one: the receipt records
/// it (`partial`), and the same request resumes.
#[derive(Debug, thiserror::Error)]
pub enum ErasureError {
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl crate::db::QueryFailure for ErasureError {
    fn is_query_failure(&self) -> bool {
        match self {
            Self::Db(db) => db.is_query_failure(),
            _ => false,
        }
    }
}

impl From<diesel::result::Error> for ErasureError {
    fn from(err: diesel::result::Error) -> Self {
        Self::Db(err.into())
    }
}

/// A customer found for the person, loaded.
struct Target {
    row: Customer,
    account: StripeAccountId,
    /// An upsert is creating its Stripe customer right now.
    creating: bool,
}

fn load_target(
    conn: &mut DbConnection,
    key: &CustomerKey,
) -> Result<Option<Target>, CustomerError> {
    let Some(row) = Customer::find_by_account_and_id(conn, &key.stripe_account_id, &key.id)? else {
        return Ok(None);
    };
    let account = StripeAccountId::parse(&row.stripe_account_id)
        .map_err(|e| DbError::Corrupt(format!("customer {}: {e}", row.id)))?;
    let creating = row.status == CustomerStatus::Pending
        && Lease::live_until(conn, CREATE_LEASE, &row.id)?.is_some();
    Ok(Some(Target {
        row,
        account,
        creating,
    }))
}

impl ErasureError {
    /// Whether the same request later can succeed without anyone changing anything.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Db(_))
    }
}

#[tracing::instrument(skip_all)]
pub async fn erase(
    state: &AppState,
    principal: &Principal,
    email: Email,
) -> Result<ErasureReceipt, ErasureError> {
    principal.require_admin()?;
    let audit = AuditContext::new(principal);
    let subject = state.subject_hasher.hash(&email);
    let (lookup_subject, normalized) = (subject.clone(), email.normalized().to_string());
    let (erasure, customers) = state
        .db
        .run(move |conn| {
            let erasure = match Erasure::find_partial_by_subject(conn, &lookup_subject)? {
                Some(open) => open,
                None => {
                    let created_at = now();
                    let erasure = Erasure {
                        id: uuid::Uuid::now_v7().to_string(),
                        subject_hash: lookup_subject,
                        status: ErasureStatus::Partial,
                        created_at,
                        updated_at: created_at,
                    };
                    Erasure::insert(conn, &erasure)?;
                    erasure
                }
            };
            let mut keys = CustomerKey::find_all_by_email_across_accounts(conn, &normalized)?;
            // A customer that failed before is retried even if its email changed since.
            for failed in ErasureAccount::list_for_erasure_across_accounts(conn, &erasure.id)? {
                if failed.outcome == ErasureOutcome::Failed
                    && !keys.iter().any(|key| key.id == failed.customer_id)
                {
                    keys.extend(CustomerKey::find_by_account_and_id(
                        conn,
                        &failed.stripe_account_id,
                        &failed.customer_id,
                    )?);
                }
            }
            // Each row is loaded on its own: one that no longer parses fails its own account,
            // not the whole erasure.
            let found = keys
                .into_iter()
                .map(|key| {
                    let row = load_target(conn, &key);
                    (key, row)
                })
                .collect::<Vec<_>>();
            Ok::<_, ErasureError>((erasure, found))
        })
        .await?;

    let processed: Vec<String> = customers.iter().map(|(key, _)| key.id.clone()).collect();
    for (key, target) in customers {
        let mut item = ErasureAccount {
            erasure_id: erasure.id.clone(),
            customer_id: key.id,
            organizer_id: key.organizer_id,
            stripe_account_id: key.stripe_account_id,
            stripe_customer_id: key.stripe_customer_id,
            outcome: ErasureOutcome::Erased,
            error_code: None,
            updated_at: now(),
        };
        let result = match target {
            // Gone since it was found: erased by other means.
            Ok(None) => Ok(()),
            // An upsert is creating its Stripe customer right now; erasing the row under it
            // would leave that customer behind. The retry finds it finished (or abandoned).
            Ok(Some(Target { creating: true, .. })) => Err(CustomerError::BeingCreated),
            Ok(Some(Target { row, account, .. })) => erase_row(
                state,
                &audit,
                &account,
                row,
                "customer.erased",
                subject.clone(),
            )
            .await
            .map(drop),
            Err(err) => Err(err),
        };
        match result {
            Ok(()) => {}
            Err(err) => {
                tracing::warn!(erasure_id = %erasure.id, stripe_account_id = %item.stripe_account_id, error = %err, "erasure failed in one account");
                item.outcome = ErasureOutcome::Failed;
                item.error_code = Some(err.code().to_string());
            }
        }
        state
            .db
            .run(move |conn| Ok::<_, ErasureError>(ErasureAccount::record(conn, &item)?))
            .await?;
    }

    let id = erasure.id.clone();
    state
        .db
        .run(move |conn| {
            crate::db::write_transaction(conn, |conn| {
                // Writing first takes SQLite's write lock at the start: a transaction that
                // read first could not take it once another connection had committed.
                let updated_at = now();
                Erasure::set_status(conn, &id, ErasureStatus::Partial, updated_at)?;
                // A customer that failed before and is gone now was deleted by other means.
                for mut stale in ErasureAccount::list_for_erasure_across_accounts(conn, &id)? {
                    if stale.outcome == ErasureOutcome::Failed
                        && !processed.contains(&stale.customer_id)
                        && CustomerKey::find_by_account_and_id(
                            conn,
                            &stale.stripe_account_id,
                            &stale.customer_id,
                        )?
                        .is_none()
                    {
                        stale.outcome = ErasureOutcome::Erased;
                        stale.error_code = None;
                        stale.updated_at = now();
                        ErasureAccount::record(conn, &stale)?;
                    }
                }
                let accounts = ErasureAccount::list_for_erasure_across_accounts(conn, &id)?;
                let status = if accounts.iter().all(|a| a.outcome == ErasureOutcome::Erased) {
                    ErasureStatus::Completed
                } else {
                    ErasureStatus::Partial
                };
                Erasure::set_status(conn, &id, status, updated_at)?;
                audit.record(
                    conn,
                    &AuditEntry {
                        action: "erasure.requested",
                        organizer_id: None,
                        targets: json!({ "erasure_id": id }),
                        outcome: if status == ErasureStatus::Completed {
                            Outcome::Succeeded
                        } else {
                            Outcome::Failed
                        },
                        subject_hash: Some(subject),
                        details: json!({
                            "status": status.as_str(),
                            "accounts": accounts.len(),
                            "failed": accounts.iter().filter(|a| a.outcome == ErasureOutcome::Failed).count(),
                        }),
                    },
                )?;
                let mut erasure = erasure;
                erasure.status = status;
                erasure.updated_at = updated_at;
                Ok::<_, ErasureError>(ErasureReceipt::new(erasure, accounts))
            })
        })
        .await
}
