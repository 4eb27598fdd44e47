//! Reconciliation runs and the cursors that let a stopped run be resumed.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::columns::{Json, JsonObject};
use crate::db::schema::{event_cursors, sync_cursors, sync_runs};
use crate::db::{now, DbConnection};
use crate::domain::{RunStatus, RunTrigger};
use crate::on_each_backend;

/// A run as stored. Its JSON columns are read typed ([`Json`]): a row whose `kinds` or `report`
/// does not parse fails the query instead of reading as empty.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable)]
#[diesel(table_name = sync_runs)]
pub struct SyncRun {
    pub id: String,
    pub organizer_id: String,
    pub stripe_account_id: String,
    pub status: RunStatus,
    pub dry_run: bool,
    /// The kinds' names.
    pub kinds: Json<Vec<String>>,
    pub trigger: RunTrigger,
    pub created_at: NaiveDateTime,
    pub started_at: Option<NaiveDateTime>,
    pub finished_at: Option<NaiveDateTime>,
    /// The drift report, a JSON object.
    pub report: Option<JsonObject>,
    pub error: Option<String>,
}

/// A run as written: its JSON columns as text.
#[derive(Insertable)]
#[diesel(table_name = sync_runs)]
struct NewSyncRun<'a> {
    id: &'a str,
    organizer_id: &'a str,
    stripe_account_id: &'a str,
    status: RunStatus,
    dry_run: bool,
    kinds: String,
    trigger: RunTrigger,
    created_at: NaiveDateTime,
    started_at: Option<NaiveDateTime>,
    finished_at: Option<NaiveDateTime>,
    report: Option<String>,
    error: Option<&'a str>,
}

impl SyncRun {
    pub fn insert(conn: &mut DbConnection, run: &SyncRun) -> QueryResult<()> {
        let new = NewSyncRun {
            id: &run.id,
            organizer_id: &run.organizer_id,
            stripe_account_id: &run.stripe_account_id,
            status: run.status,
            dry_run: run.dry_run,
            kinds: run.kinds.to_json(),
            trigger: run.trigger,
            created_at: run.created_at,
            started_at: run.started_at,
            finished_at: run.finished_at,
            report: run.report.as_ref().map(Json::to_json),
            error: run.error.as_deref(),
        };
        diesel::insert_into(sync_runs::table)
            .values(&new)
            .execute(conn)
            .map(drop)
    }

    pub fn find_by_account_and_id(
        conn: &mut DbConnection,
        account: &str,
        id: &str,
    ) -> QueryResult<Option<SyncRun>> {
        sync_runs::table
            .filter(sync_runs::stripe_account_id.eq(account))
            .filter(sync_runs::id.eq(id))
            .select(SyncRun::as_select())
            .first(conn)
            .optional()
    }

    /// The account's runs, newest first; ids are UUIDv7, so they sort by creation.
    pub fn list_by_account_before(
        conn: &mut DbConnection,
        account: &str,
        before: Option<&str>,
        limit: i64,
    ) -> QueryResult<Vec<SyncRun>> {
        let mut query = sync_runs::table
            .filter(sync_runs::stripe_account_id.eq(account))
            .into_boxed();
        if let Some(before) = before {
            query = query.filter(sync_runs::id.lt(before));
        }
        query
            .order(sync_runs::id.desc())
            .limit(limit)
            .select(SyncRun::as_select())
            .load(conn)
    }

    /// The account's latest run, or latest with `status`.
    pub fn latest_by_account(
        conn: &mut DbConnection,
        account: &str,
        status: Option<RunStatus>,
    ) -> QueryResult<Option<SyncRun>> {
        let mut query = sync_runs::table
            .filter(sync_runs::stripe_account_id.eq(account))
            .into_boxed();
        if let Some(status) = status {
            query = query.filter(sync_runs::status.eq(status));
        }
        query
            .order(sync_runs::id.desc())
            .select(SyncRun::as_select())
            .first(conn)
            .optional()
    }

