//! Registering and managing organizers (tenants).

use serde_json::json;

use crate::db::is_unique_violation;
use crate::db::models::{NewOrganizer, Organizer, OrganizerChanges};
use crate::db::{now, DbError};
use crate::domain::{
    ApplicationFeeBps, ChargeType, Cursor, OrganizerId, OrganizerName, OrganizerStatus, PageLimit,
    StripeAccountId, TicketFees,
};
use crate::mirror::account::{Accounts, RemoteAccount, StripeAccount};
use crate::mirror::Rows;
use crate::services::audit::{AuditContext, AuditEntry, Outcome};
use crate::services::AppState;
use crate::stripe::{Get, StripeError, StripeFailure};

mod access;
mod error;
pub mod onboarding;
mod platform;
mod view;

pub use access::{
    authorize_loaded, chargeable, charging, connected_account, get_for, load_with_organizer,
    may_act, with_organizer, Charging,
};
pub use error::OrganizerError;
pub use platform::{check_platform_account, platform_mismatch};
pub use view::OrganizerResponse;

pub struct NewOrganizerInput {
    pub name: OrganizerName,
    /// `None`: the gateway creates the account later (`onboarding::create_account`).
    pub stripe_account_id: Option<StripeAccountId>,
    pub application_fee_bps: Option<ApplicationFeeBps>,
    pub ticket_fees: Option<TicketFees>,
    pub refund_application_fee: bool,
    pub charge_type: ChargeType,
}

/// A partial update; `None` leaves a field as it is.
#[derive(Default)]
pub struct OrganizerPatch {
    pub name: Option<OrganizerName>,
    /// `Some(None)` removes the fee.
    pub application_fee_bps: Option<Option<ApplicationFeeBps>>,
    /// `Some(None)` removes the fees per ticket.
    pub ticket_fees: Option<Option<TicketFees>>,
    pub refund_application_fee: Option<bool>,
    pub status: Option<OrganizerStatus>,
}

impl OrganizerPatch {
    fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.application_fee_bps.is_none()
            && self.ticket_fees.is_none()
            && self.refund_application_fee.is_none()
            && self.status.is_none()
    }
}

pub struct OrganizerPage {
    pub organizers: Vec<OrganizerResponse>,
    pub next_cursor: Option<Cursor>,
}

/// Registers an organizer after Stripe confirms the platform can act for its account.
/// The unique index on `stripe_account_id` settles concurrent registrations: one wins, the
/// others get `organizer_exists`.
/// An organizer registered without an account gets one later (`onboarding::create_account`).
#[tracing::instrument(skip_all, fields(stripe_account_id = ?input.stripe_account_id))]
pub async fn register(
    state: &AppState,
    audit: AuditContext,
    input: NewOrganizerInput,
) -> Result<OrganizerResponse, OrganizerError> {
    if input.charge_type == ChargeType::Destination {
        platform_organizer_registered(state).await?;
    }
    if let Some(account) = input.stripe_account_id.clone() {
        let existing = state
            .db
            .run(move |conn| {
                Ok::<_, OrganizerError>(Organizer::find_by_stripe_account_id(
                    conn,
                    account.as_str(),
                )?)
            })
            .await?;
        if let Some(existing) = existing {
            return Err(OrganizerError::Exists {
                account: existing.stripe_account_id.unwrap_or_default(),
                existing: existing.id,
            });
        }
    }
    // Stamped before Stripe is asked, like every mirror write.
    let fetched_at = state
        .db
        .run(|conn| Ok::<_, DbError>(crate::db::database_now(conn)?))
        .await?;
    let status = match &input.stripe_account_id {
        Some(account) => verify_account_access(state, account)
            .await?
            .map(|remote| Accounts::row(account.as_str(), remote, fetched_at)),
        None => None,
    };

    let organizer = state
        .db
        .run(move |conn| {
            let id = OrganizerId::new().to_string();
            let created_at = now();
            let new = NewOrganizer {
                id: &id,
                name: input.name.as_str(),
                stripe_account_id: input
                    .stripe_account_id
                    .as_ref()
                    .map(StripeAccountId::as_str),
                application_fee_bps: input.application_fee_bps.map(|fee| i32::from(fee.get())),
                ticket_fees: input.ticket_fees.as_ref().map(TicketFees::to_json),
                refund_application_fee: input.refund_application_fee,
                charge_type: input.charge_type,
                status: OrganizerStatus::Active,
                created_at,
                updated_at: created_at,
            };
            let result = crate::db::write_transaction(conn, |conn| {
                let organizer = Organizer::insert(conn, &new)?;
                if let Some(status) = &status {
                    crate::mirror::write::<Accounts>(conn, status)?;
                }
                audit.record(
                    conn,
                    &AuditEntry {
                        action: "organizer.created",
                        organizer_id: Some(organizer.id.clone()),
                        targets: json!({ "organizer_id": organizer.id }),
                        outcome: Outcome::Succeeded,
                        subject_hash: None,
                        details: json!({
                            "name": organizer.name,
                            "stripe_account_id": organizer.stripe_account_id,
                            "application_fee_bps": organizer.application_fee_bps,
                            "ticket_fees": input.ticket_fees.as_ref().map(TicketFees::as_map),
                            "refund_application_fee": organizer.refund_application_fee,
                            "charge_type": organizer.charge_type,
                        }),
                    },
                )?;
                Ok((organizer, status))
            });
            match result {
                Err(err) if is_unique_violation(&err) => {
                    let account = new.stripe_account_id.unwrap_or_default();
                    let winner = Organizer::find_by_stripe_account_id(conn, account)?;
                    Err(OrganizerError::Exists {
                        account: account.to_string(),
                        existing: winner.map_or_else(|| "(unknown)".to_string(), |w| w.id),
                    })
                }
                other => Ok(other?),
            }
        })
        .await?;
    let (organizer, status) = organizer;
    Ok(OrganizerResponse::new(organizer, status, state))
}

