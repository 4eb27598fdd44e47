//! Registering and managing organizers (tenants).

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::Connection;
use serde_json::json;
use stripe_connect::account::{RetrieveAccount, RetrieveForMyAccountAccount};

use crate::auth::Principal;
use crate::db::models::{NewOrganizer, Organizer, OrganizerChanges};
use crate::db::{now, DbConnection};
use crate::domain::{
    ApplicationFeeBps, Cursor, OrganizerId, OrganizerName, OrganizerStatus, PageLimit,
    StripeAccountId,
};
use crate::error::ApiError;
use crate::services::audit::{AuditContext, AuditEntry, Outcome};
use crate::services::AppState;
use crate::stripe::StripeError;

pub struct NewOrganizerInput {
    pub name: OrganizerName,
    pub stripe_account_id: StripeAccountId,
    pub application_fee_bps: Option<ApplicationFeeBps>,
}

/// A partial update; `None` leaves a field as it is.
#[derive(Default)]
pub struct OrganizerPatch {
    pub name: Option<OrganizerName>,
    /// `Some(None)` removes the fee.
    pub application_fee_bps: Option<Option<ApplicationFeeBps>>,
    pub status: Option<OrganizerStatus>,
}

impl OrganizerPatch {
    fn is_empty(&self) -> bool {
        self.name.is_none() && self.application_fee_bps.is_none() && self.status.is_none()
    }
}

pub struct OrganizerPage {
    pub organizers: Vec<Organizer>,
    pub next_cursor: Option<Cursor>,
}

fn organizer_exists(stripe_account_id: &str, existing_id: &str) -> ApiError {
    ApiError::Conflict {
        code: "organizer_exists",
        message: format!(
            "Stripe account {stripe_account_id} is already registered as organizer {existing_id}"
        ),
    }
}

fn organizer_not_found(id: &str) -> ApiError {
    ApiError::NotFound {
        code: "organizer_not_found",
        message: format!("no organizer has id {id}"),
    }
}

/// Registers an organizer after Stripe confirms the platform can act for its account.
/// The unique index on `stripe_account_id` settles concurrent registrations: one wins, the
/// others get `organizer_exists`.
#[tracing::instrument(skip_all, fields(stripe_account_id = %input.stripe_account_id))]
pub async fn register(
    state: &AppState,
    audit: AuditContext,
    input: NewOrganizerInput,
) -> Result<Organizer, ApiError> {
    let account = input.stripe_account_id.clone();
    let existing = state
        .db
        .run(move |conn| {
            Ok::<_, ApiError>(Organizer::find_by_stripe_account_id(
                conn,
                account.as_str(),
            )?)
        })
        .await?;
    if let Some(existing) = existing {
        return Err(organizer_exists(&existing.stripe_account_id, &existing.id));
    }

    verify_account_access(state, &input.stripe_account_id).await?;

    state
        .db
        .run(move |conn| {
            let id = OrganizerId::new().to_string();
            let created_at = now();
            let new = NewOrganizer {
                id: &id,
                name: input.name.as_str(),
                stripe_account_id: input.stripe_account_id.as_str(),
                application_fee_bps: input.application_fee_bps.map(|fee| i32::from(fee.get())),
                status: OrganizerStatus::Active.as_str(),
                created_at,
                updated_at: created_at,
            };
            let result = conn.transaction(|conn| {
                let organizer = Organizer::insert(conn, &new)?;
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
                        }),
                    },
                )?;
                Ok(organizer)
            });
            match result {
                Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                    let winner = Organizer::find_by_stripe_account_id(conn, new.stripe_account_id)?;
                    Err(organizer_exists(
                        new.stripe_account_id,
                        winner.as_ref().map_or("(unknown)", |w| &w.id),
                    ))
                }
                other => Ok(other?),
            }
        })
        .await
}

