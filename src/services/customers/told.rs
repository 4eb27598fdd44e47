//! What apps are told of their customers (`customer.updated`, `customer.deleted`): appended in
//! the transaction that changes the row, with the organizer's row locked first (as every event
//! writer does, so events follow commit order and no two writers lock in another order).

use diesel::result::Error as DieselError;
use serde::Serialize;

use super::view::{CustomerResponse, DeletedCustomer};
use super::ActiveCustomer;
use crate::db::models::gateway_event::{GatewayEvent, APPENDED};
use crate::db::models::Customer;
use crate::db::DbConnection;
use crate::domain::GatewayEventType;

/// Wakes the feed's long polls and the webhook senders: call once the transaction that may have
/// appended an event has committed (a wake before the commit would find nothing new).
pub(super) fn committed() {
    APPENDED.notify_waiters();
}

/// Whether what an app sees of the customer differs between `before` and `after`.
pub(super) fn profile_changed(before: &Customer, after: &Customer) -> bool {
    before.email.as_str() != after.email.as_str()
        || before.name != after.name
        || before.phone != after.phone
        || before.metadata.0 != after.metadata.0
        || before.stripe_customer_id != after.stripe_customer_id
}

/// Appends `customer.updated` with the customer as served; the caller holds the organizer's
/// row locked ([`GatewayEvent::lock_organizer`]).
pub(super) fn updated(conn: &mut DbConnection, row: &Customer) -> Result<(), DieselError> {
    match ActiveCustomer::of(row.clone()) {
        Ok(Some(active)) => {
            let served = CustomerResponse::from(active);
            append(conn, row, GatewayEventType::CustomerUpdated, &served)
        }
        Ok(None) => Ok(()),
        Err(err) => {
            tracing::error!(customer_id = %row.id, error = %err, "a customer that does not read is not told of");
            Ok(())
        }
    }
}

/// Appends `customer.deleted` with the customer's ids only; with `erased`, its earlier events
/// (which carried the person's details) go first. The caller holds the organizer's row locked.
pub(super) fn deleted(
    conn: &mut DbConnection,
    row: &Customer,
    erased: bool,
) -> Result<(), DieselError> {
    if erased {
        GatewayEvent::forget_object(conn, &row.organizer_id, &row.id)?;
    }
    append(
        conn,
        row,
        GatewayEventType::CustomerDeleted,
        &DeletedCustomer::from(row),
    )
}

fn append(
    conn: &mut DbConnection,
    row: &Customer,
    event_type: GatewayEventType,
    data: &impl Serialize,
) -> Result<(), DieselError> {
    GatewayEvent::tell(conn, &row.organizer_id, event_type, &row.id, data).map(drop)
}
