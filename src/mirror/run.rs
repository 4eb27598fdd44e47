//! What a reconciliation run carries from kind to kind and page to page ([`RunContext`]): its
//! account, its report ([`DriftReport`]), and the account's lease, renewed at every
//! checkpoint. Each kind's reconciliation takes it; `services::sync` makes it, runs the kinds
//! and stores the report at the end.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::customer::CustomerWrites;
use super::MirrorError;
use crate::db::models::sync as cursors;
use crate::db::models::sync::SyncRun;
use crate::db::{database_now, estimates, Db, DbError, Lease};
use crate::domain::StripeAccountId;
use crate::stripe::{AccountClient, Stripe, StripeError};

/// How many rows a look for deletion candidates reads at once.
const CANDIDATES: i64 = 1000;

/// A look-up of up to `limit` of the account's live rows without `mark`, after `after` in
/// their id order: (conn, account, mark, after, limit).
pub type Unlisted<T> =
    fn(&mut crate::db::DbConnection, &str, &str, Option<&str>, i64) -> diesel::QueryResult<Vec<T>>;

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

    pub fn missing(&mut self, id: &str) {
        self.missing += 1;
        Self::note(&mut self.examples.missing, id);
    }

    pub fn different(&mut self, id: &str) {
        self.different += 1;
        Self::note(&mut self.examples.different, id);
    }

    pub fn deleted(&mut self, id: &str) {
        self.deleted_in_stripe += 1;
        Self::note(&mut self.examples.deleted_in_stripe, id);
    }
}

/// The lease that makes one run at a time per account, across instances.
pub const LEASE_KIND: &str = "sync.account";
/// How long a run holds its account without renewing; renewed after every page.
pub const LEASE_TTL: Duration = Duration::from_secs(120);

/// Where a kind's listing starts in a run.
pub struct Resumed {
    /// The stored position after which the listing goes on; `None`: from the first page.
    pub after: Option<String>,
    /// The mark the listing leaves on the rows it lists (their `listed_by`): the id of the run
    /// that began it, this run's own unless it resumes another's. After the listing, the
    /// account's live rows without it are the candidates for "deleted in Stripe".
    pub mark: String,
}

/// What a run carries from kind to kind and page to page.
pub struct RunContext<'a> {
    pub db: &'a Db,
    /// The background share of the rate budget: a run never slows interactive requests.
    pub stripe: &'a Stripe,
    /// The customers use case, which writes what Stripe holds onto the gateway's customers.
    pub customers: &'a dyn CustomerWrites,
    pub account: StripeAccountId,
    pub run_id: String,
    pub dry_run: bool,
    pub report: DriftReport,
    lease: Lease,
    started: Instant,
    last_checkpoint: Instant,
    /// Per table, how many of the account's rows the planner was last found to believe in.
    believed: HashMap<&'static str, f64>,
}

impl<'a> RunContext<'a> {
    /// The context of `run`, which holds the account's `lease`.
    pub fn new(
        db: &'a Db,
        stripe: &'a Stripe,
        customers: &'a dyn CustomerWrites,
        account: StripeAccountId,
        run: &SyncRun,
        lease: Lease,
    ) -> Self {
        Self {
            db,
            stripe,
            customers,
            account,
            run_id: run.id.clone(),
            dry_run: run.dry_run,
            report: DriftReport::default(),
            lease,
            started: Instant::now(),
            last_checkpoint: Instant::now(),
            believed: HashMap::new(),
        }
    }

