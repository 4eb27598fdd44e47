//! Mirroring Stripe: what Stripe answered is written onto the row, a row is refreshed from
//! Stripe after concurrent writes, and a change the row could not take is undone in Stripe.
//! The webhook worker will refresh rows through here too.

use diesel::result::Error as DieselError;
use serde_json::json;

use super::{targets, told, ActiveCustomer, CustomerError};
use crate::db::columns::Json;
use crate::db::is_unique_violation;
use crate::db::models::gateway_event::GatewayEvent;
use crate::db::models::{Customer, StripeProfile};
use crate::db::{now, DbConnection};
use crate::domain::{Email, StripeAccountId};
use crate::mirror::{BoxFuture, Cause, CustomerWrites, MirrorError};
use crate::services::audit::{AuditContext, AuditEntry, Outcome};
use crate::services::AppState;
use crate::stripe::customers::{self as remote, ProfileChange, RemoteCustomer};

/// How writing a change through to Stripe ended.
pub(super) enum Applied {
    Updated(Box<ActiveCustomer>),
    /// Stripe no longer has the customer; the row is now `stripe_deleted`.
    StripeDeleted,
}

impl Applied {
    /// What storing `row` left: the updated customer, or none active any more.
    pub(super) fn updated(row: Customer) -> Result<Self, CustomerError> {
        Ok(match ActiveCustomer::of(row)? {
            Some(active) => Self::Updated(Box::new(active)),
            None => Self::StripeDeleted,
        })
    }
}

/// The row's profile columns for what Stripe answered, with `email` (see [`mirrored_email`]).
pub(super) fn profile<'a>(
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

/// The email to store after Stripe answered: Stripe's own, since a concurrent change may have
/// moved it on since this request read the row; the one asked for when Stripe's answer has no
/// address the gateway accepts.
pub(super) fn mirrored_email(stripe: Option<&str>, asked: &Email) -> Email {
    stripe
        .and_then(|email| Email::parse(email).ok())
        .unwrap_or_else(|| asked.clone())
}

/// Writes what Stripe answered onto `row` if it is still active at the version read, and says
/// which email it stored; `None` when another write got there first. The email is
/// [`mirrored_email`], unless another customer of the organizer holds that address locally and
/// this request did not ask for it: then the row keeps its own, and whichever change moved
/// Stripe's email settles it. The caller wakes the event's readers ([`told::committed`]) once
/// the transaction this runs in has committed.
pub(super) fn store_profile(
    conn: &mut DbConnection,
    row: &Customer,
    remote: &RemoteCustomer,
    requested: Option<&Email>,
) -> Result<Option<(Customer, Email)>, DieselError> {
    let metadata = Json(&remote.metadata).to_json();
    let asked = requested.unwrap_or(&row.email);
    let mirrored = mirrored_email(remote.email.as_deref(), asked);
    let write = |conn: &mut DbConnection, email: &Email| {
        crate::db::write_transaction(conn, |conn| {
            GatewayEvent::lock_organizer(conn, &row.organizer_id)?;
            let updated = Customer::update_profile(
                conn,
                &row.stripe_account_id,
                &row.id,
                row.version,
                &profile(email, remote, &metadata),
            )?;
            if let Some(updated) = &updated {
                if told::profile_changed(row, updated) {
                    told::updated(conn, updated)?;
                }
            }
            Ok(updated)
        })
        .map(|updated| updated.map(|updated| (updated, email.clone())))
    };
    match write(conn, &mirrored) {
        Err(err) if is_unique_violation(&err) && mirrored.normalized() != asked.normalized() => {
            write(conn, &row.email)
        }
        other => other,
    }
}

