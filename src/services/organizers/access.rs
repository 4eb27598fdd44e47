//! Tenant access: whether a caller may act for an organizer, checked on the organizer as read
//! in the same trip to the database as the caller's data.

use super::{OrganizerError, OrganizerResponse};
use crate::db::models::Organizer;
use crate::db::{DbConnection, DbError, QueryFailure};
use crate::domain::Principal;
use crate::domain::{ChargeType, OrganizerId, OrganizerStatus, StripeAccountId};
use crate::mirror::account::StripeAccount;
use crate::services::AppState;

/// The organizer `id`, for a caller allowed to see it: an admin, or that organizer's own token
/// while the organizer is active.
pub async fn get_for(
    state: &AppState,
    principal: &Principal,
    id: OrganizerId,
) -> Result<OrganizerResponse, OrganizerError> {
    with_organizer(state, principal, id, |conn, organizer| {
        let account = StripeAccount::of(conn, organizer.stripe_account_id.as_deref())?;
        Ok::<_, OrganizerError>((organizer, account))
    })
    .await
    .map(|(organizer, account)| OrganizerResponse::new(organizer, account, state))
}

/// Checks, as [`get_for`], that the caller may act for the organizer, then runs `read` with it
/// on the same connection: a use case checks the tenant and reads its data in one trip to the
/// database.
pub async fn with_organizer<T, E, F>(
    state: &AppState,
    principal: &Principal,
    id: OrganizerId,
    read: F,
) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection, Organizer) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<OrganizerError> + From<DbError> + QueryFailure + Send + 'static,
{
    for_organizer(state, principal, id, move |conn, principal, key| {
        let found = Organizer::find_by_id(conn, &key)
            .map_err(DbError::from)?
            .map(|organizer| (organizer, ()));
        let (organizer, ()) = authorize_loaded(principal, id, found)?;
        read(conn, organizer)
    })
    .await
}

/// Like [`with_organizer`], for reads that load the organizer and their data in one statement:
/// `load` gets the organizer id and returns `None` when there is no such organizer. The access
/// check is the same, on the organizer as loaded with the data.
pub async fn load_with_organizer<T, E, F>(
    state: &AppState,
    principal: &Principal,
    id: OrganizerId,
    load: F,
) -> Result<(Organizer, T), E>
where
    F: FnOnce(&mut DbConnection, &str) -> Result<Option<(Organizer, T)>, E> + Send + 'static,
    T: Send + 'static,
    E: From<OrganizerError> + From<DbError> + QueryFailure + Send + 'static,
{
    for_organizer(state, principal, id, move |conn, principal, key| {
        let found = load(conn, &key)?;
        Ok(authorize_loaded(principal, id, found)?)
    })
    .await
}

/// The access check of [`load_with_organizer`], for an organizer loaded with its data by other
/// means (a grouped read): `found` is `None` when there is no such organizer. The caller has
/// checked [`Principal::require_organizer`] before reading.
pub fn authorize_loaded<T>(
    principal: &Principal,
    id: OrganizerId,
    found: Option<(Organizer, T)>,
) -> Result<(Organizer, T), OrganizerError> {
    let (organizer, data) = found.ok_or_else(|| OrganizerError::NotFound(id.to_string()))?;
    check_access(principal, &organizer)?;
    Ok((organizer, data))
}

/// Runs `work` with the organizer's id on a pooled connection, for a caller whose token may
/// reach that organizer at all: another organizer's token is refused without a connection.
async fn for_organizer<T, E, F>(
    state: &AppState,
    principal: &Principal,
    id: OrganizerId,
    work: F,
) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection, &Principal, String) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<OrganizerError> + From<DbError> + QueryFailure + Send + 'static,
{
    principal
        .require_organizer(id)
        .map_err(|e| E::from(OrganizerError::from(e)))?;
    let principal = principal.clone();
    state
        .db
        .run(move |conn| work(conn, &principal, id.to_string()))
        .await
}