    /// The account's latest successful full repair: not a dry run, of every kind in `kinds`.
    pub fn latest_repair_by_account(
        conn: &mut DbConnection,
        account: &str,
        kinds: &[&str],
    ) -> QueryResult<Option<SyncRun>> {
        let recent = sync_runs::table
            .filter(sync_runs::stripe_account_id.eq(account))
            .filter(sync_runs::status.eq(RunStatus::Succeeded))
            .filter(sync_runs::dry_run.eq(false))
            .order(sync_runs::id.desc())
            .limit(50)
            .select(SyncRun::as_select())
            .load(conn)?;
        let full = |run: &SyncRun| {
            kinds
                .iter()
                .all(|kind| run.kinds.contains(&kind.to_string()))
        };
        Ok(recent.into_iter().find(full))
    }

    /// The run starts: `running`, and any other run of the account still marked running (its
    /// instance stopped; this run holds the account's lease now) is `interrupted`.
    /// Starts the queued run `id` (a run of the account left `running` is marked
    /// `interrupted`); false, and nothing changed, when `id` is no longer queued.
    pub fn start(conn: &mut DbConnection, account: &str, id: &str) -> QueryResult<bool> {
        let at = now();
        diesel::update(
            sync_runs::table
                .filter(sync_runs::stripe_account_id.eq(account))
                .filter(sync_runs::status.eq(RunStatus::Running))
                .filter(sync_runs::id.ne(id)),
        )
        .set((
            sync_runs::status.eq(RunStatus::Interrupted),
            sync_runs::finished_at.eq(at),
        ))
        .execute(conn)?;
        diesel::update(
            sync_runs::table
                .filter(sync_runs::stripe_account_id.eq(account))
                .filter(sync_runs::id.eq(id))
                .filter(sync_runs::status.eq(RunStatus::Queued)),
        )
        .set((
            sync_runs::status.eq(RunStatus::Running),
            sync_runs::started_at.eq(at),
        ))
        .execute(conn)
        .map(|started| started == 1)
    }

    /// Makes requests about the account's runs take turns until the transaction ends: on
    /// PostgreSQL a transaction-scoped advisory lock on the account; SQLite's write transaction
    /// already admits one writer at a time.
    pub fn lock_account(conn: &mut DbConnection, account: &str) -> QueryResult<()> {
        if let DbConnection::Postgresql(pg) = conn {
            diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext('sync_runs:' || $1))")
                .bind::<diesel::sql_types::Text, _>(account)
                .execute(pg)?;
        }
        Ok(())
    }

    /// Stores the report so far of a run still `running` (not one another run marked
    /// `interrupted` meanwhile).
    pub fn record_progress(
        conn: &mut DbConnection,
        account: &str,
        id: &str,
        report: &str,
    ) -> QueryResult<()> {
        diesel::update(
            sync_runs::table
                .filter(sync_runs::stripe_account_id.eq(account))
                .filter(sync_runs::id.eq(id))
                .filter(sync_runs::status.eq(RunStatus::Running)),
        )
        .set(sync_runs::report.eq(report))
        .execute(conn)
        .map(drop)
    }

    /// Marks runs whose instance stopped: `running` ones whose account no run holds, and
    /// `queued` ones older than `queued_before` (their instance died before starting them),
    /// whichever accounts they are of (the sweep's clean-up).
    pub fn abandon_stale_across_accounts(
        conn: &mut DbConnection,
        lease_kind: &str,
        queued_before: NaiveDateTime,
    ) -> QueryResult<usize> {
        // Runs `running` with no run holding their account, and runs `queued` before
        // `queued_before` whose account no run holds (one waiting behind a long run is not
        // abandoned).
        let candidates: Vec<(String, String, RunStatus)> = sync_runs::table
            .filter(
                sync_runs::status
                    .eq(RunStatus::Running)
                    .or(sync_runs::status
                        .eq(RunStatus::Queued)
                        .and(sync_runs::created_at.lt(queued_before))),
            )
            .select((
                sync_runs::id,
                sync_runs::stripe_account_id,
                sync_runs::status,
            ))
            .load(conn)?;
        let mut marked = 0;
        for (id, account, status) in candidates {
            if crate::db::Lease::live_until(conn, lease_kind, &account)?.is_some() {
                continue;
            }
            marked += diesel::update(
                sync_runs::table
                    .filter(sync_runs::stripe_account_id.eq(&account))
                    .filter(sync_runs::id.eq(&id))
                    .filter(sync_runs::status.eq(status)),
            )
            .set((
                sync_runs::status.eq(RunStatus::Interrupted),
                sync_runs::finished_at.eq(now()),
            ))
            .execute(conn)?;
        }
        Ok(marked)
    }

    /// Stores the report so far (and, when `status` ends the run, how it ended).
    pub fn record(
        conn: &mut DbConnection,
        account: &str,
        id: &str,
        status: RunStatus,
        report: &str,
        error: Option<&str>,
    ) -> QueryResult<()> {
        let finished = !matches!(status, RunStatus::Running | RunStatus::Queued);
        let target = sync_runs::table
            .filter(sync_runs::stripe_account_id.eq(account))
            .filter(sync_runs::id.eq(id));
        diesel::update(target)
            .set((
                sync_runs::status.eq(status),
                sync_runs::report.eq(report),
                sync_runs::error.eq(error),
                sync_runs::finished_at.eq(finished.then(now)),
            ))
            .execute(conn)
            .map(drop)
    }
}

