//! Where the gateway delivers its events over HTTP, and the secrets that sign each delivery.
//! An endpoint is an organizer's (its events only) or the platform's (every organizer's, or
//! those it lists); either may filter by event type.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{webhook_attempts, webhook_deliveries, webhook_endpoints, webhook_secrets};
use crate::db::DbConnection;

use webhook_endpoints::dsl as e;

/// Why the gateway disabled an endpoint on its own.
pub const DISABLED_FAILING: &str = "failing";

#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_endpoints)]
pub struct WebhookEndpoint {
    pub id: String,
    /// The organizer it belongs to; `None` for the platform's.
    pub organizer_id: Option<String>,
    /// A platform endpoint's organizers, comma-separated; `None` for every organizer.
    pub organizer_ids: Option<String>,
    pub url: String,
    pub description: String,
    /// The types it hears, comma-separated; `None` for every type.
    pub event_types: Option<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// Its first failure since its last success.
    pub failing_since: Option<NaiveDateTime>,
    /// Held by the instance delivering to it.
    pub lease_until: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A partial update: `None` leaves a column alone; `Some(None)` clears a nullable one.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = webhook_endpoints)]
pub struct EndpointChanges {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Option<String>>,
    pub organizer_ids: Option<Option<String>>,
    pub enabled: Option<bool>,
    pub disabled_reason: Option<Option<String>>,
    pub failing_since: Option<Option<NaiveDateTime>>,
    pub updated_at: Option<NaiveDateTime>,
}

/// Whose endpoints a listing shows.
pub enum EndpointOwner<'a> {
    /// Every endpoint (an admin's listing).
    Anyone,
    /// The platform's own.
    Platform,
    /// One organizer's own.
    Organizer(&'a str),
}

fn listed(list: Option<&str>, value: &str) -> bool {
    list.is_none_or(|list| list.split(',').any(|entry| entry == value))
}

impl WebhookEndpoint {
    /// Whether an event of `event_type` for `organizer_id` goes to this endpoint (enabled or
    /// not: the caller asks that separately).
    pub fn hears(&self, organizer_id: &str, event_type: &str) -> bool {
        let organizer = match &self.organizer_id {
            Some(own) => own == organizer_id,
            None => listed(self.organizer_ids.as_deref(), organizer_id),
        };
        organizer && listed(self.event_types.as_deref(), event_type)
    }

    pub fn insert(
        conn: &mut DbConnection,
        endpoint: &WebhookEndpoint,
        secret: &WebhookSecret,
    ) -> QueryResult<()> {
        conn.transaction(|conn| {
            diesel::insert_into(webhook_endpoints::table)
                .values(endpoint)
                .execute(conn)?;
            diesel::insert_into(webhook_secrets::table)
                .values(secret)
                .execute(conn)?;
            Ok(())
        })
    }

    pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<WebhookEndpoint>> {
        e::webhook_endpoints
            .find(id)
            .select(WebhookEndpoint::as_select())
            .first(conn)
            .optional()
    }

    /// Up to `limit` of `owner`'s endpoints after the id `after`, oldest first.
    pub fn list(
        conn: &mut DbConnection,
        owner: EndpointOwner<'_>,
        after: Option<&str>,
        limit: i64,
    ) -> QueryResult<Vec<WebhookEndpoint>> {
        let mut query = e::webhook_endpoints
            .select(WebhookEndpoint::as_select())
            .order(e::id.asc())
            .limit(limit)
            .into_boxed();
        match owner {
            EndpointOwner::Anyone => {}
            EndpointOwner::Platform => query = query.filter(e::organizer_id.is_null()),
            EndpointOwner::Organizer(org) => query = query.filter(e::organizer_id.eq(org)),
        }
        if let Some(after) = after {
            query = query.filter(e::id.gt(after));
        }
        query.load(conn)
    }

    /// The enabled endpoints that may hear `organizer_id`'s events: its own and the
    /// platform's (whose organizer list and type filter the caller applies with `hears`).
    pub fn listening(
        conn: &mut DbConnection,
        organizer_id: &str,
    ) -> QueryResult<Vec<WebhookEndpoint>> {
        e::webhook_endpoints
            .filter(e::enabled.eq(true))
            .filter(
                e::organizer_id
                    .eq(organizer_id)
                    .or(e::organizer_id.is_null()),
            )
            .select(WebhookEndpoint::as_select())
            .load(conn)
    }

    pub fn update(
        conn: &mut DbConnection,
        id: &str,
        changes: &EndpointChanges,
    ) -> QueryResult<Option<WebhookEndpoint>> {
        diesel::update(e::webhook_endpoints.find(id))
            .set(changes)
            .execute(conn)?;
        Self::find(conn, id)
    }

    /// Deletes the endpoint with its secrets, deliveries and their attempts.
    pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
        conn.transaction(|conn| {
            let deliveries = webhook_deliveries::table
                .filter(webhook_deliveries::endpoint_id.eq(id))
                .select(webhook_deliveries::id);
            diesel::delete(
                webhook_attempts::table.filter(webhook_attempts::delivery_id.eq_any(deliveries)),
            )
            .execute(conn)?;
            diesel::delete(
                webhook_deliveries::table.filter(webhook_deliveries::endpoint_id.eq(id)),
            )
            .execute(conn)?;
            diesel::delete(webhook_secrets::table.filter(webhook_secrets::endpoint_id.eq(id)))
                .execute(conn)?;
            Ok(diesel::delete(e::webhook_endpoints.find(id)).execute(conn)? > 0)
        })
    }
}

/// A signing secret of an endpoint (`whsec_...`, as the gateway showed it once).
#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_secrets)]
pub struct WebhookSecret {
    pub endpoint_id: String,
    pub id: String,
    pub secret: String,
    pub created_at: NaiveDateTime,
    /// When it stops signing: set when a newer secret replaces it.
    pub expires_at: Option<NaiveDateTime>,
}

impl WebhookSecret {
    /// The endpoint's secrets that sign at `now`, newest first.
    pub fn active(
        conn: &mut DbConnection,
        endpoint_id: &str,
        now: NaiveDateTime,
    ) -> QueryResult<Vec<WebhookSecret>> {
        webhook_secrets::table
            .filter(webhook_secrets::endpoint_id.eq(endpoint_id))
            .filter(
                webhook_secrets::expires_at
                    .is_null()
                    .or(webhook_secrets::expires_at.gt(now).assume_not_null()),
            )
            .order(webhook_secrets::created_at.desc())
            .select(WebhookSecret::as_select())
            .load(conn)
    }

    /// Adds `new` to its endpoint; the secrets signing now stop at `old_until` (at once when
    /// that is now), and those already expired are deleted.
    pub fn rotate(
        conn: &mut DbConnection,
        new: &WebhookSecret,
        old_until: NaiveDateTime,
    ) -> QueryResult<()> {
        conn.transaction(|conn| {
            let mine =
                webhook_secrets::table.filter(webhook_secrets::endpoint_id.eq(&new.endpoint_id));
            diesel::delete(mine.filter(webhook_secrets::expires_at.le(new.created_at)))
                .execute(conn)?;
            diesel::update(
                mine.filter(
                    webhook_secrets::expires_at
                        .is_null()
                        .or(webhook_secrets::expires_at.gt(old_until).assume_not_null()),
                ),
            )
            .set(webhook_secrets::expires_at.eq(Some(old_until)))
            .execute(conn)?;
            diesel::insert_into(webhook_secrets::table)
                .values(new)
                .execute(conn)?;
            Ok(())
        })
    }
}
