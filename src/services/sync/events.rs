//! Missed-event recovery: the account's events since its cursor, listed from Stripe's Events API
//! with the account's `Stripe-Account`, and each one the inbox lacks stored as if delivered, so
//! the webhook workers process it the normal way (by fetching its object). Stripe keeps events
//! for 30 days: a cursor older than 25 days is reported, and only a full reconciliation (which
//! the same run makes of every other kind) covers what fell out of the window.

use chrono::Utc;

use super::{SyncError, SyncKind};
use crate::db::models::sync as cursors;
use crate::db::models::{Organizer, WebhookEvent};
use crate::db::DbError;
use crate::mirror::{KindDrift, Page, RunContext};
use crate::services::webhooks::{inbox_row, Envelope};
use crate::stripe::Get;

const KIND: &str = SyncKind::EVENTS;
/// How long Stripe keeps events.
const WINDOW_SECS: i64 = 30 * 86_400;
/// A cursor older than this is close to losing events: warned about.
const STALE_SECS: i64 = 25 * 86_400;
/// Listed again at the next run: events Stripe stored just before the listing began may
/// not have been listed yet. The inbox drops what it already has.
const OVERLAP_SECS: i64 = 60;

pub(super) async fn reconcile(run: &mut RunContext<'_>) -> Result<(), SyncError> {
    let key = run.account.to_string();
    let (since, registered) = run
        .db
        .run(move |conn| {
            let since = cursors::events_since(conn, &key)?;
            let registered = Organizer::find_by_stripe_account_id(conn, &key)?
                .map(|o| o.created_at.and_utc().timestamp());
            Ok::<_, DbError>((since, registered))
        })
        .await?;
    let now = Utc::now().timestamp();
    // Before its first run: the events since the organizer was registered (the backfill covers
    // the state before), within Stripe's window.
    let since = since.or(registered).unwrap_or(now).max(now - WINDOW_SECS);
    if now - since > STALE_SECS {
        let warning = format!(
            "the events cursor is {} days old; Stripe keeps events for 30 days, so only this run's full reconciliation covers what is older",
            (now - since) / 86_400
        );
        tracing::warn!(account = %run.account, "{warning}");
        run.report.warnings.push(warning);
    }
    let mut drift = KindDrift {
        resumed_after: Some(since.to_string()),
        ..KindDrift::default()
    };
    let db = run.db;
    let client = run.client();
    let mut after: Option<String> = None;
    // Every event created before the listing began is in it; the next run starts a minute
    // before that, so a quiet account's cursor moves on too.
    let listing_began = Utc::now().timestamp();
    loop {
        // Delivered or not, newest first; each kept as the JSON Stripe sent.
        let request = Get::new("/events")
            .param("created[gte]", since)
            .page(after.as_deref());
        let page: Page<serde_json::Value> = run.called(client.read_json(&request).await)?;
        let mut rows = Vec::new();
        for event in page.data {
            drift.checked += 1;
            if let Some(id) = event["id"].as_str() {
                after = Some(id.to_string());
            }
            let body = event.to_string();
            let Ok(envelope) = Envelope::parse(body.as_bytes()) else {
                continue;
            };
            let mut row = inbox_row(envelope, body, None);
            // Listed with the account's header: the account is the run's, whatever the
            // payload says.
            row.stripe_account_id = run.account.to_string();
            rows.push(row);
        }
        let stored = if run.dry_run {
            let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
            let account = run.account.to_string();
            db.run(move |conn| {
                let known = WebhookEvent::known_ids(conn, &account, &ids)?;
                Ok::<_, DbError>(ids.into_iter().filter(|id| !known.contains(id)).collect())
            })
            .await?
        } else {
            db.run(move |conn| {
                let rows: Vec<_> = rows.iter().collect();
                Ok::<_, DbError>(WebhookEvent::insert_batch(conn, &rows)?)
            })
            .await?
        };
        for id in &stored {
            drift.missing(id);
        }
        if !run.dry_run {
            drift.repaired += stored.len() as u64;
        }
        if !page.has_more || after.is_none() {
            break;
        }
        run.checkpoint(KIND, &drift).await?;
    }
    drift.complete = true;
    if !run.dry_run {
        // Only once every page is listed: Stripe lists newest first, so a run that stops
        // halfway has not seen the oldest ones yet.
        let (key, next) = (
            run.account.to_string(),
            (listing_began - OVERLAP_SECS).max(since),
        );
        db.run(move |conn| Ok::<_, DbError>(cursors::save_events_since(conn, &key, next)?))
            .await?;
    }
    Ok(run.checkpoint(KIND, &drift).await?)
}
