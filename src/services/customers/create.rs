//! Creating a customer's Stripe customer exactly once: a `pending` row reserves the key, the
//! row's `customer.create` lease says who is creating it, and the idempotency key (row id,
//! create attempt) makes every resumption of one attempt get the same Stripe customer.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::result::Error as DieselError;
use serde_json::json;

use super::from_stripe::profile;
use super::{targets, ActiveCustomer, CustomerError, CustomerState, UpsertInput};
use crate::db::columns::Json;
use crate::db::is_unique_violation;
use crate::db::models::{Customer, CustomerStatus, NewCustomer, CREATE_LEASE};
use crate::db::{now, DbConnection, Lease};
use crate::domain::{CustomerId, StripeAccountId};
use crate::services::audit::{AuditContext, AuditEntry, Outcome};
use crate::services::AppState;
use crate::stripe::customers::{self as remote, CreateAttempt, NewProfile, RemoteCustomer};
use crate::stripe::StripeFailure;

/// Slack on top of the longest Stripe call, before a create lease counts as abandoned.
const LEASE_MARGIN: Duration = Duration::from_secs(2);

/// How long a create lease lasts: one Stripe call at its slowest, with its retries. A resumed
/// create renews it between its two calls.
pub(super) fn lease_ttl(state: &AppState) -> Duration {
    state.stripe.worst_case_call() + LEASE_MARGIN
}

/// The row and where it stands (a pending row's live lease is read beside it).
pub(super) fn load(
    conn: &mut DbConnection,
    row: Customer,
) -> Result<(Customer, CustomerState), CustomerError> {
    let lease_until = match row.status {
        CustomerStatus::Pending => Lease::live_until(conn, CREATE_LEASE, &row.id)?,
        _ => None,
    };
    let state = CustomerState::of(&row, lease_until)?;
    Ok((row, state))
}

/// Inserts the `pending` row that reserves the key, with its create lease. `None` when another
/// request holds the key.
pub(super) async fn reserve(
    state: &AppState,
    organizer_id: &str,
    account: &StripeAccountId,
    input: &UpsertInput,
) -> Result<Option<(Customer, Lease)>, CustomerError> {
    // An empty value removes a key; on a new customer it sets nothing.
    let metadata = Json(
        input
            .metadata
            .iter()
            .flat_map(|m| m.iter())
            .filter(|(_, value)| !value.is_empty())
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect::<BTreeMap<_, _>>(),
    )
    .to_json();
    let (organizer_id, account) = (organizer_id.to_string(), account.to_string());
    let email = input.email.clone();
    let name = input.name.as_ref().map(|n| n.as_str().to_string());
    let phone = input.phone.as_ref().map(|p| p.as_str().to_string());
    let ttl = lease_ttl(state);
    state
        .db
        .run(move |conn| {
            let id = CustomerId::new().to_string();
            let created_at = now();
            let new = NewCustomer {
                id: &id,
                organizer_id: &organizer_id,
                stripe_account_id: &account,
                email: email.as_str(),
                email_normalized: email.normalized(),
                name: name.as_deref(),
                phone: phone.as_deref(),
                metadata: &metadata,
                stripe_customer_id: None,
                status: CustomerStatus::Pending,
                create_attempt: 0,
                version: 0,
                created_at,
                updated_at: created_at,
                ever_active: false,
                listed_by: None,
            };
            let reserved = crate::db::write_transaction(conn, |conn| {
                let row = Customer::insert(conn, &new)?;
                let lease = Lease::claim(conn, CREATE_LEASE, &row.id, ttl)?
                    .ok_or(DieselError::RollbackTransaction)?;
                Ok::<_, DieselError>((row, lease))
            });
            match reserved {
                Ok(reserved) => Ok(Some(reserved)),
                Err(err) if is_unique_violation(&err) => Ok(None),
                Err(err) => Err(err.into()),
            }
        })
        .await
}