/// Destination charges are payments on the platform's account: its events are processed, and
/// its objects reconciled, for the organizer that has it, which must then be registered.
async fn platform_organizer_registered(state: &AppState) -> Result<(), OrganizerError> {
    let Some(platform) = state.stripe.platform_account().cloned() else {
        return Ok(()); // refused with the request's fields
    };
    let key = platform.to_string();
    let found = state
        .db
        .run(move |conn| Ok::<_, OrganizerError>(Organizer::find_by_stripe_account_id(conn, &key)?))
        .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(OrganizerError::PlatformNotRegistered(platform.to_string())),
    }
}

/// Asks Stripe whether the platform can act for `account`: its own account, or a connected one.
/// Returns the connected account as Stripe answered (the platform's own is read by the sync).
pub(crate) async fn verify_account_access(
    state: &AppState,
    account: &StripeAccountId,
) -> Result<Option<RemoteAccount>, OrganizerError> {
    let inaccessible = |reason: &'static str| OrganizerError::AccountInaccessible {
        account: account.to_string(),
        reason,
    };
    let result = if state.stripe.is_platform_account(account.as_str()) {
        platform_mismatch(&state.stripe, account)
            .await
            .map(|mismatch| (mismatch, None))
    } else {
        state
            .stripe
            .platform()
            .read_json(&Get::new(format!("/accounts/{account}")))
            .await
            .map(|remote| (None, Some(remote)))
    };
    // Only answers about the account itself are the client's problem; a key without the
    // permission, or a platform id that is not the key's, is the gateway's configuration.
    // Stripe's own wording stays in the log: a 401's or 403's message quotes part of the key.
    match result {
        Ok((None, remote)) => Ok(remote),
        Ok((Some(actual), _)) => Err(OrganizerError::PlatformMismatch {
            configured: account.to_string(),
            actual,
        }),
        // Retrieving the account itself: its 404 is about the account, not a missing object.
        Err(StripeError::Api { status: 404, .. }) => Err(inaccessible(
            "Stripe has no such account, or it is not connected to the platform",
        )),
        Err(err) if err.failure() == StripeFailure::AccountInaccessible => {
            Err(inaccessible(StripeFailure::NO_ACCOUNT_ACCESS))
        }
        // Any other failure of this call, which the platform makes about itself, is either
        // Stripe being unavailable or the gateway's own problem: a 400 there is not the
        // client's data, and Stripe's wording (a 401's or 403's quotes part of the key) stays
        // in the log.
        Err(source) => Err(OrganizerError::Stripe {
            account: account.to_string(),
            failure: match source.failure() {
                StripeFailure::Unavailable => StripeFailure::Unavailable,
                _ => StripeFailure::Rejected,
            },
            source,
        }),
    }
}

