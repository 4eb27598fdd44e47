use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::customers;
use crate::db::DbConnection;

/// Where a customer row stands with respect to its Stripe customer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CustomerStatus {
    /// Reserved by an upsert; the Stripe customer is being created, or its creation failed and
    /// the next upsert resumes it. No Stripe id yet; reads never show it.
    Pending,
    Active,
    /// The Stripe customer was found deleted; the next upsert creates a new one.
    StripeDeleted,
}

impl CustomerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::StripeDeleted => "stripe_deleted",
        }
    }
}

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = customers)]
pub struct Customer {
    pub id: String,
    pub organizer_id: String,
    pub stripe_account_id: String,
    pub email: String,
    pub email_normalized: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    /// A JSON object of strings: the customer's metadata in Stripe, without the gateway's keys.
    pub metadata: String,
    pub stripe_customer_id: Option<String>,
    pub status: String,
    pub create_attempt: i32,
    pub lease_until: Option<NaiveDateTime>,
    pub last_failure_at: Option<NaiveDateTime>,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl Customer {
    pub fn has_status(&self, status: CustomerStatus) -> bool {
        self.status == status.as_str()
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = customers)]
pub struct NewCustomer<'a> {
    pub id: &'a str,
    pub organizer_id: &'a str,
    pub stripe_account_id: &'a str,
    pub email: &'a str,
    pub email_normalized: &'a str,
    pub name: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub metadata: &'a str,
    pub status: &'a str,
    pub create_attempt: i32,
    pub lease_until: Option<NaiveDateTime>,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// The profile as Stripe holds it, written after each Stripe write.
#[derive(Debug, AsChangeset)]
#[diesel(table_name = customers, treat_none_as_null = true)]
pub struct StripeProfile<'a> {
    pub email: &'a str,
    pub email_normalized: &'a str,
    pub name: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub metadata: &'a str,
    pub updated_at: NaiveDateTime,
}

const ACTIVE: &str = "active";

impl Customer {
    pub fn insert(conn: &mut DbConnection, new: &NewCustomer<'_>) -> QueryResult<Customer> {
        diesel::insert_into(customers::table)
            .values(new)
            .get_result(conn)
    }

    /// The row holding the key (any status).
    pub fn find_by_account_and_email(
        conn: &mut DbConnection,
        stripe_account_id: &str,
        email_normalized: &str,
    ) -> QueryResult<Option<Customer>> {
        customers::table
            .filter(customers::stripe_account_id.eq(stripe_account_id))
            .filter(customers::email_normalized.eq(email_normalized))
            .select(Customer::as_select())
            .first(conn)
            .optional()
    }

    /// Any row by id; callers have checked the tenant already.
    pub fn find_by_id(conn: &mut DbConnection, customer_id: &str) -> QueryResult<Option<Customer>> {
        customers::table
            .find(customer_id)
            .select(Customer::as_select())
            .first(conn)
            .optional()
    }

    /// The organizer's customer `customer_id` (any status).
    pub fn find_by_organizer_and_id(
        conn: &mut DbConnection,
        organizer_id: &str,
        customer_id: &str,
    ) -> QueryResult<Option<Customer>> {
        customers::table
            .filter(customers::organizer_id.eq(organizer_id))
            .filter(customers::id.eq(customer_id))
            .select(Customer::as_select())
            .first(conn)
            .optional()
    }

    /// Active customers of one organizer in id (= creation) order, optionally only the one with
    /// this normalized email, starting after `after_id`.
    pub fn list_active_for_organizer_after(
        conn: &mut DbConnection,
        organizer_id: &str,
        email_normalized: Option<&str>,
        after_id: Option<&str>,
        limit: usize,
    ) -> QueryResult<Vec<Customer>> {
        let mut query = customers::table
            .filter(customers::organizer_id.eq(organizer_id.to_string()))
            .filter(customers::status.eq(ACTIVE))
            .select(Customer::as_select())
            .order(customers::id.asc())
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .into_boxed();
        if let Some(email) = email_normalized {
            query = query.filter(customers::email_normalized.eq(email.to_string()));
        }
        if let Some(after_id) = after_id {
            query = query.filter(customers::id.gt(after_id.to_string()));
        }
        query.load(conn)
    }

    /// Every organizer's customer with this normalized email, for erasure.
    pub fn find_all_by_email(
        conn: &mut DbConnection,
        email_normalized: &str,
    ) -> QueryResult<Vec<Customer>> {
        customers::table
            .filter(customers::email_normalized.eq(email_normalized))
            .select(Customer::as_select())
            .order(customers::id.asc())
            .load(conn)
    }

    /// Takes the right to create the Stripe customer of a `pending` or `stripe_deleted` row, if
    /// nobody holds it (no lease, or an expired one) and the row is still as the caller saw it.
    /// A `stripe_deleted` row moves to a new attempt, so its create gets a new idempotency key.
    pub fn claim_create(
        conn: &mut DbConnection,
        seen: &Customer,
        now: NaiveDateTime,
        lease_until: NaiveDateTime,
    ) -> QueryResult<bool> {
        let attempt = if seen.status == CustomerStatus::StripeDeleted.as_str() {
            seen.create_attempt + 1
        } else {
            seen.create_attempt
        };
        let claimed = diesel::update(
            customers::table
                .filter(customers::id.eq(&seen.id))
                .filter(customers::status.eq(&seen.status))
                .filter(customers::create_attempt.eq(seen.create_attempt))
                .filter(
                    customers::lease_until
                        .is_null()
                        .or(customers::lease_until.lt(now)),
                ),
        )
        .set((
            customers::status.eq(CustomerStatus::Pending.as_str()),
            customers::create_attempt.eq(attempt),
            customers::lease_until.eq(lease_until),
        ))
        .execute(conn)?;
        Ok(claimed == 1)
    }

