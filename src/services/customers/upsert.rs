//! Upsert by (normalized email, account): one Stripe customer and one row per key, however many
//! requests race for it on however many instances, and healing after failures.
//!
//! 1. A `pending` row (no Stripe id, never shown by reads) reserves the key first. The unique
//!    index on (stripe_account_id, email_normalized) lets exactly one request win it.
//! 2. The winner holds a lease on the row while it creates the Stripe customer, with an
//!    idempotency key made of the row id and its create attempt; then it completes the row.
//! 3. Every other request waits for the lease to end and answers with the completed row (or
//!    with the winner's failure), instead of calling Stripe too.
//! 4. A lease that ended without a Stripe id (its holder failed or died) is taken over by the
//!    next request. It first looks for a customer the earlier attempt created (Stripe's list by
//!    email, matched on the row id in the customer's metadata, which also covers idempotency
//!    keys Stripe has forgotten after 24 hours), and otherwise creates with the same key.
//! 5. A row whose Stripe customer turned out deleted in Stripe moves to a new attempt, so its
//!    create gets a new key: a new Stripe customer under the same gateway id.
//!
//! The key is (row id, attempt) rather than (email, account): a key per email would replay the
//! old customer once that email moved to another address and came back; a random key per
//! request would let racing requests create one customer each.

use std::time::{Duration, Instant};

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::Connection;
use serde_json::json;

use super::remote::{self, RemoteCustomer};
use super::{
    account_of, apply_change, metadata_json, organizers, profile, stored_email, targets,
    upsert_change, Applied, UpsertInput,
};
use crate::auth::Principal;
use crate::db::models::{Customer, CustomerStatus, NewCustomer, Organizer};
use crate::db::now;
use crate::domain::{CustomerId, OrganizerId, StripeAccountId};
use crate::error::ApiError;
use crate::services::audit::{AuditContext, AuditEntry, Outcome};
use crate::services::AppState;
use crate::stripe::StripeError;

/// How an upsert ended.
pub enum Upserted {
    /// This request created the customer (201).
    Created(Customer),
    /// The customer existed (200), possibly with details this request updated, or recreated
    /// in Stripe after it was deleted there.
    Existing(Customer),
}

/// Slack on top of the longest Stripe calls, before a lease counts as abandoned.
const LEASE_MARGIN: Duration = Duration::from_secs(2);
const POLL_FIRST: Duration = Duration::from_millis(10);
const POLL_MAX: Duration = Duration::from_millis(200);

#[tracing::instrument(skip_all, fields(organizer_id = %org_id))]
pub async fn upsert(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    input: UpsertInput,
) -> Result<Upserted, ApiError> {
    // The first look at the key comes with the organizer check, in one trip to the database:
    // for a customer that exists and is unchanged, that is the whole request.
    let normalized = input.email.normalized().to_string();
    let (organizer, first_look) =
        organizers::with_organizer(state, principal, org_id, move |conn, organizer| {
            let row = Customer::find_by_account_and_email(
                conn,
                &organizer.stripe_account_id,
                &normalized,
            )?;
            Ok((organizer, row))
        })
        .await?;
    let account = account_of(&organizer)?;
    let mut first_look = Some(first_look);
    let audit = AuditContext::new(principal);
    // A resumed create makes two Stripe calls (look for an earlier attempt's customer, then
    // create): the lease covers both at their slowest.
    let lease = state.stripe.worst_case_call() * 2 + LEASE_MARGIN;
    let started = now();
    let give_up = Instant::now() + lease + LEASE_MARGIN;
    let mut poll = POLL_FIRST;
    loop {
        if Instant::now() > give_up {
            return Err(ApiError::StripeUnavailable(StripeError::Concurrent(
                "gave up waiting for a concurrent create of the same customer".into(),
            )));
        }
        let found = match first_look.take() {
            Some(found) => found,
            None => find_by_key(state, &account, input.email.normalized()).await?,
        };
        let Some(row) = found else {
            if let Some(row) = reserve(state, &organizer, &input, lease).await? {
                let row = create(state, &audit, &account, row, false).await?;
                return finish(state, &audit, &account, row, &input, true).await;
            }
            // Another request reserved the key first; the next round sees its row.
            continue;
        };
        if row.has_status(CustomerStatus::Active) {
            let change = upsert_change(&row, &input)?;
            if change.is_empty() {
                return Ok(Upserted::Existing(row));
            }
            match apply_change(state, &audit, &account, &row, &stored_email(&row)?, &change).await?
            {
                Applied::Updated(row) => return Ok(Upserted::Existing(*row)),
                // Deleted in Stripe: the next round recreates it.
                Applied::StripeDeleted => continue,
            }
        }
        // `pending` or `stripe_deleted`.
        let now = now();
        if row.lease_until.is_some_and(|until| until > now) {
            tokio::time::sleep(poll).await;
            poll = (poll * 2).min(POLL_MAX);
            continue;
        }
        if row.has_status(CustomerStatus::Pending)
            && row.last_failure_at.is_some_and(|failed| failed >= started)
        {
            // The request this one waited for failed against Stripe just now; answering with
            // that failure beats every waiter retrying in turn.
            return Err(ApiError::StripeUnavailable(StripeError::Concurrent(
                "creating the customer in Stripe failed".into(),
            )));
        }
        if let Some(claimed) = claim(state, row, now, lease).await? {
            // A row that was never active (version 0) is created by this request: 201.
            let first = claimed.version == 0;
            let row = create(state, &audit, &account, claimed, true).await?;
            return finish(state, &audit, &account, row, &input, first).await;
        }
    }
}

