//! The gateway's own webhooks: endpoints the platform or an organizer registers
//! ([`endpoints`]), the deliveries of every gateway event to the endpoints that hear it, sent,
//! retried and disabled by a duty of the jobs runner ([`deliver`]), and their log and replay
//! ([`log`]). Deliveries follow Standard Webhooks (`notify::sign`) and go only where
//! `notify::target` allows.

pub mod deliver;
pub mod endpoints;
pub mod log;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::models::webhook_endpoint::WebhookEndpoint;
use crate::db::models::Organizer;
use crate::db::{write_transaction, DbConnection, DbError, QueryFailure};
use crate::domain::{Forbidden, GatewayEventType, OrganizerId, Principal};
use crate::services::audit::AuditContext;
use crate::services::organizers::{self, OrganizerError};
use crate::services::AppState;

/// Why an endpoint request was not done.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error("no webhook endpoint has id {0}")]
    NotFound(String),
    #[error("no gateway event has id {0} for this endpoint")]
    EventNotFound(String),
    /// Nothing is delivered to a disabled endpoint: enable it first.
    #[error("webhook endpoint {0} is disabled: enable it (PATCH with \"enabled\": true) before replaying to it")]
    Disabled(String),
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Organizer(#[from] OrganizerError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl EndpointError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "webhook_endpoint_not_found",
            Self::EventNotFound(_) => "event_not_found",
            Self::Disabled(_) => "endpoint_disabled",
            Self::Invalid { .. } => "validation_failed",
            Self::Organizer(err) => err.code(),
            Self::Db(_) => "internal",
        }
    }

    fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }
}

impl QueryFailure for EndpointError {
    fn is_query_failure(&self) -> bool {
        match self {
            Self::Db(db) => db.is_query_failure(),
            Self::Organizer(err) => err.is_query_failure(),
            _ => false,
        }
    }
}

impl From<diesel::result::Error> for EndpointError {
    fn from(err: diesel::result::Error) -> Self {
        Self::Db(err.into())
    }
}

/// A webhook endpoint as the API serves it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WebhookEndpointResponse {
    #[schema(example = "0193a7c0-5b1e-7c3a-9f10-2d4e6f8a0b1c")]
    pub id: String,
    /// The organizer it belongs to, which it hears alone; `null` for the platform's.
    pub organizer_id: Option<String>,
    /// A platform endpoint's organizers; `null` for every organizer (and on an organizer's).
    pub organizer_ids: Option<Vec<String>>,
    #[schema(example = "https://tickets.example/hooks/gateway")]
    pub url: String,
    pub description: String,
    /// The types it hears; `null` for every type.
    #[schema(value_type = Option<Vec<GatewayEventType>>)]
    pub event_types: Option<Vec<String>>,
    pub enabled: bool,
    /// `failing` when the gateway disabled it after it failed for
    /// `OUTBOUND_WEBHOOK_DISABLE_AFTER_HOURS`; `null` when enabled or disabled by a caller.
    pub disabled_reason: Option<String>,
    /// Since when every attempt has failed; `null` after a success.
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The signing secret (`whsec_...`): only in the answers that make one (creation, rotation),
    /// shown once; keep it to verify deliveries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

fn list(text: Option<&str>) -> Option<Vec<String>> {
    text.map(|text| text.split(',').map(str::to_string).collect())
}

impl From<WebhookEndpoint> for WebhookEndpointResponse {
    fn from(endpoint: WebhookEndpoint) -> Self {
        Self {
            organizer_ids: list(endpoint.organizer_ids.as_deref()),
            event_types: list(endpoint.event_types.as_deref()),
            id: endpoint.id,
            organizer_id: endpoint.organizer_id,
            url: endpoint.url,
            description: endpoint.description,
            enabled: endpoint.enabled,
            disabled_reason: endpoint.disabled_reason,
            failing_since: endpoint.failing_since.map(|at| at.and_utc()),
            created_at: endpoint.created_at.and_utc(),
            updated_at: endpoint.updated_at.and_utc(),
            secret: None,
        }
    }
}

/// The endpoint `id`, for a caller who may manage it: an admin any; an organizer's token only
/// its own organizer's (others are not found), while that organizer is active.
fn authorized(
    conn: &mut DbConnection,
    principal: &Principal,
    id: &str,
) -> Result<WebhookEndpoint, EndpointError> {
    let not_found = || EndpointError::NotFound(id.to_string());
    let endpoint = WebhookEndpoint::find(conn, id)?.ok_or_else(not_found)?;
    match principal {
        Principal::Admin { .. } => Ok(endpoint),
        Principal::Organizer { org, .. } => {
            if endpoint.organizer_id.as_deref() != Some(org.to_string().as_str()) {
                return Err(not_found());
            }
            check_organizer(conn, principal, *org)?;
            Ok(endpoint)
        }
    }
}

/// Runs `work` in one write transaction, for `principal`, with an audit context of its own
/// for whatever it records.
async fn in_transaction<T, F>(
    state: &AppState,
    principal: &Principal,
    work: F,
) -> Result<T, EndpointError>
where
    F: FnOnce(&mut DbConnection, &Principal, &AuditContext) -> Result<T, EndpointError>
        + Send
        + 'static,
    T: Send + 'static,
{
    let principal = principal.clone();
    let audit = AuditContext::new(&principal);
    state
        .db
        .run(move |conn| write_transaction(conn, |conn| work(conn, &principal, &audit)))
        .await
}

/// Runs `change` on the endpoint `id`, for a caller who may manage it ([`authorized`]), in one
/// write transaction with whatever it audits.
async fn changing<T, F>(
    state: &AppState,
    principal: &Principal,
    id: String,
    change: F,
) -> Result<T, EndpointError>
where
    F: FnOnce(&mut DbConnection, WebhookEndpoint, &AuditContext) -> Result<T, EndpointError>
        + Send
        + 'static,
    T: Send + 'static,
{
    in_transaction(state, principal, move |conn, principal, audit| {
        let endpoint = authorized(conn, principal, &id)?;
        change(conn, endpoint, audit)
    })
    .await
}

/// The organizer `id`, for a caller who may act for it.
fn check_organizer(
    conn: &mut DbConnection,
    principal: &Principal,
    id: OrganizerId,
) -> Result<Organizer, EndpointError> {
    principal.require_organizer(id)?;
    let found = Organizer::find_by_id(conn, &id.to_string())?.map(|organizer| (organizer, ()));
    Ok(organizers::authorize_loaded(principal, id, found)?.0)
}
