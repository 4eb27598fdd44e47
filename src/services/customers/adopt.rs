//! Stripe customers that no gateway row points at, as the webhook worker finds them.
//!
//! The rule: rows are keyed by (email, account), and a key keeps pointing at the Stripe
//! customer it has.
//! - A customer created in Stripe directly (no gateway id in its metadata) whose email no row
//!   of the account holds becomes a gateway customer (`customer.mirrored`, audited).
//! - One whose email a row already holds (two Stripe customers with one email in one account)
//!   is recorded as `customer.stripe_duplicate` in the audit log, naming both Stripe ids; the
//!   row keeps its own.
//! - The gateway's own creates (they carry `gateway_customer_id`) are left to the upsert that
//!   made them, which completes its row.
//!
//! A backfill adopts a listing page at a time, in one transaction with set-based look-ups and
//! one insert per table: a page costs a handful of statements and one commit, not a
//! transaction per customer.

use serde_json::json;

use super::CustomerError;
use crate::db::columns::Json;
use crate::db::is_unique_violation;
use crate::db::models::adoption;
use crate::db::models::{CustomerStatus, NewCustomer, Organizer};
use crate::db::{now, write_transaction, DbConnection, DbError};
use crate::domain::{Email, StripeAccountId};
use crate::services::audit::{AuditContext, AuditEntry, Outcome};
use crate::services::AppState;
use crate::stripe::customers::RemoteCustomer;

/// A Stripe customer the rule may mirror: not the gateway's own, with a usable email.
struct Candidate {
    remote: RemoteCustomer,
    email: Email,
    subject: String,
}

/// Mirrors `remote`, which no row of `account` points at, by the rule above.
pub(super) async fn adopt(
    state: &AppState,
    account: &StripeAccountId,
    remote: RemoteCustomer,
    audit: AuditContext,
) -> Result<(), CustomerError> {
    adopt_page(state, account, vec![remote], audit, None).await
}

/// Mirrors a page of Stripe customers that no row of `account` pointed at when it was listed,
/// by the rule above, in one transaction; a listing's rows carry its mark (`listed_by`).
pub async fn adopt_page(
    state: &AppState,
    account: &StripeAccountId,
    remotes: Vec<RemoteCustomer>,
    audit: AuditContext,
    listed_by: Option<&str>,
) -> Result<(), CustomerError> {
    let candidates: Vec<Candidate> = remotes
        .into_iter()
        .filter(|remote| remote.gateway_customer_id.is_none())
        .filter_map(|remote| {
            let Some(email) = remote.email.as_deref().and_then(|e| Email::parse(e).ok()) else {
                tracing::info!(stripe_customer_id = %remote.id, "a Stripe customer without a usable email is not mirrored");
                return None;
            };
            let subject = state.subject_hasher.hash(&email);
            Some(Candidate { remote, email, subject })
        })
        .collect();
    if candidates.is_empty() {
        return Ok(());
    }
    let (key, listed_by) = (account.to_string(), listed_by.map(str::to_string));
    state
        .db
        .run(move |conn| {
            // A concurrent upsert may take an email between the look and the insert: then
            // the unique key refuses the insert, and the next look records a duplicate.
            for _ in 0..3 {
                match write_transaction(conn, |conn| {
                    adopt_in(conn, &key, &candidates, &audit, listed_by.as_deref())
                }) {
                    Err(CustomerError::Db(DbError::Query(err))) if is_unique_violation(&err) => {
                        continue
                    }
                    other => return other,
                }
            }
            Err(CustomerError::KeptChanging)
        })
        .await
}

fn adopt_in(
    conn: &mut DbConnection,
    account: &str,
    candidates: &[Candidate],
    audit: &AuditContext,
    listed_by: Option<&str>,
) -> Result<(), CustomerError> {
    let Some(organizer) = Organizer::find_by_stripe_account_id(conn, account)? else {
        return Ok(());
    };
    let stripe_ids: Vec<&str> = candidates.iter().map(|c| c.remote.id.as_str()).collect();
    // Adopted meanwhile (by a webhook, or an earlier attempt of this page).
    let taken = adoption::taken_stripe_ids(conn, account, &stripe_ids)?;
    let emails: Vec<&str> = candidates.iter().map(|c| c.email.normalized()).collect();
    let mut holders = adoption::holders_of_emails(conn, account, &organizer.id, &emails)?;
    let at = now();
    let mut adopted: Vec<(String, &Candidate, String)> = Vec::new();
    let mut entries = Vec::new();
    for candidate in candidates.iter().filter(|c| !taken.contains(&c.remote.id)) {
        let remote = &candidate.remote;
        if let Some((holder_id, holder_stripe_id)) = holders.get(candidate.email.normalized()) {
            tracing::warn!(customer_id = %holder_id, duplicate = %remote.id, "a second Stripe customer has a gateway customer's email; the gateway keeps its own");
            entries.push(AuditEntry {
                action: "customer.stripe_duplicate",
                organizer_id: Some(organizer.id.clone()),
                targets: json!({
                    "customer_id": holder_id,
                    "stripe_customer_id": holder_stripe_id,
                    "duplicate_stripe_customer_id": remote.id,
                }),
                outcome: Outcome::Succeeded,
                subject_hash: Some(candidate.subject.clone()),
                details: json!({}),
            });
            continue;
        }
        let id = uuid::Uuid::now_v7().to_string();
        // A second customer with this email later on the page is a duplicate of this one.
        holders.insert(
            candidate.email.normalized().to_string(),
            (id.clone(), Some(remote.id.clone())),
        );
        entries.push(AuditEntry {
            action: "customer.mirrored",
            organizer_id: Some(organizer.id.clone()),
            targets: json!({ "customer_id": id, "stripe_customer_id": remote.id }),
            outcome: Outcome::Succeeded,
            subject_hash: Some(candidate.subject.clone()),
            details: json!({ "source": "stripe" }),
        });
        adopted.push((id, candidate, Json(&remote.metadata).to_json()));
    }
    let rows: Vec<NewCustomer<'_>> = adopted
        .iter()
        .map(|(id, candidate, metadata)| NewCustomer {
            id,
            organizer_id: &organizer.id,
            stripe_account_id: account,
            email: candidate.email.as_str(),
            email_normalized: candidate.email.normalized(),
            name: candidate.remote.name.as_deref(),
            phone: candidate.remote.phone.as_deref(),
            metadata,
            stripe_customer_id: Some(&candidate.remote.id),
            status: CustomerStatus::Active,
            create_attempt: 0,
            version: 1,
            created_at: at,
            updated_at: at,
            ever_active: true,
            listed_by,
        })
        .collect();
    adoption::insert_customers(conn, &rows)?;
    audit.record_all(conn, &entries)?;
    Ok(())
}
