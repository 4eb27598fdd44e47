//! The hot reads: a customer together with the organizer whose account it belongs to, in one
//! statement that names the account ([`ChargeAccounts`]), so that a read costs one round trip.
//! "No such organizer" (no row) is still told apart from "no such customer" (the organizer
//! without one).

use std::collections::HashMap;

use diesel::prelude::*;

use crate::db::models::{ChargeAccounts, Customer, Organizer};
use crate::db::schema::{customers, organizers};
use crate::db::DbConnection;
use crate::on_each_backend;

/// One read of a batch: an organizer's id and a normalized email.
pub type EmailKey = (String, String);

/// What one read by email finds: `None` without such an organizer, else the organizer and its
/// customer with that email, if any.
pub type FoundByEmail = Option<(Organizer, Option<Customer>)>;

impl Customer {
    /// The organizer `organizer_id` and its customer `customer_id` (any status), in one
    /// statement when the organizer's account is known (`accounts`), else two. The customer is
    /// looked for under the account the organizer's customers are kept under
    /// ([`Organizer::charge_account`]): its own for direct charges, the platform's for
    /// destination charges (none without one). `None` when there is no such organizer;
    /// `Some((organizer, None))` when it has no such customer.
    pub fn find_with_organizer_by_id(
        conn: &mut DbConnection,
        accounts: &ChargeAccounts,
        organizer_id: &str,
        customer_id: &str,
    ) -> QueryResult<Option<(Organizer, Option<Customer>)>> {
        let load = |conn: &mut DbConnection, ids: &[&str], named: &[String]| {
            on_each_backend!(conn, |c| organizers::table
                .left_join(
                    customers::table.on(customers::stripe_account_id
                        .eq_any(named)
                        .and(customers::id.eq(customer_id))
                        .and(customers::organizer_id.eq(organizers::id))),
                )
                .filter(organizers::id.eq_any(ids))
                .select((Organizer::as_select(), Option::<Customer>::as_select()))
                .load::<(Organizer, Option<Customer>)>(c))
        };
        let rows = accounts.read(conn, &[organizer_id], load, |(organizer, _)| organizer)?;
        let mut found = None;
        for (organizer, customer) in rows {
            let customer = customer.filter(|c| c.stripe_account_id == accounts.of(&organizer));
            match &mut found {
                None => found = Some((organizer, customer)),
                Some((_, kept)) => *kept = kept.take().or(customer),
            }
        }
        Ok(found)
    }

    /// The organizer and its customer with the normalized email (as
    /// [`Customer::find_with_organizer_by_id`]) for many (organizer id, normalized email) keys
    /// at once, in one statement naming the organizers' accounts (two when one is not known):
    /// the answers come in the keys' order. The statement may also return customers a key did
    /// not ask for (another organizer of the batch with one of its emails, or an organizer's
    /// customer under an account it no longer uses); they are matched by key and left out.
    pub fn find_with_organizers_by_emails(
        conn: &mut DbConnection,
        accounts: &ChargeAccounts,
        keys: &[(&str, &str)],
    ) -> QueryResult<Vec<FoundByEmail>> {
        let organizer_ids = distinct(keys.iter().map(|(org, _)| *org));
        let emails = distinct(keys.iter().map(|(_, email)| *email));
        let load = |conn: &mut DbConnection, ids: &[&str], named: &[String]| {
            on_each_backend!(conn, |c| organizers::table
                .left_join(
                    customers::table.on(customers::stripe_account_id
                        .eq_any(named)
                        .and(customers::organizer_id.eq(organizers::id))
                        .and(customers::email_normalized.eq_any(&emails))),
                )
                .filter(organizers::id.eq_any(ids))
                .select((Organizer::as_select(), Option::<Customer>::as_select()))
                .load::<(Organizer, Option<Customer>)>(c))
        };
        let rows = accounts.read(conn, &organizer_ids, load, |(organizer, _)| organizer)?;
        let mut found: HashMap<&str, &Organizer> = HashMap::with_capacity(rows.len());
        let mut by_email: HashMap<(&str, &str, &str), &Customer> =
            HashMap::with_capacity(rows.len());
        for (organizer, customer) in &rows {
            found.insert(&organizer.id, organizer);
            if let Some(customer) = customer {
                let key = (
                    customer.organizer_id.as_str(),
                    customer.stripe_account_id.as_str(),
                    customer.email_normalized.as_str(),
                );
                by_email.insert(key, customer);
            }
        }
        Ok(keys
            .iter()
            .map(|&(org, email)| {
                let organizer = *found.get(org)?;
                let key = (organizer.id.as_str(), accounts.of(organizer), email);
                Some((organizer.clone(), by_email.get(&key).map(|c| (*c).clone())))
            })
            .collect())
    }
}

/// The values once each, for a statement's `= ANY` list.
pub(crate) fn distinct<'a>(values: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut values: Vec<&str> = values.collect();
    values.sort_unstable();
    values.dedup();
    values
}
