//! One run of one account: queued, then run under the account's lease (two instances never
//! reconcile one account at once), kind after kind, its report written after every page.

use std::time::Duration;

use super::{events, DriftReport, SyncError, SyncKind};
use crate::db::columns::Json;
use crate::db::models::sync::SyncRun;
use crate::db::{now, DbError, Lease};
use crate::domain::Principal;
use crate::domain::{OrganizerId, StripeAccountId};
use crate::domain::{RunStatus, RunTrigger};
use crate::mirror::{RunContext, LEASE_KIND, LEASE_TTL};
use crate::services::{organizers, AppState};

pub struct RunRequest {
    pub dry_run: bool,
    pub kinds: Vec<SyncKind>,
    pub trigger: RunTrigger,
}

/// Queues a run of the organizer's account and starts it in the background; returns the run.
///
/// One run of an account at a time. A request while one is in progress gets a run that starts
/// when that one ends, so what the caller changed in Stripe before asking is in it: at most one
/// such run waits per account, and a later request of the same run joins it (one of another
/// kind of run is refused, naming the waiting run).
pub async fn request_run(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    request: RunRequest,
) -> Result<SyncRun, SyncError> {
    let (run, start) =
        organizers::with_organizer(state, principal, org_id, move |conn, organizer| {
            organizers::connected_account(&organizer)?;
            let account = organizer.data_account();
            crate::db::write_transaction(conn, |conn| {
                // Requests for one account take turns (SQLite's write transaction does it
                // there), so two cannot both queue a run.
                SyncRun::lock_account(conn, account)?;
                let wanted = new_run(&organizer.id, account, &request);
                // A run holds the account while its lease lives, however long it takes. A
                // queued run is one waiting for it, or one about to start (queued moments ago,
                // its lease not yet taken); an older one with no run in progress was left by an
                // instance that stopped.
                let running = Lease::live_until(conn, LEASE_KIND, account)?.is_some();
                let fresh = now() - chrono::Duration::minutes(10);
                let waiting = SyncRun::latest_by_account(conn, account, Some(RunStatus::Queued))?
                    .filter(|queued| running || queued.created_at >= fresh);
                let start = match waiting {
                    Some(queued)
                        if queued.dry_run == wanted.dry_run && queued.kinds == wanted.kinds =>
                    {
                        return Ok((queued, None));
                    }
                    Some(queued) if running => return Err(SyncError::InProgress(queued.id)),
                    Some(_) => Start::AfterCurrent,
                    None if running => Start::AfterCurrent,
                    None => {
                        SyncRun::abandon_stale_across_accounts(conn, LEASE_KIND, fresh)?;
                        Start::Now
                    }
                };
                SyncRun::insert(conn, &wanted)?;
                Ok::<_, SyncError>((wanted, Some(start)))
            })
        })
        .await?;
    if let Some(start) = start {
        spawn(state, run.clone(), start);
    }
    Ok(run)
}

/// Backfills a newly registered organizer's mirror in the background (`BACKFILL_ON_REGISTER`).
pub async fn backfill(
    state: &AppState,
    organizer_id: &str,
    account: &str,
) -> Result<(), SyncError> {
    let request = RunRequest {
        dry_run: false,
        kinds: SyncKind::all(),
        trigger: RunTrigger::Registration,
    };
    let run = new_run(organizer_id, account, &request);
    let queued = run.clone();
    state
        .db
        .run(move |conn| Ok::<_, DbError>(SyncRun::insert(conn, &queued)?))
        .await?;
    spawn(state, run, Start::Now);
    Ok(())
}

fn spawn(state: &AppState, run: SyncRun, start: Start) {
    let task = state.clone();
    state.jobs.spawn("sync.run", async move {
        if let Err(err) = execute_when(&task, run, start).await {
            tracing::error!(error = %err, "a sync run failed to record its end");
        }
    });
}

pub fn new_run(organizer_id: &str, account: &str, request: &RunRequest) -> SyncRun {
    let mut kinds = request.kinds.clone();
    kinds.sort();
    kinds.dedup();
    SyncRun {
        id: uuid::Uuid::now_v7().to_string(),
        organizer_id: organizer_id.to_string(),
        stripe_account_id: account.to_string(),
        status: RunStatus::Queued,
        dry_run: request.dry_run,
        kinds: Json(kinds.iter().map(|kind| kind.as_str().to_string()).collect()),
        trigger: request.trigger,
        created_at: now(),
        started_at: None,
        finished_at: None,
        report: None,
        error: None,
    }
}

/// Runs a queued run to its end and records how it ended: whatever fails on the way, the run
/// is left `succeeded`, `failed` or `skipped`, never `queued` or `running`. Another run of the
/// account in progress skips it.
pub async fn execute(state: &AppState, run: SyncRun) -> Result<SyncRun, SyncError> {
    execute_when(state, run, Start::Now).await
}

/// When a run may start.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    /// Now, or never: another run in progress skips it.
    Now,
    /// Once the run in progress ends (its lease is released, or runs out when its instance
    /// stopped): a run queued behind it.
    AfterCurrent,
}

/// What asking for the account's lease came to.
enum Claim {
    /// The lease is the run's, and it is `running`.
    Started(Lease),
    /// Another run holds the account.
    Taken,
    /// The run is no longer `queued` (marked abandoned meanwhile): it does not run.
    Withdrawn,
}

/// How often a run queued behind another asks for the account's lease.
const QUEUE_POLL: Duration = Duration::from_millis(250);

