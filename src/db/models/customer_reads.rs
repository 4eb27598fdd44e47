//! The hot reads: a customer together with the organizer whose account it belongs to, in one
//! statement, so that a read costs one round trip. "No such organizer" (no row) is still told
//! apart from "no such customer" (the organizer without one).

use std::collections::HashMap;

use diesel::prelude::*;

use crate::db::models::{Customer, Entitlements, Organizer, Subscription};
use crate::db::schema::{customers, entitlements, organizers, subscriptions};
use crate::db::DbConnection;
use crate::on_each_backend;

/// One read of a batch: an organizer's id and a customer's id.
pub type IdKey = (String, String);

/// What one entitlements read finds: `None` without such an organizer, else the organizer and
/// its customer with that id, if any, with what the read shows of it.
pub type FoundAccess = Option<(Organizer, Option<CustomerAccess>)>;

/// A customer with what an entitlements read shows of it: its features row, if Stripe sent
/// one, and its subscriptions that grant access now (`active` or `trialing`), by id.
#[derive(Clone)]
pub struct CustomerAccess {
    pub customer: Customer,
    pub entitlements: Option<Entitlements>,
    pub subscriptions: Vec<Subscription>,
}

/// One read of a batch: an organizer's id and a normalized email.
pub type EmailKey = (String, String);

/// What one read by email finds: `None` without such an organizer, else the organizer and its
/// customer with that email, if any.
pub type FoundByEmail = Option<(Organizer, Option<Customer>)>;

impl Customer {
    /// The organizer `organizer_id` and its customer with this normalized email (any status),
    /// in one statement: the customer is looked up by the organizer's own account. `None` when
    /// there is no such organizer; `Some((organizer, None))` when it has no such customer.
    pub fn find_with_organizer_by_email(
        conn: &mut DbConnection,
        organizer_id: &str,
        email_normalized: &str,
    ) -> QueryResult<FoundByEmail> {
        on_each_backend!(conn, |c| organizers::table
            .left_join(
                customers::table.on(customers::stripe_account_id
                    .eq(organizers::stripe_account_id)
                    .and(customers::email_normalized.eq(email_normalized))),
            )
            .filter(organizers::id.eq(organizer_id))
            .select((Organizer::as_select(), Option::<Customer>::as_select()))
            .first(c)
            .optional())
    }

    /// The organizer `organizer_id` and its customer `customer_id` (any status), in one
    /// statement, as [`Customer::find_with_organizer_by_email`].
    pub fn find_with_organizer_by_id(
        conn: &mut DbConnection,
        organizer_id: &str,
        customer_id: &str,
    ) -> QueryResult<Option<(Organizer, Option<Customer>)>> {
        on_each_backend!(conn, |c| organizers::table
            .left_join(
                customers::table.on(customers::stripe_account_id
                    .eq(organizers::stripe_account_id)
                    .and(customers::id.eq(customer_id))),
            )
            .filter(organizers::id.eq(organizer_id))
            .select((Organizer::as_select(), Option::<Customer>::as_select()))
            .first(c)
            .optional())
    }

    /// [`Customer::find_with_organizer_by_email`] for many (organizer id, normalized email)
    /// keys at once, in one statement: the answers come in the keys' order. The statement may
    /// also return customers a key did not ask for (another organizer of the batch with one of
    /// its emails); they are matched by key and left out.
    pub fn find_with_organizers_by_emails(
        conn: &mut DbConnection,
        keys: &[EmailKey],
    ) -> QueryResult<Vec<FoundByEmail>> {
        let organizer_ids = distinct(keys.iter().map(|(org, _)| org.as_str()));
        let emails = distinct(keys.iter().map(|(_, email)| email.as_str()));
        let rows: Vec<(Organizer, Option<Customer>)> =
            on_each_backend!(conn, |c| organizers::table
                .left_join(
                    customers::table.on(customers::stripe_account_id
                        .eq(organizers::stripe_account_id)
                        .and(customers::email_normalized.eq_any(&emails))),
                )
                .filter(organizers::id.eq_any(&organizer_ids))
                .select((Organizer::as_select(), Option::<Customer>::as_select()))
                .load(c))?;
        let mut found: HashMap<&str, &Organizer> = HashMap::with_capacity(rows.len());
        let mut by_email: HashMap<(&str, &str), &Customer> = HashMap::with_capacity(rows.len());
        for (organizer, customer) in &rows {
            found.insert(&organizer.id, organizer);
            if let Some(customer) = customer {
                by_email.insert(
                    (&customer.stripe_account_id, &customer.email_normalized),
                    customer,
                );
            }
        }
        Ok(keys
            .iter()
            .map(|(org, email)| {
                let organizer = *found.get(org.as_str())?;
                let key = (organizer.stripe_account_id.as_str(), email.as_str());
                Some((organizer.clone(), by_email.get(&key).map(|c| (*c).clone())))
            })
            .collect())
    }

