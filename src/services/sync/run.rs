//! One run of one account: queued, then run under the account's lease (two instances never
//! reconcile one account at once), kind after kind, its report written after every page.

use std::time::{Duration, Instant};

use super::{
    catalog, customers, entitlements, events, DriftReport, KindDrift, SyncError, SyncKind,
};
use crate::auth::Principal;
use crate::db::columns::Json;
use crate::db::models::sync as cursors;
use crate::db::models::sync::{RunStatus, RunTrigger, SyncRun};
use crate::db::models::Organizer;
use crate::db::{database_now, now, DbError, Lease};
use crate::domain::{OrganizerId, StripeAccountId};
use crate::services::audit::AuditContext;
use crate::services::{organizers, AppState};
use crate::stripe::StripeError;

/// The lease that makes one run at a time per account, across instances.
pub(super) const LEASE_KIND: &str = "sync.account";
/// How long a run holds its account without renewing; renewed after every page.
const LEASE_TTL: Duration = Duration::from_secs(120);

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
            let account = &organizer.stripe_account_id;
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
                        SyncRun::abandon_stale(conn, LEASE_KIND, fresh)?;
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
pub async fn backfill(state: &AppState, organizer: &Organizer) -> Result<SyncRun, SyncError> {
    let request = RunRequest {
        dry_run: false,
        kinds: SyncKind::ALL.to_vec(),
        trigger: RunTrigger::Registration,
    };
    let run = new_run(&organizer.id, &organizer.stripe_account_id, &request);
    let queued = run.clone();
    state
        .db
        .run(move |conn| Ok::<_, DbError>(SyncRun::insert(conn, &queued)?))
        .await?;
    spawn(state, run.clone(), Start::Now);
    Ok(run)
}

