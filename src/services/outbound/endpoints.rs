//! Registering and managing webhook endpoints: an organizer's own (its events only), or the
//! platform's (an admin's: every organizer's events, or those of the organizers it lists).
//! A new endpoint's signing secret is shown once, in the answer that makes it; a rotation
//! makes another and keeps the old one signing for a while, so receivers switch without a gap.

use chrono::NaiveDateTime;
use serde_json::json;
use url::Url;

use super::{
    authorized, changing, check_organizer, in_transaction, EndpointError, WebhookEndpointResponse,
};
use crate::db::models::webhook_endpoint::{
    EndpointChanges, EndpointOwner, WebhookEndpoint, WebhookSecret,
};
use crate::db::models::Organizer;
use crate::db::DbConnection;
use crate::domain::{Forbidden, GatewayEventType, OrganizerId, PageLimit, Principal};
use crate::notify::sign::Secret;
use crate::services::audit::{AuditEntry, Outcome};
use crate::services::organizers::OrganizerError;
use crate::services::AppState;

/// An endpoint to register, as parsed from the request.
pub struct NewEndpoint {
    pub url: Url,
    pub description: String,
    /// `None`: every type.
    pub event_types: Option<Vec<GatewayEventType>>,
    /// The organizer it is for; an organizer's token may leave it out (its own).
    pub organizer_id: Option<OrganizerId>,
    /// A platform endpoint's organizers (`None`: every organizer).
    pub organizer_ids: Option<Vec<OrganizerId>>,
}

/// Changes to an endpoint: `None` leaves a field alone; `Some(None)` clears a filter.
#[derive(Default)]
pub struct EndpointUpdate {
    pub url: Option<Url>,
    pub description: Option<String>,
    pub event_types: Option<Option<Vec<GatewayEventType>>>,
    pub organizer_ids: Option<Option<Vec<OrganizerId>>>,
    pub enabled: Option<bool>,
}

fn joined<T: ToString>(values: &[T]) -> String {
    let mut texts: Vec<String> = values.iter().map(ToString::to_string).collect();
    texts.sort_unstable();
    texts.dedup();
    texts.join(",")
}

fn types_text(types: &[GatewayEventType]) -> String {
    let names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
    joined(&names)
}

fn check_url(state: &AppState, url: &Url) -> Result<String, EndpointError> {
    state
        .targets
        .check_url(url)
        .map_err(|refused| EndpointError::invalid("url", refused.to_string()))?;
    Ok(url.to_string())
}

/// Every organizer of a platform endpoint's list exists (404 `organizer_not_found` names the
/// first that does not).
fn check_listed(conn: &mut DbConnection, ids: &[OrganizerId]) -> Result<String, EndpointError> {
    for id in ids {
        if Organizer::find_by_id(conn, &id.to_string())?.is_none() {
            return Err(OrganizerError::NotFound(id.to_string()).into());
        }
    }
    Ok(joined(ids))
}

fn audit_entry(action: &'static str, endpoint: &WebhookEndpoint) -> AuditEntry {
    AuditEntry {
        action,
        organizer_id: endpoint.organizer_id.clone(),
        targets: json!({ "webhook_endpoint_id": endpoint.id }),
        outcome: Outcome::Succeeded,
        subject_hash: None,
        details: json!({ "url": endpoint.url, "enabled": endpoint.enabled }),
    }
}

/// Registers an endpoint; the answer holds its secret, the only time it is shown.
pub async fn create(
    state: &AppState,
    principal: &Principal,
    new: NewEndpoint,
) -> Result<WebhookEndpointResponse, EndpointError> {
    let url = check_url(state, &new.url)?;
    let owner = match (principal, new.organizer_id) {
        (Principal::Organizer { org, .. }, None) => Some(*org),
        (_, owner) => owner,
    };
    if principal.require_admin().is_err() && owner.is_none() {
        return Err(EndpointError::invalid("organizer_id", "required"));
    }
    if new.organizer_ids.is_some() && principal.require_admin().is_err() {
        return Err(
            Forbidden("only an admin's token registers endpoints that list organizers").into(),
        );
    }
    if owner.is_some() && new.organizer_ids.is_some() {
        return Err(EndpointError::invalid(
            "organizer_ids",
            "only the platform's endpoints (without `organizer_id`) list organizers",
        ));
    }
    in_transaction(state, principal, move |conn, principal, audit| {
        let organizer_ids = match (owner, &new.organizer_ids) {
            (Some(owner), _) => {
                check_organizer(conn, principal, owner)?;
                None
            }
            (None, Some(ids)) => Some(check_listed(conn, ids)?),
            (None, None) => None,
        };
        let now = crate::db::now();
        let endpoint = WebhookEndpoint {
            id: uuid::Uuid::now_v7().to_string(),
            organizer_id: owner.map(|id| id.to_string()),
            organizer_ids,
            url,
            description: new.description,
            event_types: new.event_types.as_deref().map(types_text),
            enabled: true,
            disabled_reason: None,
            failing_since: None,
            lease_until: None,
            created_at: now,
            updated_at: now,
        };
        let (row, secret) = new_secret(&endpoint.id, now);
        WebhookEndpoint::insert(conn, &endpoint, &row)?;
        audit.record(conn, &audit_entry("webhook_endpoint.created", &endpoint))?;
        Ok(WebhookEndpointResponse {
            secret: Some(secret),
            ..endpoint.into()
        })
    })
    .await
}