    /// For each (organizer id, customer id) key: the organizer and its customer with that id
    /// (any status), with the customer's features and its subscriptions that grant access, by
    /// id; for the whole batch in one statement, answered in the keys' order. The statement
    /// returns one row per such subscription (at least one per organizer and per customer),
    /// the organizer, customer and features repeated.
    pub fn find_access_with_organizers_by_ids(
        conn: &mut DbConnection,
        keys: &[IdKey],
    ) -> QueryResult<Vec<FoundAccess>> {
        type Row = (
            Organizer,
            Option<Customer>,
            Option<Entitlements>,
            Option<Subscription>,
        );
        let organizer_ids = distinct(keys.iter().map(|(org, _)| org.as_str()));
        // Owned: diesel requires a bind in a nested join's `ON` to be `'static`.
        let customer_ids: Vec<String> = distinct(keys.iter().map(|(_, id)| id.as_str()))
            .into_iter()
            .map(str::to_owned)
            .collect();
        let rows: Vec<Row> = on_each_backend!(conn, |c| organizers::table
            .left_join(
                customers::table.on(customers::stripe_account_id
                    .eq(organizers::stripe_account_id)
                    .and(customers::id.eq_any(customer_ids))),
            )
            .left_join(
                entitlements::table.on(entitlements::stripe_account_id
                    .eq(organizers::stripe_account_id)
                    .and(
                        entitlements::stripe_customer_id
                            .nullable()
                            .eq(customers::stripe_customer_id),
                    )),
            )
            .left_join(
                subscriptions::table.on(subscriptions::stripe_account_id
                    .eq(organizers::stripe_account_id)
                    .and(
                        subscriptions::stripe_customer_id
                            .nullable()
                            .eq(customers::stripe_customer_id),
                    )
                    .and(subscriptions::deleted.eq(false))
                    .and(
                        subscriptions::status
                            .eq("active")
                            .or(subscriptions::status.eq("trialing")),
                    )),
            )
            .filter(organizers::id.eq_any(&organizer_ids))
            .order(subscriptions::id.asc())
            .select((
                Organizer::as_select(),
                Option::<Customer>::as_select(),
                Option::<Entitlements>::as_select(),
                Option::<Subscription>::as_select(),
            ))
            .load(c))?;
        let mut found: HashMap<String, Organizer> = HashMap::new();
        let mut access: HashMap<String, CustomerAccess> = HashMap::new();
        for (organizer, customer, entitlements, subscription) in rows {
            found.entry(organizer.id.clone()).or_insert(organizer);
            let Some(customer) = customer else { continue };
            let entry = access
                .entry(customer.id.clone())
                .or_insert_with(|| CustomerAccess {
                    customer,
                    entitlements,
                    subscriptions: Vec::new(),
                });
            entry.subscriptions.extend(subscription);
        }
        Ok(keys
            .iter()
            .map(|(org, id)| {
                let organizer = found.get(org)?;
                let access = access
                    .get(id)
                    .filter(|a| a.customer.stripe_account_id == organizer.stripe_account_id);
                Some((organizer.clone(), access.cloned()))
            })
            .collect())
    }
}

/// The values once each, for a statement's `= ANY` list.
fn distinct<'a>(values: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut values: Vec<&str> = values.collect();
    values.sort_unstable();
    values.dedup();
    values
}
