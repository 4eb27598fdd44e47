//! What processing an event does: every mirrored kind that claims the event's type
//! ([`mirror::claiming`]) re-fetches what the event names from Stripe, with the event's
//! account, and overwrites the mirror with the answer. The payload is never trusted, so the
//! order and number of deliveries do not change the result.

use chrono::NaiveDateTime;

use crate::db::models::Organizer;
use crate::db::{DbError, QueryFailure};
use crate::domain::StripeAccountId;
use crate::mirror::{self, Env, MirrorError};
use crate::services::organizers::OrganizerError;
use crate::services::AppState;
use crate::stripe::StripeError;

/// The event that tells the gateway an account revoked the platform's access.
const DEAUTHORIZED: &str = "account.application.deauthorized";

/// Whether events of this type are processed (others are stored and acknowledged).
pub fn handles(event_type: &str) -> bool {
    event_type == DEAUTHORIZED || mirror::claiming(event_type).next().is_some()
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("Stripe: {0}")]
    Stripe(#[from] StripeError),
    #[error(transparent)]
    Mirror(MirrorError),
    #[error(transparent)]
    Organizer(#[from] OrganizerError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    Event(String),
}

impl From<MirrorError> for ProcessError {
    fn from(err: MirrorError) -> Self {
        match err {
            MirrorError::Stripe { source, .. } => Self::Stripe(source),
            MirrorError::Db(err) => Self::Db(err),
            other => Self::Mirror(other),
        }
    }
}

impl From<diesel::result::Error> for ProcessError {
    fn from(err: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(err))
    }
}

impl QueryFailure for ProcessError {
    fn is_query_failure(&self) -> bool {
        matches!(self, Self::Db(DbError::Query(_)))
    }
}

/// The event's fields processing reads.
pub struct EventRef<'a> {
    pub event: mirror::EventRef<'a>,
    pub account: &'a StripeAccountId,
}

/// Re-fetches what the event names and writes the mirror. `fetched_at` is when the fetch began.
pub async fn apply(
    state: &AppState,
    event: &EventRef<'_>,
    fetched_at: NaiveDateTime,
) -> Result<(), ProcessError> {
    if event.event.event_type == DEAUTHORIZED {
        super::deauthorize::disconnect_if_revoked(state, event.account, event.event.id).await?;
        return Ok(());
    }
    let key = event.account.to_string();
    let organizer = state
        .db
        .run(move |conn| Ok::<_, ProcessError>(Organizer::find_by_stripe_account_id(conn, &key)?))
        .await?;
    match organizer {
        Some(organizer) if organizer.disconnected_at.is_none() => {}
        // No Stripe call for an account that revoked access, or that no organizer has (any
        // more): the event is settled without a fetch.
        _ => return Ok(()),
    }
    let env = Env {
        db: &state.db,
        client: state.stripe.for_account(event.account),
        account: event.account,
        fetched_at,
        customers: state,
    };
    for kind in mirror::claiming(event.event.event_type) {
        kind.refresh(&env, &event.event).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_mirrored_objects_are_processed() {
        assert!(handles("customer.updated"));
        assert!(handles("customer.subscription.deleted"));
        assert!(handles("invoice.paid"));
        assert!(handles("invoice.created"));
        assert!(handles("checkout.session.completed"));
        assert!(handles("entitlements.active_entitlement_summary.updated"));
        assert!(handles("account.application.deauthorized"));
        assert!(!handles("customer.discount.created"));
        assert!(!handles("balance.available"));
    }
}
