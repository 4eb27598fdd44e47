//! Customers of one organizer, keyed by (normalized email, the organizer's Stripe account):
//! the same person buying from two organizers is two customers, each with its own Stripe
//! customer in its own account, and no Stripe id ever crosses accounts.
//!
//! Writes go to Stripe first, then to the row. How creation stays single under races, across
//! instances, and heals after failures is in [`upsert`].

pub mod remote;
mod upsert;

use std::collections::BTreeMap;

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::Connection;
use serde_json::json;

pub use remote::ProfileChange;
pub use upsert::{upsert, Upserted};

use crate::auth::Principal;
use crate::db::models::{Customer, CustomerStatus, Organizer, StripeProfile};
use crate::db::{now, DbConnection};
use crate::domain::{
    Cursor, CustomerId, CustomerName, Email, Metadata, OrganizerId, PageLimit, Phone,
    StripeAccountId,
};
use crate::error::ApiError;
use crate::services::audit::{AuditContext, AuditEntry, Outcome};
use crate::services::{organizers, AppState};
use crate::stripe::StripeError;
use remote::{stored_metadata, Deleted, RemoteCustomer};

pub struct UpsertInput {
    pub email: Email,
    pub name: Option<CustomerName>,
    pub phone: Option<Phone>,
    pub metadata: Option<Metadata>,
}

/// A profile update; `None` leaves a field alone, `Some(None)` clears it.
#[derive(Default)]
pub struct CustomerPatch {
    pub email: Option<Email>,
    pub name: Option<Option<CustomerName>>,
    pub phone: Option<Option<Phone>>,
}

pub struct CustomerPage {
    pub customers: Vec<Customer>,
    pub next_cursor: Option<Cursor>,
}

pub fn customer_not_found(id: &str) -> ApiError {
    ApiError::NotFound {
        code: "customer_not_found",
        message: format!("this organizer has no customer {id}"),
    }
}

/// The email is taken by another customer of the organizer: `holder`, when it is one a client
/// can see (a customer still being created is not yet).
fn customer_exists(holder: Option<&Customer>) -> ApiError {
    let message = match holder.filter(|h| h.has_status(CustomerStatus::Active)) {
        Some(holder) => format!(
            "another customer of this organizer ({}) already has that email",
            holder.id
        ),
        None => "another customer of this organizer already has that email".to_string(),
    };
    ApiError::Conflict {
        code: "customer_exists",
        message,
    }
}

fn account_of(organizer: &Organizer) -> Result<StripeAccountId, ApiError> {
    StripeAccountId::parse(&organizer.stripe_account_id)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored account id is invalid: {e}")))
}

/// The profile to store after Stripe answered: Stripe's name, phone and metadata, and `email`
/// (see [`store_profile`] for which one).
fn profile<'a>(
    email: &'a Email,
    remote: &'a RemoteCustomer,
    metadata: &'a str,
) -> StripeProfile<'a> {
    StripeProfile {
        email: email.as_str(),
        email_normalized: email.normalized(),
        name: remote.name.as_deref(),
        phone: remote.phone.as_deref(),
        metadata,
        updated_at: now(),
    }
}

fn targets(row: &Customer) -> serde_json::Value {
    json!({ "customer_id": row.id, "stripe_customer_id": row.stripe_customer_id })
}

/// The row's email, parsed again (it was valid when stored).
fn stored_email(row: &Customer) -> Result<Email, ApiError> {
    Email::parse(&row.email)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored email is invalid: {e}")))
}

pub async fn get(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    customer_id: CustomerId,
) -> Result<Customer, ApiError> {
    let id = customer_id.to_string();
    organizers::with_organizer(state, principal, org_id, move |conn, organizer| {
        active_by_id(conn, &organizer.id, &id)
    })
    .await
}

fn active_by_id(conn: &mut DbConnection, org: &str, id: &str) -> Result<Customer, ApiError> {
    Customer::find_by_organizer_and_id(conn, org, id)?
        .filter(|row| row.has_status(CustomerStatus::Active))
        .ok_or_else(|| customer_not_found(id))
}

