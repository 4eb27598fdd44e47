use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::columns::JsonMap;
use crate::db::schema::customers;
use crate::db::DbConnection;
use crate::domain::Email;

crate::domain::text_enum! {
    /// Where a customer row stands with respect to its Stripe customer.
    pub enum CustomerStatus {
        /// Reserved by an upsert; the Stripe customer is being created (under the row's
        /// `customer.create` lease), or its creation failed and the next upsert resumes it. No
        /// Stripe id yet; reads never show it.
        Pending = "pending",
        Active = "active",
        /// The Stripe customer was found deleted; the next upsert creates a new one.
        StripeDeleted = "stripe_deleted",
    }
}
crate::text_column!(CustomerStatus);

/// The lease kind that guards a customer's Stripe create; its key is the row id.
pub const CREATE_LEASE: &str = "customer.create";

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = customers)]
pub struct Customer {
    pub id: String,
    pub organizer_id: String,
    pub stripe_account_id: String,
    /// As Stripe holds it; parsed when the row is loaded.
    #[diesel(deserialize_as = String)]
    pub email: Email,
    pub email_normalized: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    /// The customer's metadata in Stripe, without the gateway's keys.
    pub metadata: JsonMap,
    pub stripe_customer_id: Option<String>,
    pub status: CustomerStatus,
    /// Part of the create's idempotency key: the same attempt replays, a new one creates anew.
    pub create_attempt: i32,
    pub last_failure_at: Option<NaiveDateTime>,
    /// The optimistic lock: every write of the row moves it on.
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The row has had a Stripe customer: a create after this is a re-creation.
    pub ever_active: bool,
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
    /// JSON text, from [`JsonMap::to_json`].
    pub metadata: &'a str,
    /// Set only for a customer mirrored from Stripe; a reservation gets it when its create
    /// completes.
    pub stripe_customer_id: Option<&'a str>,
    pub status: CustomerStatus,
    pub create_attempt: i32,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub ever_active: bool,
    /// The mark of the listing that adopted the row (see `adoption::mark_listed`).
    pub listed_by: Option<&'a str>,
}

/// The profile as Stripe holds it, written after each Stripe write.
#[derive(Debug, AsChangeset)]
#[diesel(table_name = customers, treat_none_as_null = true)]
pub struct StripeProfile<'a> {
    pub email: &'a str,
    pub email_normalized: &'a str,
    pub name: Option<&'a str>,
    pub phone: Option<&'a str>,
    /// JSON text, from [`JsonMap::to_json`].
    pub metadata: &'a str,
    pub updated_at: NaiveDateTime,
}

/// Where a customer is, without its data: what an erasure needs to find and report every
/// account's customer, even one whose data no longer loads.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = customers)]
pub struct CustomerKey {
    pub id: String,
    pub organizer_id: String,
    pub stripe_account_id: String,
    pub stripe_customer_id: Option<String>,
}

impl CustomerKey {
    /// Every account's customer with this normalized email: erasure crosses tenants on purpose.
    pub fn find_all_by_email_across_accounts(
        conn: &mut DbConnection,
        email_normalized: &str,
    ) -> QueryResult<Vec<CustomerKey>> {
        customers::table
            .filter(customers::email_normalized.eq(email_normalized))
            .select(CustomerKey::as_select())
            .order(customers::id.asc())
            .load(conn)
    }

    pub fn find_by_account_and_id(
        conn: &mut DbConnection,
        stripe_account_id: &str,
        customer_id: &str,
    ) -> QueryResult<Option<CustomerKey>> {
        customers::table
            .filter(customers::stripe_account_id.eq(stripe_account_id))
            .filter(customers::id.eq(customer_id))
            .select(CustomerKey::as_select())
            .first(conn)
            .optional()
    }
}

/// Every query names its tenant, the Stripe account (what webhooks arrive with), and says so;
/// the one that crosses tenants on purpose (erasure) says that instead.
impl Customer {
    pub fn insert(conn: &mut DbConnection, new: &NewCustomer<'_>) -> QueryResult<Customer> {
        crate::on_each_backend!(conn, |c| diesel::insert_into(customers::table)
            .values(new)
            .returning(Customer::as_returning())
            .get_result(c))
    }

    /// The row holding the key (any status): the account, the organizer (several share the
    /// platform's account with destination charges) and the email.
    pub fn find_by_account_and_email(
        conn: &mut DbConnection,
        stripe_account_id: &str,
        organizer_id: &str,
        email_normalized: &str,
    ) -> QueryResult<Option<Customer>> {
        customers::table
            .filter(customers::stripe_account_id.eq(stripe_account_id))
            .filter(customers::organizer_id.eq(organizer_id))
            .filter(customers::email_normalized.eq(email_normalized))
            .select(Customer::as_select())
            .first(conn)
            .optional()
    }

