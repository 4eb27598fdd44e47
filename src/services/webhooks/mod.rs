//! Stripe webhooks: deliveries are verified, reduced to their envelope and stored in the inbox
//! before they are acknowledged ([`Ingest`]); workers later claim them, re-fetch the object
//! each names from Stripe with the event's account, and overwrite the mirror
//! ([`worker`], [`process`]).

pub mod admin;
mod deauthorize;
mod envelope;
mod inbox;
pub mod process;
mod turns;
pub mod worker;

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::Notify;

pub use envelope::Envelope;
pub use inbox::{store_batch, Inbox, InsertFn, RowOutcome, Stored};

use crate::configuration::WebhookSettings;
use crate::db::models::{NewWebhookEvent, NO_ACCOUNT};
use crate::db::{now, Db, DbError};
use crate::domain::EventStatus;
use crate::domain::{StripeAccountId, StripeId};
use crate::stripe::{SignatureError, SignatureVerifier};

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("no webhook signing secret is configured (STRIPE_WEBHOOK_SECRETS)")]
    NotConfigured,
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error("{0}")]
    Envelope(String),
    #[error("a {event} event was sent to a gateway with a {gateway} key")]
    LivemodeMismatch {
        event: &'static str,
        gateway: &'static str,
    },
    #[error("the event could not be stored: {0}")]
    Store(DbError),
}

impl WebhookError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotConfigured => "webhooks_not_configured",
            Self::Signature(_) => "invalid_signature",
            Self::Envelope(_) => "invalid_event",
            Self::LivemodeMismatch { .. } => "livemode_mismatch",
            Self::Store(err) if err.is_unavailable() => "database_unavailable",
            Self::Store(_) => "internal_error",
        }
    }
}

/// What the sender is told.
#[derive(Clone, Debug)]
pub struct Receipt {
    pub id: String,
    pub duplicate: bool,
}

/// Verifies and stores deliveries; one per process, shared by the HTTP workers.
#[derive(Clone)]
pub struct Ingest {
    verifier: SignatureVerifier,
    /// The mode of the gateway's key; `None` accepts both.
    livemode: Option<bool>,
    platform_account: Option<StripeAccountId>,
    inbox: Inbox,
}

impl Ingest {
    pub fn new(
        settings: &WebhookSettings,
        livemode: Option<bool>,
        platform_account: Option<StripeAccountId>,
        db: &Db,
        stored: Arc<Notify>,
    ) -> std::io::Result<Self> {
        Ok(Self {
            verifier: SignatureVerifier::new(
                settings.secrets.clone(),
                settings.webhook_tolerance_secs,
            ),
            livemode,
            platform_account,
            inbox: Inbox::start(
                db,
                settings.webhook_batch_max,
                settings.webhook_committers,
                stored,
            )?,
        })
    }

    /// Whether the inbox can store deliveries now (the readiness probe).
    pub async fn check(&self) -> Result<(), DbError> {
        self.inbox.check().await
    }

    /// Verifies `body` against its `Stripe-Signature` header and stores it; returns once it is
    /// committed. Nothing is stored unless the signature and the envelope are good.
    pub async fn receive(
        &self,
        signature: Option<&str>,
        body: Bytes,
    ) -> Result<Receipt, WebhookError> {
        let received = self.verify_and_store(signature, body).await;
        crate::telemetry::metrics::webhook_delivery(match &received {
            Ok(receipt) if receipt.duplicate => "duplicate",
            Ok(_) => "accepted",
            Err(error) => error.code(),
        });
        received
    }

    async fn verify_and_store(
        &self,
        signature: Option<&str>,
        body: Bytes,
    ) -> Result<Receipt, WebhookError> {
        if !self.verifier.has_secrets() {
            return Err(WebhookError::NotConfigured);
        }
        self.verifier
            .verify(signature, &body, chrono::Utc::now().timestamp())?;
        let envelope = Envelope::parse(&body).map_err(WebhookError::Envelope)?;
        if let Some(gateway) = self.livemode.filter(|&live| live != envelope.livemode) {
            let mode = |live: bool| if live { "live-mode" } else { "test-mode" };
            return Err(WebhookError::LivemodeMismatch {
                event: mode(envelope.livemode),
                gateway: mode(gateway),
            });
        }
        let id = envelope.id.to_string();
        let payload = String::from_utf8(body.to_vec())
            .map_err(|_| WebhookError::Envelope("the body is not UTF-8".into()))?;
        let row = inbox_row(envelope, payload, self.platform_account.as_ref());
        let stored = self.inbox.store(row).await.map_err(WebhookError::Store)?;
        Ok(Receipt {
            id,
            duplicate: stored == Stored::Duplicate,
        })
    }
}

/// The inbox row of an event: pending when the workers process its type, else ignored; an
/// event without `account` belongs to the platform's own account.
pub(crate) fn inbox_row(
    envelope: Envelope,
    payload: String,
    platform_account: Option<&StripeAccountId>,
) -> NewWebhookEvent {
    let received_at = now();
    let status = if process::handles(&envelope.event_type) {
        EventStatus::Pending
    } else {
        EventStatus::Ignored
    };
    NewWebhookEvent {
        stripe_account_id: envelope
            .account
            .as_ref()
            .or(platform_account)
            .map_or_else(|| NO_ACCOUNT.to_string(), ToString::to_string),
        id: envelope.id.into_string(),
        event_type: envelope.event_type,
        object_type: envelope.object_type,
        object_id: envelope.object_id.map(StripeId::into_string),
        livemode: envelope.livemode,
        created_at: envelope.created,
        received_at,
        status,
        next_attempt_at: received_at,
        payload,
    }
}
