//! Reconciliation of a [`Rows`] kind: every object listed from Stripe (after the cursor a
//! stopped run left), each compared with its row, what is missing or different written through
//! the row's own upsert (a fetch that began later always wins, so a run racing a webhook
//! worker cannot leave the older state); then each row the listing lacked is fetched, and
//! marked deleted when Stripe no longer has it.

use std::collections::{HashMap, HashSet};

use super::rows::{MirrorRow, Rows};
use super::{Fetched, KindDrift, MirrorError, RunContext};
use crate::db::models::sync as cursors;
use crate::db::{DbConnection, DbError};

/// How many rows a look for deletion candidates reads at once.
const CANDIDATES: i64 = 1000;

pub(super) async fn reconcile<K: Rows>(run: &mut RunContext<'_>) -> Result<(), MirrorError> {
    let account = run.account.to_string();
    let dry_run = run.dry_run;
    let mut drift = KindDrift::default();
    let resumed = run.resume_point(K::NAME, &mut drift).await?;
    let (mut listing, mut after) = position(resumed.as_deref(), K::LISTINGS);
    let mut seen: HashSet<String> = HashSet::new();
    let db = run.db;
    let client = run.client();
    loop {
        let fetched_at = run.fetch_time().await?;
        let listed = K::page(&client, listing, after.as_deref()).await;
        if run.restart_on_stale_cursor(&listed, &mut drift, seen.is_empty(), &mut after) {
            listing = 0;
            continue;
        }
        let page = run.called(listed)?;
        let rows: Vec<K::Row> = page
            .data
            .into_iter()
            .map(|remote| K::row(&account, remote, fetched_at))
            .collect();
        // The page's rows, looked up by the page's ids.
        let (key, ids) = (
            account.clone(),
            rows.iter()
                .map(|row| row.id().to_string())
                .collect::<Vec<_>>(),
        );
        let stored: HashMap<String, K::Row> = db
            .run(move |conn| {
                let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                Ok::<_, DbError>(K::Row::live_among(conn, &key, &ids)?)
            })
            .await?
            .into_iter()
            .map(|row| (row.id().to_string(), row))
            .collect();
        let mut writes = Vec::new();
        for row in rows {
            let id = row.id().to_string();
            drift.checked += 1;
            let drifted = match stored.get(&id) {
                None => {
                    drift.missing(&id);
                    true
                }
                Some(existing) if !existing.same(&row) => {
                    drift.different(&id);
                    true
                }
                Some(_) => false,
            };
            if drifted {
                writes.push(row);
            }
            after = Some(id.clone());
            seen.insert(id);
        }
        if !dry_run {
            let last = after.as_deref().map(|after| cursor(listing, after));
            let (key, run_id) = (account.clone(), run.run_id.clone());
            drift.repaired += db
                .run(move |conn| write_page::<K>(conn, &key, &run_id, &writes, last.as_deref()))
                .await?;
        }
        if !page.has_more || after.is_none() {
            if listing + 1 >= K::LISTINGS {
                break;
            }
            listing += 1;
            after = None;
        }
        run.checkpoint(K::NAME, &drift).await?;
    }
    let key = account.clone();
    let unseen = db
        .run(move |conn| unseen_ids::<K>(conn, &key, &seen))
        .await?;
    for id in &unseen {
        run.pace(K::NAME, &drift).await?;
        let fetched_at = run.fetch_time().await?;
        match run.called(K::fetch(&client, id).await)? {
            Fetched::Gone => {
                drift.deleted(id);
                if !dry_run {
                    let (key, id) = (account.clone(), id.clone());
                    let marked = db
                        .run(move |conn| {
                            Ok::<_, DbError>(K::Row::mark_deleted(conn, &key, &id, fetched_at)?)
                        })
                        .await?;
                    drift.repaired += u64::from(marked);
                }
            }
            // Listed before this run's cursor, or created while it listed: Stripe has it.
            Fetched::Found(remote) if !dry_run => {
                let row = K::row(&account, remote, fetched_at);
                db.run(move |conn| Ok::<_, DbError>(super::writes::write::<K>(conn, &row)?))
                    .await?;
            }
            Fetched::Found(_) => {}
        }
    }
    run.end_listing(K::NAME, drift).await
}

/// The ids of the account's live rows that `seen` lacks, read [`CANDIDATES`] rows at a time:
/// the candidates for "deleted in Stripe".
fn unseen_ids<K: Rows>(
    conn: &mut DbConnection,
    account: &str,
    seen: &HashSet<String>,
) -> Result<Vec<String>, DbError> {
    let mut unseen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let ids = K::Row::live_ids_after(conn, account, after.as_deref(), CANDIDATES)?;
        let more = ids.len() as i64 == CANDIDATES;
        after = ids.last().cloned();
        unseen.extend(ids.into_iter().filter(|id| !seen.contains(id)));
        if !more {
            return Ok(unseen);
        }
    }
}

/// A stored listing position: the last id listed, prefixed with `{listing}/` after the first
/// listing. No Stripe id holds a `/` ([`crate::domain::StripeId`]), and a cursor stored before
/// there were several listings is the first's.
fn cursor(listing: usize, after: &str) -> String {
    if listing == 0 {
        after.to_string()
    } else {
        format!("{listing}/{after}")
    }
}

/// The listing (below `listings`) and the id after which to go on, from a stored [`cursor`];
/// one naming a listing the kind does not have starts over.
fn position(stored: Option<&str>, listings: usize) -> (usize, Option<String>) {
    let Some(stored) = stored else {
        return (0, None);
    };
    match stored.split_once('/') {
        None => (0, Some(stored.to_string())),
        Some((listing, after)) => match listing.parse::<usize>() {
            Ok(listing) if listing < listings && !after.is_empty() => {
                (listing, Some(after.to_string()))
            }
            _ => (0, None),
        },
    }
}

/// One page's writes and the cursor after it, in one transaction: a run that stops resumes
/// after the last page whose rows are stored. Returns how many rows were written.
fn write_page<K: Rows>(
    conn: &mut DbConnection,
    account: &str,
    run_id: &str,
    rows: &[K::Row],
    last: Option<&str>,
) -> Result<u64, DbError> {
    Ok(crate::db::write_transaction(conn, |conn| {
        let mut written = 0;
        for row in rows {
            written += u64::from(super::writes::write::<K>(conn, row)?);
        }
        if let Some(last) = last {
            cursors::save_cursor(conn, account, K::NAME, run_id, last)?;
        }
        Ok::<_, diesel::result::Error>(written)
    })?)
}

#[cfg(test)]
mod tests {
    use super::{cursor, position};

    #[test]
    fn a_listing_position_reads_back_as_stored() {
        for (listing, after) in [(0, "price_1"), (1, "price_9"), (1, "prod_x:y")] {
            assert_eq!(
                position(Some(&cursor(listing, after)), 2),
                (listing, Some(after.to_string()))
            );
        }
        // A cursor of the first listing whose id holds a `:` stays the first's.
        assert_eq!(
            position(Some("prod_2024:gold"), 1),
            (0, Some("prod_2024:gold".into()))
        );
        // A listing the kind does not have, or no id after it, starts over.
        assert_eq!(position(Some("7/price_1"), 2), (0, None));
        assert_eq!(position(Some("1/price_1"), 1), (0, None));
        assert_eq!(position(Some("1/"), 2), (0, None));
        assert_eq!(position(None, 2), (0, None));
    }
}
