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

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::Connection;
use serde_json::json;

use super::CustomerError;
use crate::db::columns::Json;
use crate::db::models::{Customer, CustomerStatus, NewCustomer, Organizer};
use crate::db::{now, DbConnection};
use crate::domain::{Email, StripeAccountId};
use crate::services::audit::{AuditContext, AuditEntry, Outcome};
use crate::services::AppState;
use crate::stripe::customers::RemoteCustomer;

/// Mirrors `remote`, which no row of `account` points at, by the rule above.
pub(super) async fn adopt(
    state: &AppState,
    account: &StripeAccountId,
    remote: RemoteCustomer,
    audit: AuditContext,
) -> Result<(), CustomerError> {
    if remote.gateway_customer_id.is_some() {
        return Ok(());
    }
    let Some(email) = remote.email.as_deref().and_then(|e| Email::parse(e).ok()) else {
        tracing::info!(stripe_customer_id = %remote.id, "a Stripe customer without a usable email is not mirrored");
        return Ok(());
    };
    let subject = state.subject_hasher.hash(&email);
    let key = account.to_string();
    state
        .db
        .run(move |conn| {
            // A concurrent upsert may take the email between the look and the insert: then
            // the unique key refuses the insert, and the second look records a duplicate.
            for _ in 0..2 {
                match conn
                    .transaction(|conn| adopt_in(conn, &key, &remote, &email, &subject, &audit))
                {
                    Err(CustomerError::Db(crate::db::DbError::Query(
                        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _),
                    ))) => continue,
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
    remote: &RemoteCustomer,
    email: &Email,
    subject: &str,
    audit: &AuditContext,
) -> Result<(), CustomerError> {
    if Customer::find_by_account_and_stripe_id(conn, account, &remote.id)?.is_some() {
        return Ok(()); // adopted meanwhile
    }
    let Some(organizer) = Organizer::find_by_stripe_account_id(conn, account)? else {
        return Ok(());
    };
    if let Some(holder) = Customer::find_by_account_and_email(conn, account, email.normalized())? {
        audit.record(
            conn,
            &AuditEntry {
                action: "customer.stripe_duplicate",
                organizer_id: Some(organizer.id),
                targets: json!({
                    "customer_id": holder.id,
                    "stripe_customer_id": holder.stripe_customer_id,
                    "duplicate_stripe_customer_id": remote.id,
                }),
                outcome: Outcome::Succeeded,
                subject_hash: Some(subject.to_string()),
                details: json!({}),
            },
        )?;
        tracing::warn!(customer_id = %holder.id, duplicate = %remote.id, "a second Stripe customer has a gateway customer's email; the gateway keeps its own");
        return Ok(());
    }
    let id = uuid::Uuid::now_v7().to_string();
    let at = now();
    let metadata = Json(&remote.metadata).to_json();
    let row = Customer::insert(
        conn,
        &NewCustomer {
            id: &id,
            organizer_id: &organizer.id,
            stripe_account_id: account,
            email: email.as_str(),
            email_normalized: email.normalized(),
            name: remote.name.as_deref(),
            phone: remote.phone.as_deref(),
            metadata: &metadata,
            stripe_customer_id: Some(&remote.id),
            status: CustomerStatus::Active,
            create_attempt: 0,
            version: 1,
            created_at: at,
            updated_at: at,
            ever_active: true,
        },
    )?;
    audit.record(
        conn,
        &AuditEntry {
            action: "customer.mirrored",
            organizer_id: Some(organizer.id),
            targets: json!({ "customer_id": row.id, "stripe_customer_id": remote.id }),
            outcome: Outcome::Succeeded,
            subject_hash: Some(subject.to_string()),
            details: json!({ "source": "stripe" }),
        },
    )?;
    Ok(())
}