/// A new signing secret of the endpoint, and its `whsec_` text to show once.
fn new_secret(endpoint_id: &str, now: NaiveDateTime) -> (WebhookSecret, String) {
    let secret = Secret::generate().expose();
    let row = WebhookSecret {
        endpoint_id: endpoint_id.to_string(),
        id: uuid::Uuid::now_v7().to_string(),
        secret: secret.clone(),
        created_at: now,
        expires_at: None,
    };
    (row, secret)
}

/// The endpoints the caller manages, oldest first: an admin's every endpoint (or one
/// organizer's, or the platform's own), an organizer's its own.
pub async fn list(
    state: &AppState,
    principal: &Principal,
    organizer: Option<OrganizerId>,
    after: Option<String>,
    limit: PageLimit,
) -> Result<Vec<WebhookEndpointResponse>, EndpointError> {
    let principal = principal.clone();
    let limit = i64::try_from(limit.get()).unwrap_or(i64::MAX);
    state
        .db
        .run(move |conn| {
            let organizer = match (&principal, organizer) {
                (Principal::Organizer { org, .. }, _) => Some(*org),
                (Principal::Admin { .. }, organizer) => organizer,
            };
            if let Some(organizer) = organizer {
                check_organizer(conn, &principal, organizer)?;
            }
            let key = organizer.map(|id| id.to_string());
            let owner = key
                .as_deref()
                .map_or(EndpointOwner::Anyone, EndpointOwner::Organizer);
            let rows = WebhookEndpoint::list(conn, owner, after.as_deref(), limit)?;
            Ok(rows.into_iter().map(Into::into).collect())
        })
        .await
}

pub async fn get(
    state: &AppState,
    principal: &Principal,
    id: String,
) -> Result<WebhookEndpointResponse, EndpointError> {
    let principal = principal.clone();
    state
        .db
        .run(move |conn| Ok(authorized(conn, &principal, &id)?.into()))
        .await
}

/// Changes an endpoint. Enabling one clears its failure state; a platform endpoint's
/// organizer list is an admin's to change.
pub async fn update(
    state: &AppState,
    principal: &Principal,
    id: String,
    update: EndpointUpdate,
) -> Result<WebhookEndpointResponse, EndpointError> {
    let url = update
        .url
        .as_ref()
        .map(|url| check_url(state, url))
        .transpose()?;
    changing(
        state,
        principal,
        id.clone(),
        move |conn, endpoint, audit| {
            let organizer_ids = match &update.organizer_ids {
                None => None,
                Some(_) if endpoint.organizer_id.is_some() => {
                    return Err(EndpointError::invalid(
                        "organizer_ids",
                        "only the platform's endpoints (without `organizer_id`) list organizers",
                    ))
                }
                Some(None) => Some(None),
                Some(Some(ids)) => Some(Some(check_listed(conn, ids)?)),
            };
            let now = crate::db::now();
            let (disabled_reason, failing_since) = match update.enabled {
                Some(_) => (Some(None), Some(None::<NaiveDateTime>)),
                None => (None, None),
            };
            let changes = EndpointChanges {
                url,
                description: update.description,
                event_types: update
                    .event_types
                    .map(|types| types.as_deref().map(types_text)),
                organizer_ids,
                enabled: update.enabled,
                disabled_reason,
                failing_since,
                updated_at: Some(now),
            };
            let updated = WebhookEndpoint::update(conn, &id, &changes)?
                .ok_or_else(|| EndpointError::NotFound(id.clone()))?;
            audit.record(conn, &audit_entry("webhook_endpoint.updated", &updated))?;
            Ok(updated.into())
        },
    )
    .await
}

/// Deletes an endpoint with its secrets and its delivery log.
pub async fn delete(
    state: &AppState,
    principal: &Principal,
    id: String,
) -> Result<(), EndpointError> {
    changing(state, principal, id, |conn, endpoint, audit| {
        WebhookEndpoint::delete(conn, &endpoint.id)?;
        audit.record(conn, &audit_entry("webhook_endpoint.deleted", &endpoint))?;
        Ok(())
    })
    .await
}

/// Makes a new signing secret for the endpoint, shown once in the answer; the ones signing
/// until now go on signing for `previous_for` (both signatures are sent meanwhile).
pub async fn rotate_secret(
    state: &AppState,
    principal: &Principal,
    id: String,
    previous_for: chrono::Duration,
) -> Result<WebhookEndpointResponse, EndpointError> {
    changing(state, principal, id, move |conn, endpoint, audit| {
        let now = crate::db::now();
        let (row, secret) = new_secret(&endpoint.id, now);
        WebhookSecret::rotate(conn, &row, now + previous_for)?;
        let mut entry = audit_entry("webhook_endpoint.secret_rotated", &endpoint);
        entry.details = json!({ "previous_expire_in_secs": previous_for.num_seconds() });
        audit.record(conn, &entry)?;
        Ok(WebhookEndpointResponse {
            secret: Some(secret),
            ..endpoint.into()
        })
    })
    .await
}