/// Served from local rows only: reads never call Stripe.
pub async fn list(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    email: Option<Email>,
    limit: PageLimit,
    cursor: Option<Cursor>,
) -> Result<CustomerPage, ApiError> {
    let customers = organizers::with_organizer(state, principal, org_id, move |conn, organizer| {
        Ok(Customer::list_active_for_organizer_after(
            conn,
            &organizer.id,
            email.as_ref().map(Email::normalized),
            cursor.as_ref().map(Cursor::key),
            limit.fetch_size(),
        )?)
    })
    .await?;
    let (customers, next_cursor) = limit.split(customers, |row| &row.id);
    Ok(CustomerPage {
        customers,
        next_cursor,
    })
}

/// Updates the profile in Stripe, then the row. Changing the email moves the customer's key;
/// `customer_exists` when another customer of the organizer holds the new one.
#[tracing::instrument(skip_all, fields(organizer_id = %org_id, customer_id = %customer_id))]
pub async fn update(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    customer_id: CustomerId,
    patch: CustomerPatch,
) -> Result<Customer, ApiError> {
    let id = customer_id.to_string();
    let (organizer, row) =
        organizers::with_organizer(state, principal, org_id, move |conn, organizer| {
            let row = active_by_id(conn, &organizer.id, &id)?;
            Ok((organizer, row))
        })
        .await?;
    let account = account_of(&organizer)?;
    let change = ProfileChange {
        email: patch
            .email
            .as_ref()
            .filter(|email| email.as_str() != row.email)
            .map(|email| email.as_str().to_string()),
        name: patch
            .name
            .map(|name| name.map(|n| n.as_str().to_string()))
            .filter(|name| *name != row.name),
        phone: patch
            .phone
            .map(|phone| phone.map(|p| p.as_str().to_string()))
            .filter(|phone| *phone != row.phone),
        metadata: Default::default(),
    };
    if change.is_empty() {
        return Ok(row);
    }
    let email = match patch.email {
        Some(email) if change.email.is_some() => email,
        _ => stored_email(&row)?,
    };
    if email.normalized() != row.email_normalized {
        let (account_id, normalized) = (
            row.stripe_account_id.clone(),
            email.normalized().to_string(),
        );
        let holder = state
            .db
            .run(move |conn| {
                Ok::<_, ApiError>(Customer::find_by_account_and_email(
                    conn,
                    &account_id,
                    &normalized,
                )?)
            })
            .await?;
        if let Some(holder) = holder {
            return Err(customer_exists(Some(&holder)));
        }
    }
    let audit = AuditContext::new(principal);
    match apply_change(state, &audit, &account, &row, &email, &change).await? {
        Applied::Updated(row) => Ok(*row),
        Applied::StripeDeleted => Err(ApiError::NotFound {
            code: "customer_not_found",
            message: format!(
                "customer {} was deleted in Stripe; upsert it by email to create it again",
                row.id
            ),
        }),
    }
}

pub(crate) enum Applied {
    Updated(Box<Customer>),
    /// Stripe no longer has the customer; the row is now `stripe_deleted`.
    StripeDeleted,
}

