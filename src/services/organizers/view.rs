//! An organizer as the API serves it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::models::Organizer;
use crate::domain::OrganizerStatus;
use crate::services::AppState;

/// How Stripe calls for the organizer are made.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// A connected account: calls carry `Stripe-Account`.
    Connected,
    /// The platform's own account (`STRIPE_PLATFORM_ACCOUNT_ID`): calls carry no header.
    Platform,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizerResponse {
    #[schema(example = "0193a7c0-5b1e-7c3a-9f10-2d4e6f8a0b1c")]
    pub id: String,
    pub name: String,
    pub stripe_account_id: String,
    pub account_kind: AccountKind,
    pub application_fee_bps: Option<i32>,
    pub status: OrganizerStatus,
    /// When the organizer's account revoked the platform's access; while set, reads keep
    /// working and writes answer 409 `organizer_disconnected`.
    pub disconnected_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl OrganizerResponse {
    pub fn new(organizer: Organizer, state: &AppState) -> Self {
        let account_kind = if state
            .stripe
            .is_platform_account(&organizer.stripe_account_id)
        {
            AccountKind::Platform
        } else {
            AccountKind::Connected
        };
        Self {
            status: organizer.status,
            id: organizer.id,
            name: organizer.name,
            stripe_account_id: organizer.stripe_account_id,
            account_kind,
            application_fee_bps: organizer.application_fee_bps,
            disconnected_at: organizer.disconnected_at.map(|at| at.and_utc()),
            created_at: organizer.created_at.and_utc(),
            updated_at: organizer.updated_at.and_utc(),
        }
    }
}