async fn execute_when(state: &AppState, run: SyncRun, start: Start) -> Result<SyncRun, SyncError> {
    // Background work: its Stripe calls leave the interactive share of the budget alone.
    let state = &state.background();
    let kinds = match super::view::run_kinds(&run) {
        Ok(kinds) => kinds,
        Err(err) => {
            let message = crate::domain::chain(&err);
            let report = DriftReport::default();
            return finish(state, &run, RunStatus::Failed, &report, Some(message)).await;
        }
    };
    let claimed = loop {
        let (account_key, run_id) = (run.stripe_account_id.clone(), run.id.clone());
        let claimed = state
            .db
            .run(move |conn| {
                let Some(lease) = Lease::claim(conn, LEASE_KIND, &account_key, LEASE_TTL)? else {
                    return Ok::<_, DbError>(Claim::Taken);
                };
                if SyncRun::start(conn, &account_key, &run_id)? {
                    Ok(Claim::Started(lease))
                } else {
                    // No longer queued (marked abandoned meanwhile): it does not run.
                    lease.release(conn)?;
                    Ok(Claim::Withdrawn)
                }
            })
            .await;
        match claimed {
            Ok(Claim::Taken) if start == Start::AfterCurrent => {
                tokio::time::sleep(QUEUE_POLL).await
            }
            claimed => break claimed,
        }
    };
    let lease = match claimed {
        Ok(Claim::Started(lease)) => lease,
        Ok(Claim::Withdrawn) => {
            let (account, id) = (run.stripe_account_id.clone(), run.id.clone());
            return state
                .db
                .run(move |conn| {
                    Ok::<_, DbError>(SyncRun::find_by_account_and_id(conn, &account, &id)?)
                })
                .await?
                .ok_or(SyncError::NotFound(run.id));
        }
        Ok(Claim::Taken) => {
            let reason = "another run of this account was in progress";
            return finish(
                state,
                &run,
                RunStatus::Skipped,
                &DriftReport::default(),
                Some(reason.into()),
            )
            .await;
        }
        Err(err) => {
            let message = crate::domain::chain(&err);
            return finish(
                state,
                &run,
                RunStatus::Failed,
                &DriftReport::default(),
                Some(message),
            )
            .await;
        }
    };
    let mut report = DriftReport::default();
    let outcome = match StripeAccountId::parse(&run.stripe_account_id) {
        Ok(account) => {
            let mut context = RunContext::new(
                &state.db,
                &state.stripe,
                state,
                account,
                &run,
                lease.clone(),
            );
            let mut errors = Vec::new();
            // Each kind on its own: a failure in one (a stuck listing, Stripe failing) does not
            // keep the others, missed events included, from being reconciled.
            for kind in kinds {
                let result = match kind.mirrored() {
                    Some(mirrored) => match mirrored.reconcile(&mut context) {
                        Some(reconciled) => reconciled.await.map_err(SyncError::from),
                        None => Ok(()),
                    },
                    None => events::reconcile(&mut context).await,
                };
                if let Err(err) = result {
                    let lost_lease = matches!(err, SyncError::LeaseLost);
                    errors.push(format!("{}: {}", kind.as_str(), crate::domain::chain(&err)));
                    if lost_lease {
                        break;
                    }
                }
            }
            report = context.into_report(&errors);
            if errors.is_empty() {
                Ok(())
            } else {
                Err(errors.join("; "))
            }
        }
        Err(err) => Err(format!("stored account id: {err}")),
    };
    let (status, error) = match outcome {
        Ok(()) => (RunStatus::Succeeded, None),
        Err(message) => {
            tracing::warn!(run_id = %run.id, error = %message, "sync run failed");
            (RunStatus::Failed, Some(message))
        }
    };
    let _ = state
        .db
        .run(move |conn| Ok::<_, DbError>(lease.release(conn)?))
        .await;
    crate::telemetry::metrics::sync_run(status.as_str());
    for (kind, found) in &report.kinds {
        for (finding, count) in [
            ("missing", found.missing),
            ("different", found.different),
            ("deleted_in_stripe", found.deleted_in_stripe),
        ] {
            crate::telemetry::metrics::sync_drift(kind, finding, count);
        }
    }
    finish(state, &run, status, &report, error).await
}

async fn finish(
    state: &AppState,
    run: &SyncRun,
    status: RunStatus,
    report: &DriftReport,
    error: Option<String>,
) -> Result<SyncRun, SyncError> {
    let (account, id) = (run.stripe_account_id.clone(), run.id.clone());
    let report = serde_json::to_string(report).unwrap_or_default();
    state
        .db
        .run(move |conn| {
            SyncRun::record(conn, &account, &id, status, &report, error.as_deref())?;
            let run = SyncRun::find_by_account_and_id(conn, &account, &id)?;
            run.ok_or(SyncError::NotFound(id))
        })
        .await
}

/// Shows the progress of the account's latest run on stderr while it goes, when stderr is a
/// terminal (the CLI's).
pub async fn show_progress(state: AppState, account: String) {
    use std::io::{IsTerminal, Write};
    if !std::io::stderr().is_terminal() {
        return;
    }
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let key = account.clone();
        let Ok(Some(run)) = state
            .db
            .run(move |conn| Ok::<_, DbError>(SyncRun::latest_by_account(conn, &key, None)?))
            .await
        else {
            continue;
        };
        let Ok(report) = super::view::run_report(&run) else {
            continue;
        };
        let report = report.unwrap_or_default();
        let line: Vec<String> = report
            .kinds
            .iter()
            .map(|(kind, drift)| {
                format!(
                    "{kind} {}{}",
                    drift.checked,
                    if drift.complete { " ✓" } else { "…" }
                )
            })
            .collect();
        eprint!(
            "\r\x1b[2K{}: {} ({} Stripe calls)",
            run.stripe_account_id,
            line.join(", "),
            report.stripe_calls
        );
        let _ = std::io::stderr().flush();
    }
}
