//! Customers of one organizer, keyed by (normalized email, the organizer's Stripe account):
//! the same person buying from two organizers is two customers, each with its own Stripe
//! customer in its own account, and no Stripe id ever crosses accounts.
//!
//! Writes go to Stripe first, then to the row. How creation stays single under races, across
//! instances, and heals after failures is in [`upsert`].

pub mod remote;
mod upsert;

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::Connection;
use serde_json::json;

pub use remote::ProfileChange;
pub use upsert::{upsert, Upserted};

use crate::auth::Principal;
use crate::db::models::{Customer, CustomerStatus, Organizer, StripeProfile};
use crate::db::now;
use crate::domain::{
    Cursor, CustomerId, CustomerName, Email, Metadata, OrganizerId, PageLimit, Phone,
    StripeAccountId,
};
use crate::error::ApiError;
use crate::services::audit::{AuditContext, AuditEntry, Outcome};
use crate::services::{organizers, AppState};
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

fn customer_exists(existing_id: &str) -> ApiError {
    ApiError::Conflict {
        code: "customer_exists",
        message: format!(
            "another customer of this organizer ({existing_id}) already has that email"
        ),
    }
}

/// The organizer, for a caller allowed to act for it (admin, or its own active token).
async fn organizer_for(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
) -> Result<(Organizer, StripeAccountId), ApiError> {
    let organizer = organizers::get_for(state, principal, org_id).await?;
    let account = StripeAccountId::parse(&organizer.stripe_account_id)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored account id is invalid: {e}")))?;
    Ok((organizer, account))
}

/// The profile to store after Stripe answered: Stripe's name, phone and metadata, and the
/// email the gateway sent (Stripe stores it as given).
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
    organizer_for(state, principal, org_id).await?;
    find_active(state, org_id, customer_id).await
}

async fn find_active(
    state: &AppState,
    org_id: OrganizerId,
    customer_id: CustomerId,
) -> Result<Customer, ApiError> {
    let (org, id) = (org_id.to_string(), customer_id.to_string());
    state
        .db
        .run(move |conn| {
            Customer::find_by_organizer_and_id(conn, &org, &id)?
                .filter(|row| row.has_status(CustomerStatus::Active))
                .ok_or_else(|| customer_not_found(&id))
        })
        .await
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
    organizer_for(state, principal, org_id).await?;
    let org = org_id.to_string();
    let customers = state
        .db
        .run(move |conn| {
            Ok::<_, ApiError>(Customer::list_active_for_organizer_after(
                conn,
                &org,
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
    let (_, account) = organizer_for(state, principal, org_id).await?;
    let row = find_active(state, org_id, customer_id).await?;
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
            return Err(customer_exists(&holder.id));
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
    let subject = state.subject_hasher.hash(email);
    let remote = match remote::update(&client, row, &stripe_customer_id, change).await {
        Ok(remote) => remote,
        Err(err) if err.is_not_found() => {
            let (id, stripe_id) = (row.id.clone(), stripe_customer_id.clone());
            state
                .db
                .run(move |conn| {
                    Ok::<_, ApiError>(Customer::mark_stripe_deleted(conn, &id, &stripe_id)?)
                })
                .await?;
            tracing::warn!(customer_id = %row.id, "the Stripe customer was deleted in Stripe");
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
                        subject_hash: Some(subject.clone()),
                        details: json!({ "fields": change.field_names(), "error": err.client_code() }),
                    },
                )
                .await;
            return Err(ApiError::from_stripe_write(err));
        }
    };

    let previous_subject = state.subject_hasher.hash(&stored_email(row)?);
    let (owned, email, change, audit_ctx) =
        (row.clone(), email.clone(), change.clone(), audit.clone());
    let stored = state
        .db
        .run(move |conn| {
            let metadata = serde_json::to_string(&remote.metadata).map_err(ApiError::internal)?;
            let row = owned;
            let result = conn.transaction(|conn| {
                let updated = Customer::update_profile(
                    conn,
                    &row.id,
                    row.version,
                    &profile(&email, &remote, &metadata),
                )?;
                if let Some(updated) = &updated {
                    let mut details = json!({ "fields": change.field_names() });
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
                            subject_hash: Some(subject.clone()),
                            details,
                        },
                    )?;
                }
                Ok::<_, DieselError>(updated)
            });
            match result {
                Ok(Some(updated)) => Ok(Ok(updated)),
                // Another write moved the row on while Stripe answered: Stripe's state wins.
                Ok(None) => Ok(Err(())),
                Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                    let holder = Customer::find_by_account_and_email(
                        conn,
                        &row.stripe_account_id,
                        email.normalized(),
                    )?;
                    Err(customer_exists(
                        holder.as_ref().map_or("(unknown)", |h| &h.id),
                    ))
                }
                Err(err) => Err(err.into()),
            }
        })
        .await;
    match stored {
        Ok(Ok(updated)) => Ok(Applied::Updated(Box::new(updated))),
        Ok(Err(())) => refresh_from_stripe(state, account, &row.id)
            .await
            .map(|row| Applied::Updated(Box::new(row))),
        Err(err @ ApiError::Conflict { .. }) => {
            // The new email was taken between the check and the write: put Stripe back.
            revert_email(state, account, row, &stripe_customer_id).await;
            Err(err)
        }
        Err(err) => Err(err),
    }
}

