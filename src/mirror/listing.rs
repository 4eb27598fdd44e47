//! Reconciliation of a [`Rows`] kind: every object listed from Stripe (after the cursor a
//! stopped run left), each compared with its row, what is missing or different written through
//! the row's own upsert (a fetch that began later always wins, so a run racing a webhook
//! worker cannot leave the older state), and the page's rows marked as listed; then each live
//! row the listing did not mark is fetched, and marked deleted when Stripe no longer has it.
//! Memory holds a page, whatever the account's size.

use std::collections::HashMap;

use super::rows::{MirrorRow, Rows};
use super::{Fetched, KindDrift, MirrorError, RunContext};
use crate::db::models::sync as cursors;
use crate::db::{DbConnection, DbError};

pub(super) async fn reconcile<K: Rows>(run: &mut RunContext<'_>) -> Result<(), MirrorError> {
    let account = run.account.to_string();
    let dry_run = run.dry_run;
    let mut drift = KindDrift::default();
    let resumed = run.resume_point(K::NAME, &mut drift).await?;
    let mut mark = resumed.mark;
    let (mut listing, mut after) = position(resumed.after.as_deref(), K::LISTINGS);
    let db = run.db;
    let client = run.client();
    loop {
        let fetched_at = run.fetch_time().await?;
        let listed = K::page(&client, listing, after.as_deref()).await;
        if run.restart_on_stale_cursor(&listed, &mut drift, &mut after, &mut mark) {
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
        let mut listed_ids = Vec::with_capacity(rows.len());
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
            if drifted && !dry_run {
                writes.push(row);
            }
            listed_ids.push(id);
        }
        after = listed_ids.last().cloned().or(after);
        let last = match &after {
            Some(after) if !dry_run && !listed_ids.is_empty() => Some(cursor(listing, after)),
            _ => None,
        };
        let (key, page_mark) = (account.clone(), mark.clone());
        drift.repaired += db
            .run(move |conn| write_page::<K>(conn, &key, &page_mark, &writes, &listed_ids, last))
            .await?;
        run.keep_estimate(K::Row::TABLE, drift.checked, page.has_more)
            .await?;
        if !page.has_more || after.is_none() {
            if listing + 1 >= K::LISTINGS {
                break;
            }
            listing += 1;
            after = None;
        }
        run.checkpoint(K::NAME, &drift).await?;
    }
    // The live rows the listing did not mark, a page of candidates at a time (fetching one
    // neither adds nor removes a row before the next page's start).
    let mut from: Option<String> = None;
    loop {
        let (unlisted, more) = run
            .unlisted_page(K::Row::unlisted_after, &mark, from.take())
            .await?;
        for id in &unlisted {
            run.pace(K::NAME, &drift).await?;
            check_unlisted::<K>(run, &mut drift, id).await?;
        }
        if !more {
            break;
        }
        from = unlisted.last().cloned();
    }
    run.end_listing(K::NAME, drift).await
}

/// Fetches a live row the listing did not see: marked deleted when Stripe no longer has it;
/// written when Stripe has it (listed before a resumed run's cursor, or created while the
/// listing went on).
async fn check_unlisted<K: Rows>(
    run: &mut RunContext<'_>,
    drift: &mut KindDrift,
    id: &str,
) -> Result<(), MirrorError> {
    let (db, client, dry_run) = (run.db, run.client(), run.dry_run);
    let account = run.account.to_string();
    let fetched_at = run.fetch_time().await?;
    match run.called(K::fetch(&client, id).await)? {
        Fetched::Gone => {
            drift.deleted(id);
            if !dry_run {
                let id = id.to_string();
                let marked = db
                    .run(move |conn| {
                        Ok::<_, DbError>(K::Row::mark_deleted(conn, &account, &id, fetched_at)?)
                    })
                    .await?;
                drift.repaired += u64::from(marked);
            }
        }
        Fetched::Found(remote) if !dry_run => {
            let row = K::row(&account, remote, fetched_at);
            db.run(move |conn| Ok::<_, DbError>(super::writes::write::<K>(conn, &row)?))
                .await?;
        }
        Fetched::Found(_) => {}
    }
    Ok(())
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

/// One page's writes, the mark on its rows and the cursor after it, in one transaction: a run
/// that stops resumes after the last page whose rows are stored and marked. Returns how many
/// rows were written. A dry run writes no row and no cursor, and marks what it listed.
fn write_page<K: Rows>(
    conn: &mut DbConnection,
    account: &str,
    mark: &str,
    rows: &[K::Row],
    listed: &[String],
    last: Option<String>,
) -> Result<u64, DbError> {
    Ok(crate::db::write_transaction(conn, |conn| {
        let mut written = 0;
        for row in rows {
            written += u64::from(super::writes::write::<K>(conn, row)?);
        }
        let listed: Vec<&str> = listed.iter().map(String::as_str).collect();
        K::Row::mark_listed(conn, account, &listed, mark)?;
        if let Some(last) = last {
            cursors::save_cursor(conn, account, K::NAME, mark, &last)?;
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