/// After this request created the row's customer: applies whatever else the input asks (a
/// recreated customer gets the stored details, which the input may change).
async fn finish(
    state: &AppState,
    audit: &AuditContext,
    account: &StripeAccountId,
    row: Customer,
    input: &UpsertInput,
    created: bool,
) -> Result<Upserted, ApiError> {
    let change = upsert_change(&row, input)?;
    let row = if change.is_empty() {
        row
    } else {
        match apply_change(state, audit, account, &row, &stored_email(&row)?, &change).await? {
            Applied::Updated(row) => *row,
            Applied::StripeDeleted => return Err(super::customer_not_found(&row.id)),
        }
    };
    Ok(if created {
        Upserted::Created(row)
    } else {
        Upserted::Existing(row)
    })
}

async fn find_by_key(
    state: &AppState,
    account: &StripeAccountId,
    email_normalized: &str,
) -> Result<Option<Customer>, ApiError> {
    let (account, email) = (account.to_string(), email_normalized.to_string());
    state
        .db
        .run(move |conn| Ok(Customer::find_by_account_and_email(conn, &account, &email)?))
        .await
}

/// Inserts the `pending` row that reserves the key, holding the create lease. `None` when
/// another request holds the key.
async fn reserve(
    state: &AppState,
    organizer: &Organizer,
    input: &UpsertInput,
    lease: Duration,
) -> Result<Option<Customer>, ApiError> {
    let metadata = metadata_json(input.metadata.as_ref())?;
    let (organizer_id, account) = (organizer.id.clone(), organizer.stripe_account_id.clone());
    let email = input.email.clone();
    let name = input.name.as_ref().map(|n| n.as_str().to_string());
    let phone = input.phone.as_ref().map(|p| p.as_str().to_string());
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
                status: CustomerStatus::Pending.as_str(),
                create_attempt: 0,
                lease_until: Some(lease_end(created_at, lease)),
                version: 0,
                created_at,
                updated_at: created_at,
            };
            match Customer::insert(conn, &new) {
                Ok(row) => Ok(Some(row)),
                Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(None),
                Err(err) => Err(err.into()),
            }
        })
        .await
}

/// Takes over the create of a row whose lease ended; the row as it now stands, or `None` when
/// another request took it first.
async fn claim(
    state: &AppState,
    row: Customer,
    now: chrono::NaiveDateTime,
    lease: Duration,
) -> Result<Option<Customer>, ApiError> {
    state
        .db
        .run(move |conn| {
            let until = lease_end(now, lease);
            if !Customer::claim_create(conn, &row, now, until)? {
                return Ok(None);
            }
            let mut claimed = row;
            if claimed.has_status(CustomerStatus::StripeDeleted) {
                claimed.create_attempt += 1;
            }
            claimed.status = CustomerStatus::Pending.as_str().to_string();
            claimed.lease_until = Some(until);
            Ok(Some(claimed))
        })
        .await
}

