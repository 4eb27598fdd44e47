//! Deliveries of the gateway's events to webhook endpoints, and the log of their attempts.
//!
//! A delivery is written in the transaction that appends its event (`fan_out`), so a committed
//! event is never without its deliveries. A sender claims one endpoint at a time (its
//! `lease_until`), so an endpoint has one sender across instances and a slow one holds only
//! its own; of one object, only the delivery with the lowest `event_seq` still pending is due,
//! so an endpoint hears an object's events in order.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::gateway_event::GatewayEvent;
use super::webhook_endpoint::{EndpointChanges, WebhookEndpoint, WebhookSecret};
use crate::db::schema::{gateway_events, webhook_attempts, webhook_deliveries, webhook_endpoints};
use crate::db::DbConnection;
use crate::domain::DeliveryState;

use webhook_deliveries::dsl as d;

diesel::alias!(webhook_deliveries as earlier: EarlierDelivery);

/// The lowest `event_seq` still pending of the outer query's delivery's object at its endpoint:
/// the one delivery of the object that may be sent. A scalar subquery with an aggregate is
/// never turned into a join, so each candidate costs one probe of the object index however
/// stale the planner's statistics (an anti-join planned on a freshly filled table compared
/// every pending delivery with every other one).
macro_rules! head_of_object {
    () => {
        earlier
            .filter(earlier.field(d::endpoint_id).eq(d::endpoint_id))
            .filter(earlier.field(d::organizer_id).eq(d::organizer_id))
            .filter(earlier.field(d::object_id).eq(d::object_id))
            .filter(earlier.field(d::state).eq(DeliveryState::Pending))
            .select(diesel::dsl::min(earlier.field(d::event_seq)))
            .single_value()
    };
}

#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_deliveries)]
pub struct WebhookDelivery {
    pub id: String,
    pub endpoint_id: String,
    pub organizer_id: String,
    pub event_seq: i64,
    pub event_id: String,
    pub event_type: String,
    pub object_id: String,
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    /// When it was delivered, or when its last attempt failed.
    pub finished_at: Option<NaiveDateTime>,
}

/// One attempt of a delivery, as the log shows it.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_attempts)]
pub struct DeliveryAttempt {
    pub delivery_id: String,
    /// From 1.
    pub attempt: i32,
    pub started_at: NaiveDateTime,
    pub latency_ms: i32,
    /// The answer's status; `None` when none came (refused, timed out, not allowed).
    pub status_code: Option<i32>,
    pub error: Option<String>,
    /// The start of the answer's body.
    pub response: Option<String>,
}

/// What a sender claimed: one endpoint, its signing secrets and its due deliveries, each with
/// its event.
pub struct Claimed {
    pub endpoint: WebhookEndpoint,
    pub secrets: Vec<WebhookSecret>,
    pub deliveries: Vec<(WebhookDelivery, GatewayEvent)>,
}

/// What an attempt came to, to record: the delivery's new state and the attempt's log line.
pub struct Settled {
    pub state: DeliveryState,
    pub next_attempt_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    pub attempt: DeliveryAttempt,
}

