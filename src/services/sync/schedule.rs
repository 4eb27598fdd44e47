//! The periodic sweep: every `RECONCILE_INTERVAL_SECS`, one instance (whichever takes the
//! sweep's lease) reconciles every active, connected organizer's account in turn, each under
//! its own account lease like any run; an account whose last full reconciliation succeeded
//! within `SYNC_COOLDOWN_SECS` is left to the next sweep.

use std::time::Duration;

use super::run::{execute, new_run, RunRequest};
use super::SyncKind;
use crate::db::models::sync::SyncRun;
use crate::db::models::Organizer;
use crate::db::{now, DbError, Lease};
use crate::domain::RunTrigger;
use crate::jobs::{Duty, Ran};
use crate::services::AppState;
use chrono::Duration as Span;

const LEASE_KIND: &str = "sync.schedule";

/// The sweep, a duty of the jobs runner every `every`: each unit sweeps unless another
/// instance did within `every`.
pub fn sweeps(
    state: AppState,
    every: Duration,
    concurrency: usize,
    cooldown: Duration,
) -> impl Duty {
    move || {
        let state = state.clone();
        async move {
            match sweep(&state, every, concurrency, cooldown).await? {
                0 => Ok(Ran::Idle),
                runs => {
                    tracing::info!(runs, "reconciliation sweep finished");
                    Ok(Ran::Worked)
                }
            }
        }
    }
}

/// One sweep, if no other instance made one within `every`: returns the runs made.
pub async fn sweep(
    state: &AppState,
    every: Duration,
    concurrency: usize,
    cooldown: Duration,
) -> Result<usize, super::SyncError> {
    // The lease is not released: it says "swept" until the interval is over.
    let claimed = state
        .db
        .run(move |conn| Ok::<_, DbError>(Lease::claim(conn, LEASE_KIND, "all", every)?))
        .await?;
    if claimed.is_none() {
        return Ok(0);
    }
    let cooled_since = now() - Span::from_std(cooldown).unwrap_or(Span::zero());
    let organizers = state
        .db
        .run(move |conn| {
            // Runs whose instance stopped are marked before new ones start.
            SyncRun::abandon_stale_across_accounts(
                conn,
                crate::mirror::LEASE_KIND,
                now() - Span::minutes(10),
            )?;
            let every_kind: Vec<&str> = SyncKind::all().into_iter().map(SyncKind::as_str).collect();
            let mut due = Vec::new();
            for organizer in Organizer::list_connected(conn)? {
                let last =
                    SyncRun::latest_repair_by_account(conn, organizer.data_account(), &every_kind)?;
                match last.and_then(|run| run.finished_at) {
                    Some(finished) if finished > cooled_since => {
                        tracing::debug!(
                            account = organizer.data_account(),
                            "reconciled within the cooldown: left to the next sweep"
                        );
                    }
                    _ => due.push(organizer),
                }
            }
            Ok::<_, DbError>(due)
        })
        .await?;
    let runs = run_all(state, organizers, RunTrigger::Schedule, false, concurrency).await?;
    Ok(runs.len())
}

/// Runs every organizer's account, `concurrency` at a time; returns the finished runs.
pub async fn run_all(
    state: &AppState,
    organizers: Vec<Organizer>,
    trigger: RunTrigger,
    dry_run: bool,
    concurrency: usize,
) -> Result<Vec<SyncRun>, super::SyncError> {
    let request = RunRequest {
        dry_run,
        kinds: SyncKind::all(),
        trigger,
    };
    // Every run is recorded before any starts: an error here leaves no run behind half-done.
    let runs: Vec<SyncRun> = organizers
        .iter()
        .map(|o| new_run(&o.id, o.data_account(), &request))
        .collect();
    let queued = runs.clone();
    state
        .db
        .run(move |conn| {
            for run in &queued {
                SyncRun::insert(conn, run)?;
            }
            Ok::<_, DbError>(())
        })
        .await?;
    let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for run in runs {
        let (state, limit) = (state.clone(), limit.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            execute(&state, run).await
        });
    }
    let mut finished = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(run)) => {
                tracing::info!(run_id = %run.id, account = %run.stripe_account_id, status = run.status.as_str(), "reconciliation run ended");
                finished.push(run);
            }
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "a reconciliation run could not record its end")
            }
            Err(err) => tracing::error!(error = %err, "a reconciliation run panicked"),
        }
    }
    Ok(finished)
}
