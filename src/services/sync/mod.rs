//! Reconciliation and backfill: an account's objects listed from Stripe, page by page, compared
//! with the mirror, and repaired (unless a dry run), with a drift report per run. Webhooks keep
//! the mirror current; this is how it converges on Stripe's state by itself after an outage, a
//! lost delivery or a hard delete no event announced.
//!
//! - [`run`]: one run of one account, under the account's lease; its cursor per kind lets a
//!   stopped run be resumed after the last page it applied;
//! - [`catalog`]: products, prices and subscriptions, through the mirror's own writes;
//! - [`customers`]: customers, through the same writes as the webhook worker's;
//! - [`entitlements`]: the active entitlements of customers with access;
//! - [`events`]: missed-event recovery through Stripe's Events API;
//! - [`schedule`]: the periodic sweep of every account.

mod catalog;
mod context;
mod customers;
mod entitlements;
mod events;
pub mod health;
mod run;
pub mod schedule;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use run::{backfill, execute, new_run, request_run, show_progress, RunRequest};

use crate::auth::Principal;
use crate::db::models::sync::SyncRun;
use crate::db::{DbError, QueryFailure};
use crate::domain::{Cursor, OrganizerId, PageLimit};
use crate::services::customers::CustomerError;
use crate::services::organizers::{self, OrganizerError};
use crate::services::AppState;
use crate::stripe::StripeError;

/// What a run compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncKind {
    Customers,
    Products,
    Prices,
    Subscriptions,
    /// The active entitlements of customers with access; compared after `subscriptions`.
    Entitlements,
    /// The account's events since its cursor (Stripe's Events API) that the inbox lacks.
    Events,
}

impl SyncKind {
    pub const ALL: [SyncKind; 6] = [
        Self::Customers,
        Self::Products,
        Self::Prices,
        Self::Subscriptions,
        Self::Entitlements,
        Self::Events,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customers => "customers",
            Self::Products => "products",
            Self::Prices => "prices",
            Self::Subscriptions => "subscriptions",
            Self::Entitlements => "entitlements",
            Self::Events => "events",
        }
    }
}

/// How many example ids a report keeps per kind and per finding.
pub const EXAMPLES: usize = 10;

/// What one run found and did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DriftReport {
    /// Per kind compared.
    pub kinds: BTreeMap<String, KindDrift>,
    /// Calls made to Stripe (list pages, and a fetch to confirm each object the listing lacked).
    pub stripe_calls: u64,
    /// Calls Stripe answered 429 to even after the gateway's retries; each ends the run failed.
    pub rate_limited: u64,
    /// What stopped the run, if anything.
    pub errors: Vec<String>,
    /// What an operator should know though the run went on (an events cursor close to the
    /// end of Stripe's 30-day window).
    pub warnings: Vec<String>,
    pub duration_ms: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KindDrift {
    /// Objects Stripe listed.
    pub checked: u64,
    /// In Stripe, not in the mirror.
    pub missing: u64,
    /// In both, with other content.
    pub different: u64,
    /// In the mirror, gone from Stripe (confirmed by a fetch).
    pub deleted_in_stripe: u64,
    /// Mirror rows written or marked deleted by this run (0 in a dry run).
    pub repaired: u64,
    /// Up to 10 ids per finding.
    pub examples: Examples,
    /// The listing continued after this id, where an earlier run had stopped.
    pub resumed_after: Option<String>,
    /// The listing reached its last page.
    pub complete: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Examples {
    pub missing: Vec<String>,
    pub different: Vec<String>,
    pub deleted_in_stripe: Vec<String>,
}

impl KindDrift {
    fn note(list: &mut Vec<String>, id: &str) {
        if list.len() < EXAMPLES {
            list.push(id.to_string());
        }
    }

    pub(super) fn missing(&mut self, id: &str) {
        self.missing += 1;
        Self::note(&mut self.examples.missing, id);
    }

    pub(super) fn different(&mut self, id: &str) {
        self.different += 1;
        Self::note(&mut self.examples.different, id);
    }

    pub(super) fn deleted(&mut self, id: &str) {
        self.deleted_in_stripe += 1;
        Self::note(&mut self.examples.deleted_in_stripe, id);
    }
}

/// The kinds `run` compares, as stored; a name no kind has is corrupt data, not a default.
pub fn run_kinds(run: &SyncRun) -> Result<Vec<SyncKind>, DbError> {
    run.kinds
        .iter()
        .map(|name| {
            SyncKind::ALL
                .into_iter()
                .find(|kind| kind.as_str() == name)
                .ok_or_else(|| {
                    DbError::Corrupt(format!("sync run {} names no kind `{name}`", run.id))
                })
        })
        .collect()
}

/// `run`'s drift report, as stored; one that does not read as a report is corrupt data.
pub fn run_report(run: &SyncRun) -> Result<Option<DriftReport>, DbError> {
    run.report
        .as_ref()
        .map(|report| {
            serde_json::from_value(serde_json::Value::Object(report.0.clone())).map_err(|e| {
                DbError::Corrupt(format!("sync run {}'s report does not read: {e}", run.id))
            })
        })
        .transpose()
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Organizer(#[from] OrganizerError),
    #[error("this organizer has no sync run {0}")]
    NotFound(String),
    #[error("run {0} of this account is in progress; read it at .../sync-runs/{0}")]
    InProgress(String),
    /// The run could not renew the account's lease in time, and another run took the account.
    #[error("the account's sync lease was taken over; this run stops")]
    LeaseLost,
    #[error("a Stripe call for account {account} failed")]
    Stripe {
        account: String,
        #[source]
        source: StripeError,
    },
    #[error(transparent)]
    Customer(Box<CustomerError>),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<CustomerError> for SyncError {
    fn from(err: CustomerError) -> Self {
        Self::Customer(Box::new(err))
    }
}

impl From<diesel::result::Error> for SyncError {
    fn from(err: diesel::result::Error) -> Self {
        Self::Db(err.into())
    }
}

impl QueryFailure for SyncError {
    fn is_query_failure(&self) -> bool {
        match self {
            Self::Db(db) => db.is_query_failure(),
            Self::Organizer(err) => err.is_query_failure(),
            _ => false,
        }
    }
}

/// The organizer's runs, newest first; `cursor` continues after the last run of a page.
pub async fn list_runs(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    cursor: Option<Cursor>,
    limit: PageLimit,
) -> Result<(Vec<SyncRun>, Option<Cursor>), SyncError> {
    let rows = organizers::with_organizer(state, principal, org_id, move |conn, organizer| {
        Ok::<_, SyncError>(SyncRun::list_by_account_before(
            conn,
            &organizer.stripe_account_id,
            cursor.as_ref().map(Cursor::key),
            i64::try_from(limit.fetch_size()).unwrap_or(i64::MAX),
        )?)
    })
    .await?;
    Ok(limit.split(rows, |run| &run.id))
}

pub async fn get_run(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    run_id: String,
) -> Result<SyncRun, SyncError> {
    organizers::with_organizer(state, principal, org_id, move |conn, organizer| {
        // Run ids are UUIDs: other text names no run, and is not sent to the database (which
        // may refuse it outright: PostgreSQL takes no NUL in text).
        if uuid::Uuid::try_parse(&run_id).is_err() {
            return Err(SyncError::NotFound(run_id));
        }
        SyncRun::find_by_account_and_id(conn, &organizer.stripe_account_id, &run_id)?
            .ok_or(SyncError::NotFound(run_id))
    })
    .await
}
