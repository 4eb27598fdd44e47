//! The hot reads: a customer together with the organizer whose account it belongs to, in one
//! statement, so that a read costs one round trip. "No such organizer" (no row) is still told
//! apart from "no such customer" (the organizer without one).

use std::collections::HashMap;

use diesel::dsl::case_when;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};

use crate::db::models::{Customer, Organizer};
use crate::db::schema::{customers, organizers};
use crate::db::DbConnection;
use crate::domain::ChargeType;
use crate::on_each_backend;

/// One read of a batch: an organizer's id and a normalized email.
pub type EmailKey = (String, String);

/// What one read by email finds: `None` without such an organizer, else the organizer and its
/// customer with that email, if any.
pub type FoundByEmail = Option<(Organizer, Option<Customer>)>;

impl Customer {
    /// The organizer `organizer_id` and its customer `customer_id` (any status), in one
    /// statement. The customer is looked for under the account the organizer's customers are
    /// kept under ([`Organizer::charge_account`]): its own for direct charges, `platform` for
    /// destination charges (none without one). `None` when there is no such organizer;
    /// `Some((organizer, None))` when it has no such customer.
    pub fn find_with_organizer_by_id(
        conn: &mut DbConnection,
        organizer_id: &str,
        platform: Option<&str>,
        customer_id: &str,
    ) -> QueryResult<Option<(Organizer, Option<Customer>)>> {
        let charge_account = case_when(
            organizers::charge_type.eq(ChargeType::Destination),
            platform.into_sql::<Nullable<Text>>(),
        )
        .otherwise(organizers::stripe_account_id);
        on_each_backend!(conn, |c| organizers::table
            .left_join(
                customers::table.on(customers::stripe_account_id
                    .nullable()
                    .eq(charge_account)
                    .and(customers::id.eq(customer_id))
                    .and(customers::organizer_id.eq(organizers::id))),
            )
            .filter(organizers::id.eq(organizer_id))
            .select((Organizer::as_select(), Option::<Customer>::as_select()))
            .first(c)
            .optional())
    }

    /// The organizer and its customer with the normalized email (as
    /// [`Customer::find_with_organizer_by_id`]) for many (organizer id, normalized email) keys
    /// at once, of whichever accounts, in one statement: the answers come in the keys' order. The statement may
    /// also return customers a key did not ask for (another organizer of the batch with one of
    /// its emails); they are matched by key and left out.
    pub fn find_with_organizers_by_emails_across_accounts(
        conn: &mut DbConnection,
        keys: &[EmailKey],
    ) -> QueryResult<Vec<FoundByEmail>> {
        let organizer_ids = distinct(keys.iter().map(|(org, _)| org.as_str()));
        let emails = distinct(keys.iter().map(|(_, email)| email.as_str()));
        let rows: Vec<(Organizer, Option<Customer>)> =
            on_each_backend!(conn, |c| organizers::table
                .left_join(
                    customers::table.on(customers::organizer_id
                        .eq(organizers::id)
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
                    (&customer.organizer_id, &customer.email_normalized),
                    customer,
                );
            }
        }
        Ok(keys
            .iter()
            .map(|(org, email)| {
                let organizer = *found.get(org.as_str())?;
                let key = (organizer.id.as_str(), email.as_str());
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
