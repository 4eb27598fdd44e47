//! Products, prices and subscriptions: listed from Stripe, compared with the mirror's rows, and
//! written through the mirror's own upsert (a fetch that began later always wins), so a run
//! racing a webhook worker cannot leave the older state.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use chrono::NaiveDateTime;

use super::context::RunContext;
use super::{KindDrift, SyncError, SyncKind};
use crate::db::models::sync as cursors;
use crate::db::models::{MirrorRow, Price, Product, Subscription};
use crate::db::{DbConnection, DbError};
use crate::services::webhooks::{price_row, product_row, subscription_row};
use crate::stripe::lists::{self, Page};
use crate::stripe::mirror::{self, Fetched, RemotePrice, RemoteProduct, RemoteSubscription};
use crate::stripe::{AccountClient, StripeError};

/// A kind the mirror keeps as rows keyed by (account, Stripe id).
pub(super) trait Catalog {
    const KIND: SyncKind;
    type Remote: Send + 'static;
    type Row: MirrorRow + Clone + PartialEq + Send + 'static;
    /// How many listings together hold every object of the kind: prices take two, since
    /// Stripe lists only the active ones unless asked for the inactive ones.
    const LISTINGS: usize;

    /// A page of listing `listing` (0 to `LISTINGS - 1`) after the object `after`.
    fn page<'a>(
        client: &'a AccountClient<'a>,
        listing: usize,
        after: Option<&'a str>,
    ) -> impl Future<Output = Result<Page<Self::Remote>, StripeError>> + 'a;
    fn fetch<'a>(
        client: &'a AccountClient<'a>,
        id: &'a str,
    ) -> impl Future<Output = Result<Fetched<Self::Remote>, StripeError>> + 'a;
    fn remote_id(remote: &Self::Remote) -> &str;
    fn row(account: &str, remote: Self::Remote, fetched_at: NaiveDateTime) -> Self::Row;
    fn row_id(row: &Self::Row) -> &str;
    /// Whether two rows hold the same content, whenever they were fetched.
    fn same(stored: &Self::Row, listed: &Self::Row) -> bool;
}

macro_rules! catalog {
    ($kind:ident, $variant:ident, $remote:ty, $row:ty, $listings:expr, $list:expr, $fetch:path, $to_row:path) => {
        pub(super) struct $kind;

        impl Catalog for $kind {
            const KIND: SyncKind = SyncKind::$variant;
            type Remote = $remote;
            type Row = $row;
            const LISTINGS: usize = $listings;

            fn page<'a>(
                client: &'a AccountClient<'a>,
                listing: usize,
                after: Option<&'a str>,
            ) -> impl Future<Output = Result<Page<$remote>, StripeError>> + 'a {
                let list = $list;
                list(client, listing, after)
            }

            fn fetch<'a>(
                client: &'a AccountClient<'a>,
                id: &'a str,
            ) -> impl Future<Output = Result<Fetched<$remote>, StripeError>> + 'a {
                $fetch(client, id)
            }

            fn remote_id(remote: &$remote) -> &str {
                &remote.id
            }

            fn row(account: &str, remote: $remote, fetched_at: NaiveDateTime) -> $row {
                $to_row(account, remote, fetched_at)
            }

            fn row_id(row: &$row) -> &str {
                &row.id
            }

            fn same(stored: &$row, listed: &$row) -> bool {
                let mut listed = listed.clone();
                listed.fetched_at = stored.fetched_at;
                *stored == listed
            }
        }
    };
}

catalog!(
    Products,
    Products,
    RemoteProduct,
    Product,
    1,
    |client, _, after| lists::products(client, after),
    mirror::product,
    product_row
);
catalog!(
    Prices,
    Prices,
    RemotePrice,
    Price,
    2,
    |client, listing, after| lists::prices(client, listing == 0, after),
    mirror::price,
    price_row
);
catalog!(
    Subscriptions,
    Subscriptions,
    RemoteSubscription,
    Subscription,
    1,
    |client, _, after| lists::subscriptions(client, after),
    mirror::subscription,
    subscription_row
);