/// Sends `change` to Stripe for the active `row`, then stores what Stripe answered, with its
/// audit row. Shared by PATCH and by upserts of an existing customer with new details.
pub(crate) async fn apply_change(
    state: &AppState,
    audit: &AuditContext,
    account: &StripeAccountId,
    row: &Customer,
    email: &Email,
    change: &ProfileChange,
) -> Result<Applied, ApiError> {
    let Some(stripe_customer_id) = row.stripe_customer_id.clone() else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "active customer without a Stripe id"
        )));
    };
    let client = state.stripe.for_account(account);
    let remote = match remote::update(&client, row, &stripe_customer_id, change).await {
        Ok(remote) => remote,
        Err(err) if err.is_not_found() => {
            mark_stripe_deleted(state, audit, row, &stripe_customer_id).await?;
            return Ok(Applied::StripeDeleted);
        }
        Err(err) => {
            audit
                .record_failure(
                    state,
                    AuditEntry {
                        action: "customer.updated",
                        organizer_id: Some(row.organizer_id.clone()),
                        targets: targets(row),
                        outcome: Outcome::Failed,
                        subject_hash: Some(state.subject_hasher.hash(email)),
                        details: json!({ "fields": change.field_names(), "error": err.client_code() }),
                    },
                )
                .await;
            return Err(ApiError::from_stripe_call(account.as_str(), err));
        }
    };

    let requested = change.email.as_ref().map(|_| email.clone());
    let (owned, fields, audit_ctx, hasher) = (
        row.clone(),
        change.field_names(),
        audit.clone(),
        state.subject_hasher.clone(),
    );
    let stored = state
        .db
        .run(move |conn| {
            let row = owned;
            let current = stored_email(&row)?;
            let result = conn.transaction(|conn| {
                let updated = store_profile(conn, &row, &remote, requested.as_ref(), &current)?;
                if let Some((updated, stored)) = &updated {
                    let subject = hasher.hash(stored);
                    let previous_subject = hasher.hash(&current);
                    let mut details = json!({ "fields": fields });
                    if previous_subject != subject {
                        details["previous_subject_hash"] = json!(previous_subject);
                    }
                    audit_ctx.record(
                        conn,
                        &AuditEntry {
                            action: "customer.updated",
                            organizer_id: Some(updated.organizer_id.clone()),
                            targets: targets(updated),
                            outcome: Outcome::Succeeded,
                            subject_hash: Some(subject),
                            details,
                        },
                    )?;
                }
                Ok::<_, DieselError>(updated.map(|(updated, _)| updated))
            });
            match result {
                Ok(Some(updated)) => Ok(Ok(updated)),
                // Another write moved the row on while Stripe answered: Stripe's state wins.
                Ok(None) => Ok(Err(())),
                Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                    let holder = requested.as_ref().and_then(|email| {
                        Customer::find_by_account_and_email(
                            conn,
                            &row.stripe_account_id,
                            email.normalized(),
                        )
                        .ok()
                        .flatten()
                    });
                    Err(customer_exists(holder.as_ref()))
                }
                Err(err) => Err(err.into()),
            }
        })
        .await;
    match stored {
        Ok(Ok(updated)) => Ok(Applied::Updated(Box::new(updated))),
        Ok(Err(())) => refresh_from_stripe(state, account, &row.id).await,
        Err(err @ ApiError::Conflict { .. }) => {
            // The new email was taken between the check and the write: put Stripe back.
            revert(state, account, row, &stripe_customer_id, change).await;
            Err(err)
        }
        Err(err) => Err(err),
    }
}

/// Writes what Stripe answered onto `row` if it is still active at the version read, and says
/// which email it stored; `None` when another write got there first. The email stored is Stripe's (a concurrent change may
/// have moved it on since this request read the row), unless another customer of the
/// organizer holds that address locally and this request did not ask for it: then the row
/// keeps `current`, and whichever change moved Stripe's email settles it.
fn store_profile(
    conn: &mut DbConnection,
    row: &Customer,
    remote: &RemoteCustomer,
    requested: Option<&Email>,
    current: &Email,
) -> Result<Option<(Customer, Email)>, DieselError> {
    let metadata = serde_json::to_string(&remote.metadata)
        .map_err(|e| DieselError::SerializationError(Box::new(e)))?;
    let asked = requested.unwrap_or(current);
    let mirrored = remote
        .email
        .as_deref()
        .and_then(|email| Email::parse(email).ok())
        .unwrap_or_else(|| asked.clone());
    let write = |conn: &mut DbConnection, email: &Email| {
        conn.transaction(|conn| {
            Customer::update_profile(
                conn,
                &row.id,
                row.version,
                &profile(email, remote, &metadata),
            )
        })
        .map(|updated| updated.map(|updated| (updated, email.clone())))
    };
    match write(conn, &mirrored) {
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _))
            if mirrored.normalized() != asked.normalized() =>
        {
            write(conn, current)
        }
        other => other,
    }
}