    /// The organizer's customer `customer_id` (any status), under the account the organizer's
    /// customers are kept under ([`Organizer::charge_account`](crate::db::models::Organizer::charge_account)).
    pub fn find_by_account_organizer_and_id(
        conn: &mut DbConnection,
        stripe_account_id: &str,
        organizer_id: &str,
        customer_id: &str,
    ) -> QueryResult<Option<Customer>> {
        customers::table
            .filter(customers::stripe_account_id.eq(stripe_account_id))
            .filter(customers::id.eq(customer_id))
            .filter(customers::organizer_id.eq(organizer_id))
            .select(Customer::as_select())
            .first(conn)
            .optional()
    }

    /// The account's customer `customer_id` (any status).
    pub fn find_by_account_and_id(
        conn: &mut DbConnection,
        stripe_account_id: &str,
        customer_id: &str,
    ) -> QueryResult<Option<Customer>> {
        customers::table
            .filter(customers::stripe_account_id.eq(stripe_account_id))
            .filter(customers::id.eq(customer_id))
            .select(Customer::as_select())
            .first(conn)
            .optional()
    }

    /// The account's customer row that points at the Stripe customer `stripe_customer_id`.
    pub fn find_by_account_and_stripe_id(
        conn: &mut DbConnection,
        stripe_account_id: &str,
        stripe_customer_id: &str,
    ) -> QueryResult<Option<Customer>> {
        customers::table
            .filter(customers::stripe_account_id.eq(stripe_account_id))
            .filter(customers::stripe_customer_id.eq(stripe_customer_id))
            .select(Customer::as_select())
            .first(conn)
            .optional()
    }

    /// Active customers of one account (of one organizer of it, when `organizer_id` says) in
    /// id (= creation) order, starting after `after_id`.
    pub fn list_active_by_account_after(
        conn: &mut DbConnection,
        stripe_account_id: &str,
        organizer_id: Option<&str>,
        after_id: Option<&str>,
        limit: usize,
    ) -> QueryResult<Vec<Customer>> {
        let mut query = customers::table
            .filter(customers::stripe_account_id.eq(stripe_account_id.to_string()))
            .filter(customers::status.eq(CustomerStatus::Active))
            .select(Customer::as_select())
            .order(customers::id.asc())
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .into_boxed();
        if let Some(after_id) = after_id {
            query = query.filter(customers::id.gt(after_id.to_string()));
        }
        if let Some(organizer_id) = organizer_id {
            query = query.filter(customers::organizer_id.eq(organizer_id.to_string()));
        }
        query.load(conn)
    }

    /// Starts a create of the Stripe customer of a `pending` or `stripe_deleted` row still as
    /// the caller saw it; the caller holds the row's create lease. A `stripe_deleted` row moves
    /// to a new attempt, so its create gets a new idempotency key. The row as it now stands, or
    /// `None` when it changed.
    pub fn begin_create(conn: &mut DbConnection, seen: &Customer) -> QueryResult<Option<Customer>> {
        let attempt = match seen.status {
            CustomerStatus::StripeDeleted => seen.create_attempt + 1,
            _ => seen.create_attempt,
        };
        let target = customers::table
            .filter(customers::stripe_account_id.eq(&seen.stripe_account_id))
            .filter(customers::id.eq(&seen.id))
            .filter(customers::status.eq(seen.status))
            .filter(customers::create_attempt.eq(seen.create_attempt));
        crate::on_each_backend!(conn, |c| diesel::update(target)
            .set((
                customers::status.eq(CustomerStatus::Pending),
                customers::create_attempt.eq(attempt),
            ))
            .returning(Customer::as_returning())
            .get_result(c))
        .optional()
    }

    /// Records the Stripe customer that attempt `attempt` created and makes the row active.
    /// `None` when the row is gone or another attempt has taken over.
    pub fn complete_create(
        conn: &mut DbConnection,
        stripe_account_id: &str,
        customer_id: &str,
        attempt: i32,
        stripe_customer_id: &str,
        profile: &StripeProfile<'_>,
    ) -> QueryResult<Option<Customer>> {
        crate::on_each_backend!(conn, |c| diesel::update(
            customers::table
                .filter(customers::stripe_account_id.eq(stripe_account_id))
                .filter(customers::id.eq(customer_id))
                .filter(customers::status.eq(CustomerStatus::Pending))
                .filter(customers::create_attempt.eq(attempt)),
        )
        .set((
            profile,
            customers::stripe_customer_id.eq(stripe_customer_id),
            customers::status.eq(CustomerStatus::Active),
            customers::last_failure_at.eq(None::<NaiveDateTime>),
            customers::version.eq(customers::version + 1),
            customers::ever_active.eq(true),
        ))
        .returning(Customer::as_returning())
        .get_result(c))
        .optional()
    }

