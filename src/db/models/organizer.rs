use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::organizers;
use crate::db::{DbConnection, DbError};
use crate::domain::{ChargeType, OrganizerStatus, StripeAccountId, TicketFees};

#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = organizers)]
pub struct Organizer {
    pub id: String,
    pub name: String,
    /// `None` until the gateway creates the organizer's connected account.
    pub stripe_account_id: Option<String>,
    pub application_fee_bps: Option<i32>,
    pub status: OrganizerStatus,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// When the account revoked the platform's access (`account.application.deauthorized`):
    /// while set, the gateway writes nothing to Stripe for the organizer, and reads go on.
    pub disconnected_at: Option<NaiveDateTime>,
    /// A fixed fee per ticket in each currency, as JSON (`TicketFees`).
    pub ticket_fees: Option<String>,
    /// Whether a refund gives the platform's fee back when its request does not say.
    pub refund_application_fee: bool,
    pub charge_type: ChargeType,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = organizers)]
pub struct NewOrganizer<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub stripe_account_id: Option<&'a str>,
    pub application_fee_bps: Option<i32>,
    pub ticket_fees: Option<String>,
    pub refund_application_fee: bool,
    pub charge_type: ChargeType,
    pub status: OrganizerStatus,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A partial update: `None` leaves a column alone; `Some(None)` clears a nullable one.
#[derive(Debug, AsChangeset)]
#[diesel(table_name = organizers)]
pub struct OrganizerChanges<'a> {
    pub name: Option<&'a str>,
    pub application_fee_bps: Option<Option<i32>>,
    pub ticket_fees: Option<Option<String>>,
    pub refund_application_fee: Option<bool>,
    pub status: Option<OrganizerStatus>,
    pub updated_at: NaiveDateTime,
}

impl Organizer {
    /// The organizer's Stripe account, the tenant key of its data; `None` before the gateway
    /// created one.
    pub fn account(&self) -> Result<Option<StripeAccountId>, DbError> {
        self.stripe_account_id
            .as_deref()
            .map(StripeAccountId::parse)
            .transpose()
            .map_err(|e| DbError::Corrupt(format!("organizer {}: {e}", self.id)))
    }

    /// The fixed fee per ticket, per currency; none when unset. A stored value that no longer
    /// reads is the database's fault, named as such.
    pub fn ticket_fees(&self) -> Result<TicketFees, DbError> {
        self.ticket_fees
            .as_deref()
            .map(TicketFees::from_json)
            .transpose()
            .map(Option::unwrap_or_default)
            .map_err(|e| DbError::Corrupt(format!("organizer {} ticket_fees: {e}", self.id)))
    }

    /// The account the organizer's mirrored data is kept under, for reads: empty for an
    /// organizer without an account yet, and no row is ever kept under an empty account (a
    /// Stripe account id never is), so such an organizer reads as having no data.
    pub fn data_account(&self) -> &str {
        self.stripe_account_id.as_deref().unwrap_or_default()
    }

    /// The account the organizer's buyers and payments are kept under, for reads: its own for
    /// direct charges, the platform's (`platform`, when configured) for destination charges;
    /// empty, like [`Organizer::data_account`], when there is none.
    pub fn charge_account<'a>(&'a self, platform: Option<&'a StripeAccountId>) -> &'a str {
        match self.charge_type {
            ChargeType::Direct => self.data_account(),
            ChargeType::Destination => platform.map_or("", StripeAccountId::as_str),
        }
    }

    /// For destination charges, the organizer's own account its payments are sent on to: what
    /// tells its payments on the platform's account from others there. `None` for direct
    /// charges, whose payments are the only ones of their account.
    pub fn destination(&self) -> Option<&str> {
        match self.charge_type {
            ChargeType::Direct => None,
            ChargeType::Destination => Some(self.data_account()),
        }
    }

    /// Gives the organizer the account Stripe created for it, unless it has one already;
    /// `None` when it had (or there is no such organizer).
    pub fn set_account_if_none(
        conn: &mut DbConnection,
        organizer_id: &str,
        stripe_account_id: &str,
        at: NaiveDateTime,
    ) -> QueryResult<Option<Organizer>> {
        diesel::update(
            organizers::table
                .find(organizer_id)
                .filter(organizers::stripe_account_id.is_null()),
        )
        .set((
            organizers::stripe_account_id.eq(Some(stripe_account_id)),
            organizers::updated_at.eq(at),
        ))
        .get_result(conn)
        .optional()
    }

    pub fn insert(conn: &mut DbConnection, new: &NewOrganizer<'_>) -> QueryResult<Organizer> {
        diesel::insert_into(organizers::table)
            .values(new)
            .get_result(conn)
    }

    pub fn find_by_id(
        conn: &mut DbConnection,
        organizer_id: &str,
    ) -> QueryResult<Option<Organizer>> {
        // On the backend's own connection: diesel then finds the prepared statement by the
        // query's type instead of building its text (every organizer-scoped request runs it).
        crate::on_each_backend!(conn, |c| organizers::table
            .find(organizer_id)
            .select(Organizer::as_select())
            .first(c)
            .optional())
    }

    pub fn find_by_stripe_account_id(
        conn: &mut DbConnection,
        stripe_account_id: &str,
    ) -> QueryResult<Option<Organizer>> {
        organizers::table
            .filter(organizers::stripe_account_id.eq(stripe_account_id))
            .select(Organizer::as_select())
            .first(conn)
            .optional()
    }

    /// Every organizer whose account the gateway may call (active, with an account, not
    /// disconnected), in id order.
    pub fn list_connected(conn: &mut DbConnection) -> QueryResult<Vec<Organizer>> {
        organizers::table
            .filter(organizers::status.eq(OrganizerStatus::Active))
            .filter(organizers::disconnected_at.is_null())
            .filter(organizers::stripe_account_id.is_not_null())
            .select(Organizer::as_select())
            .order(organizers::id.asc())
            .load(conn)
    }

    /// One page in id (= creation) order, starting after `after_id`. Fetches one row more than
    /// asked so the caller knows whether another page exists.
    pub fn list_after(
        conn: &mut DbConnection,
        after_id: Option<&str>,
        limit: usize,
    ) -> QueryResult<Vec<Organizer>> {
        let mut query = organizers::table
            .select(Organizer::as_select())
            .order(organizers::id.asc())
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .into_boxed();
        if let Some(after_id) = after_id {
            query = query.filter(organizers::id.gt(after_id.to_string()));
        }
        query.load(conn)
    }

    /// Marks the organizer of `stripe_account_id` disconnected at `at`; `None` when there is
    /// none, or it already is.
    pub fn disconnect_by_account(
        conn: &mut DbConnection,
        stripe_account_id: &str,
        at: chrono::NaiveDateTime,
    ) -> QueryResult<Option<Organizer>> {
        diesel::update(
            organizers::table
                .filter(organizers::stripe_account_id.eq(stripe_account_id))
                .filter(organizers::disconnected_at.is_null()),
        )
        .set((
            organizers::disconnected_at.eq(Some(at)),
            organizers::updated_at.eq(at),
        ))
        .get_result(conn)
        .optional()
    }

    pub fn update_by_id(
        conn: &mut DbConnection,
        organizer_id: &str,
        changes: &OrganizerChanges<'_>,
    ) -> QueryResult<Option<Organizer>> {
        diesel::update(organizers::table.find(organizer_id))
            .set(changes)
            .get_result(conn)
            .optional()
    }
}