/// Notes that Stripe no longer has the row's customer, with an audit row: the next upsert
/// creates a new one.
pub(super) async fn mark_stripe_deleted(
    state: &AppState,
    audit: &AuditContext,
    row: &Customer,
    stripe_customer_id: &str,
) -> Result<(), CustomerError> {
    let (row, stripe_id, audit) = (row.clone(), stripe_customer_id.to_string(), audit.clone());
    let subject = state.subject_hasher.hash(&row.email);
    state
        .db
        .run(move |conn| {
            crate::db::write_transaction(conn, |conn| {
                GatewayEvent::lock_organizer(conn, &row.organizer_id)?;
                if Customer::mark_stripe_deleted(conn, &row.stripe_account_id, &row.id, &stripe_id)?
                {
                    told::deleted(conn, &row, false)?;
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
                Ok::<_, CustomerError>(())
            })
        })
        .await?;
    told::committed();
    Ok(())
}

/// Undoes, in Stripe, a change whose local write lost a race for the new email: every field
/// the change sent goes back to the row's value. Best effort: reconciliation repairs what this
/// cannot.
pub(super) async fn revert(
    state: &AppState,
    account: &StripeAccountId,
    row: &Customer,
    stripe_customer_id: &str,
    change: &ProfileChange,
) {
    let client = state.stripe.for_account(account);
    let undo = ProfileChange {
        email: change
            .email
            .as_ref()
            .map(|_| row.email.as_str().to_string()),
        name: change.name.as_ref().map(|_| row.name.clone()),
        phone: change.phone.as_ref().map(|_| row.phone.clone()),
        metadata: change
            .metadata
            .keys()
            .map(|key| {
                (
                    key.clone(),
                    row.metadata.get(key).cloned().unwrap_or_default(),
                )
            })
            .collect(),
    };
    if let Err(err) = remote::update(&client, account, &row.id, stripe_customer_id, &undo).await {
        tracing::error!(customer_id = %row.id, error = %err, "could not undo a profile change in Stripe; reconciliation will repair it");
    }
}

/// Overwrites the account's customer `customer_id` with the customer as Stripe has it now.
pub(super) async fn refresh(
    state: &AppState,
    account: &StripeAccountId,
    customer_id: &str,
) -> Result<Applied, CustomerError> {
    let (key, id) = (account.to_string(), customer_id.to_string());
    let row = state
        .db
        .run(move |conn| {
            Customer::find_by_account_and_id(conn, &key, &id)?.ok_or(CustomerError::NotFound(id))
        })
        .await?;
    let Some(active) = ActiveCustomer::of(row)? else {
        // Meanwhile found deleted in Stripe, or being recreated.
        return Ok(Applied::StripeDeleted);
    };
    let client = state.stripe.for_account(account);
    let remote = match remote::retrieve(&client, &active.stripe_customer_id).await {
        Ok(Some(remote)) => remote,
        Ok(None) => return Ok(Applied::StripeDeleted),
        Err(err) => return Err(CustomerError::stripe(account, err)),
    };
    let applied = state
        .db
        .run(
            move |conn| match store_profile(conn, &active.row, &remote, None)? {
                Some((updated, _)) => Applied::updated(updated),
                // Yet another write: it stored Stripe's answer too.
                None => Ok(Applied::Updated(Box::new(active))),
            },
        )
        .await;
    told::committed();
    applied
}

/// The customer kind of the mirror writes Stripe's state onto the gateway's customers through
/// here, as the webhook worker (audited as `webhook-worker`, with the event's id) or a
/// reconciliation run (`reconciler`, with the run's id).
impl CustomerWrites for AppState {
    fn apply<'a>(
        &'a self,
        account: &'a StripeAccountId,
        id: &'a str,
        known: Option<Option<RemoteCustomer>>,
        cause: Cause<'a>,
    ) -> BoxFuture<'a, Result<bool, MirrorError>> {
        Box::pin(async move {
            apply_stripe_customer(self, account, id, known, audit(cause))
                .await
                .map_err(|err| MirrorError::Customer(Box::new(err)))
        })
    }

    fn adopt<'a>(
        &'a self,
        account: &'a StripeAccountId,
        customers: Vec<RemoteCustomer>,
        cause: Cause<'a>,
        listed_by: &'a str,
    ) -> BoxFuture<'a, Result<(), MirrorError>> {
        Box::pin(async move {
            super::adopt_page(self, account, customers, audit(cause), Some(listed_by))
                .await
                .map_err(|err| MirrorError::Customer(Box::new(err)))
        })
    }
}

fn audit(cause: Cause<'_>) -> AuditContext {
    match cause {
        Cause::Event(id) => AuditContext::system("webhook-worker", id),
        Cause::Run(id) => AuditContext::system("reconciler", id),
    }
}

/// Brings the account's row for the Stripe customer `stripe_customer_id` to what Stripe holds
/// now: its profile; or, when Stripe no longer has the customer, the row is erased exactly as
/// `DELETE` erases it (audited as `customer.deleted` by the system). A Stripe customer no
/// gateway row points at goes to [`super::adopt`]. Stripe's state is `known` when the caller
/// has it (a listing's customer, or `Some(None)` when Stripe no longer has it), else fetched.
///
/// The row is read before each fetch and written only if unchanged since: a request that
/// stored a newer Stripe answer meanwhile is never overwritten by this older state; the row is
/// read and fetched again instead. Returns whether Stripe still has the customer.
pub async fn apply_stripe_customer(
    state: &AppState,
    account: &StripeAccountId,
    stripe_customer_id: &str,
    mut known: Option<Option<RemoteCustomer>>,
    audit: AuditContext,
) -> Result<bool, CustomerError> {
    let client = state.stripe.for_account(account);
    for _ in 0..3 {
        let (key, stripe_id) = (account.to_string(), stripe_customer_id.to_string());
        let row = state
            .db
            .run(move |conn| {
                Customer::find_by_account_and_stripe_id(conn, &key, &stripe_id)
                    .map_err(CustomerError::from)
            })
            .await?;
        let remote = match known.take() {
            Some(remote) => remote,
            None => remote::retrieve(&client, stripe_customer_id)
                .await
                .map_err(|err| CustomerError::stripe(account, err))?,
        };
        let (row, remote) = match (row, remote) {
            (None, Some(remote)) => {
                super::adopt::adopt(state, account, remote, audit).await?;
                return Ok(true);
            }
            (None, None) => return Ok(false),
            (Some(row), None) => {
                let subject = state.subject_hasher.hash(&row.email);
                super::erase_row(state, &audit, account, row, "customer.deleted", subject).await?;
                return Ok(false);
            }
            (Some(row), Some(remote)) => (row, remote),
        };
        if ActiveCustomer::of(row.clone())?.is_none() {
            return Ok(true); // being recreated: the upsert that does it stores Stripe's answer
        }
        let stored = state
            .db
            .run(move |conn| store_profile(conn, &row, &remote, None).map_err(CustomerError::from))
            .await?;
        if stored.is_some() {
            told::committed();
            return Ok(true);
        }
    }
    Err(CustomerError::KeptChanging)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(raw: &str) -> Email {
        Email::parse(raw).unwrap()
    }

    #[test]
    fn the_stored_email_is_stripes_when_it_has_one() {
        let asked = email("asked@example.com");
        assert_eq!(
            mirrored_email(Some("Moved@Example.com"), &asked).as_str(),
            "Moved@Example.com"
        );
    }

    #[test]
    fn without_a_usable_email_from_stripe_the_asked_one_is_stored() {
        let asked = email("asked@example.com");
        assert_eq!(mirrored_email(None, &asked), asked);
        assert_eq!(mirrored_email(Some("not an email"), &asked), asked);
    }
}
