//! Connect onboarding through the gateway: a connected account created for an organizer
//! registered without one, single-use links into Stripe's hosted onboarding, and login links
//! into the Express dashboard. Stripe first, then rows; the account's state is the mirror's
//! `accounts` kind, kept by `account.updated`.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{with_organizer, Charging, OrganizerError, OrganizerResponse};
use crate::db::models::Organizer;
use crate::db::{database_now, DbError};
use crate::domain::payment::HttpUrl;
use crate::domain::{BusinessType, Country, OrganizerId, Principal, StripeAccountId};
use crate::mirror::account::{Accounts, RemoteAccount, StripeAccount};
use crate::mirror::{Fetched, Rows};
use crate::services::audit::{AuditContext, AuditEntry, Outcome};
use crate::services::AppState;
use crate::stripe::accounts::{self, NewAccount, RemoteLink};
use crate::stripe::customers::ORGANIZER_ID_KEY;
use crate::stripe::{idempotency_key, StripeError, StripeFailure};

pub struct NewAccountInput {
    pub country: Country,
    pub business_type: Option<BusinessType>,
    pub email: Option<String>,
}

/// A link to send the organizer to, once.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkResponse {
    /// Single-use: open it right away, and make a new one for every visit.
    #[schema(example = "https://connect.stripe.com/setup/e/acct_1Nv0FGQ9RKHgCVdK/abc123")]
    pub url: String,
    /// When the link stops working; null for a login link, which works once.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<RemoteLink> for LinkResponse {
    fn from(link: RemoteLink) -> Self {
        Self {
            url: link.url,
            expires_at: crate::mirror::timestamp(link.expires_at).map(|at| at.and_utc()),
        }
    }
}

/// A failed call the platform makes about its accounts. Stripe refusing access is not about
/// the organizer's data here (the platform asks about itself or an account it just made): it
/// is the gateway's key or configuration.
fn stripe_failed(account: &str, source: StripeError) -> OrganizerError {
    let failure = match source.failure() {
        StripeFailure::AccountInaccessible => StripeFailure::Rejected,
        other => other,
    };
    OrganizerError::Stripe {
        account: account.to_string(),
        failure,
        source,
    }
}

/// Creates a connected account of the configured type (`STRIPE_CONNECT_ACCOUNT_TYPE`) for an
/// organizer that has none, then gives it to the organizer and mirrors its state, with an
/// audit row, in one transaction. The Stripe key is the organizer's: a retry, or a racing
/// request with the same details, gets the same account from Stripe, and one with other
/// details is refused (`account_creation_conflict`).
#[tracing::instrument(skip_all, fields(organizer_id = %org_id))]
pub async fn create_account(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    input: NewAccountInput,
) -> Result<OrganizerResponse, OrganizerError> {
    // The stamp of the mirrored state is taken in the same trip, before Stripe is asked.
    let (organizer, fetched_at) = with_organizer(state, principal, org_id, |conn, organizer| {
        Ok::<_, OrganizerError>((organizer, database_now(conn)?))
    })
    .await?;
    if let Some(account) = organizer.stripe_account_id {
        return Err(OrganizerError::HasAccount {
            organizer: organizer.id,
            account,
        });
    }
    let kind = state.stripe.connect_account_type();
    // One key per organizer (and account type): however many requests race, with whatever
    // details, Stripe makes one account; a request with other details than the first is
    // refused (Stripe keeps the first's answer for 24 hours) instead of leaving a second
    // account unused.
    let key = idempotency_key("account.create", &[&organizer.id, kind.as_str()]);
    let new = NewAccount {
        kind,
        country: &input.country,
        business_type: input.business_type,
        email: input.email.as_deref(),
        metadata: HashMap::from([(ORGANIZER_ID_KEY.to_string(), organizer.id.clone())]),
    };
    let created: RemoteAccount = accounts::create_account(&state.stripe.platform(), &new, key)
        .await
        .map_err(|err| match err.failure() {
            StripeFailure::KeyReused => {
                OrganizerError::AccountCreationConflict(organizer.id.clone())
            }
            _ => stripe_failed("(a new account)", err),
        })?;

    let account = StripeAccountId::parse(&created.id).map_err(|e| {
        DbError::Corrupt(format!(
            "Stripe created an account with id {}: {e}",
            created.id
        ))
    })?;
    let row = Accounts::row(account.as_str(), created, fetched_at);
    let audit = AuditContext::new(principal);
    let id = organizer.id.clone();
    let (organizer, status) = state
        .db
        .run(move |conn| {
            crate::db::write_transaction(conn, |conn| {
                let organizer =
                    match Organizer::set_account_if_none(conn, &id, account.as_str(), fetched_at)? {
                        Some(organizer) => organizer,
                        None => {
                            let current = Organizer::find_by_id(conn, &id)?
                                .ok_or_else(|| OrganizerError::NotFound(id.clone()))?;
                            // A retry of the same create: Stripe answered with the same account.
                            if current.stripe_account_id.as_deref() != Some(account.as_str()) {
                                tracing::warn!(organizer_id = %id, stripe_account_id = %account, "a racing request gave the organizer another account first; this one is left unused");
                                return Err(OrganizerError::HasAccount {
                                    organizer: id.clone(),
                                    account: current.stripe_account_id.unwrap_or_default(),
                                });
                            }
                            current
                        }
                    };
                crate::mirror::write::<Accounts>(conn, &row)?;
                audit.record(
                    conn,
                    &AuditEntry {
                        action: "organizer.account_created",
                        organizer_id: Some(organizer.id.clone()),
                        targets: json!({
                            "organizer_id": organizer.id,
                            "stripe_account_id": account.as_str(),
                        }),
                        outcome: Outcome::Succeeded,
                        subject_hash: None,
                        details: json!({
                            "type": kind.as_str(),
                            "country": row.country,
                        }),
                    },
                )?;
                let status = StripeAccount::of(conn, Some(account.as_str()))?;
                Ok((organizer, status))
            })
        })
        .await?;
    Ok(OrganizerResponse::new(organizer, status, state))
}

