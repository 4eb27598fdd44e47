//! Customers: listed from Stripe and compared with the gateway's rows by Stripe id. What
//! differs or is missing goes through the webhook worker's own write
//! (`customers::apply_stripe_customer`): a changed profile is stored, a customer created in
//! Stripe is adopted, one Stripe no longer has is erased as `DELETE` erases it.

use std::collections::HashSet;

use super::context::RunContext;
use super::{KindDrift, SyncError, SyncKind};
use crate::db::models::sync as cursors;
use crate::db::models::{adoption, Customer};
use crate::db::DbError;
use crate::services::customers::{adopt_page, apply_stripe_customer, differs};
use crate::stripe::customers as remote;
use crate::stripe::lists;

const KIND: SyncKind = SyncKind::Customers;

pub(super) async fn reconcile(run: &mut RunContext<'_>) -> Result<(), SyncError> {
    let kind = KIND.as_str();
    let account = run.account.to_string();
    let dry_run = run.dry_run;
    let mut drift = KindDrift::default();
    let mut after = run.resume_point(KIND, &mut drift).await?;
    let mut seen: HashSet<String> = HashSet::new();
    let state = run.state;
    let client = state.stripe.for_account(&run.account);
    loop {
        let listed = lists::customers(&client, after.as_deref()).await;
        if run.restart_on_stale_cursor(&listed, &mut drift, seen.is_empty(), &mut after) {
            continue;
        }
        let page = run.called(listed)?;
        // The page's rows, looked up by the page's ids: memory stays one page whatever the
        // account's size.
        let (key, ids) = (
            account.clone(),
            page.data.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        );
        let stored = state
            .db
            .run(move |conn| {
                let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                Ok::<_, DbError>(adoption::active_by_stripe_ids(conn, &key, &ids)?)
            })
            .await?;
        let mut missing = Vec::new();
        for customer in page.data {
            drift.checked += 1;
            let id = customer.id.clone();
            after = Some(id.clone());
            seen.insert(id.clone());
            match stored.get(&id) {
                // A customer without an email has no key here: it is not mirrored.
                None if customer.email.is_none() => {}
                None => {
                    drift.missing(&id);
                    missing.push(customer);
                }
                Some(row) if differs(row, &customer) => {
                    drift.different(&id);
                    if !dry_run {
                        // Fetched again before it is written: a webhook may have stored a
                        // newer state since this page was listed.
                        let audit = run.audit.clone();
                        apply_stripe_customer(state, &run.account, &id, None, audit).await?;
                        drift.repaired += 1;
                    }
                }
                Some(_) => {}
            }
        }
        if !dry_run && !missing.is_empty() {
            // The customers the gateway lacks are adopted from the listing, a page at once.
            let adopted = missing.len() as u64;
            adopt_page(state, &run.account, missing, run.audit.clone()).await?;
            drift.repaired += adopted;
        }
        if !dry_run {
            if let Some(last) = after.clone() {
                let (key, run_id) = (account.clone(), run.run_id.clone());
                state
                    .db
                    .run(move |conn| {
                        Ok::<_, DbError>(cursors::save_cursor(conn, &key, kind, &run_id, &last)?)
                    })
                    .await?;
            }
        }
        if !page.has_more || after.is_none() {
            break;
        }
        run.checkpoint(KIND, &drift).await?;
    }
    let key = account.clone();
    let unseen = state
        .db
        .run(move |conn| unseen_stripe_ids(conn, &key, &seen))
        .await?;
    for id in &unseen {
        run.pace(KIND, &drift).await?;
        // Listed before this run's cursor, or gone from Stripe: a fetch tells which.
        let found = run.called(remote::retrieve(&client, id).await)?;
        if found.is_none() {
            drift.deleted(id);
            if !dry_run {
                let audit = run.audit.clone();
                apply_stripe_customer(state, &run.account, id, Some(None), audit).await?;
                drift.repaired += 1;
            }
        }
    }
    run.end_listing(KIND, drift).await
}

/// The Stripe ids of the account's active customers that `seen` lacks, read 1,000 rows at a
/// time: the candidates for "deleted in Stripe".
fn unseen_stripe_ids(
    conn: &mut crate::db::DbConnection,
    account: &str,
    seen: &HashSet<String>,
) -> Result<Vec<String>, DbError> {
    let mut unseen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let rows = Customer::list_active_by_account_after(conn, account, after.as_deref(), 1000)?;
        let more = rows.len() == 1000;
        after = rows.last().map(|row| row.id.clone());
        unseen.extend(
            rows.into_iter()
                .filter_map(|row| row.stripe_customer_id)
                .filter(|id| !seen.contains(id)),
        );
        if !more {
            return Ok(unseen);
        }
    }
}
