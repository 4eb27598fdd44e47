//! A reconciliation run as the API serves it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{DriftReport, SyncKind};
use crate::db::models::sync::SyncRun;
use crate::db::DbError;
use crate::domain::{RunStatus, RunTrigger};

#[derive(Debug, Serialize, ToSchema)]
pub struct SyncRunResponse {
    pub id: String,
    pub organizer_id: String,
    pub stripe_account_id: String,
    pub status: RunStatus,
    pub dry_run: bool,
    pub kinds: Vec<SyncKind>,
    pub trigger: RunTrigger,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// What the run found and repaired so far (while `running`) or in all.
    pub report: Option<DriftReport>,
    /// What stopped a `failed` or `skipped` run.
    pub error: Option<String>,
}

impl SyncRunResponse {
    /// A stored run whose kinds or report do not read is an error, never an empty answer.
    pub fn read(run: SyncRun) -> Result<Self, DbError> {
        Ok(Self {
            kinds: run_kinds(&run)?,
            report: run_report(&run)?,
            id: run.id,
            organizer_id: run.organizer_id,
            stripe_account_id: run.stripe_account_id,
            status: run.status,
            dry_run: run.dry_run,
            trigger: run.trigger,
            created_at: run.created_at.and_utc(),
            started_at: run.started_at.map(|t| t.and_utc()),
            finished_at: run.finished_at.map(|t| t.and_utc()),
            error: run.error,
        })
    }
}

/// The kinds `run` compares, as stored; a name no kind has is corrupt data, not a default.
pub(super) fn run_kinds(run: &SyncRun) -> Result<Vec<SyncKind>, DbError> {
    run.kinds
        .iter()
        .map(|name| {
            SyncKind::parse(name).ok_or_else(|| {
                DbError::Corrupt(format!("sync run {} names no kind `{name}`", run.id))
            })
        })
        .collect()
}

/// `run`'s drift report, as stored; one that does not read as a report is corrupt data.
pub(super) fn run_report(run: &SyncRun) -> Result<Option<DriftReport>, DbError> {
    run.report
        .as_ref()
        .map(|report| {
            serde_json::from_value(serde_json::Value::Object(report.0.clone())).map_err(|e| {
                DbError::Corrupt(format!("sync run {}'s report does not read: {e}", run.id))
            })
        })
        .transpose()
}
