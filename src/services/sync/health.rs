//! "Is this tenant's mirror trustworthy right now?": per organizer, its last reconciliations,
//! its events cursor, its inbox backlog and dead letters, and the concerns they raise.

use chrono::{NaiveDateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{DriftReport, SyncError, SyncKind};
use crate::db::models::sync::{self as runs, SyncRun};
use crate::db::models::{Organizer, WebhookEvent};
use crate::db::{now, DbError};
use crate::domain::RunStatus;
use crate::domain::{Cursor, PageLimit};
use crate::mirror::account::StripeAccount;
use crate::services::AppState;

/// Waiting longer than this in the inbox is a concern.
const BACKLOG_CONCERN_SECS: i64 = 300;
/// An events cursor older than this is close to Stripe's 30-day window.
const CURSOR_CONCERN_SECS: i64 = 25 * 86_400;

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountHealth {
    pub organizer_id: String,
    /// Null while the organizer has no Stripe account.
    pub stripe_account_id: Option<String>,
    /// Whether the account finished Stripe's onboarding and can take charges, as last
    /// fetched; null while the mirror has not fetched it (or there is no account).
    pub onboarding_complete: Option<bool>,
    /// `active` or `disabled`.
    pub organizer_status: String,
    /// When the account revoked the platform's access; its mirror no longer changes.
    pub disconnected_at: Option<chrono::DateTime<Utc>>,
    pub last_run: Option<RunSummary>,
    /// The last run, not a dry one, of every kind, that succeeded: it listed everything and
    /// repaired what differed.
    pub last_success: Option<RunSummary>,
    /// Seconds since the time the next events catch-up starts from; null before the first.
    pub events_cursor_age_secs: Option<i64>,
    /// Inbox events waiting to be processed.
    pub inbox_pending: i64,
    /// Seconds the oldest of them has waited.
    pub inbox_oldest_pending_secs: Option<i64>,
    pub dead_lettered: i64,
    /// Why the mirror may not be trustworthy now; empty when it is.
    pub concerns: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunSummary {
    pub id: String,
    pub status: RunStatus,
    pub dry_run: bool,
    pub finished_at: Option<chrono::DateTime<Utc>>,
    /// Missing, different and deleted-in-Stripe objects it found, over every kind.
    pub drift: u64,
}

impl TryFrom<SyncRun> for RunSummary {
    type Error = DbError;

    fn try_from(run: SyncRun) -> Result<Self, DbError> {
        let report: DriftReport = super::view::run_report(&run)?.unwrap_or_default();
        Ok(Self {
            drift: report
                .kinds
                .values()
                .map(|k| k.missing + k.different + k.deleted_in_stripe)
                .sum(),
            id: run.id,
            status: run.status,
            dry_run: run.dry_run,
            finished_at: run.finished_at.map(|t| t.and_utc()),
        })
    }
}

/// One page of organizers, oldest first, each with its account's health.
pub async fn health(
    state: &AppState,
    cursor: Option<Cursor>,
    limit: PageLimit,
    sweep_every: Option<std::time::Duration>,
) -> Result<(Vec<AccountHealth>, Option<Cursor>), SyncError> {
    let organizers = state
        .db
        .run(move |conn| {
            Ok::<_, DbError>(Organizer::list_after(
                conn,
                cursor.as_ref().map(Cursor::key),
                limit.fetch_size(),
            )?)
        })
        .await?;
    let (organizers, next) = limit.split(organizers, |o| &o.id);
    let accounts = state
        .db
        .run(move |conn| {
            let at = now();
            organizers
                .into_iter()
                .map(|organizer| account_health(conn, organizer, at, sweep_every))
                .collect::<Result<Vec<_>, DbError>>()
        })
        .await?;
    Ok((accounts, next))
}

fn account_health(
    conn: &mut crate::db::DbConnection,
    organizer: Organizer,
    at: NaiveDateTime,
    sweep_every: Option<std::time::Duration>,
) -> Result<AccountHealth, DbError> {
    let account = organizer.data_account().to_string();
    let status = StripeAccount::of(conn, organizer.stripe_account_id.as_deref())?;
    let last_run = SyncRun::latest_by_account(conn, &account, None)?;
    let every_kind: Vec<&str> = SyncKind::all().into_iter().map(SyncKind::as_str).collect();
    let last_success = SyncRun::latest_repair_by_account(conn, &account, &every_kind)?;
    let since = runs::events_since(conn, &account)?;
    let (pending, oldest, dead) = WebhookEvent::backlog(conn, &account)?;
    let age = |t: NaiveDateTime| (at - t).num_seconds().max(0);
    let cursor_age = since.map(|since| (at.and_utc().timestamp() - since).max(0));
    let oldest_pending = oldest.map(age);
    let mut concerns = Vec::new();
    match &status {
        _ if organizer.stripe_account_id.is_none() => concerns.push(
            "the organizer has no Stripe account yet: create one, then send the organizer through onboarding".into(),
        ),
        Some(status) if status.onboarding_incomplete() => {
            let due = status.currently_due();
            concerns.push(if due.is_empty() {
                "onboarding is incomplete: the account cannot take charges yet".into()
            } else {
                format!(
                    "onboarding is incomplete: the account cannot take charges yet (currently due: {})",
                    due.join(", ")
                )
            });
        }
        _ => {}
    }
    if organizer.disconnected_at.is_some() {
        concerns
            .push("the account revoked the platform's access; the mirror no longer changes".into());
    }
    match (&last_success, sweep_every) {
        (None, _) => concerns.push(match SyncRun::latest_repair_by_account(conn, &account, &[])? {
            // Runs succeeded, but none covered every kind: runs of some kinds, or runs from
            // before a version that added kinds.
            Some(run) => {
                let missing: Vec<&str> = every_kind
                    .iter()
                    .filter(|kind| !run.kinds.iter().any(|done| done == *kind))
                    .copied()
                    .collect();
                format!(
                    "no reconciliation of every kind has succeeded yet: the last one left out {} (a run of some kinds, or kinds a newer version added); the next sweep covers them, or POST /v1/organizers/{}/sync",
                    missing.join(", "),
                    organizer.id
                )
            }
            None => "no reconciliation has succeeded yet".into(),
        }),
        (Some(run), Some(every)) => {
            let overdue = run
                .finished_at
                .is_some_and(|t| age(t) > 2 * every.as_secs() as i64);
            if overdue {
                concerns.push(
                    "the last successful reconciliation is older than two sweep intervals".into(),
                );
            }
        }
        (Some(_), None) => {}
    }
    if last_run
        .as_ref()
        .is_some_and(|run| run.status == RunStatus::Failed)
    {
        concerns.push("the last reconciliation failed".into());
    }
    if cursor_age.is_some_and(|a| a > CURSOR_CONCERN_SECS) {
        concerns.push("the events cursor is close to the end of Stripe's 30-day window".into());
    }
    if oldest_pending.is_some_and(|a| a > BACKLOG_CONCERN_SECS) {
        concerns.push("inbox events have waited more than 5 minutes".into());
    }
    if dead > 0 {
        concerns.push(format!("{dead} dead-lettered inbox events"));
    }
    Ok(AccountHealth {
        organizer_id: organizer.id,
        stripe_account_id: organizer.stripe_account_id,
        onboarding_complete: status.map(|status| !status.onboarding_incomplete()),
        organizer_status: organizer.status.as_str().to_string(),
        disconnected_at: organizer.disconnected_at.map(|t| t.and_utc()),
        last_run: last_run.map(TryInto::try_into).transpose()?,
        last_success: last_success.map(TryInto::try_into).transpose()?,
        events_cursor_age_secs: cursor_age,
        inbox_pending: pending,
        inbox_oldest_pending_secs: oldest_pending,
        dead_lettered: dead,
        concerns,
    })
}
