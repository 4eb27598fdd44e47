//! The active entitlements of customers with access (an active or trialing subscription in the
//! mirror) and of customers the mirror holds entitlements for: fetched from Stripe per customer
//! and stored as the webhook worker stores them. Runs after subscriptions, so it sees their
//! current state.

use std::collections::{BTreeSet, HashMap};

use super::context::RunContext;
use super::{KindDrift, SyncError, SyncKind};
use crate::db::models::{Entitlements, MirrorRow, Subscription};
use crate::db::DbError;
use crate::services::webhooks::entitlements_row;
use crate::stripe::checkout;

const KIND: SyncKind = SyncKind::Entitlements;
/// Subscription statuses that grant access, as the entitlements read counts them.
const ACCESS: [&str; 2] = ["active", "trialing"];

pub(super) async fn reconcile(run: &mut RunContext<'_>) -> Result<(), SyncError> {
    let key = run.account.to_string();
    let (customers, stored) = run
        .state
        .db
        .run(move |conn| {
            // Stored features that do not read are corrupt data: the run fails on them
            // rather than taking them for none and "repairing" the row.
            let stored: HashMap<String, Vec<String>> = Entitlements::list_by_account(conn, &key)?
                .into_iter()
                .map(|row| {
                    let features = serde_json::from_str(&row.features).map_err(|e| {
                        DbError::Corrupt(format!(
                            "the stored entitlements of {} do not read: {e}",
                            row.stripe_customer_id
                        ))
                    })?;
                    Ok((row.stripe_customer_id, features))
                })
                .collect::<Result<_, DbError>>()?;
            let mut customers: BTreeSet<String> = Subscription::live_by_account(conn, &key)?
                .into_iter()
                .filter(|s| ACCESS.contains(&s.status.as_str()))
                .map(|s| s.stripe_customer_id)
                .collect();
            customers.extend(stored.keys().cloned());
            Ok::<_, DbError>((customers, stored))
        })
        .await?;
    let mut drift = KindDrift::default();
    let state = run.state;
    let client = state.stripe.for_account(&run.account);
    for customer in customers {
        run.pace(KIND, &drift).await?;
        let fetched_at = run.fetch_time().await?;
        let active = run.called(checkout::active_entitlements(&client, &customer).await)?;
        let features: Vec<String> = active.into_iter().map(|e| e.lookup_key).collect();
        drift.checked += 1;
        let same = |stored: &Vec<String>| {
            stored.iter().collect::<BTreeSet<_>>() == features.iter().collect::<BTreeSet<_>>()
        };
        match stored.get(&customer) {
            None if features.is_empty() => continue,
            None => drift.missing(&customer),
            Some(stored) if !same(stored) => drift.different(&customer),
            Some(_) => continue,
        }
        if !run.dry_run {
            let row = entitlements_row(run.account.as_str(), &customer, &features, fetched_at);
            let written = state
                .db
                .run(move |conn| Ok::<_, DbError>(Entitlements::upsert(conn, &row)?))
                .await?;
            drift.repaired += u64::from(written);
        }
    }
    drift.complete = true;
    run.checkpoint(KIND, &drift).await
}