/// Lists every object of kind `C` in the account (after the cursor a stopped run left), compares
/// each with its row, writes what is missing or different, then confirms with a fetch each row
/// the listing lacked and marks deleted what Stripe no longer has.
pub(super) async fn reconcile<C: Catalog>(run: &mut RunContext<'_>) -> Result<(), SyncError> {
    let kind = C::KIND.as_str();
    let account = run.account.to_string();
    let dry_run = run.dry_run;
    let key = account.clone();
    let stored: HashMap<String, C::Row> = run
        .state
        .db
        .run(move |conn| Ok::<_, DbError>(C::Row::live_by_account(conn, &key)?))
        .await?
        .into_iter()
        .map(|row| (C::row_id(&row).to_string(), row))
        .collect();
    let mut drift = KindDrift::default();
    let resumed = run.resume_point(C::KIND, &mut drift).await?;
    let (mut listing, mut after) = position(resumed.as_deref(), C::LISTINGS);
    let mut seen: HashSet<String> = HashSet::new();
    let state = run.state;
    let client = state.stripe.for_account(&run.account);
    loop {
        let fetched_at = run.fetch_time().await?;
        let listed = C::page(&client, listing, after.as_deref()).await;
        if run.restart_on_stale_cursor(&listed, &mut drift, seen.is_empty(), &mut after) {
            listing = 0;
            continue;
        }
        let page = run.called(listed)?;
        let mut writes = Vec::new();
        for remote in page.data {
            let id = C::remote_id(&remote).to_string();
            let row = C::row(&account, remote, fetched_at);
            drift.checked += 1;
            let drifted = match stored.get(&id) {
                None => {
                    drift.missing(&id);
                    true
                }
                Some(existing) if !C::same(existing, &row) => {
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
            drift.repaired += state
                .db
                .run(move |conn| {
                    write_page::<C>(conn, &key, &run_id, kind, &writes, last.as_deref())
                })
                .await?;
        }
        if !page.has_more || after.is_none() {
            if listing + 1 >= C::LISTINGS {
                break;
            }
            listing += 1;
            after = None;
        }
        run.checkpoint(C::KIND, &drift).await?;
    }
    for (id, _) in stored.iter().filter(|(id, _)| !seen.contains(*id)) {
        run.pace(C::KIND, &drift).await?;
        let fetched_at = run.fetch_time().await?;
        match run.called(C::fetch(&client, id).await)? {
            Fetched::Gone => {
                drift.deleted(id);
                if !dry_run {
                    let (key, id) = (account.clone(), id.clone());
                    let marked = state
                        .db
                        .run(move |conn| {
                            Ok::<_, DbError>(C::Row::mark_deleted(conn, &key, &id, fetched_at)?)
                        })
                        .await?;
                    drift.repaired += u64::from(marked);
                }
            }
            // Listed before this run's cursor, or created while it listed: Stripe has it.
            Fetched::Found(remote) if !dry_run => {
                let row = C::row(&account, remote, fetched_at);
                state
                    .db
                    .run(move |conn| Ok::<_, DbError>(C::Row::upsert(conn, &row)?))
                    .await?;
            }
            Fetched::Found(_) => {}
        }
    }
    run.end_listing(C::KIND, drift).await
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
fn write_page<C: Catalog>(
    conn: &mut DbConnection,
    account: &str,
    run_id: &str,
    kind: &str,
    rows: &[C::Row],
    last: Option<&str>,
) -> Result<u64, DbError> {
    Ok(crate::db::write_transaction(conn, |conn| {
        let mut written = 0;
        for row in rows {
            written += u64::from(C::Row::upsert(conn, row)?);
        }
        if let Some(last) = last {
            cursors::save_cursor(conn, account, kind, run_id, last)?;
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