fn spawn(state: &AppState, run: SyncRun, start: Start) {
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(err) = execute_when(&state, run, start).await {
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

/// What a run carries from kind to kind and page to page.
pub(super) struct RunContext<'a> {
    pub(super) state: &'a AppState,
    pub(super) account: StripeAccountId,
    pub(super) run_id: String,
    pub(super) dry_run: bool,
    pub(super) audit: AuditContext,
    pub(super) report: DriftReport,
    lease: Lease,
    started: Instant,
    last_checkpoint: Instant,
}

impl RunContext<'_> {
    /// Counts a Stripe call and passes its result on; a 429 that outlasted the transport's
    /// retries is counted as such, and fails the run like any other error.
    pub(super) fn called<T>(&mut self, result: Result<T, StripeError>) -> Result<T, SyncError> {
        self.report.stripe_calls += 1;
        result.map_err(|err| {
            if matches!(err, StripeError::Api { status: 429, .. }) {
                self.report.rate_limited += 1;
            }
            SyncError::Stripe {
                account: self.account.to_string(),
                source: err,
            }
        })
    }

    /// After each page: the account's lease is renewed, then the report so far is stored. A run
    /// whose lease was taken over (it could not renew in time) stops, and leaves the run row to
    /// the run that holds the account now.
    pub(super) async fn checkpoint(
        &mut self,
        kind: SyncKind,
        drift: &KindDrift,
    ) -> Result<(), SyncError> {
        self.report
            .kinds
            .insert(kind.as_str().to_string(), drift.clone());
        self.report.duration_ms = self.started.elapsed().as_millis() as u64;
        self.last_checkpoint = Instant::now();
        let report = serde_json::to_string(&self.report).unwrap_or_default();
        let (id, mut lease) = (self.run_id.clone(), self.lease.clone());
        let renewed = self
            .state
            .db
            .run(move |conn| {
                if !lease.renew(conn, LEASE_TTL)? {
                    return Ok::<_, DbError>(None);
                }
                SyncRun::record_progress(conn, &id, &report)?;
                Ok(Some(lease))
            })
            .await?;
        match renewed {
            Some(lease) => {
                self.lease = lease;
                Ok(())
            }
            None => Err(SyncError::LeaseLost),
        }
    }

    /// Where the listing of `kind` starts: after the cursor a stopped run left, unless this is
    /// a dry run (which neither reads nor writes cursors). Sets `drift.resumed_after`.
    pub(super) async fn resume_point(
        &self,
        kind: SyncKind,
        drift: &mut KindDrift,
    ) -> Result<Option<String>, SyncError> {
        if self.dry_run {
            return Ok(None);
        }
        let key = self.account.to_string();
        let after = self
            .state
            .db
            .run(move |conn| Ok::<_, DbError>(cursors::cursor(conn, &key, kind.as_str())?))
            .await?;
        drift.resumed_after = after.clone();
        Ok(after)
    }

    /// Whether `listed` failed only because the resumed cursor names an object Stripe no longer
    /// has (400 `resource_missing` about `starting_after`, before anything was listed); then the
    /// listing starts over from the first page: `after` and `drift.resumed_after` are cleared.
    pub(super) fn restart_on_stale_cursor<T>(
        &mut self,
        listed: &Result<T, StripeError>,
        drift: &mut KindDrift,
        nothing_listed: bool,
        after: &mut Option<String>,
    ) -> bool {
        let missing = matches!(
            listed,
            Err(StripeError::Api { status: 400, code: Some(code), .. }) if code == "resource_missing"
        );
        if !(missing && nothing_listed && drift.resumed_after.is_some()) {
            return false;
        }
        self.report.stripe_calls += 1;
        *after = None;
        drift.resumed_after = None;
        true
    }

    /// The listing of `kind` is over: the cursor is cleared (the next run starts from the first
    /// page) and the kind's drift stored. A listing resumed from a cursor is not complete: Stripe
    /// lists newest first, so what was created after the first attempt began is left to the next
    /// full listing.
    pub(super) async fn end_listing(
        &mut self,
        kind: SyncKind,
        mut drift: KindDrift,
    ) -> Result<(), SyncError> {
        drift.complete = drift.resumed_after.is_none();
        if !self.dry_run {
            let key = self.account.to_string();
            self.state
                .db
                .run(move |conn| {
                    Ok::<_, DbError>(cursors::clear_cursor(conn, &key, kind.as_str())?)
                })
                .await?;
        }
        self.checkpoint(kind, &drift).await
    }

    /// The database's clock, which stamps what a fetch from Stripe is about to read.
    pub(super) async fn fetch_time(&self) -> Result<chrono::NaiveDateTime, SyncError> {
        Ok(self
            .state
            .db
            .run(|conn| Ok::<_, DbError>(database_now(conn)?))
            .await?)
    }

    /// In loops of one call per object (deletions, entitlements): a checkpoint every so often,
    /// so the lease never runs out while the run is alive.
    pub(super) async fn pace(
        &mut self,
        kind: SyncKind,
        drift: &KindDrift,
    ) -> Result<(), SyncError> {
        if self.last_checkpoint.elapsed() >= LEASE_TTL / 4 {
            self.checkpoint(kind, drift).await?;
        }
        Ok(())
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
    let kinds = match super::run_kinds(&run) {
        Ok(kinds) => kinds,
        Err(err) => {
            let message = crate::error::chain(&err);
            let report = DriftReport::default();
            return finish(state, &run.id, RunStatus::Failed, &report, Some(message)).await;
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
            let id = run.id.clone();
            return state
                .db
                .run(move |conn| Ok::<_, DbError>(SyncRun::find_by_id(conn, &id)?))
                .await?
                .ok_or(SyncError::NotFound(run.id));
        }
        Ok(Claim::Taken) => {
            let reason = "another run of this account was in progress";
            return finish(
                state,
                &run.id,
                RunStatus::Skipped,
                &DriftReport::default(),
                Some(reason.into()),
            )
            .await;
        }
        Err(err) => {
            let message = crate::error::chain(&err);
            return finish(
                state,
                &run.id,
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
            let mut context = RunContext {
                state,
                account,
                run_id: run.id.clone(),
                dry_run: run.dry_run,
                audit: AuditContext::system("reconciler", &run.id),
                report: DriftReport::default(),
                lease: lease.clone(),
                started: Instant::now(),
                last_checkpoint: Instant::now(),
            };
            let mut errors = Vec::new();
            // Each kind on its own: a failure in one (a stuck listing, Stripe failing) does not
            // keep the others, missed events included, from being reconciled.
            for kind in kinds {
                let result = match kind {
                    SyncKind::Customers => customers::reconcile(&mut context).await,
                    SyncKind::Products => {
                        catalog::reconcile::<catalog::Products>(&mut context).await
                    }
                    SyncKind::Prices => catalog::reconcile::<catalog::Prices>(&mut context).await,
                    SyncKind::Subscriptions => {
                        catalog::reconcile::<catalog::Subscriptions>(&mut context).await
                    }
                    SyncKind::Entitlements => entitlements::reconcile(&mut context).await,
                    SyncKind::Events => events::reconcile(&mut context).await,
                };
                if let Err(err) = result {
                    let lost_lease = matches!(err, SyncError::LeaseLost);
                    errors.push(format!("{}: {}", kind.as_str(), crate::error::chain(&err)));
                    if lost_lease {
                        break;
                    }
                }
            }
            context.report.duration_ms = context.started.elapsed().as_millis() as u64;
            context.report.errors.extend(errors.iter().cloned());
            report = context.report;
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
    crate::telemetry::metrics::sync_run(status.as_str(), &report);
    finish(state, &run.id, status, &report, error).await
}

async fn finish(
    state: &AppState,
    id: &str,
    status: RunStatus,
    report: &DriftReport,
    error: Option<String>,
) -> Result<SyncRun, SyncError> {
    let (id, report) = (
        id.to_string(),
        serde_json::to_string(report).unwrap_or_default(),
    );
    state
        .db
        .run(move |conn| {
            SyncRun::record(conn, &id, status, &report, error.as_deref())?;
            let run = SyncRun::find_by_id(conn, &id)?;
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
        let Ok(report) = super::run_report(&run) else {
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
