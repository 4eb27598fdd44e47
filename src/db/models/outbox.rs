//! The outbox's writes: an event appended with the change it tells of, and with a delivery for
//! each webhook endpoint that hears it, in the caller's transaction; and an object's events
//! forgotten with their deliveries.

use diesel::prelude::*;
use serde::Serialize;

use super::gateway_event::{GatewayEvent, NewEvent};
use super::webhook_delivery::WebhookDelivery;
use crate::db::schema::gateway_events;
use crate::db::DbConnection;
use crate::domain::GatewayEventType;

impl GatewayEvent {
    /// Appends an event of `event_type` about `object_id` carrying `data` (the object as the
    /// API serves it) for `organizer_id`, whose row the caller holds locked, with a delivery
    /// for each webhook endpoint that hears it.
    pub fn tell(
        conn: &mut DbConnection,
        organizer_id: &str,
        event_type: GatewayEventType,
        object_id: &str,
        data: &impl Serialize,
    ) -> QueryResult<GatewayEvent> {
        let data = serde_json::to_string(data).unwrap_or_default();
        let new = NewEvent {
            event_type: event_type.as_str(),
            object_id,
            data: &data,
        };
        let event = Self::append(conn, organizer_id, &new, crate::db::now())?;
        WebhookDelivery::fan_out(conn, &event)?;
        Ok(event)
    }

    /// Deletes the organizer's events about `object_id`, and their deliveries: an erased
    /// person's earlier events carried their details.
    pub fn forget_object(
        conn: &mut DbConnection,
        organizer_id: &str,
        object_id: &str,
    ) -> QueryResult<usize> {
        WebhookDelivery::forget_object(conn, organizer_id, object_id)?;
        diesel::delete(
            gateway_events::table
                .filter(gateway_events::organizer_id.eq(organizer_id))
                .filter(gateway_events::object_id.eq(object_id)),
        )
        .execute(conn)
    }
}
