use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{erasure_accounts, erasures};
use crate::db::DbConnection;
use crate::domain::{ErasureOutcome, ErasureStatus};
use crate::on_each_backend;

/// A GDPR erasure request for one person (known only by the keyed hash of their email).
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = erasures)]
pub struct Erasure {
    pub id: String,
    pub subject_hash: String,
    pub status: ErasureStatus,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// What an erasure did to one customer, in that customer's account.
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = erasure_accounts)]
pub struct ErasureAccount {
    pub erasure_id: String,
    pub customer_id: String,
    pub organizer_id: String,
    pub stripe_account_id: String,
    pub stripe_customer_id: Option<String>,
    pub outcome: ErasureOutcome,
    /// The error code a failed attempt got, e.g. `stripe_unavailable`.
    pub error_code: Option<String>,
    pub updated_at: NaiveDateTime,
}

impl Erasure {
    pub fn insert(conn: &mut DbConnection, erasure: &Erasure) -> QueryResult<()> {
        diesel::insert_into(erasures::table)
            .values(erasure)
            .execute(conn)
            .map(drop)
    }

    /// The newest unfinished request for this person, which a repeated request resumes.
    pub fn find_partial_by_subject(
        conn: &mut DbConnection,
        subject_hash: &str,
    ) -> QueryResult<Option<Erasure>> {
        erasures::table
            .filter(erasures::subject_hash.eq(subject_hash))
            .filter(erasures::status.eq(ErasureStatus::Partial))
            .order(erasures::id.desc())
            .select(Erasure::as_select())
            .first(conn)
            .optional()
    }

    pub fn set_status(
        conn: &mut DbConnection,
        erasure_id: &str,
        status: ErasureStatus,
        now: NaiveDateTime,
    ) -> QueryResult<()> {
        diesel::update(erasures::table.find(erasure_id))
            .set((erasures::status.eq(status), erasures::updated_at.eq(now)))
            .execute(conn)
            .map(drop)
    }
}

impl ErasureAccount {
    /// The erasure's outcome in every account it reached (an erasure crosses tenants on
    /// purpose).
    pub fn list_for_erasure_across_accounts(
        conn: &mut DbConnection,
        erasure_id: &str,
    ) -> QueryResult<Vec<ErasureAccount>> {
        erasure_accounts::table
            .filter(erasure_accounts::erasure_id.eq(erasure_id))
            .order(erasure_accounts::customer_id.asc())
            .select(ErasureAccount::as_select())
            .load(conn)
    }

    /// Records the latest outcome for this customer; a retry overwrites a failure.
    pub fn record(conn: &mut DbConnection, item: &ErasureAccount) -> QueryResult<()> {
        on_each_backend!(conn, |inner| diesel::insert_into(erasure_accounts::table)
            .values(item)
            .on_conflict((
                erasure_accounts::stripe_account_id,
                erasure_accounts::erasure_id,
                erasure_accounts::customer_id,
            ))
            .do_update()
            .set((
                erasure_accounts::stripe_customer_id.eq(&item.stripe_customer_id),
                erasure_accounts::outcome.eq(&item.outcome),
                erasure_accounts::error_code.eq(&item.error_code),
                erasure_accounts::updated_at.eq(item.updated_at),
            ))
            .execute(inner)
            .map(drop))
    }
}
