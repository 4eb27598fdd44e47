//! Deleting a customer: in Stripe first, then the row and with it the person's data (DELETE,
//! and each account of a GDPR erasure).

use serde_json::json;

use super::{targets, CustomerError};
use crate::db::models::gateway_event::GatewayEvent;
use crate::db::models::{idempotency, Customer, CustomerStatus, CREATE_LEASE};
use crate::db::Lease;
use crate::domain::Principal;
use crate::domain::{CustomerId, OrganizerId, StripeAccountId};
use crate::services::audit::{AuditContext, AuditEntry, Outcome};
use crate::services::{organizers, AppState};
use crate::stripe::customers::{self as remote, Deleted};

/// Deletes the customer in Stripe, then the row. A customer already gone in Stripe is not an
/// error.
#[tracing::instrument(skip_all, fields(organizer_id = %org_id, customer_id = %customer_id))]
pub async fn delete(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    customer_id: CustomerId,
) -> Result<(), CustomerError> {
    let id = customer_id.to_string();
    let platform = state.stripe.platform_account().cloned();
    let (account, row) =
        organizers::with_organizer(state, principal, org_id, move |conn, organizer| {
            let account = organizers::charging(&organizer, platform.as_ref())?.account;
            let row = Customer::find_by_account_organizer_and_id(
                conn,
                account.as_str(),
                &organizer.id,
                &id,
            )?
            .filter(|row| row.status != CustomerStatus::Pending)
            .ok_or(CustomerError::NotFound(id))?;
            Ok::<_, CustomerError>((account, row))
        })
        .await?;
    let audit = AuditContext::new(principal);
    let subject = state.subject_hasher.hash(&row.email);
    erase_row(state, &audit, &account, row, "customer.deleted", subject).await?;
    Ok(())
}

/// How many times an erasure follows a row that a concurrent request changed (recreated its
/// Stripe customer, say) before it gives up with a retryable error.
const ERASE_ROUNDS: usize = 3;

/// Deletes `row`'s customer in Stripe (or, for a row whose create never finished, whatever
/// that create may have made), then the row, with an audit row either way. The row is removed
/// only as it was when its Stripe customer was deleted: if a concurrent request moved it on
/// (a new Stripe customer after a deletion in Stripe), the new state is erased too. Returns
/// what Stripe said the last time.
pub async fn erase_row(
    state: &AppState,
    audit: &AuditContext,
    account: &StripeAccountId,
    mut row: Customer,
    action: &'static str,
    subject: String,
) -> Result<Deleted, CustomerError> {
    let client = state.stripe.for_account(account);
    for _ in 0..ERASE_ROUNDS {
        let result = match &row.stripe_customer_id {
            Some(stripe_customer_id) => remote::delete(&client, stripe_customer_id).await,
            None => match remote::find_created(&client, row.email.as_str(), &row.id).await {
                Ok(Some(orphan)) => {
                    row.stripe_customer_id = Some(orphan.id.clone());
                    remote::delete(&client, &orphan.id).await
                }
                Ok(None) => Ok(Deleted::AlreadyGone),
                Err(err) => Err(err),
            },
        };
        let deleted = match result {
            Ok(deleted) => deleted,
            Err(err) => {
                audit
                    .record_failure(
                        state,
                        AuditEntry {
                            action,
                            organizer_id: Some(row.organizer_id.clone()),
                            targets: targets(&row),
                            outcome: Outcome::Failed,
                            subject_hash: Some(subject.clone()),
                            details: json!({ "error": err.failure().code() }),
                        },
                    )
                    .await;
                return Err(CustomerError::stripe(account, err));
            }
        };
        let (seen, audit, subject) = (row.clone(), audit.clone(), subject.clone());
        let moved_on = state
            .db
            .run(move |conn| {
                crate::db::write_transaction(conn, |conn| {
                    GatewayEvent::lock_organizer(conn, &seen.organizer_id)?;
                    if !Customer::delete_if_unchanged(conn, &seen)? {
                        return Ok(Customer::find_by_account_and_id(
                            conn,
                            &seen.stripe_account_id,
                            &seen.id,
                        )?);
                    }
                    // Answers kept for retries, and earlier events, may hold the person's
                    // details.
                    idempotency::forget_customer(conn, &seen.id)?;
                    if seen.status != CustomerStatus::Pending {
                        super::told::deleted(conn, &seen, true)?;
                    }
                    audit.record(
                        conn,
                        &AuditEntry {
                            action,
                            organizer_id: Some(seen.organizer_id.clone()),
                            targets: targets(&seen),
                            outcome: Outcome::Succeeded,
                            subject_hash: Some(subject),
                            details: json!({ "stripe": match deleted {
                                Deleted::Now => "deleted",
                                Deleted::AlreadyGone => "already_deleted",
                            } }),
                        },
                    )?;
                    Ok::<_, CustomerError>(None)
                })
            })
            .await?;
        match moved_on {
            None => {
                super::told::committed();
                forget_lease(state, &row.id).await;
                return Ok(deleted);
            }
            Some(current) => {
                tracing::info!(customer_id = %current.id, "the customer changed while it was erased; erasing its new state");
                row = current;
            }
        }
    }
    Err(CustomerError::KeptChanging)
}

/// Removes an erased row's create lease, after the row: taking the lease's lock while holding
/// the row's would invert the order every other transaction takes them in. Best effort: a lease
/// left behind only expires.
async fn forget_lease(state: &AppState, customer_id: &str) {
    let id = customer_id.to_string();
    let result = state
        .db
        .run(move |conn| Ok::<_, CustomerError>(Lease::forget(conn, CREATE_LEASE, &id)?))
        .await;
    if let Err(err) = result {
        tracing::warn!(customer_id, error = %err, "could not remove an erased customer's lease");
    }
}