/// Notes that Stripe no longer has the row's customer, with an audit row: the next upsert
/// creates a new one.
async fn mark_stripe_deleted(
    state: &AppState,
    audit: &AuditContext,
    row: &Customer,
    stripe_customer_id: &str,
) -> Result<(), ApiError> {
    let (row, stripe_id, audit) = (row.clone(), stripe_customer_id.to_string(), audit.clone());
    let subject = state.subject_hasher.hash(&stored_email(&row)?);
    state
        .db
        .run(move |conn| {
            conn.transaction(|conn| {
                if Customer::mark_stripe_deleted(conn, &row.id, &stripe_id)? {
                    tracing::warn!(customer_id = %row.id, "the Stripe customer was deleted in Stripe");
                    audit.record(
                        conn,
                        &AuditEntry {
                            action: "customer.stripe_deleted",
                            organizer_id: Some(row.organizer_id.clone()),
                            targets: targets(&row),
                            outcome: Outcome::Succeeded,
                            subject_hash: Some(subject),
                            details: json!({}),
                        },
                    )?;
                }
                Ok::<_, ApiError>(())
            })
        })
        .await
}

/// Undoes, in Stripe, a change whose local write lost a race for the new email: every field
/// the change sent goes back to the row's value.
async fn revert(
    state: &AppState,
    account: &StripeAccountId,
    row: &Customer,
    stripe_customer_id: &str,
    change: &ProfileChange,
) {
    let client = state.stripe.for_account(account);
    let current = stored_metadata(row);
    let undo = ProfileChange {
        email: change.email.as_ref().map(|_| row.email.clone()),
        name: change.name.as_ref().map(|_| row.name.clone()),
        phone: change.phone.as_ref().map(|_| row.phone.clone()),
        metadata: change
            .metadata
            .keys()
            .map(|key| (key.clone(), current.get(key).cloned().unwrap_or_default()))
            .collect(),
    };
    if let Err(err) = remote::update(&client, row, stripe_customer_id, &undo).await {
        tracing::error!(customer_id = %row.id, error = %err, "could not undo a profile change in Stripe; reconciliation will repair it");
    }
}

/// Overwrites the row with the customer as Stripe has it now, after concurrent writes.
async fn refresh_from_stripe(
    state: &AppState,
    account: &StripeAccountId,
    customer_id: &str,
) -> Result<Applied, ApiError> {
    let id = customer_id.to_string();
    let row = state
        .db
        .run(move |conn| Customer::find_by_id(conn, &id)?.ok_or_else(|| customer_not_found(&id)))
        .await?;
    let Some(stripe_customer_id) = row
        .stripe_customer_id
        .clone()
        .filter(|_| row.has_status(CustomerStatus::Active))
    else {
        // Meanwhile found deleted in Stripe, or being recreated.
        return Ok(Applied::StripeDeleted);
    };
    let client = state.stripe.for_account(account);
    let remote: RemoteCustomer = match client
        .read(&stripe_core::customer::RetrieveCustomer::new(
            stripe_customer_id.as_str(),
        ))
        .await
    {
        Ok(stripe_core::customer::RetrieveCustomerReturned::Customer(customer)) => customer.into(),
        Ok(stripe_core::customer::RetrieveCustomerReturned::DeletedCustomer(_)) => {
            return Ok(Applied::StripeDeleted)
        }
        Err(err) if err.is_not_found() => return Ok(Applied::StripeDeleted),
        Err(err) => return Err(ApiError::from_stripe_call(account.as_str(), err)),
    };
    state
        .db
        .run(move |conn| {
            let current = stored_email(&row)?;
            Ok::<_, ApiError>(match store_profile(conn, &row, &remote, None, &current)? {
                Some((updated, _)) => Applied::Updated(Box::new(updated)),
                // Yet another write: it stored Stripe's answer too.
                None => Applied::Updated(Box::new(row)),
            })
        })
        .await
}