/// Takes over the create of a row nobody is creating (its lease ended, or it was found deleted
/// in Stripe); the row as it now stands with the lease, or `None` when another request took it
/// first. `ConcurrentCreateFailed` when the create failed after `waiting_since`: the request
/// that made it answered with that failure, and so do the ones that waited for it.
pub(super) async fn claim(
    state: &AppState,
    row: Customer,
    waiting_since: NaiveDateTime,
) -> Result<Option<(Customer, Lease)>, CustomerError> {
    let ttl = lease_ttl(state);
    state
        .db
        .run(move |conn| {
            let mut failed_meanwhile = false;
            // The lease first, then the row: every transaction that takes both locks them in
            // that order, so none deadlocks another on PostgreSQL.
            let claimed = crate::db::write_transaction(conn, |conn| {
                let Some(lease) = Lease::claim(conn, CREATE_LEASE, &row.id, ttl)? else {
                    return Ok(None);
                };
                // A row that changed meanwhile is not this request's to create: give the
                // lease back with the rollback.
                let claimed =
                    Customer::begin_create(conn, &row)?.ok_or(DieselError::RollbackTransaction)?;
                if claimed
                    .last_failure_at
                    .is_some_and(|failed| failed >= waiting_since)
                {
                    failed_meanwhile = true;
                    return Err(DieselError::RollbackTransaction);
                }
                Ok(Some((claimed, lease)))
            });
            match claimed {
                Err(DieselError::RollbackTransaction) if failed_meanwhile => {
                    Err(CustomerError::ConcurrentCreateFailed)
                }
                Err(DieselError::RollbackTransaction) => Ok(None),
                other => Ok(other?),
            }
        })
        .await
}

/// Creates the Stripe customer of a `pending` row whose create lease this request holds, then
/// makes the row active. `resumed`: an earlier attempt may have reached Stripe already.
pub(super) async fn create(
    state: &AppState,
    audit: &AuditContext,
    account: &StripeAccountId,
    row: Customer,
    mut lease: Lease,
    resumed: bool,
) -> Result<ActiveCustomer, CustomerError> {
    let client = state.stripe.for_account(account);
    let subject = state.subject_hasher.hash(&row.email);
    let found = if resumed {
        remote::find_created(&client, row.email.as_str(), &row.id).await
    } else {
        Ok(None)
    };
    let result = match found {
        Ok(Some(found)) => {
            tracing::info!(customer_id = %row.id, "adopting the Stripe customer an earlier attempt created");
            Ok(found)
        }
        Ok(None) => {
            if resumed {
                lease = renew(state, lease).await;
            }
            let attempt = CreateAttempt {
                account,
                organizer_id: &row.organizer_id,
                customer_id: &row.id,
                attempt: row.create_attempt,
            };
            let profile = NewProfile {
                email: row.email.as_str(),
                name: row.name.as_deref(),
                phone: row.phone.as_deref(),
                metadata: &row.metadata,
            };
            remote::create(&client, &attempt, &profile).await
        }
        Err(err) => Err(err),
    };
    let remote = match result {
        Ok(remote) => remote,
        Err(err) => {
            let failure = err.failure();
            let next = if !resumed && failure == StripeFailure::InvalidRequest {
                // Stripe refused the data of a first attempt: nothing exists for the row.
                Abandon::Delete
            } else if failure.is_retryable() {
                Abandon::Retry
            } else {
                // A refusal (a revoked account, a rotated key) may be saved under the key and
                // replayed to every retry; a new key can succeed once the cause is fixed, and
                // the resumed create's search by metadata still finds anything made before.
                Abandon::NewKey
            };
            abandon(state, &row, &lease, next).await;
            audit
                .record_failure(
                    state,
                    AuditEntry {
                        action: "customer.created",
                        organizer_id: Some(row.organizer_id.clone()),
                        targets: targets(&row),
                        outcome: Outcome::Failed,
                        subject_hash: Some(subject),
                        details: json!({ "error": failure.code() }),
                    },
                )
                .await;
            return Err(CustomerError::stripe(account, err));
        }
    };
    match complete(state, audit, &row, &lease, &remote, subject).await {
        Ok(Some(done)) => ActiveCustomer::of(done)?.ok_or_else(|| CustomerError::Corrupt {
            id: row.id.clone(),
            problem: "not active after its create completed".into(),
        }),
        Ok(None) => {
            // Either a request that took over this attempt completed it first (same key, same
            // customer), or the row was erased meanwhile: then the new customer must not stay.
            let (key, id) = (account.to_string(), row.id.clone());
            let current = state
                .db
                .run(move |conn| {
                    ActiveCustomer::of_found(Customer::find_by_account_and_id(conn, &key, &id)?)
                })
                .await?;
            match current {
                Some(current) if current.stripe_customer_id == remote.id => Ok(current),
                _ => {
                    if let Err(err) = remote::delete(&client, &remote.id).await {
                        tracing::error!(customer_id = %row.id, error = %err, "could not delete the Stripe customer of an erased row");
                    }
                    Err(CustomerError::ErasedWhileCreating)
                }
            }
        }
        Err(err) => {
            // Stripe has the customer but the row could not record it. Free the lease, so the
            // next upsert adopts the customer at once instead of waiting the lease out.
            abandon(state, &row, &lease, Abandon::Retry).await;
            Err(err)
        }
    }
}