    /// Records the Stripe customer that attempt `attempt` created and makes the row active.
    /// `None` when the row is gone or another attempt has taken over.
    pub fn complete_create(
        conn: &mut DbConnection,
        customer_id: &str,
        attempt: i32,
        stripe_customer_id: &str,
        profile: &StripeProfile<'_>,
    ) -> QueryResult<Option<Customer>> {
        diesel::update(
            customers::table
                .filter(customers::id.eq(customer_id))
                .filter(customers::status.eq(CustomerStatus::Pending.as_str()))
                .filter(customers::create_attempt.eq(attempt)),
        )
        .set((
            profile,
            customers::stripe_customer_id.eq(stripe_customer_id),
            customers::status.eq(ACTIVE),
            customers::lease_until.eq(None::<NaiveDateTime>),
            customers::last_failure_at.eq(None::<NaiveDateTime>),
            customers::version.eq(customers::version + 1),
        ))
        .get_result(conn)
        .optional()
    }

    /// Gives up the lease `lease_until` after a failed create, noting when it failed so that
    /// the upserts that were waiting on it answer with the failure instead of each trying
    /// again; `next_attempt` moves the row to a new attempt (a new idempotency key). A lease
    /// that expired and was taken over is left to its new holder.
    pub fn release_create(
        conn: &mut DbConnection,
        customer_id: &str,
        attempt: i32,
        lease_until: Option<NaiveDateTime>,
        next_attempt: bool,
        failed_at: NaiveDateTime,
    ) -> QueryResult<()> {
        diesel::update(
            customers::table
                .filter(customers::id.eq(customer_id))
                .filter(customers::status.eq(CustomerStatus::Pending.as_str()))
                .filter(customers::create_attempt.eq(attempt))
                .filter(customers::lease_until.eq(lease_until)),
        )
        .set((
            customers::lease_until.eq(None::<NaiveDateTime>),
            customers::last_failure_at.eq(failed_at),
            customers::create_attempt.eq(attempt + i32::from(next_attempt)),
        ))
        .execute(conn)
        .map(drop)
    }

    /// Removes a reservation whose create Stripe refused (nothing exists in Stripe for it),
    /// while its lease is still `lease_until`.
    pub fn delete_reservation(
        conn: &mut DbConnection,
        customer_id: &str,
        attempt: i32,
        lease_until: Option<NaiveDateTime>,
    ) -> QueryResult<()> {
        diesel::delete(
            customers::table
                .filter(customers::id.eq(customer_id))
                .filter(customers::status.eq(CustomerStatus::Pending.as_str()))
                .filter(customers::create_attempt.eq(attempt))
                .filter(customers::lease_until.eq(lease_until))
                .filter(customers::stripe_customer_id.is_null()),
        )
        .execute(conn)
        .map(drop)
    }

    /// Notes that Stripe no longer has the row's customer, unless the row has moved on to
    /// another Stripe customer meanwhile. Returns whether it did.
    pub fn mark_stripe_deleted(
        conn: &mut DbConnection,
        customer_id: &str,
        stripe_customer_id: &str,
    ) -> QueryResult<bool> {
        diesel::update(
            customers::table
                .filter(customers::id.eq(customer_id))
                .filter(customers::status.eq(ACTIVE))
                .filter(customers::stripe_customer_id.eq(stripe_customer_id)),
        )
        .set((
            customers::status.eq(CustomerStatus::StripeDeleted.as_str()),
            customers::stripe_customer_id.eq(None::<String>),
            customers::updated_at.eq(crate::db::now()),
        ))
        .execute(conn)
        .map(|n| n == 1)
    }

    /// Writes the profile Stripe returned, if the row is still at `version` (optimistic
    /// concurrency: `None` means another write got there first).
    pub fn update_profile(
        conn: &mut DbConnection,
        customer_id: &str,
        version: i32,
        profile: &StripeProfile<'_>,
    ) -> QueryResult<Option<Customer>> {
        diesel::update(
            customers::table
                .filter(customers::id.eq(customer_id))
                .filter(customers::status.eq(ACTIVE))
                .filter(customers::version.eq(version)),
        )
        .set((profile, customers::version.eq(customers::version + 1)))
        .get_result(conn)
        .optional()
    }

    /// Removes the row, and with it the person's data, if it is still as `seen` (every change
    /// of its Stripe customer moves its version, status or create attempt). Returns whether it
    /// was removed.
    pub fn delete_if_unchanged(conn: &mut DbConnection, seen: &Customer) -> QueryResult<bool> {
        diesel::delete(
            customers::table
                .filter(customers::id.eq(&seen.id))
                .filter(customers::version.eq(seen.version))
                .filter(customers::status.eq(&seen.status))
                .filter(customers::create_attempt.eq(seen.create_attempt)),
        )
        .execute(conn)
        .map(|n| n == 1)
    }
}