/// Asks Stripe whether the platform can act for `account`: its own account, or a connected one.
async fn verify_account_access(
    state: &AppState,
    account: &StripeAccountId,
) -> Result<(), ApiError> {
    let inaccessible = |reason: &str| ApiError::StripeAccountInaccessible {
        account: account.to_string(),
        reason: reason.to_string(),
    };
    let result = if state.stripe.is_platform_account(account.as_str()) {
        state
            .stripe
            .platform()
            .read(&RetrieveForMyAccountAccount::new())
            .await
            .map(|own| own.id.as_str() == account.as_str())
    } else {
        state
            .stripe
            .platform()
            .read(&RetrieveAccount::new(account.as_str()))
            .await
            .map(|_| true)
    };
    // Only answers about the account itself are the client's problem; a key without the
    // permission, or a platform id that is not the key's, is the gateway's configuration.
    // Stripe's own wording stays in the log: a 401's or 403's message quotes part of the key.
    match result {
        Ok(true) => Ok(()),
        Ok(false) => Err(ApiError::internal(anyhow::anyhow!(
            "STRIPE_PLATFORM_ACCOUNT_ID {account} is not the account of STRIPE_SECRET_KEY"
        ))),
        Err(StripeError::Api { status: 404, .. }) => Err(inaccessible(
            "Stripe has no such account, or it is not connected to the platform",
        )),
        Err(err) if err.is_account_inaccessible() => Err(inaccessible(ApiError::NO_ACCOUNT_ACCESS)),
        Err(err) => Err(err.into()),
    }
}

/// The organizer `id`, for a caller allowed to see it: an admin, or that organizer's own token
/// while the organizer is active.
pub async fn get_for(
    state: &AppState,
    principal: &Principal,
    id: OrganizerId,
) -> Result<Organizer, ApiError> {
    with_organizer(state, principal, id, |_, organizer| Ok(organizer)).await
}

/// Checks, as [`get_for`], that the caller may act for the organizer, then runs `read` with it
/// on the same connection: a use case checks the tenant and reads its data in one trip to the
/// database.
pub async fn with_organizer<T, F>(
    state: &AppState,
    principal: &Principal,
    id: OrganizerId,
    read: F,
) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConnection, Organizer) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    // Another organizer's token is refused without a database connection.
    principal.require_organizer(id)?;
    let principal = principal.clone();
    state
        .db
        .run(move |conn| {
            let organizer = authorize(conn, &principal, id)?;
            read(conn, organizer)
        })
        .await
}

/// [`get_for`] on a connection the caller holds.
fn authorize(
    conn: &mut DbConnection,
    principal: &Principal,
    id: OrganizerId,
) -> Result<Organizer, ApiError> {
    principal.require_organizer(id)?;
    let key = id.to_string();
    let organizer = Organizer::find_by_id(conn, &key)?.ok_or_else(|| organizer_not_found(&key))?;
    if matches!(principal, Principal::Organizer { .. })
        && organizer.status != OrganizerStatus::Active.as_str()
    {
        return Err(ApiError::Forbidden("this organizer is disabled"));
    }
    Ok(organizer)
}

async fn find(state: &AppState, id: OrganizerId) -> Result<Organizer, ApiError> {
    let key = id.to_string();
    state
        .db
        .run(move |conn| {
            Organizer::find_by_id(conn, &key)?.ok_or_else(|| organizer_not_found(&key))
        })
        .await
}

pub async fn list(
    state: &AppState,
    limit: PageLimit,
    cursor: Option<Cursor>,
) -> Result<OrganizerPage, ApiError> {
    let organizers = state
        .db
        .run(move |conn| {
            Ok::<_, ApiError>(Organizer::list_after(
                conn,
                cursor.as_ref().map(Cursor::key),
                limit.fetch_size(),
            )?)
        })
        .await?;
    let (organizers, next_cursor) = limit.split(organizers, |organizer| &organizer.id);
    Ok(OrganizerPage {
        organizers,
        next_cursor,
    })
}

#[tracing::instrument(skip_all, fields(organizer_id = %id))]
pub async fn update(
    state: &AppState,
    audit: AuditContext,
    id: OrganizerId,
    patch: OrganizerPatch,
) -> Result<Organizer, ApiError> {
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
                status: patch.status.map(OrganizerStatus::as_str),
                updated_at: now(),
            };
            conn.transaction(|conn| {
                let Some(organizer) = Organizer::update_by_id(conn, &key, &changes)? else {
                    return Err(organizer_not_found(&key));
                };
                // Only what the request changed; a cleared fee shows as null.
                let mut changed = serde_json::Map::new();
                if let Some(name) = changes.name {
                    changed.insert("name".into(), json!(name));
                }
                if let Some(fee) = changes.application_fee_bps {
                    changed.insert("application_fee_bps".into(), json!(fee));
                }
                if let Some(status) = changes.status {
                    changed.insert("status".into(), json!(status));
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
                Ok(organizer)
            })
        })
        .await
}