    /// Notes a failed create of attempt `attempt`, so that the upserts that were waiting on it
    /// answer with the failure instead of each trying again; `next_attempt` moves the row to a
    /// new attempt (a new idempotency key). The caller has just released the create lease.
    pub fn fail_create(
        conn: &mut DbConnection,
        stripe_account_id: &str,
        customer_id: &str,
        attempt: i32,
        next_attempt: bool,
        failed_at: NaiveDateTime,
    ) -> QueryResult<()> {
        diesel::update(
            customers::table
                .filter(customers::stripe_account_id.eq(stripe_account_id))
                .filter(customers::id.eq(customer_id))
                .filter(customers::status.eq(CustomerStatus::Pending))
                .filter(customers::create_attempt.eq(attempt)),
        )
        .set((
            customers::last_failure_at.eq(failed_at),
            customers::create_attempt.eq(attempt + i32::from(next_attempt)),
        ))
        .execute(conn)
        .map(drop)
    }

    /// Removes a reservation whose create Stripe refused (nothing exists in Stripe for it).
    pub fn delete_reservation(
        conn: &mut DbConnection,
        stripe_account_id: &str,
        customer_id: &str,
        attempt: i32,
    ) -> QueryResult<()> {
        diesel::delete(
            customers::table
                .filter(customers::stripe_account_id.eq(stripe_account_id))
                .filter(customers::id.eq(customer_id))
                .filter(customers::status.eq(CustomerStatus::Pending))
                .filter(customers::create_attempt.eq(attempt))
                .filter(customers::stripe_customer_id.is_null()),
        )
        .execute(conn)
        .map(drop)
    }

    /// Notes that Stripe no longer has the row's customer, unless the row has moved on to
    /// another Stripe customer meanwhile. Returns whether it did.
    pub fn mark_stripe_deleted(
        conn: &mut DbConnection,
        stripe_account_id: &str,
        customer_id: &str,
        stripe_customer_id: &str,
    ) -> QueryResult<bool> {
        diesel::update(
            customers::table
                .filter(customers::stripe_account_id.eq(stripe_account_id))
                .filter(customers::id.eq(customer_id))
                .filter(customers::status.eq(CustomerStatus::Active))
                .filter(customers::stripe_customer_id.eq(stripe_customer_id)),
        )
        .set((
            customers::status.eq(CustomerStatus::StripeDeleted),
            customers::stripe_customer_id.eq(None::<String>),
            customers::updated_at.eq(crate::db::now()),
        ))
        .execute(conn)
        .map(|n| n == 1)
    }

    /// Writes the profile Stripe returned, if the row is still active at `version` (optimistic
    /// concurrency: `None` means another write got there first).
    pub fn update_profile(
        conn: &mut DbConnection,
        stripe_account_id: &str,
        customer_id: &str,
        version: i32,
        profile: &StripeProfile<'_>,
    ) -> QueryResult<Option<Customer>> {
        crate::on_each_backend!(conn, |c| diesel::update(
            customers::table
                .filter(customers::stripe_account_id.eq(stripe_account_id))
                .filter(customers::id.eq(customer_id))
                .filter(customers::status.eq(CustomerStatus::Active))
                .filter(customers::version.eq(version)),
        )
        .set((profile, customers::version.eq(customers::version + 1)))
        .returning(Customer::as_returning())
        .get_result(c))
        .optional()
    }

    /// Removes the row, and with it the person's data, if it is still as `seen` (every change
    /// of its Stripe customer moves its version, status or create attempt). Returns whether it
    /// was removed.
    pub fn delete_if_unchanged(conn: &mut DbConnection, seen: &Customer) -> QueryResult<bool> {
        diesel::delete(
            customers::table
                .filter(customers::stripe_account_id.eq(&seen.stripe_account_id))
                .filter(customers::id.eq(&seen.id))
                .filter(customers::version.eq(seen.version))
                .filter(customers::status.eq(seen.status))
                .filter(customers::create_attempt.eq(seen.create_attempt)),
        )
        .execute(conn)
        .map(|n| n == 1)
    }
}
