//! Customers: the gateway's own rows (keyed by normalized email and account), onto which what
//! Stripe holds is written. Unlike the other kinds, a customer row is not only a copy: Stripe's
//! state reaches it through the customers use case ([`CustomerWrites`]), which adopts a
//! customer created in Stripe, stores a changed profile, and erases one Stripe no longer has,
//! each audited. This module says what is particular to the kind: its events, its listing, and
//! when a row has drifted from Stripe's customer.

use stripe_core::customer::ListCustomer;

use super::{BoxFuture, Env, EventRef, Kind, KindDrift, MirrorError, Page, RunContext, PAGE_SIZE};
use crate::db::models::sync as cursors;
use crate::db::models::{adoption, Customer};
use crate::db::DbError;
use crate::domain::StripeAccountId;
use crate::stripe::customers::{self as remote, RemoteCustomer};
use crate::stripe::{AccountClient, StripeError};

pub struct Customers;

const NAME: &str = "customers";

/// Why Stripe's state is written onto a customer: the audit log's actor.
#[derive(Clone, Copy, Debug)]
pub enum Cause<'a> {
    /// The webhook worker, for the event with this id.
    Event(&'a str),
    /// Reconciliation, in the run with this id.
    Run(&'a str),
}

/// The customers use case, which owns the gateway's customer rows.
pub trait CustomerWrites: Send + Sync {
    /// Brings the account's row for the Stripe customer `id` to what Stripe holds: `known`
    /// when the caller has it (`Some(None)`: Stripe no longer has the customer), else fetched.
    /// Returns whether Stripe still has the customer.
    fn apply<'a>(
        &'a self,
        account: &'a StripeAccountId,
        id: &'a str,
        known: Option<Option<RemoteCustomer>>,
        cause: Cause<'a>,
    ) -> BoxFuture<'a, Result<bool, MirrorError>>;

    /// Adopts customers created in Stripe that the gateway has no row for, a page at once;
    /// their rows carry the mark of the listing that found them (`listed_by`).
    fn adopt<'a>(
        &'a self,
        account: &'a StripeAccountId,
        customers: Vec<RemoteCustomer>,
        cause: Cause<'a>,
        listed_by: &'a str,
    ) -> BoxFuture<'a, Result<(), MirrorError>>;
}

impl Kind for Customers {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events(&self) -> &'static [&'static str] {
        &["customer.created", "customer.updated", "customer.deleted"]
    }

    /// The customer's row, then every subscription of the customer (a customer Stripe no
    /// longer has has none to list: a late update processed after the deletion must not fail).
    fn refresh<'a>(
        &'a self,
        env: &'a Env<'a>,
        event: &'a EventRef<'a>,
    ) -> BoxFuture<'a, Result<(), MirrorError>> {
        Box::pin(async move {
            let cause = Cause::Event(event.id);
            let exists = env
                .customers
                .apply(env.account, event.object_id, None, cause)
                .await?;
            if exists {
                super::subscription::refresh_customer(env, event.object_id).await?;
            }
            Ok(())
        })
    }

    fn listed(&self) -> bool {
        true
    }

    fn reconcile<'a>(
        &'a self,
        run: &'a mut RunContext<'_>,
    ) -> Option<BoxFuture<'a, Result<(), MirrorError>>> {
        Some(Box::pin(reconcile(run)))
    }
}

/// Whether a row holds something else than Stripe's customer: the profile the gateway mirrors.
pub fn differs(row: &Customer, remote: &RemoteCustomer) -> bool {
    remote
        .email
        .as_deref()
        .is_some_and(|email| email != row.email.as_str())
        || remote.name != row.name
        || remote.phone != row.phone
        || remote.metadata != row.metadata.0
}

async fn page(
    client: &AccountClient<'_>,
    after: Option<&str>,
) -> Result<Page<RemoteCustomer>, StripeError> {
    let mut request = ListCustomer::new().limit(PAGE_SIZE);
    if let Some(after) = after {
        request = request.starting_after(after);
    }
    let page = client.read(&request).await?;
    Ok(Page {
        data: page.data.into_iter().map(RemoteCustomer::from).collect(),
        has_more: page.has_more,
    })
}

