//! Profile changes: sent to Stripe first, then mirrored onto the row (PATCH, and upserts of an
//! existing customer with new details).

use diesel::result::Error as DieselError;
use serde_json::json;

use super::from_stripe::{self, Applied};
use super::read::active_of;
use super::{targets, told, ActiveCustomer, CustomerError, CustomerPatch};
use crate::db::is_unique_violation;
use crate::db::models::{Customer, CustomerStatus};
use crate::domain::Principal;
use crate::domain::{CustomerId, Email, OrganizerId, StripeAccountId};
use crate::services::audit::{AuditContext, AuditEntry, Outcome};
use crate::services::{organizers, AppState};
use crate::stripe::customers::{self as remote, ProfileChange};

/// Updates the profile in Stripe, then the row. Changing the email moves the customer's key;
/// `EmailTaken` when another customer of the organizer holds the new one.
#[tracing::instrument(skip_all, fields(organizer_id = %org_id, customer_id = %customer_id))]
pub async fn update(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    customer_id: CustomerId,
    patch: CustomerPatch,
) -> Result<ActiveCustomer, CustomerError> {
    let id = customer_id.to_string();
    let platform = state.stripe.platform_account().cloned();
    let (account, current) =
        organizers::with_organizer(state, principal, org_id, move |conn, organizer| {
            let charging = organizers::charging(&organizer, platform.as_ref())?;
            let current = active_of(conn, &organizer, platform.as_ref(), &id)?;
            Ok::<_, CustomerError>((charging.account, current))
        })
        .await?;
    let row = &current.row;
    let change = patch_change(row, &patch);
    if change.is_empty() {
        return Ok(current);
    }
    let email = match patch.email {
        Some(email) if change.email.is_some() => email,
        _ => row.email.clone(),
    };
    if email.normalized() != row.email_normalized {
        let (key, normalized) = (account.to_string(), email.normalized().to_string());
        let organizer_id = row.organizer_id.clone();
        let holder = state
            .db
            .run(move |conn| {
                Ok::<_, CustomerError>(Customer::find_by_account_and_email(
                    conn,
                    &key,
                    &organizer_id,
                    &normalized,
                )?)
            })
            .await?;
        if let Some(holder) = holder {
            return Err(email_taken(Some(&holder)));
        }
    }
    let audit = AuditContext::new(principal);
    match apply_change(state, &audit, &account, &current, &email, &change).await? {
        Applied::Updated(updated) => Ok(*updated),
        Applied::StripeDeleted => Err(CustomerError::DeletedInStripe(row.id.clone())),
    }
}

/// The change a PATCH asks of `row`: the given fields that differ.
fn patch_change(row: &Customer, patch: &CustomerPatch) -> ProfileChange {
    ProfileChange {
        email: patch
            .email
            .as_ref()
            .filter(|email| email.as_str() != row.email.as_str())
            .map(|email| email.as_str().to_string()),
        name: patch
            .name
            .as_ref()
            .map(|name| name.as_ref().map(|n| n.as_str().to_string()))
            .filter(|name| *name != row.name),
        phone: patch
            .phone
            .as_ref()
            .map(|phone| phone.as_ref().map(|p| p.as_str().to_string()))
            .filter(|phone| *phone != row.phone),
        metadata: Default::default(),
    }
}

/// The email is taken by another customer of the organizer: `holder`, named when it is one
/// clients can see (a customer still being created is not yet).
fn email_taken(holder: Option<&Customer>) -> CustomerError {
    CustomerError::EmailTaken {
        holder: holder
            .filter(|holder| holder.status == CustomerStatus::Active)
            .map(|holder| holder.id.clone()),
    }
}

/// Sends `change` to Stripe for the active customer `current`, then stores what Stripe
/// answered, with its audit row. `email` is the row's email after the change.
pub(super) async fn apply_change(
    state: &AppState,
    audit: &AuditContext,
    account: &StripeAccountId,
    current: &ActiveCustomer,
    email: &Email,
    change: &ProfileChange,
) -> Result<Applied, CustomerError> {
    let (row, stripe_customer_id) = (&current.row, current.stripe_customer_id.as_str());
    let client = state.stripe.for_account(account);
    let remote = match remote::update(&client, account, &row.id, stripe_customer_id, change).await {
        Ok(remote) => remote,
        Err(err) if err.is_not_found() => {
            from_stripe::mark_stripe_deleted(state, audit, row, stripe_customer_id).await?;
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
                        details: json!({ "fields": change.field_names(), "error": err.failure().code() }),
                    },
                )
                .await;
            return Err(CustomerError::stripe(account, err));
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
            let result = crate::db::write_transaction(conn, |conn| {
                let updated = from_stripe::store_profile(conn, &row, &remote, requested.as_ref())?;
                if let Some((updated, stored)) = &updated {
                    let subject = hasher.hash(stored);
                    let previous_subject = hasher.hash(&row.email);
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
                Ok(Some(updated)) => Ok(Some(updated)),
                // Another write moved the row on while Stripe answered: Stripe's state wins.
                Ok(None) => Ok(None),
                Err(err) if is_unique_violation(&err) => {
                    let holder = match &requested {
                        Some(email) => Customer::find_by_account_and_email(
                            conn,
                            &row.stripe_account_id,
                            &row.organizer_id,
                            email.normalized(),
                        )?,
                        None => None,
                    };
                    Err(email_taken(holder.as_ref()))
                }
                Err(err) => Err(err.into()),
            }
        })
        .await;
    match stored {
        Ok(Some(updated)) => {
            told::committed();
            Applied::updated(updated)
        }
        Ok(None) => from_stripe::refresh(state, account, &row.id).await,
        Err(err @ CustomerError::EmailTaken { .. }) => {
            // The new email was taken between the check and the write: put Stripe back.
            from_stripe::revert(state, account, row, stripe_customer_id, change).await;
            Err(err)
        }
        Err(err) => Err(err),
    }
}
