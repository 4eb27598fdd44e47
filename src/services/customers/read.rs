//! Reads: served from rows only, never from Stripe.

use super::{ActiveCustomer, CustomerError, CustomerPage};
use crate::db::models::{Customer, Organizer};
use crate::db::DbConnection;
use crate::domain::Principal;
use crate::domain::{Cursor, CustomerId, Email, OrganizerId, PageLimit, StripeAccountId};
use crate::services::{organizers, AppState};

pub async fn get(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    customer_id: CustomerId,
) -> Result<ActiveCustomer, CustomerError> {
    with_active_customer(state, principal, org_id, customer_id, |_, _, customer| {
        Ok(customer)
    })
    .await
}

/// Runs `read` with the customer's account and the organizer's active customer `customer_id`: the
/// organizer and the customer come in one statement, and a customer the organizer does not
/// have (or not active) is `NotFound` once the caller may see the organizer.
pub async fn with_active_customer<T, F>(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    customer_id: CustomerId,
    read: F,
) -> Result<T, CustomerError>
where
    F: FnOnce(&mut DbConnection, &str, ActiveCustomer) -> Result<T, CustomerError> + Send + 'static,
    T: Send + 'static,
{
    let id = customer_id.to_string();
    let accounts = state.reads.charge_accounts().clone();
    let load = move |conn: &mut DbConnection, org: &str| -> Result<_, CustomerError> {
        let found = Customer::find_with_organizer_by_id(conn, &accounts, org, &id)?;
        let Some((organizer, row)) = found else {
            return Ok(None);
        };
        let found = match ActiveCustomer::of_found(row)? {
            Some(customer) => {
                let account = customer.row.stripe_account_id.clone();
                Some(read(conn, &account, customer)?)
            }
            None => None,
        };
        Ok(Some((organizer, found)))
    };
    let (_, found) = organizers::load_with_organizer(state, principal, org_id, load).await?;
    found.ok_or_else(|| CustomerError::NotFound(customer_id.to_string()))
}

/// The organizer's customer `id`, if clients can see it: looked for under the account the
/// organizer's customers are kept under (`platform`'s for destination charges).
pub fn active_of(
    conn: &mut DbConnection,
    organizer: &Organizer,
    platform: Option<&StripeAccountId>,
    id: &str,
) -> Result<ActiveCustomer, CustomerError> {
    let account = organizer.charge_account(platform);
    let row = Customer::find_by_account_organizer_and_id(conn, account, &organizer.id, id)?;
    ActiveCustomer::of_found(row)?.ok_or_else(|| CustomerError::NotFound(id.to_string()))
}

pub async fn list(
    state: &AppState,
    principal: &Principal,
    org_id: OrganizerId,
    email: Option<Email>,
    limit: PageLimit,
    cursor: Option<Cursor>,
) -> Result<CustomerPage, CustomerError> {
    if let Some(email) = email {
        // The email is the key: at most one customer, found in one (grouped) statement. A
        // cursor can only point at or past it (pages hold one customer at most).
        let row = state.reads.by_email(principal, org_id, &email).await?;
        let after = cursor.as_ref().map(Cursor::key);
        let customer = ActiveCustomer::of_found(row)?
            .filter(|customer| after.is_none_or(|after| customer.row.id.as_str() > after));
        return Ok(CustomerPage {
            customers: customer.into_iter().collect(),
            next_cursor: None,
        });
    }
    let platform = state.stripe.platform_account().cloned();
    let rows = organizers::with_organizer(state, principal, org_id, move |conn, organizer| {
        Ok::<_, CustomerError>(Customer::list_active_by_account_after(
            conn,
            organizer.charge_account(platform.as_ref()),
            Some(&organizer.id),
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
