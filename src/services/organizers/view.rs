//! An organizer as the API serves it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::models::Organizer;
use crate::domain::{ChargeType, OrganizerStatus, TicketFees};
use crate::mirror::account::{AccountStatus, StripeAccount};
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
    /// Null until the gateway creates the organizer's account
    /// (`POST /v1/organizers/{org_id}/stripe-account`).
    pub stripe_account_id: Option<String>,
    /// Null while the organizer has no account.
    pub account_kind: Option<AccountKind>,
    /// What the account can do and what Stripe still needs, as last fetched; null until the
    /// gateway has fetched the account (right after registering it, or at the next sync).
    pub account: Option<AccountStatus>,
    pub application_fee_bps: Option<i32>,
    /// The fixed fee per ticket, by currency; empty when none is set.
    #[schema(value_type = TicketFees)]
    pub ticket_fees: std::collections::BTreeMap<String, i64>,
    /// Whether refunds give the platform's fee back when their request does not say.
    pub refund_application_fee: bool,
    /// `direct` charges on the organizer's account, or `destination` charges on the
    /// platform's, sent on to the organizer's.
    #[schema(value_type = ChargeType)]
    pub charge_type: ChargeType,
    pub status: OrganizerStatus,
    /// When the organizer's account revoked the platform's access; while set, reads keep
    /// working and writes answer 409 `organizer_disconnected`.
    pub disconnected_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl OrganizerResponse {
    /// The organizer with its account's state, when the mirror has it.
    pub fn new(organizer: Organizer, account: Option<StripeAccount>, state: &AppState) -> Self {
        let account_kind = organizer.stripe_account_id.as_deref().map(|account| {
            if state.stripe.is_platform_account(account) {
                AccountKind::Platform
            } else {
                AccountKind::Connected
            }
        });
        let ticket_fees = organizer.ticket_fees().unwrap_or_else(|err| {
            tracing::error!(error = %err, "serving the organizer without its fees per ticket");
            Default::default()
        });
        Self {
            account: account.map(AccountStatus::from),
            ticket_fees: ticket_fees.as_map().clone(),
            refund_application_fee: organizer.refund_application_fee,
            charge_type: organizer.charge_type,
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
