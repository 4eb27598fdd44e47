//! Upsert by (normalized email, account): one Stripe customer and one row per key, however many
//! requests race for it on however many instances, and healing after failures.
//!
//! 1. A `pending` row (no Stripe id, never shown by reads) reserves the key first. The unique
//!    index on (stripe_account_id, organizer_id, email_normalized) lets exactly one request win it.
//! 2. The winner holds the row's create lease while it creates the Stripe customer, with an
//!    idempotency key made of the row id and its create attempt; then it completes the row.
//! 3. Every other request waits for the lease to end and answers with the completed row (or
//!    with the winner's failure), instead of calling Stripe too. It waits at most the
//!    configured create wait, then answers `WaitTimedOut` (503): repeating the request later
//!    finds the create finished, or takes it over.
//! 4. A lease that ended without a Stripe id (its holder failed or died) is taken over by the
//!    next request. It first looks for a customer the earlier attempt created (Stripe's list by
//!    email, matched on the row id in the customer's metadata, which also covers idempotency
//!    keys Stripe has forgotten after 24 hours), and otherwise creates with the same key.
//! 5. A row whose Stripe customer turned out deleted in Stripe moves to a new attempt, so its
//!    create gets a new key: a new Stripe customer under the same gateway id.
//!
//! Each effect (the reservation, a takeover, a change sent to Stripe) first passes the
//! request's [`EffectGate`]; an upsert of a customer that exists and is unchanged has none.
//!
//! The key is (row id, attempt) rather than (email, account): a key per email would replay the
//! old customer once that email moved to another address and came back; a random key per
//! request would let racing requests create one customer each.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use super::create::{self, load};
use super::from_stripe::Applied;
use super::update::apply_change;
use super::{ActiveCustomer, CustomerError, CustomerState, UpsertInput, Upserted};
use crate::db::models::{Customer, CustomerStatus};
use crate::db::now;
use crate::domain::Principal;
use crate::domain::{Metadata, OrganizerId, StripeAccountId};
use crate::services::audit::AuditContext;
use crate::services::effect_gate::EffectGate;
use crate::services::{organizers, AppState};
use crate::stripe::customers::ProfileChange;

const POLL_FIRST: Duration = Duration::from_millis(10);
const POLL_MAX: Duration = Duration::from_millis(200);

#[tracing::instrument(skip_all, fields(organizer_id = %org_id))]
pub async fn upsert(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    input: UpsertInput,
    gate: &EffectGate,
) -> Result<Upserted, CustomerError> {
    // The first look at the key is the grouped read by email, with the organizer check and
    // the look at the request's `Idempotency-Key`: for a customer that exists and is
    // unchanged, that is the whole request, and under load it shares its statements with the
    // reads and upserts that arrive with it. A pending row's create lease is read in the loop
    // below.
    let (organizer, found) = state
        .reads
        .with_organizer_by_email(principal, org_id, &input.email, gate)
        .await?;
    let mut first_look = match found {
        Some(row) if row.status == CustomerStatus::Pending => None,
        Some(row) => {
            let customer_state = CustomerState::of(&row, None)?;
            Some(Some((row, customer_state)))
        }
        None => Some(None),
    };
    let account = organizers::charging(&organizer, state.stripe.platform_account())?.account;
    let organizer_id = organizer.id;
    let audit = AuditContext::new(principal);
    let started = now();
    let give_up = Instant::now() + state.create_wait;
    let mut poll = POLL_FIRST;
    loop {
        let found = match first_look.take() {
            Some(found) => found,
            None => find_by_key(state, &account, &organizer_id, input.email.normalized()).await?,
        };
        let Some((row, customer_state)) = found else {
            gate.pass().await?;
            if let Some((row, lease)) =
                create::reserve(state, &organizer_id, &account, &input).await?
            {
                let created = create::create(state, &audit, &account, row, lease, false).await?;
                return finish(state, &audit, &account, created, &input, true).await;
            }
            // Another request reserved the key first; the next round sees its row.
            continue;
        };
        match customer_state {
            CustomerState::Active { stripe_customer_id } => {
                let current = ActiveCustomer {
                    row,
                    stripe_customer_id,
                };
                let change = upsert_change(&current.row, &input)?;
                if change.is_empty() {
                    return Ok(Upserted::Existing(current));
                }
                gate.pass().await?;
                let email = current.row.email.clone();
                match apply_change(state, &audit, &account, &current, &email, &change).await? {
                    Applied::Updated(updated) => return Ok(Upserted::Existing(*updated)),
                    // Deleted in Stripe: the next round recreates it.
                    Applied::StripeDeleted => continue,
                }
            }
            CustomerState::Pending {
                lease_until: Some(_),
            } => {
                // Another request is creating it: wait for its answer, within bounds.
                wait(&mut poll, give_up).await?;
            }
            CustomerState::Pending { lease_until: None } | CustomerState::StripeDeleted => {
                if customer_state != CustomerState::StripeDeleted
                    && row.last_failure_at.is_some_and(|failed| failed >= started)
                {
                    // The request this one waited for failed against Stripe just now;
                    // answering with that failure beats every waiter retrying in turn.
                    return Err(CustomerError::ConcurrentCreateFailed);
                }
                gate.pass().await?;
                if let Some((claimed, lease)) = create::claim(state, row, started).await? {
                    // A row that never had a Stripe customer is created by this request: 201.
                    let first = !claimed.ever_active;
                    let created =
                        create::create(state, &audit, &account, claimed, lease, true).await?;
                    return finish(state, &audit, &account, created, &input, first).await;
                }
                // Another request took the create over first: wait for it like the others.
                wait(&mut poll, give_up).await?;
            }
        }
    }
}

