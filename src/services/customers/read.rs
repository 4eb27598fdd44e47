//! Reads: served from rows only, never from Stripe.

use std::sync::Arc;

use super::{ActiveCustomer, CustomerError, CustomerPage};
use crate::auth::Principal;
use crate::db::group::Group;
use crate::db::models::{Customer, CustomerAccess, EmailKey, FoundAccess, FoundByEmail, IdKey};
use crate::db::{Db, DbConnection};
use crate::domain::{Cursor, CustomerId, Email, OrganizerId, PageLimit};
use crate::services::organizers::{self, OrganizerError};
use crate::services::AppState;

/// Most reads one grouped statement serves.
const GROUP_MAX: usize = 64;

/// The reads frontends make on every page, served by group execution ([`Group`]): reads that
/// arrive while others are being served share the next statement, so under load the
/// database's per-statement cost is paid once per batch, and a lone read runs at once.
#[derive(Clone)]
pub struct GroupedReads {
    by_email: Group<EmailKey, FoundByEmail>,
    access_by_id: Group<IdKey, FoundAccess>,
}

impl GroupedReads {
    /// Starts `runners` runners per kind of read (`DATABASE_READ_RUNNERS`); must be called
    /// inside a tokio runtime.
    pub fn start(db: Db, runners: usize) -> Self {
        let by_email = |conn: &mut DbConnection, keys: Vec<EmailKey>| {
            Ok(Customer::find_with_organizers_by_emails(conn, &keys)?)
        };
        let access_by_id = |conn: &mut DbConnection, keys: Vec<IdKey>| {
            Ok(Customer::find_access_with_organizers_by_ids(conn, &keys)?)
        };
        Self {
            by_email: Group::start(db.clone(), GROUP_MAX, runners, Arc::new(by_email)),
            access_by_id: Group::start(db, GROUP_MAX, runners, Arc::new(access_by_id)),
        }
    }

    /// The organizer `org_id` and its customer `customer_id` with its features and the
    /// subscriptions that grant access, for `principal`: refused as
    /// [`organizers::load_with_organizer`] refuses.
    pub async fn access(
        &self,
        principal: &Principal,
        org_id: OrganizerId,
        customer_id: CustomerId,
    ) -> Result<Option<CustomerAccess>, CustomerError> {
        principal
            .require_organizer(org_id)
            .map_err(OrganizerError::from)?;
        let key = (org_id.to_string(), customer_id.to_string());
        let found = self.access_by_id.run(key).await?;
        Ok(organizers::authorize_loaded(principal, org_id, found)?.1)
    }
}

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

/// Runs `read` with the account and the organizer's active customer `customer_id`: the
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
    let load = move |conn: &mut DbConnection, org: &str| -> Result<_, CustomerError> {
        let Some((organizer, row)) = Customer::find_with_organizer_by_id(conn, org, &id)? else {
            return Ok(None);
        };
        let found = match ActiveCustomer::of_found(row)? {
            Some(customer) => Some(read(conn, &organizer.stripe_account_id, customer)?),
            None => None,
        };
        Ok(Some((organizer, found)))
    };
    let (_, found) = organizers::load_with_organizer(state, principal, org_id, load).await?;
    found.ok_or_else(|| CustomerError::NotFound(customer_id.to_string()))
}

/// The account's customer `id`, if clients can see it.
pub fn active_by_account_and_id(
    conn: &mut DbConnection,
    account: &str,
    id: &str,
) -> Result<ActiveCustomer, CustomerError> {
    ActiveCustomer::of_found(Customer::find_by_account_and_id(conn, account, id)?)?
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
    if let Some(email) = email {
        // The email is the key: at most one customer, found in one statement. A cursor can
        // only point at or past it (pages hold one customer at most).
        principal
            .require_organizer(org_id)
            .map_err(OrganizerError::from)?;
        let key = (org_id.to_string(), email.normalized().to_string());
        let found = state.reads.by_email.run(key).await?;
        let (_, row) = organizers::authorize_loaded(principal, org_id, found)?;
        let after = cursor.as_ref().map(Cursor::key);
        let customer = ActiveCustomer::of_found(row)?
            .filter(|customer| after.is_none_or(|after| customer.row.id.as_str() > after));
        return Ok(CustomerPage {
            customers: customer.into_iter().collect(),
            next_cursor: None,
        });
    }
    let rows = organizers::with_organizer(state, principal, org_id, move |conn, organizer| {
        Ok::<_, CustomerError>(Customer::list_active_by_account_after(
            conn,
            &organizer.stripe_account_id,
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