/// Lists the account's customers and compares them with the gateway's rows by Stripe id. What
/// differs or is missing goes through the webhook worker's own write ([`CustomerWrites`]); the
/// page's rows are marked as listed. Then each active row the listing did not mark is fetched:
/// erased when Stripe no longer has it. Memory holds a page, whatever the account's size.
async fn reconcile(run: &mut RunContext<'_>) -> Result<(), MirrorError> {
    let account = run.account.to_string();
    let dry_run = run.dry_run;
    let mut drift = KindDrift::default();
    let resumed = run.resume_point(NAME, &mut drift).await?;
    let (mut after, mut mark) = (resumed.after, resumed.mark);
    let (db, customers) = (run.db, run.customers);
    let client = run.client();
    let run_id = run.run_id.clone();
    let cause = Cause::Run(&run_id);
    loop {
        let listed = page(&client, after.as_deref()).await;
        if run.restart_on_stale_cursor(&listed, &mut drift, &mut after, &mut mark) {
            continue;
        }
        let page = run.called(listed)?;
        let ids: Vec<String> = page.data.iter().map(|c| c.id.clone()).collect();
        // The page's rows, looked up by the page's ids.
        let (key, lookup) = (account.clone(), ids.clone());
        let stored = db
            .run(move |conn| {
                let ids: Vec<&str> = lookup.iter().map(String::as_str).collect();
                Ok::<_, DbError>(adoption::active_by_stripe_ids(conn, &key, &ids)?)
            })
            .await?;
        let mut missing = Vec::new();
        for customer in page.data {
            drift.checked += 1;
            let id = customer.id.clone();
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
                        customers.apply(&run.account, &id, None, cause).await?;
                        drift.repaired += 1;
                    }
                }
                Some(_) => {}
            }
        }
        if !dry_run && !missing.is_empty() {
            // The customers the gateway lacks are adopted from the listing, a page at once.
            let adopted = missing.len() as u64;
            customers.adopt(&run.account, missing, cause, &mark).await?;
            drift.repaired += adopted;
        }
        after = ids.last().cloned().or(after);
        // The page's rows marked (the adopted ones were, as they were written), and unless a
        // dry run the cursor after them, at once.
        let last = after.clone().filter(|_| !dry_run && !ids.is_empty());
        let ids: Vec<String> = stored.into_keys().collect();
        let (key, page_mark) = (account.clone(), mark.clone());
        db.run(move |conn| {
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            Ok::<_, DbError>(crate::db::write_transaction(conn, |conn| {
                adoption::mark_listed(conn, &key, &ids, &page_mark)?;
                if let Some(last) = last {
                    cursors::save_cursor(conn, &key, NAME, &page_mark, &last)?;
                }
                Ok::<_, diesel::result::Error>(())
            })?)
        })
        .await?;
        run.keep_estimate("customers", drift.checked, page.has_more)
            .await?;
        if !page.has_more || after.is_none() {
            break;
        }
        run.checkpoint(NAME, &drift).await?;
    }
    // The active rows the listing did not mark, a page of candidates at a time.
    let mut from: Option<String> = None;
    loop {
        let (unlisted, more) = run
            .unlisted_page(adoption::unlisted_after, &mark, from.take())
            .await?;
        for (_, id) in &unlisted {
            run.pace(NAME, &drift).await?;
            // Listed before this run's cursor, or gone from Stripe: a fetch tells which.
            let found = run.called(remote::retrieve(&client, id).await)?;
            if found.is_none() {
                drift.deleted(id);
                if !dry_run {
                    customers.apply(&run.account, id, Some(None), cause).await?;
                    drift.repaired += 1;
                }
            }
        }
        if !more {
            break;
        }
        from = unlisted.last().map(|(row, _)| row.clone());
    }
    run.end_listing(NAME, drift).await
}