/// Creates the Stripe customer of a `pending` row this request holds the lease of, then makes
/// the row active. `resumed`: an earlier attempt may have reached Stripe already.
async fn create(
    state: &AppState,
    audit: &AuditContext,
    account: &StripeAccountId,
    row: Customer,
    resumed: bool,
) -> Result<Customer, ApiError> {
    let client = state.stripe.for_account(account);
    let subject = state.subject_hasher.hash(&stored_email(&row)?);
    let found = if resumed {
        remote::find_created(&client, &row).await
    } else {
        Ok(None)
    };
    let result = match found {
        Ok(Some(found)) => {
            tracing::info!(customer_id = %row.id, "adopting the Stripe customer an earlier attempt created");
            Ok(found)
        }
        Ok(None) => remote::create(&client, &row).await,
        Err(err) => Err(err),
    };
    let remote = match result {
        Ok(remote) => remote,
        Err(err) => {
            let next = if !resumed && err.is_invalid_request() {
                // Stripe refused the data of a first attempt: nothing exists for the row.
                Abandon::Delete
            } else if err.is_transient() {
                Abandon::Retry
            } else {
                // A refusal (a revoked account, a rotated key) may be saved under the key and
                // replayed to every retry; a new key can succeed once the cause is fixed, and
                // the resumed create's search by metadata still finds anything made before.
                Abandon::NewKey
            };
            abandon(state, &row, next).await;
            audit
                .record_failure(
                    state,
                    AuditEntry {
                        action: "customer.created",
                        organizer_id: Some(row.organizer_id.clone()),
                        targets: targets(&row),
                        outcome: Outcome::Failed,
                        subject_hash: Some(subject),
                        details: json!({ "error": err.client_code() }),
                    },
                )
                .await;
            return Err(ApiError::from_stripe_call(account.as_str(), err));
        }
    };
    // A row that was ever active (a first create completes it at version 1) had a Stripe
    // customer before this one.
    let recreated = row.version > 0;
    match complete(state, audit, &row, &remote, subject, recreated).await {
        Ok(Some(done)) => Ok(done),
        Ok(None) => {
            // Either a request that took over this attempt completed it first (same key, same
            // customer), or the row was erased meanwhile: then the new customer must not stay.
            let id = row.id.clone();
            let current = state
                .db
                .run(move |conn| Ok::<_, ApiError>(Customer::find_by_id(conn, &id)?))
                .await?;
            match current {
                Some(current)
                    if current.has_status(CustomerStatus::Active)
                        && current.stripe_customer_id.as_deref() == Some(remote.id.as_str()) =>
                {
                    Ok(current)
                }
                _ => {
                    if let Err(err) = remote::delete(&client, &remote.id).await {
                        tracing::error!(customer_id = %row.id, error = %err, "could not delete the Stripe customer of an erased row");
                    }
                    Err(ApiError::Conflict {
                        code: "customer_deleted",
                        message: "the customer was deleted while it was being created".into(),
                    })
                }
            }
        }
        Err(err) => {
            // Stripe has the customer but the row could not record it. Free the lease, so the
            // next upsert adopts the customer at once instead of waiting the lease out.
            abandon(state, &row, Abandon::Retry).await;
            Err(err)
        }
    }
}

/// When a lease taken at `now` ends, as stored (to the microsecond): the end also identifies
/// the lease's holder, so it must read back equal.
fn lease_end(now: chrono::NaiveDateTime, lease: Duration) -> chrono::NaiveDateTime {
    use chrono::SubsecRound;
    (now + lease).trunc_subsecs(6)
}

/// Records the Stripe customer on the row and makes it active, with its audit row.
async fn complete(
    state: &AppState,
    audit: &AuditContext,
    row: &Customer,
    remote: &RemoteCustomer,
    subject: String,
    recreated: bool,
) -> Result<Option<Customer>, ApiError> {
    let (row, remote, audit) = (row.clone(), remote.clone(), audit.clone());
    state
        .db
        .run(move |conn| {
            let email = stored_email(&row)?;
            let metadata = serde_json::to_string(&remote.metadata).map_err(ApiError::internal)?;
            conn.transaction(|conn| {
                let done = Customer::complete_create(
                    conn,
                    &row.id,
                    row.create_attempt,
                    &remote.id,
                    &profile(&email, &remote, &metadata),
                )?;
                if let Some(done) = &done {
                    audit.record(
                        conn,
                        &AuditEntry {
                            action: if recreated {
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
async fn abandon(state: &AppState, row: &Customer, next: Abandon) {
    let (id, attempt, lease) = (row.id.clone(), row.create_attempt, row.lease_until);
    let result = state
        .db
        .run(move |conn| {
            match next {
                Abandon::Delete => Customer::delete_reservation(conn, &id, attempt, lease),
                Abandon::Retry => Customer::release_create(conn, &id, attempt, lease, false, now()),
                Abandon::NewKey => Customer::release_create(conn, &id, attempt, lease, true, now()),
            }
            .map_err(ApiError::from)
        })
        .await;
    if let Err(err) = result {
        tracing::error!(customer_id = %row.id, error = %err, "could not release a customer create; its lease will expire");
    }
}