/// How old a mirrored "cannot take charges" may be before a payment asks Stripe again.
const RECHECK_AFTER: chrono::Duration = chrono::Duration::seconds(10);

/// The organizer's account, for taking a payment: refused (`account_not_ready`) while it cannot
/// take charges. The mirror's word is taken, but a refusal on a state fetched more than a few
/// seconds ago is checked with Stripe first (its `account.updated` may be late or lost), and
/// the answer stored: an organizer who just finished onboarding can sell at once.
pub async fn account_for_payment(
    state: &AppState,
    organizer: &Organizer,
    status: Option<StripeAccount>,
) -> Result<Charging, OrganizerError> {
    let platform = state.stripe.platform_account();
    let refused = match super::chargeable(organizer, status.as_ref(), platform) {
        Err(refused @ OrganizerError::AccountNotReady(_)) => refused,
        other => return other,
    };
    // Only the mirror's refusal is asked again: an organizer without an account has no state.
    let Some(status) = status else {
        return Err(refused);
    };
    let account = super::connected_account(organizer)?;
    let now = state
        .db
        .run(|conn| Ok::<_, DbError>(database_now(conn)?))
        .await?;
    if now - status.fetched_at < RECHECK_AFTER {
        return Err(refused);
    }
    let client = state.stripe.for_account(&account);
    let row = match Accounts::fetch(&client, account.as_str()).await {
        Ok(Fetched::Found(remote)) => Accounts::row(account.as_str(), remote, now),
        // Stripe cannot say now: the mirror's word stands.
        Ok(Fetched::Gone) | Err(_) => return Err(refused),
    };
    let stored = row.clone();
    state
        .db
        .run(move |conn| {
            Ok::<_, DbError>(crate::mirror::write::<Accounts>(conn, &stored).map(drop)?)
        })
        .await?;
    super::chargeable(organizer, Some(&row), platform)
}

/// The organizer's account and its mirrored state, for a link into Stripe.
async fn linkable(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
) -> Result<(StripeAccountId, Option<StripeAccount>), OrganizerError> {
    with_organizer(state, principal, org_id, |conn, organizer| {
        let account = super::connected_account(&organizer)?;
        let status = StripeAccount::of(conn, Some(account.as_str()))?;
        Ok::<_, OrganizerError>((account, status))
    })
    .await
}

/// A fresh Account Link into Stripe's hosted onboarding for the organizer's account. Links are
/// single-use and short-lived, so each call makes a new one (no idempotent replay across
/// calls: the key is new each time, and the transport keeps it across its own retries).
pub async fn onboarding_link(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    refresh_url: HttpUrl,
    return_url: HttpUrl,
) -> Result<LinkResponse, OrganizerError> {
    let (account, _) = linkable(state, principal, org_id).await?;
    platform_account_refused(state, &account)?;
    let key = idempotency_key(
        "account_link.create",
        &[account.as_str(), &uuid::Uuid::new_v4().to_string()],
    );
    let link = accounts::create_onboarding_link(
        &state.stripe.platform(),
        account.as_str(),
        &refresh_url,
        &return_url,
        key,
    )
    .await
    .map_err(|err| stripe_failed(account.as_str(), err))?;
    Ok(link.into())
}

/// A login link into the Express dashboard of the organizer's account: refused for other
/// account types (as the mirror knows them) before Stripe is asked.
pub async fn login_link(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
) -> Result<LinkResponse, OrganizerError> {
    let (account, status) = linkable(state, principal, org_id).await?;
    platform_account_refused(state, &account)?;
    if let Some(status) = status {
        if let Some(kind) = status.account_type.filter(|kind| kind != "express") {
            return Err(OrganizerError::NotExpress {
                account: account.to_string(),
                kind,
            });
        }
        // Stripe makes login links only for an account that finished onboarding.
        if !status.details_submitted {
            return Err(OrganizerError::AccountNotReady(format!(
                "Stripe account {account} has not finished onboarding, so it has no dashboard to log in to yet: send the organizer to an onboarding link (POST /v1/organizers/{}/onboarding-links)",
                org_id
            )));
        }
    }
    let key = idempotency_key(
        "login_link.create",
        &[account.as_str(), &uuid::Uuid::new_v4().to_string()],
    );
    let link = accounts::create_login_link(&state.stripe.platform(), account.as_str(), key)
        .await
        .map_err(|err| stripe_failed(account.as_str(), err))?;
    Ok(link.into())
}

/// The platform's own account is not onboarded through Connect.
fn platform_account_refused(
    state: &AppState,
    account: &StripeAccountId,
) -> Result<(), OrganizerError> {
    if state.stripe.is_platform_account(account.as_str()) {
        return Err(OrganizerError::NotConnected {
            account: account.to_string(),
        });
    }
    Ok(())
}