/// The account of an organizer the gateway may write to Stripe for: one it has, and that has
/// not revoked the platform's access.
pub fn connected_account(organizer: &Organizer) -> Result<StripeAccountId, OrganizerError> {
    if organizer.disconnected_at.is_some() {
        return Err(OrganizerError::Disconnected);
    }
    organizer.account()?.ok_or_else(|| {
        OrganizerError::AccountNotReady(format!(
            "organizer {} has no Stripe account yet: create one with POST /v1/organizers/{}/stripe-account, then send the organizer through onboarding",
            organizer.id, organizer.id
        ))
    })
}

/// Where an organizer's payments are taken: the account charged, and for destination charges
/// the organizer's own account the money is sent on to.
#[derive(Clone, Debug)]
pub struct Charging {
    /// The organizer's own account (direct charges) or the platform's (destination charges):
    /// where its buyers are customers and its payments and refunds are made.
    pub account: StripeAccountId,
    /// For destination charges, the organizer's account (`transfer_data[destination]`,
    /// `on_behalf_of`).
    pub destination: Option<StripeAccountId>,
}

/// Where the organizer's payments and buyers are written to Stripe (see [`Charging`]): its
/// own account must be one the gateway may write for ([`connected_account`]) either way.
pub fn charging(
    organizer: &Organizer,
    platform: Option<&StripeAccountId>,
) -> Result<Charging, OrganizerError> {
    let own = connected_account(organizer)?;
    match organizer.charge_type {
        ChargeType::Direct => Ok(Charging {
            account: own,
            destination: None,
        }),
        ChargeType::Destination => {
            let platform = platform.ok_or_else(|| {
                OrganizerError::AccountNotReady(format!(
                    "organizer {} takes destination charges on the platform's account, and STRIPE_PLATFORM_ACCOUNT_ID is not set",
                    organizer.id
                ))
            })?;
            Ok(Charging {
                account: platform.clone(),
                destination: Some(own),
            })
        }
    }
}

/// Like [`charging`], for taking a payment: refused, before any Stripe call, while the
/// mirrored state of the organizer's own account (`status`, as read with the organizer) says
/// it cannot take charges. An account the mirror has not fetched yet is let through: Stripe
/// decides.
pub fn chargeable(
    organizer: &Organizer,
    status: Option<&StripeAccount>,
    platform: Option<&StripeAccountId>,
) -> Result<Charging, OrganizerError> {
    let charging = charging(organizer, platform)?;
    match status {
        Some(status) if !status.charges_enabled => {
            let account = charging.destination.as_ref().unwrap_or(&charging.account);
            let due = status.currently_due();
            let reason = status
                .disabled_reason
                .as_deref()
                .map(|reason| format!(" ({reason})"))
                .unwrap_or_default();
            let due = if due.is_empty() {
                "Stripe is reviewing what was given".to_string()
            } else {
                format!("currently due: {}", due.join(", "))
            };
            Err(OrganizerError::AccountNotReady(format!(
                "Stripe account {account} cannot take charges yet{reason}; {due}. Send the organizer through onboarding (POST /v1/organizers/{}/onboarding-links)",
                organizer.id
            )))
        }
        _ => Ok(charging),
    }
}

/// Whether `principal` may still be answered for its organizer: always for an admin; for an
/// organizer's token, while the organizer exists and is active. (A kept answer of an
/// `Idempotency-Key` goes only to such a caller.)
pub fn may_act(conn: &mut DbConnection, principal: &Principal) -> Result<bool, DbError> {
    let Principal::Organizer { org, .. } = principal else {
        return Ok(true);
    };
    let found = Organizer::find_by_id(conn, &org.to_string())?;
    Ok(found.is_some_and(|organizer| check_access(principal, &organizer).is_ok()))
}

/// Whether `principal` may act for `organizer` as it stands: an organizer's own token only
/// while it is active.
fn check_access(principal: &Principal, organizer: &Organizer) -> Result<(), OrganizerError> {
    if matches!(principal, Principal::Organizer { .. })
        && organizer.status != OrganizerStatus::Active
    {
        return Err(OrganizerError::Disabled);
    }
    Ok(())
}