/// Where the account's listing of `kind` resumes, if a run stopped halfway: the id after which
/// it goes on, and the mark of the listing (the id of the run that began it), which the runs
/// that continue it leave on the rows they list.
pub fn cursor(
    conn: &mut DbConnection,
    account: &str,
    kind: &str,
) -> QueryResult<Option<(String, String)>> {
    sync_cursors::table
        .filter(sync_cursors::stripe_account_id.eq(account))
        .filter(sync_cursors::kind.eq(kind))
        .select((sync_cursors::starting_after, sync_cursors::run_id))
        .first(conn)
        .optional()
}

/// Records that the listing of `kind` marked `mark` has been applied up to `starting_after`.
pub fn save_cursor(
    conn: &mut DbConnection,
    account: &str,
    kind: &str,
    mark: &str,
    starting_after: &str,
) -> QueryResult<()> {
    let values = (
        sync_cursors::stripe_account_id.eq(account),
        sync_cursors::kind.eq(kind),
        sync_cursors::run_id.eq(mark),
        sync_cursors::starting_after.eq(starting_after),
        sync_cursors::updated_at.eq(now()),
    );
    on_each_backend!(conn, |c| diesel::insert_into(sync_cursors::table)
        .values(values)
        .on_conflict((sync_cursors::stripe_account_id, sync_cursors::kind))
        .do_update()
        .set((
            sync_cursors::run_id.eq(mark),
            sync_cursors::starting_after.eq(starting_after),
            sync_cursors::updated_at.eq(now()),
        ))
        .execute(c))
    .map(drop)
}

/// The listing of `kind` reached its end: the next run starts from the first page.
pub fn clear_cursor(conn: &mut DbConnection, account: &str, kind: &str) -> QueryResult<()> {
    diesel::delete(
        sync_cursors::table
            .filter(sync_cursors::stripe_account_id.eq(account))
            .filter(sync_cursors::kind.eq(kind)),
    )
    .execute(conn)
    .map(drop)
}

/// Where the account's Events API catch-up stands: the creation time (unix seconds) from which
/// the next run lists events; `None` before its first run.
pub fn events_since(conn: &mut DbConnection, account: &str) -> QueryResult<Option<i64>> {
    event_cursors::table
        .filter(event_cursors::stripe_account_id.eq(account))
        .select(event_cursors::since)
        .first(conn)
        .optional()
}

pub fn save_events_since(conn: &mut DbConnection, account: &str, since: i64) -> QueryResult<()> {
    on_each_backend!(conn, |c| diesel::insert_into(event_cursors::table)
        .values((
            event_cursors::stripe_account_id.eq(account),
            event_cursors::since.eq(since),
            event_cursors::updated_at.eq(now()),
        ))
        .on_conflict(event_cursors::stripe_account_id)
        .do_update()
        .set((
            event_cursors::since.eq(since),
            event_cursors::updated_at.eq(now()),
        ))
        .execute(c))
    .map(drop)
}
