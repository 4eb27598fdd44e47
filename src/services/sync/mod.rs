//! Reconciliation and backfill: an account's objects listed from Stripe, page by page, compared
//! with the mirror, and repaired (unless a dry run), with a drift report per run. Webhooks keep
//! the mirror current; this is how it converges on Stripe's state by itself after an outage, a
//! lost delivery or a hard delete no event announced.
//!
//! - [`run`]: one run of one account, under the account's lease; its cursor per kind lets a
//!   stopped run be resumed after the last page it applied;
//! - each mirrored kind's own reconciliation ([`crate::mirror::Kind::reconcile`]), in the
//!   registry's order;
//! - [`events`]: missed-event recovery through Stripe's Events API;
//! - [`schedule`]: the periodic sweep of every account.

mod events;
pub mod health;
mod run;
pub mod schedule;
mod view;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use crate::mirror::{DriftReport, Examples, KindDrift};
pub use run::{backfill, execute, new_run, request_run, show_progress, RunRequest};
pub use view::SyncRunResponse;

use crate::db::models::sync::SyncRun;
use crate::db::{DbError, QueryFailure};
use crate::domain::Principal;
use crate::domain::{Cursor, OrganizerId, PageLimit};
use crate::mirror::{self, MirrorError};
use crate::services::organizers::{self, OrganizerError};
use crate::services::AppState;
use crate::stripe::StripeError;

/// What a run compares: a kind the mirror lists ([`mirror::reconciled`]), in the registry's
/// order, or the events catch-up, last. Stored and served by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SyncKind(usize);

impl SyncKind {
    /// The events catch-up's name.
    pub const EVENTS: &'static str = "events";

    /// Every kind a run may compare, in the order a run takes them.
    pub fn all() -> Vec<SyncKind> {
        (0..Self::names().count()).map(SyncKind).collect()
    }

    fn names() -> impl Iterator<Item = &'static str> {
        mirror::reconciled()
            .map(|kind| kind.name())
            .chain([Self::EVENTS])
    }

    pub fn parse(name: &str) -> Option<SyncKind> {
        Self::names().position(|known| known == name).map(SyncKind)
    }

    pub fn as_str(self) -> &'static str {
        Self::names()
            .nth(self.0)
            .expect("a SyncKind is made from a known name")
    }

    /// The mirrored kind this is; `None` for the events catch-up.
    pub fn mirrored(self) -> Option<&'static dyn mirror::Kind> {
        mirror::reconciled().nth(self.0)
    }
}

impl Serialize for SyncKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SyncKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::parse(&name).ok_or_else(|| {
            let known: Vec<&str> = Self::names().collect();
            serde::de::Error::custom(format!(
                "unknown variant `{name}`, expected one of `{}`",
                known.join("`, `")
            ))
        })
    }
}

impl utoipa::PartialSchema for SyncKind {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("What a run compares."))
            .enum_values(Some(Self::names()))
            .into()
    }
}

impl ToSchema for SyncKind {}

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
    /// The customers use case failed while a run wrote Stripe's state onto a customer.
    #[error(transparent)]
    Written(Box<dyn std::error::Error + Send + Sync>),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<MirrorError> for SyncError {
    fn from(err: MirrorError) -> Self {
        match err {
            MirrorError::Stripe { account, source } => Self::Stripe { account, source },
            MirrorError::Db(err) => Self::Db(err),
            MirrorError::LeaseLost => Self::LeaseLost,
            MirrorError::Customer(err) => Self::Written(err),
        }
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
) -> Result<(Vec<SyncRunResponse>, Option<Cursor>), SyncError> {
    let rows = organizers::with_organizer(state, principal, org_id, move |conn, organizer| {
        Ok::<_, SyncError>(SyncRun::list_by_account_before(
            conn,
            organizer.data_account(),
            cursor.as_ref().map(Cursor::key),
            i64::try_from(limit.fetch_size()).unwrap_or(i64::MAX),
        )?)
    })
    .await?;
    let (rows, next) = limit.split(rows, |run| &run.id);
    let runs = rows.into_iter().map(SyncRunResponse::read);
    Ok((runs.collect::<Result<_, _>>()?, next))
}

pub async fn get_run(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    run_id: String,
) -> Result<SyncRunResponse, SyncError> {
    organizers::with_organizer(state, principal, org_id, move |conn, organizer| {
        // Run ids are UUIDs: other text names no run, and is not sent to the database (which
        // may refuse it outright: PostgreSQL takes no NUL in text).
        if uuid::Uuid::try_parse(&run_id).is_err() {
            return Err(SyncError::NotFound(run_id));
        }
        let run = SyncRun::find_by_account_and_id(conn, organizer.data_account(), &run_id)?
            .ok_or(SyncError::NotFound(run_id))?;
        Ok(SyncRunResponse::read(run)?)
    })
    .await
}