/// Deletes the customer in Stripe, then the row and with it the person's data. A customer
/// already gone in Stripe is not an error.
#[tracing::instrument(skip_all, fields(organizer_id = %org_id, customer_id = %customer_id))]
pub async fn delete(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    customer_id: CustomerId,
) -> Result<(), ApiError> {
    let id = customer_id.to_string();
    let (organizer, row) =
        organizers::with_organizer(state, principal, org_id, move |conn, organizer| {
            let row = Customer::find_by_organizer_and_id(conn, &organizer.id, &id)?
                .filter(|row| !row.has_status(CustomerStatus::Pending))
                .ok_or_else(|| customer_not_found(&id))?;
            Ok((organizer, row))
        })
        .await?;
    let account = account_of(&organizer)?;
    let audit = AuditContext::new(principal);
    let subject = state.subject_hasher.hash(&stored_email(&row)?);
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
pub(crate) async fn erase_row(
    state: &AppState,
    audit: &AuditContext,
    account: &StripeAccountId,
    mut row: Customer,
    action: &'static str,
    subject: String,
) -> Result<Deleted, ApiError> {
    let client = state.stripe.for_account(account);
    for _ in 0..ERASE_ROUNDS {
        let result = match &row.stripe_customer_id {
            Some(stripe_customer_id) => remote::delete(&client, stripe_customer_id).await,
            None => match remote::find_created(&client, &row).await {
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
                            details: json!({ "error": err.client_code() }),
                        },
                    )
                    .await;
                return Err(ApiError::from_stripe_call(account.as_str(), err));
            }
        };
        let (seen, audit, subject) = (row.clone(), audit.clone(), subject.clone());
        let moved_on = state
            .db
            .run(move |conn| {
                conn.transaction(|conn| {
                    if !Customer::delete_if_unchanged(conn, &seen)? {
                        return Ok(Customer::find_by_id(conn, &seen.id)?);
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
                    Ok::<_, ApiError>(None)
                })
            })
            .await?;
        match moved_on {
            None => return Ok(deleted),
            Some(current) => {
                tracing::info!(customer_id = %current.id, "the customer changed while it was erased; erasing its new state");
                row = current;
            }
        }
    }
    Err(ApiError::StripeUnavailable(StripeError::Concurrent(
        "the customer kept changing while it was being deleted".into(),
    )))
}

/// Metadata for a new row from the upsert input, as stored JSON (an empty value removes a key,
/// so on a new customer it sets nothing).
fn metadata_json(metadata: Option<&Metadata>) -> Result<String, ApiError> {
    let map: BTreeMap<&String, &String> = metadata
        .iter()
        .flat_map(|m| m.iter())
        .filter(|(_, value)| !value.is_empty())
        .collect();
    serde_json::to_string(&map).map_err(ApiError::internal)
}

/// The change an upsert asks of an existing row: given fields that differ. The email's
/// spelling is the first one seen; an upsert does not change it. Metadata keys are merged into
/// the customer's, which must stay within Stripe's limit.
fn upsert_change(row: &Customer, input: &UpsertInput) -> Result<ProfileChange, ApiError> {
    let current = stored_metadata(row);
    let metadata: BTreeMap<String, String> = input
        .metadata
        .iter()
        .flat_map(Metadata::iter)
        .filter(|(key, value)| match current.get(*key) {
            Some(existing) => existing != *value,
            None => !value.is_empty(),
        })
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    let kept = current
        .keys()
        .filter(|key| metadata.get(*key).is_none_or(|value| !value.is_empty()))
        .count();
    let added = metadata
        .iter()
        .filter(|(key, value)| !value.is_empty() && !current.contains_key(*key))
        .count();
    if kept + added > Metadata::MAX_KEYS {
        return Err(ApiError::validation(
            "metadata",
            format!(
                "the customer would have {} keys; at most {} (an empty value removes a key)",
                kept + added,
                Metadata::MAX_KEYS
            ),
        ));
    }
    Ok(ProfileChange {
        email: None,
        name: input
            .name
            .as_ref()
            .map(|n| Some(n.as_str().to_string()))
            .filter(|name| *name != row.name),
        phone: input
            .phone
            .as_ref()
            .map(|p| Some(p.as_str().to_string()))
            .filter(|phone| *phone != row.phone),
        metadata,
    })
}