/// Sleeps before the next look at a create another request holds, backing off; `WaitTimedOut`
/// once the create wait is over.
async fn wait(poll: &mut Duration, give_up: Instant) -> Result<(), CustomerError> {
    let now = Instant::now();
    if now >= give_up {
        return Err(CustomerError::WaitTimedOut);
    }
    tokio::time::sleep((*poll).min(give_up - now)).await;
    *poll = (*poll * 2).min(POLL_MAX);
    Ok(())
}

/// After this request created the row's customer: applies whatever else the input asks (a
/// recreated customer gets the stored details, which the input may change).
async fn finish(
    state: &AppState,
    audit: &AuditContext,
    account: &StripeAccountId,
    created: ActiveCustomer,
    input: &UpsertInput,
    first: bool,
) -> Result<Upserted, CustomerError> {
    let change = upsert_change(&created.row, input)?;
    let current = if change.is_empty() {
        created
    } else {
        let email = created.row.email.clone();
        match apply_change(state, audit, account, &created, &email, &change).await? {
            Applied::Updated(updated) => *updated,
            Applied::StripeDeleted => return Err(CustomerError::NotFound(created.row.id)),
        }
    };
    Ok(if first {
        Upserted::Created(current)
    } else {
        Upserted::Existing(current)
    })
}

async fn find_by_key(
    state: &AppState,
    account: &StripeAccountId,
    organizer_id: &str,
    email_normalized: &str,
) -> Result<Option<(Customer, CustomerState)>, CustomerError> {
    let (account, email) = (account.to_string(), email_normalized.to_string());
    let organizer_id = organizer_id.to_string();
    state
        .db
        .run(move |conn| {
            Customer::find_by_account_and_email(conn, &account, &organizer_id, &email)?
                .map(|row| load(conn, row))
                .transpose()
        })
        .await
}

/// The change an upsert asks of an existing row: given fields that differ. The email's
/// spelling is the first one seen; an upsert does not change it. Metadata keys are merged into
/// the customer's, which must stay within Stripe's limit.
fn upsert_change(row: &Customer, input: &UpsertInput) -> Result<ProfileChange, CustomerError> {
    let current = &row.metadata;
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
        return Err(CustomerError::TooManyMetadataKeys {
            count: kept + added,
        });
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

#[cfg(test)]
#[path = "upsert_tests.rs"]
mod tests;