    /// The client for the run's account.
    pub fn client(&self) -> AccountClient<'a> {
        self.stripe.for_account(&self.account)
    }

    /// The run's report once every kind is done, with how long it took and `errors`.
    pub fn into_report(mut self, errors: &[String]) -> DriftReport {
        self.report.duration_ms = self.started.elapsed().as_millis() as u64;
        self.report.errors.extend(errors.iter().cloned());
        self.report
    }

    /// Counts a Stripe call and passes its result on; a 429 that outlasted the transport's
    /// retries is counted as such, and fails the run like any other error.
    pub fn called<T>(&mut self, result: Result<T, StripeError>) -> Result<T, MirrorError> {
        self.report.stripe_calls += 1;
        result.map_err(|err| {
            if matches!(err, StripeError::Api { status: 429, .. }) {
                self.report.rate_limited += 1;
            }
            MirrorError::Stripe {
                account: self.account.to_string(),
                source: err,
            }
        })
    }

    /// After each page: the account's lease is renewed, then the report so far is stored. A run
    /// whose lease was taken over (it could not renew in time) stops, and leaves the run row to
    /// the run that holds the account now.
    pub async fn checkpoint(
        &mut self,
        kind: &'static str,
        drift: &KindDrift,
    ) -> Result<(), MirrorError> {
        self.report.kinds.insert(kind.to_string(), drift.clone());
        self.report.duration_ms = self.started.elapsed().as_millis() as u64;
        self.last_checkpoint = Instant::now();
        let report = serde_json::to_string(&self.report).unwrap_or_default();
        let (id, mut lease) = (self.run_id.clone(), self.lease.clone());
        let account = self.account.to_string();
        let renewed = self
            .db
            .run(move |conn| {
                if !lease.renew(conn, LEASE_TTL)? {
                    return Ok::<_, DbError>(None);
                }
                SyncRun::record_progress(conn, &account, &id, &report)?;
                Ok(Some(lease))
            })
            .await?;
        match renewed {
            Some(lease) => {
                self.lease = lease;
                Ok(())
            }
            None => Err(MirrorError::LeaseLost),
        }
    }

    /// After a page of `table` is stored, with `listed` of the account's rows listed so far
    /// and `more` pages to come: when the planner believes in fewer than half as many, the
    /// table is analyzed, so that the next pages' look-ups read their rows and not the whole
    /// account ([`estimates`] tells why). Checked again once the listing doubles what was
    /// believed.
    pub async fn keep_estimate(
        &mut self,
        table: &'static str,
        listed: u64,
        more: bool,
    ) -> Result<(), MirrorError> {
        let listed = listed as f64;
        let believed = self.believed.get(table).copied().unwrap_or(0.0);
        if !more || listed < estimates::FLOOR as f64 || listed <= 2.0 * believed {
            return Ok(());
        }
        let account = self.account.to_string();
        let believed = self
            .db
            .run(move |conn| {
                let Some(believed) = estimates::believed_rows(conn, table, &account)? else {
                    return Ok::<_, DbError>(f64::INFINITY);
                };
                if 2.0 * believed >= listed {
                    return Ok(believed);
                }
                if !estimates::analyze(conn, table)? {
                    return Ok(believed);
                }
                tracing::info!(table, account, listed, believed, "statistics taken again");
                // Sampled statistics may still fall short: checked again at the next doubling.
                let taken = estimates::believed_rows(conn, table, &account)?.unwrap_or(0.0);
                Ok(taken.max(listed))
            })
            .await?;
        self.believed.insert(table, believed);
        Ok(())
    }

    /// Where the listing of `kind` starts: after the cursor a stopped run left, unless this is
    /// a dry run (which neither reads nor writes cursors). Sets `drift.resumed_after`.
    pub async fn resume_point(
        &self,
        kind: &'static str,
        drift: &mut KindDrift,
    ) -> Result<Resumed, MirrorError> {
        let fresh = Resumed {
            after: None,
            mark: self.run_id.clone(),
        };
        if self.dry_run {
            return Ok(fresh);
        }
        let key = self.account.to_string();
        let stored = self
            .db
            .run(move |conn| Ok::<_, DbError>(cursors::cursor(conn, &key, kind)?))
            .await?;
        Ok(match stored {
            Some((after, mark)) => {
                drift.resumed_after = Some(after.clone());
                Resumed {
                    after: Some(after),
                    mark,
                }
            }
            None => fresh,
        })
    }

    /// Whether `listed` failed only because the resumed cursor names an object Stripe no longer
    /// has (400 `resource_missing` about `starting_after`, before anything was listed); then the
    /// listing starts over from the first page, as this run's own: `after` and
    /// `drift.resumed_after` are cleared, and `mark` is this run's id.
    pub fn restart_on_stale_cursor<T>(
        &mut self,
        listed: &Result<T, StripeError>,
        drift: &mut KindDrift,
        after: &mut Option<String>,
        mark: &mut String,
    ) -> bool {
        let missing = matches!(
            listed,
            Err(StripeError::Api { status: 400, code: Some(code), .. }) if code == "resource_missing"
        );
        // Only the listing's first call can fail so: it is the only one after the stored id.
        let first_call = drift.checked == 0;
        if !(missing && first_call && drift.resumed_after.is_some()) {
            return false;
        }
        self.report.stripe_calls += 1;
        *after = None;
        *mark = self.run_id.clone();
        drift.resumed_after = None;
        true
    }

    /// The listing of `kind` is over: the cursor is cleared (the next run starts from the first
    /// page) and the kind's drift stored. A listing resumed from a cursor is not complete: Stripe
    /// lists newest first, so what was created after the first attempt began is left to the next
    /// full listing.
    pub async fn end_listing(
        &mut self,
        kind: &'static str,
        mut drift: KindDrift,
    ) -> Result<(), MirrorError> {
        drift.complete = drift.resumed_after.is_none();
        if !self.dry_run {
            let key = self.account.to_string();
            self.db
                .run(move |conn| Ok::<_, DbError>(cursors::clear_cursor(conn, &key, kind)?))
                .await?;
        }
        self.checkpoint(kind, &drift).await
    }

    /// The database's clock, which stamps what a fetch from Stripe is about to read.
    pub async fn fetch_time(&self) -> Result<chrono::NaiveDateTime, MirrorError> {
        Ok(self
            .db
            .run(|conn| Ok::<_, DbError>(database_now(conn)?))
            .await?)
    }

    /// The next rows the listing marked `mark` did not see, after `after` (a row id), read by
    /// `load`: the candidates for "deleted in Stripe", a page at a time; and whether more may
    /// follow.
    pub async fn unlisted_page<T: Send + 'static>(
        &self,
        load: Unlisted<T>,
        mark: &str,
        after: Option<String>,
    ) -> Result<(Vec<T>, bool), MirrorError> {
        let (account, mark) = (self.account.to_string(), mark.to_string());
        let page = self
            .db
            .run(move |conn| {
                Ok::<_, DbError>(load(conn, &account, &mark, after.as_deref(), CANDIDATES)?)
            })
            .await?;
        let more = page.len() as i64 == CANDIDATES;
        Ok((page, more))
    }

    /// In loops of one call per object (deletions, entitlements): a checkpoint every so often,
    /// so the lease never runs out while the run is alive.
    pub async fn pace(&mut self, kind: &'static str, drift: &KindDrift) -> Result<(), MirrorError> {
        if self.last_checkpoint.elapsed() >= LEASE_TTL / 4 {
            self.checkpoint(kind, drift).await?;
        }
        Ok(())
    }
}