impl WebhookDelivery {
    /// A pending delivery of `event` to `endpoint_id`, due at `now`.
    pub fn of(endpoint_id: &str, event: &GatewayEvent, now: NaiveDateTime) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            endpoint_id: endpoint_id.to_string(),
            organizer_id: event.organizer_id.clone(),
            event_seq: event.seq,
            event_id: event.id.clone(),
            event_type: event.event_type.clone(),
            object_id: event.object_id.clone(),
            state: DeliveryState::Pending,
            attempts: 0,
            next_attempt_at: now,
            created_at: now,
            finished_at: None,
        }
    }

    /// Writes a delivery of `event` for each enabled endpoint that hears it; returns how many.
    pub fn fan_out(conn: &mut DbConnection, event: &GatewayEvent) -> QueryResult<usize> {
        let endpoints = WebhookEndpoint::listening(conn, &event.organizer_id)?;
        let deliveries: Vec<WebhookDelivery> = endpoints
            .iter()
            .filter(|endpoint| endpoint.hears(&event.organizer_id, &event.event_type))
            .map(|endpoint| Self::of(&endpoint.id, event, event.created_at))
            .collect();
        Self::insert(conn, &deliveries)
    }

    pub fn insert(conn: &mut DbConnection, deliveries: &[WebhookDelivery]) -> QueryResult<usize> {
        if deliveries.is_empty() {
            return Ok(0);
        }
        // One statement per row on SQLite (diesel's batch insert there is row by row anyway).
        match conn {
            DbConnection::Postgresql(pg) => diesel::insert_into(webhook_deliveries::table)
                .values(deliveries)
                .execute(pg),
            DbConnection::Sqlite(sqlite) => deliveries.iter().try_fold(0, |n, delivery| {
                Ok(n + diesel::insert_into(webhook_deliveries::table)
                    .values(delivery)
                    .execute(sqlite)?)
            }),
        }
    }

    /// Claims the endpoint served longest ago that has due deliveries and no sender, until
    /// `until`, with up to `limit` of its due deliveries (the first pending of each object:
    /// none when every due one waits for an earlier one). Which deliveries wait is asked of the
    /// claimed endpoint's only: asked in the search for an endpoint, it made that search scan
    /// every pending delivery for each.
    /// Deliveries whose event is gone (purged or erased) are marked failed on the way.
    pub fn claim(
        conn: &mut DbConnection,
        now: NaiveDateTime,
        until: NaiveDateTime,
        limit: i64,
    ) -> QueryResult<Option<Claimed>> {
        // Built for each backend (its type differs by the connection it runs on).
        macro_rules! free {
            () => {
                webhook_endpoints::table
                    .filter(webhook_endpoints::enabled.eq(true))
                    .filter(
                        webhook_endpoints::lease_until
                            .is_null()
                            .or(webhook_endpoints::lease_until.lt(now).assume_not_null()),
                    )
                    .filter(diesel::dsl::exists(
                        d::webhook_deliveries
                            .filter(d::endpoint_id.eq(webhook_endpoints::id))
                            .filter(d::state.eq(DeliveryState::Pending))
                            .filter(d::next_attempt_at.le(now)),
                    ))
                    .order((
                        // Never served first (NULL), then the one served longest ago.
                        webhook_endpoints::lease_until.is_not_null().asc(),
                        webhook_endpoints::lease_until.asc(),
                    ))
                    .select(WebhookEndpoint::as_select())
            };
        }
        let take = |conn: &mut DbConnection, endpoint: Option<WebhookEndpoint>| {
            let Some(endpoint) = endpoint else {
                return Ok(None);
            };
            diesel::update(webhook_endpoints::table.find(&endpoint.id))
                .set(webhook_endpoints::lease_until.eq(Some(until)))
                .execute(conn)?;
            let deliveries = Self::due_of(conn, &endpoint.id, now, limit)?;
            let secrets = WebhookSecret::active(conn, &endpoint.id, now)?;
            Ok(Some(Claimed {
                endpoint,
                secrets,
                deliveries,
            }))
        };
        match conn {
            DbConnection::Postgresql(_) => conn.transaction(|conn| {
                let DbConnection::Postgresql(pg) = conn else {
                    unreachable!("matched above")
                };
                let endpoint = free!().for_update().skip_locked().first(pg).optional()?;
                take(conn, endpoint)
            }),
            DbConnection::Sqlite(_) => crate::db::write_transaction(conn, |conn| {
                let endpoint = free!().first(conn).optional()?;
                take(conn, endpoint)
            }),
        }
    }

    /// The endpoint's due deliveries that no earlier pending one of their object holds back,
    /// with their events; those whose event is gone are failed.
    fn due_of(
        conn: &mut DbConnection,
        endpoint_id: &str,
        now: NaiveDateTime,
        limit: i64,
    ) -> QueryResult<Vec<(WebhookDelivery, GatewayEvent)>> {
        let due: Vec<(WebhookDelivery, Option<GatewayEvent>)> = d::webhook_deliveries
            .left_join(gateway_events::table.on(gateway_events::id.eq(d::event_id)))
            .filter(d::endpoint_id.eq(endpoint_id))
            .filter(d::state.eq(DeliveryState::Pending))
            .filter(d::next_attempt_at.le(now))
            .filter(d::event_seq.nullable().eq(head_of_object!()))
            // The due index's order, so a long backlog is read only as far as the limit.
            .order(d::next_attempt_at.asc())
            .limit(limit)
            .select((
                WebhookDelivery::as_select(),
                Option::<GatewayEvent>::as_select(),
            ))
            .load(conn)?;
        let (found, gone): (Vec<_>, Vec<_>) = due.into_iter().partition(|(_, e)| e.is_some());
        if !gone.is_empty() {
            let ids: Vec<&str> = gone
                .iter()
                .map(|(delivery, _)| delivery.id.as_str())
                .collect();
            diesel::update(d::webhook_deliveries.filter(d::id.eq_any(ids)))
                .set((
                    d::state.eq(DeliveryState::Failed),
                    d::finished_at.eq(Some(now)),
                ))
                .execute(conn)?;
        }
        Ok(found
            .into_iter()
            .filter_map(|(delivery, event)| Some((delivery, event?)))
            .collect())
    }

    /// Records each attempt of a claim and what it made of its delivery, and frees the
    /// endpoint at `now` with `endpoint` applied (its failure state); one transaction. A freed
    /// endpoint is claimed after those that waited longer.
    pub fn settle(
        conn: &mut DbConnection,
        endpoint_id: &str,
        settled: &[(String, Settled)],
        endpoint: &EndpointChanges,
        now: NaiveDateTime,
    ) -> QueryResult<()> {
        crate::db::write_transaction(conn, |conn| {
            // A delivery deleted meanwhile (with its endpoint, or by an erasure) has no log.
            let mut attempts: Vec<&DeliveryAttempt> = Vec::with_capacity(settled.len());
            for (id, outcome) in settled {
                let updated = diesel::update(d::webhook_deliveries.find(id))
                    .set((
                        d::state.eq(outcome.state),
                        d::attempts.eq(outcome.attempt.attempt),
                        d::next_attempt_at.eq(outcome.next_attempt_at),
                        d::finished_at.eq(outcome.finished_at),
                    ))
                    .execute(conn)?;
                if updated > 0 {
                    attempts.push(&outcome.attempt);
                }
            }
            match conn {
                _ if attempts.is_empty() => {}
                DbConnection::Postgresql(pg) => {
                    diesel::insert_into(webhook_attempts::table)
                        .values(attempts)
                        .execute(pg)?;
                }
                DbConnection::Sqlite(sqlite) => {
                    for attempt in attempts {
                        diesel::insert_into(webhook_attempts::table)
                            .values(attempt)
                            .execute(sqlite)?;
                    }
                }
            }
            diesel::update(webhook_endpoints::table.find(endpoint_id))
                .set((webhook_endpoints::lease_until.eq(Some(now)), endpoint))
                .execute(conn)?;
            Ok(())
        })
    }

    /// The endpoint's deliveries, newest first, before the delivery `before`; with each, its
    /// attempts in order.
    pub fn log(
        conn: &mut DbConnection,
        endpoint_id: &str,
        before: Option<&str>,
        limit: i64,
    ) -> QueryResult<Vec<(WebhookDelivery, Vec<DeliveryAttempt>)>> {
        let mut query = d::webhook_deliveries
            .filter(d::endpoint_id.eq(endpoint_id))
            .order(d::id.desc())
            .limit(limit)
            .select(WebhookDelivery::as_select())
            .into_boxed();
        if let Some(before) = before {
            query = query.filter(d::id.lt(before));
        }
        let deliveries: Vec<WebhookDelivery> = query.load(conn)?;
        let ids: Vec<&str> = deliveries
            .iter()
            .map(|delivery| delivery.id.as_str())
            .collect();
        let mut attempts: Vec<DeliveryAttempt> = webhook_attempts::table
            .filter(webhook_attempts::delivery_id.eq_any(ids))
            .order(webhook_attempts::attempt.asc())
            .select(DeliveryAttempt::as_select())
            .load(conn)?;
        Ok(deliveries
            .into_iter()
            .map(|delivery| {
                let (mine, rest) = attempts
                    .drain(..)
                    .partition(|attempt| attempt.delivery_id == delivery.id);
                attempts = rest;
                (delivery, mine)
            })
            .collect())
    }

    /// Deletes the deliveries (and attempts) of the organizer's events about `object_id`:
    /// they go with the events an erasure deletes.
    pub fn forget_object(
        conn: &mut DbConnection,
        organizer_id: &str,
        object_id: &str,
    ) -> QueryResult<usize> {
        let ids = d::webhook_deliveries
            .filter(d::organizer_id.eq(organizer_id))
            .filter(d::object_id.eq(object_id))
            .select(d::id);
        diesel::delete(webhook_attempts::table.filter(webhook_attempts::delivery_id.eq_any(ids)))
            .execute(conn)?;
        diesel::delete(
            d::webhook_deliveries
                .filter(d::organizer_id.eq(organizer_id))
                .filter(d::object_id.eq(object_id)),
        )
        .execute(conn)
    }

    /// Deletes up to `limit` finished deliveries (and their attempts) created before
    /// `before`, oldest first; returns how many.
    pub fn purge_across_endpoints_before(
        conn: &mut DbConnection,
        before: NaiveDateTime,
        limit: i64,
    ) -> QueryResult<usize> {
        let oldest: Vec<String> = d::webhook_deliveries
            .filter(d::created_at.lt(before))
            .filter(d::state.ne(DeliveryState::Pending))
            .order(d::created_at.asc())
            .limit(limit)
            .select(d::id)
            .load(conn)?;
        if oldest.is_empty() {
            return Ok(0);
        }
        diesel::delete(
            webhook_attempts::table.filter(webhook_attempts::delivery_id.eq_any(&oldest)),
        )
        .execute(conn)?;
        diesel::delete(d::webhook_deliveries.filter(d::id.eq_any(&oldest))).execute(conn)
    }

    /// Up to `limit` of the organizer's events that `endpoint` hears, created from `from` to
    /// `to`, oldest first: what a replay of that time sends again.
    pub fn events_between(
        conn: &mut DbConnection,
        endpoint: &WebhookEndpoint,
        from: NaiveDateTime,
        to: NaiveDateTime,
        limit: i64,
    ) -> QueryResult<Vec<GatewayEvent>> {
        let mut query = gateway_events::table
            .filter(gateway_events::created_at.ge(from))
            .filter(gateway_events::created_at.le(to))
            .order((gateway_events::created_at.asc(), gateway_events::seq.asc()))
            .limit(limit)
            .select(GatewayEvent::as_select())
            .into_boxed();
        let list = |text: &Option<String>| -> Option<Vec<String>> {
            text.as_ref()
                .map(|text| text.split(',').map(str::to_string).collect())
        };
        let organizers = match &endpoint.organizer_id {
            Some(own) => Some(vec![own.clone()]),
            None => list(&endpoint.organizer_ids),
        };
        if let Some(organizers) = organizers {
            query = query.filter(gateway_events::organizer_id.eq_any(organizers));
        }
        if let Some(types) = list(&endpoint.event_types) {
            query = query.filter(gateway_events::event_type.eq_any(types));
        }
        query.load(conn)
    }
}
