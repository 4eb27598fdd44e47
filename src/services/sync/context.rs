//! What a run carries from kind to kind and page to page ([`RunContext`]): its account, its
//! report, and the account's lease, renewed at every checkpoint. Each kind's reconciliation
//! takes it; `run` makes it and reads the report at the end.

use std::time::{Duration, Instant};

use super::{DriftReport, KindDrift, SyncError, SyncKind};
use crate::db::models::sync as cursors;
use crate::db::models::sync::SyncRun;
use crate::db::{database_now, DbError, Lease};
use crate::domain::StripeAccountId;
use crate::services::audit::AuditContext;
use crate::services::AppState;
use crate::stripe::StripeError;

/// The lease that makes one run at a time per account, across instances.
pub(super) const LEASE_KIND: &str = "sync.account";
/// How long a run holds its account without renewing; renewed after every page.
pub(super) const LEASE_TTL: Duration = Duration::from_secs(120);

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

impl<'a> RunContext<'a> {
    /// The context of `run`, which holds the account's `lease`.
    pub(super) fn new(
        state: &'a AppState,
        account: StripeAccountId,
        run: &SyncRun,
        lease: Lease,
    ) -> Self {
        Self {
            state,
            account,
            run_id: run.id.clone(),
            dry_run: run.dry_run,
            audit: AuditContext::system("reconciler", &run.id),
            report: DriftReport::default(),
            lease,
            started: Instant::now(),
            last_checkpoint: Instant::now(),
        }
    }

    /// The run's report once every kind is done, with how long it took and `errors`.
    pub(super) fn into_report(mut self, errors: &[String]) -> DriftReport {
        self.report.duration_ms = self.started.elapsed().as_millis() as u64;
        self.report.errors.extend(errors.iter().cloned());
        self.report
    }

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
