//! `account.application.deauthorized`: the organizer's account revoked the platform's access.
//! The organizer becomes `disconnected`: its reads keep working, its writes answer 409, and the
//! gateway makes no further Stripe call for it.

use crate::db::models::gateway_event::GatewayEvent;
use crate::db::models::Organizer;
use crate::db::now;
use crate::domain::{GatewayEventType, StripeAccountId};
use crate::mirror::account::StripeAccount;
use crate::services::audit::{AuditContext, AuditEntry, Outcome};
use crate::services::organizers::{self, OrganizerError, OrganizerResponse};
use crate::services::AppState;

/// Acts on Stripe's word that `account` revoked the platform's access
/// (`account.application.deauthorized`), once Stripe confirms it: a redelivered old event after
/// the account connected again changes nothing. Returns whether the organizer was disconnected.
pub async fn disconnect_if_revoked(
    state: &AppState,
    account: &StripeAccountId,
    event_id: &str,
) -> Result<bool, OrganizerError> {
    match organizers::verify_account_access(state, account).await {
        Ok(_) => {
            tracing::info!(%account, "a deauthorization event, but the account is still connected");
            return Ok(false);
        }
        Err(OrganizerError::AccountInaccessible { .. }) => {}
        Err(err) => return Err(err),
    }
    let audit = AuditContext::system("webhook-worker", event_id);
    let key = account.to_string();
    let served_by = state.clone();
    state
        .db
        .run(move |conn| {
            crate::db::write_transaction(conn, |conn| {
                // The update locks the organizer's row, as every event writer does first.
                let Some(organizer) = Organizer::disconnect_by_account(conn, &key, now())? else {
                    return Ok(false);
                };
                let status = StripeAccount::of(conn, Some(&key))?;
                let served = OrganizerResponse::new(organizer.clone(), status, &served_by);
                let told = GatewayEventType::OrganizerDisconnected;
                GatewayEvent::tell(conn, &organizer.id, told, &organizer.id, &served)?;
                tracing::warn!(organizer_id = %organizer.id, account = %key, "the account revoked the platform's access; the organizer is disconnected");
                audit.record(
                    conn,
                    &AuditEntry {
                        action: "organizer.disconnected",
                        organizer_id: Some(organizer.id.clone()),
                        targets: serde_json::json!({ "stripe_account_id": key }),
                        outcome: Outcome::Succeeded,
                        subject_hash: None,
                        details: serde_json::json!({}),
                    },
                )?;
                Ok(true)
            })
        })
        .await
}
