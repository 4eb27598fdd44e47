//! Reads: served from rows only, never from Stripe.

use super::{ActiveCustomer, CustomerError, CustomerPage};
use crate::auth::Principal;
use crate::db::models::Customer;
use crate::db::DbConnection;
use crate::domain::{Cursor, CustomerId, Email, OrganizerId, PageLimit};
use crate::services::{organizers, AppState};

pub async fn get(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    customer_id: CustomerId,
) -> Result<ActiveCustomer, CustomerError> {
    let id = customer_id.to_string();
    organizers::with_organizer(state, principal, org_id, move |conn, organizer| {
        active_by_account_and_id(conn, &organizer.stripe_account_id, &id)
    })
    .await
}

/// The account's customer `id`, if clients can see it.
pub(super) fn active_by_account_and_id(
    conn: &mut DbConnection,
    account: &str,
    id: &str,
) -> Result<ActiveCustomer, CustomerError> {
    Customer::find_by_account_and_id(conn, account, id)?
        .map(ActiveCustomer::of)
        .transpose()?
        .flatten()
        .ok_or_else(|| CustomerError::NotFound(id.to_string()))
}

pub async fn list(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    email: Option<Email>,
    limit: PageLimit,
    cursor: Option<Cursor>,
) -> Result<CustomerPage, CustomerError> {
    let rows = organizers::with_organizer(state, principal, org_id, move |conn, organizer| {
        Ok::<_, CustomerError>(Customer::list_active_by_account_after(
            conn,
            &organizer.stripe_account_id,
            email.as_ref().map(Email::normalized),
            cursor.as_ref().map(Cursor::key),
            limit.fetch_size(),
        )?)
    })
    .await?;
    let (rows, next_cursor) = limit.split(rows, |row| &row.id);
    let customers = rows
        .into_iter()
        .filter_map(|row| ActiveCustomer::of(row).transpose())
        .collect::<Result<_, _>>()?;
    Ok(CustomerPage {
        customers,
        next_cursor,
    })
}