/// Undoes an email change in Stripe whose local write lost a race for the new email.
async fn revert_email(
    state: &AppState,
    account: &StripeAccountId,
    row: &Customer,
    stripe_customer_id: &str,
) {
    let client = state.stripe.for_account(account);
    let change = ProfileChange {
        email: Some(row.email.clone()),
        ..Default::default()
    };
    let mut reverted = row.clone();
    // A version no local write uses: the revert gets its own idempotency key.
    reverted.version = -row.version - 1;
    if let Err(err) = remote::update(&client, &reverted, stripe_customer_id, &change).await {
        tracing::error!(customer_id = %row.id, error = %err, "could not revert the email in Stripe; reconciliation will repair it");
    }
}

/// Overwrites the row with the customer as Stripe has it now, after concurrent writes.
async fn refresh_from_stripe(
    state: &AppState,
    account: &StripeAccountId,
    customer_id: &str,
) -> Result<Customer, ApiError> {
    let id = customer_id.to_string();
    let row = state
        .db
        .run(move |conn| Customer::find_by_id(conn, &id)?.ok_or_else(|| customer_not_found(&id)))
        .await?;
    let Some(stripe_customer_id) = row.stripe_customer_id.clone() else {
        return Ok(row);
    };
    let client = state.stripe.for_account(account);
    let remote: RemoteCustomer = match client
        .read(&stripe_core::customer::RetrieveCustomer::new(
            stripe_customer_id.as_str(),
        ))
        .await?
    {
        stripe_core::customer::RetrieveCustomerReturned::Customer(customer) => customer.into(),
        stripe_core::customer::RetrieveCustomerReturned::DeletedCustomer(_) => {
            return Err(customer_not_found(&row.id))
        }
    };
    let email = stored_email(&row)?;
    state
        .db
        .run(move |conn| {
            let metadata = serde_json::to_string(&remote.metadata).map_err(ApiError::internal)?;
            Customer::update_profile(
                conn,
                &row.id,
                row.version,
                &profile(&email, &remote, &metadata),
            )?
            .map_or_else(|| Ok(row.clone()), Ok)
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
    let (_, account) = organizer_for(state, principal, org_id).await?;
    let (org, id) = (org_id.to_string(), customer_id.to_string());
    let row = state
        .db
        .run(move |conn| {
            Customer::find_by_organizer_and_id(conn, &org, &id)?
                .filter(|row| !row.has_status(CustomerStatus::Pending))
                .ok_or_else(|| customer_not_found(&id))
        })
        .await?;
    let audit = AuditContext::new(principal);
    let subject = state.subject_hasher.hash(&stored_email(&row)?);
    erase_row(state, &audit, &account, row, "customer.deleted", subject).await?;
    Ok(())
}

/// Deletes `row`'s customer in Stripe (or, for a row whose create never finished, whatever
/// that create may have made), then the row, with an audit row either way. Returns what Stripe
/// said.
pub(crate) async fn erase_row(
    state: &AppState,
    audit: &AuditContext,
    account: &StripeAccountId,
    row: Customer,
    action: &'static str,
    subject: String,
) -> Result<Deleted, ApiError> {
    let client = state.stripe.for_account(account);
    let result = match &row.stripe_customer_id {
        Some(stripe_customer_id) => remote::delete(&client, stripe_customer_id).await,
        None => match remote::find_created(&client, &row).await {
            Ok(Some(orphan)) => remote::delete(&client, &orphan.id).await,
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
            return Err(err.into());
        }
    };
    let audit = audit.clone();
    state
        .db
        .run(move |conn| {
            conn.transaction(|conn| {
                Customer::delete_by_id(conn, &row.id)?;
                audit.record(
                    conn,
                    &AuditEntry {
                        action,
                        organizer_id: Some(row.organizer_id.clone()),
                        targets: targets(&row),
                        outcome: Outcome::Succeeded,
                        subject_hash: Some(subject.clone()),
                        details: json!({ "stripe": match deleted {
                            Deleted::Now => "deleted",
                            Deleted::AlreadyGone => "already_deleted",
                        } }),
                    },
                )
            })
            .map_err(ApiError::from)
        })
        .await?;
    Ok(deleted)
}

/// Metadata for the row from the upsert input, as stored JSON.
fn metadata_json(metadata: Option<&Metadata>) -> Result<String, ApiError> {
    let map = metadata.map(|m| m.clone().into_inner()).unwrap_or_default();
    serde_json::to_string(&map).map_err(ApiError::internal)
}

/// The change an upsert asks of an existing row: given fields that differ. The email's
/// spelling is the first one seen; an upsert does not change it.
fn upsert_change(row: &Customer, input: &UpsertInput) -> ProfileChange {
    let current = stored_metadata(row);
    ProfileChange {
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
        metadata: input
            .metadata
            .iter()
            .flat_map(Metadata::iter)
            .filter(|(key, value)| current.get(*key) != Some(*value))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect(),
    }
}