/// Extends the create lease before a second Stripe call. Best effort: a lease lost meanwhile,
/// or not renewed, changes nothing here (whoever takes over resumes the same attempt, with the
/// same key), and this request still releases it when it is done.
async fn renew(state: &AppState, lease: Lease) -> Lease {
    let ttl = lease_ttl(state);
    let mut renewed = lease.clone();
    let result = state
        .db
        .run(move |conn| {
            let held = renewed.renew(conn, ttl)?;
            Ok::<_, CustomerError>((held, renewed))
        })
        .await;
    match result {
        Ok((true, renewed)) => renewed,
        Ok((false, _)) => {
            tracing::info!(customer_id = %lease.key, "the create lease was taken over");
            lease
        }
        Err(err) => {
            tracing::warn!(customer_id = %lease.key, error = %err, "could not renew the create lease");
            lease
        }
    }
}

/// Records the Stripe customer on the row and makes it active, with its audit row, and gives
/// the lease back.
async fn complete(
    state: &AppState,
    audit: &AuditContext,
    row: &Customer,
    lease: &Lease,
    remote: &RemoteCustomer,
    subject: String,
) -> Result<Option<Customer>, CustomerError> {
    let (row, lease, remote, audit) = (row.clone(), lease.clone(), remote.clone(), audit.clone());
    state
        .db
        .run(move |conn| {
            let metadata = Json(&remote.metadata).to_json();
            // The lease first, then the row (see `claim`).
            crate::db::write_transaction(conn, |conn| {
                lease.release(conn)?;
                let done = Customer::complete_create(
                    conn,
                    &row.stripe_account_id,
                    &row.id,
                    row.create_attempt,
                    &remote.id,
                    &profile(&row.email, &remote, &metadata),
                )?;
                if let Some(done) = &done {
                    audit.record(
                        conn,
                        &AuditEntry {
                            action: if row.ever_active {
                                "customer.recreated"
                            } else {
                                "customer.created"
                            },
                            organizer_id: Some(done.organizer_id.clone()),
                            targets: targets(done),
                            outcome: Outcome::Succeeded,
                            subject_hash: Some(subject),
                            details: json!({ "attempt": done.create_attempt }),
                        },
                    )?;
                }
                Ok(done)
            })
        })
        .await
}

/// What becomes of a create this request gives up.
enum Abandon {
    /// Remove the reservation: nothing exists in Stripe for it.
    Delete,
    /// Release the lease; the next upsert resumes with the same idempotency key.
    Retry,
    /// Release the lease and move to the next attempt, so the next upsert uses a new key.
    NewKey,
}

/// Gives up this request's create, only while this request still holds the lease, with the
/// failure noted so that the upserts waiting on it answer with it. Best effort: if this write
/// fails too, the lease simply expires.
async fn abandon(state: &AppState, row: &Customer, lease: &Lease, next: Abandon) {
    let (row_id, account, attempt, lease) = (
        row.id.clone(),
        row.stripe_account_id.clone(),
        row.create_attempt,
        lease.clone(),
    );
    let result = state
        .db
        .run(move |conn| {
            crate::db::write_transaction(conn, |conn| {
                if !lease.release(conn)? {
                    // Taken over: the new holder decides.
                    return Ok(());
                }
                match next {
                    Abandon::Delete => {
                        Customer::delete_reservation(conn, &account, &row_id, attempt)
                    }
                    Abandon::Retry => {
                        Customer::fail_create(conn, &account, &row_id, attempt, false, now())
                    }
                    Abandon::NewKey => {
                        Customer::fail_create(conn, &account, &row_id, attempt, true, now())
                    }
                }
            })
            .map_err(CustomerError::from)
        })
        .await;
    if let Err(err) = result {
        tracing::error!(customer_id = %row.id, error = %err, "could not release a customer create; its lease will expire");
    }
}