async fn find(state: &AppState, id: OrganizerId) -> Result<OrganizerResponse, OrganizerError> {
    let key = id.to_string();
    let (organizer, account) = state
        .db
        .run(move |conn| {
            let organizer =
                Organizer::find_by_id(conn, &key)?.ok_or(OrganizerError::NotFound(key))?;
            let account = StripeAccount::of(conn, organizer.stripe_account_id.as_deref())?;
            Ok::<_, OrganizerError>((organizer, account))
        })
        .await?;
    Ok(OrganizerResponse::new(organizer, account, state))
}

pub async fn list(
    state: &AppState,
    limit: PageLimit,
    cursor: Option<Cursor>,
) -> Result<OrganizerPage, OrganizerError> {
    let (organizers, mut statuses) = state
        .db
        .run(move |conn| {
            let organizers =
                Organizer::list_after(conn, cursor.as_ref().map(Cursor::key), limit.fetch_size())?;
            let accounts: Vec<&str> = organizers
                .iter()
                .filter_map(|o| o.stripe_account_id.as_deref())
                .collect();
            let statuses = StripeAccount::of_each_across_accounts(conn, &accounts)?;
            Ok::<_, OrganizerError>((organizers, statuses))
        })
        .await?;
    let (organizers, next_cursor) = limit.split(organizers, |organizer| &organizer.id);
    Ok(OrganizerPage {
        organizers: organizers
            .into_iter()
            .map(|organizer| {
                let status = statuses
                    .iter()
                    .position(|s| Some(&s.id) == organizer.stripe_account_id.as_ref())
                    .map(|at| statuses.swap_remove(at));
                OrganizerResponse::new(organizer, status, state)
            })
            .collect(),
        next_cursor,
    })
}

#[tracing::instrument(skip_all, fields(organizer_id = %id))]
pub async fn update(
    state: &AppState,
    audit: AuditContext,
    id: OrganizerId,
    patch: OrganizerPatch,
) -> Result<OrganizerResponse, OrganizerError> {
    if patch.is_empty() {
        // Nothing to change: no write, no audit row, no new `updated_at`.
        return find(state, id).await;
    }
    let key = id.to_string();
    state
        .db
        .run(move |conn| {
            let changes = OrganizerChanges {
                name: patch.name.as_ref().map(OrganizerName::as_str),
                application_fee_bps: patch
                    .application_fee_bps
                    .map(|fee| fee.map(|fee| i32::from(fee.get()))),
                ticket_fees: patch
                    .ticket_fees
                    .as_ref()
                    .map(|fees| fees.as_ref().map(TicketFees::to_json)),
                refund_application_fee: patch.refund_application_fee,
                status: patch.status,
                updated_at: now(),
            };
            crate::db::write_transaction(conn, |conn| {
                let Some(organizer) = Organizer::update_by_id(conn, &key, &changes)? else {
                    return Err(OrganizerError::NotFound(key));
                };
                // Only what the request changed; a cleared fee shows as null.
                let mut changed = serde_json::Map::new();
                if let Some(name) = changes.name {
                    changed.insert("name".into(), json!(name));
                }
                if let Some(fee) = changes.application_fee_bps {
                    changed.insert("application_fee_bps".into(), json!(fee));
                }
                if let Some(fees) = &patch.ticket_fees {
                    changed.insert(
                        "ticket_fees".into(),
                        json!(fees.as_ref().map(TicketFees::as_map)),
                    );
                }
                if let Some(refund) = changes.refund_application_fee {
                    changed.insert("refund_application_fee".into(), json!(refund));
                }
                if let Some(status) = changes.status {
                    changed.insert("status".into(), json!(status.as_str()));
                }
                audit.record(
                    conn,
                    &AuditEntry {
                        action: "organizer.updated",
                        organizer_id: Some(organizer.id.clone()),
                        targets: json!({ "organizer_id": organizer.id }),
                        outcome: Outcome::Succeeded,
                        subject_hash: None,
                        details: changed.into(),
                    },
                )?;
                let account = StripeAccount::of(conn, organizer.stripe_account_id.as_deref())?;
                Ok((organizer, account))
            })
        })
        .await
        .map(|(organizer, account)| OrganizerResponse::new(organizer, account, state))
}
