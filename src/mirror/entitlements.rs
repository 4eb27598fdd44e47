//! Entitlements: per customer, the lookup keys of its active features, fetched whole from
//! Stripe's active-entitlements listing. Refreshed by the summary's event (which names the
//! customer); reconciled for the customers with access and those the mirror holds features
//! for. Also the read a frontend makes on every page: is this customer subscribed, to what.

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::upsert::excluded;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::subscription::{Subscription, SubscriptionResponse};
use super::{BoxFuture, Env, EventRef, Kind, KindDrift, MirrorError, Page, RunContext};
use crate::db::columns::JsonColumn;
use crate::db::models::customer_reads::distinct;
use crate::db::models::gateway_event::{GatewayEvent, APPENDED};
use crate::db::models::{ChargeAccounts, Customer, Organizer};
use crate::db::schema::{customers, entitlements, organizers, subscriptions};
use crate::db::{write_transaction, DbConnection, DbError};
use crate::domain::GatewayEventType;
use crate::on_each_backend;
use crate::stripe::{AccountClient, Get, StripeError};

pub struct Entitlements;

/// What a frontend asks on every page: is this customer subscribed, and to what.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntitlementResponse {
    /// True when the customer has a subscription that is `active` or `trialing`, or any active
    /// feature.
    active: bool,
    /// The subscriptions that grant access now.
    subscriptions: Vec<SubscriptionResponse>,
    /// Lookup keys of the customer's active features (Stripe Entitlements).
    #[schema(example = json!(["premium-seats", "early-access"]))]
    features: Vec<String>,
}

impl EntitlementResponse {
    /// What a customer's `features` row and its subscriptions that grant access say.
    pub fn new(features: Option<CustomerFeatures>, subscriptions: Vec<Subscription>) -> Self {
        let features = features
            .map(|row| row.features.into_inner())
            .unwrap_or_default();
        let subscriptions: Vec<SubscriptionResponse> =
            subscriptions.into_iter().map(Into::into).collect();
        Self {
            active: !subscriptions.is_empty() || !features.is_empty(),
            subscriptions,
            features,
        }
    }
}

const NAME: &str = "entitlements";
/// Subscription statuses that grant access, as the entitlements read counts them.
const ACCESS: [&str; 2] = ["active", "trialing"];

#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = entitlements, treat_none_as_null = true)]
pub struct CustomerFeatures {
    pub stripe_account_id: String,
    pub stripe_customer_id: String,
    /// The lookup keys of the customer's active features.
    pub features: JsonColumn<Vec<String>>,
    pub fetched_at: NaiveDateTime,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
struct RemoteEntitlement {
    id: String,
    lookup_key: String,
}

impl Kind for Entitlements {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events(&self) -> &'static [&'static str] {
        &["entitlements.active_entitlement_summary.updated"]
    }

    fn refresh<'a>(
        &'a self,
        env: &'a Env<'a>,
        event: &'a EventRef<'a>,
    ) -> BoxFuture<'a, Result<(), MirrorError>> {
        Box::pin(async move {
            let features = active_features(&env.client, event.object_id)
                .await
                .map_err(|err| env.stripe_failed(err))?;
            let row = features_row(
                env.account.as_str(),
                event.object_id,
                &features,
                env.fetched_at,
            );
            env.db
                .run(move |conn| Ok::<_, DbError>(CustomerFeatures::write(conn, &row)?))
                .await?;
            Ok(())
        })
    }

    fn listed(&self) -> bool {
        true
    }

    fn reconcile<'a>(
        &'a self,
        run: &'a mut RunContext<'_>,
    ) -> Option<BoxFuture<'a, Result<(), MirrorError>>> {
        Some(Box::pin(reconcile(run)))
    }
}

/// The lookup keys of every active feature of `customer`, page by page to the end.
async fn active_features(
    client: &AccountClient<'_>,
    customer: &str,
) -> Result<Vec<String>, StripeError> {
    let mut all: Vec<RemoteEntitlement> = Vec::new();
    loop {
        let request = Get::new("/entitlements/active_entitlements")
            .param("customer", customer)
            .page(all.last().map(|e| e.id.as_str()));
        let page: Page<RemoteEntitlement> = client.read_json(&request).await?;
        let more = page.has_more && !page.data.is_empty();
        all.extend(page.data);
        if !more {
            return Ok(all.into_iter().map(|e| e.lookup_key).collect());
        }
    }
}

fn features_row(
    account: &str,
    stripe_customer_id: &str,
    features: &[String],
    fetched_at: NaiveDateTime,
) -> CustomerFeatures {
    CustomerFeatures {
        stripe_account_id: account.to_string(),
        stripe_customer_id: stripe_customer_id.to_string(),
        features: JsonColumn::new(features.to_vec()),
        fetched_at,
    }
}

/// Runs after subscriptions, so it sees their current state.
async fn reconcile(run: &mut RunContext<'_>) -> Result<(), MirrorError> {
    let key = run.account.to_string();
    let (customers, stored) = run
        .db
        .run(move |conn| {
            // Stored features that do not read are corrupt data: loading them fails the run
            // rather than taking them for none and "repairing" the row.
            let stored: HashMap<String, Vec<String>> =
                CustomerFeatures::list_by_account(conn, &key)?
                    .into_iter()
                    .map(|row| (row.stripe_customer_id, row.features.into_inner()))
                    .collect();
            let mut customers: BTreeSet<String> =
                Subscription::customers_by_account_and_status(conn, &key, &ACCESS)?
                    .into_iter()
                    .collect();
            customers.extend(stored.keys().cloned());
            Ok::<_, DbError>((customers, stored))
        })
        .await?;
    let mut drift = KindDrift::default();
    let db = run.db;
    let client = run.client();
    for customer in customers {
        run.pace(NAME, &drift).await?;
        let fetched_at = run.fetch_time().await?;
        let features = run.called(active_features(&client, &customer).await)?;
        drift.checked += 1;
        let same = |stored: &Vec<String>| {
            stored.iter().collect::<BTreeSet<_>>() == features.iter().collect::<BTreeSet<_>>()
        };
        match stored.get(&customer) {
            None if features.is_empty() => continue,
            None => drift.missing(&customer),
            Some(stored) if !same(stored) => drift.different(&customer),
            Some(_) => continue,
        }
        if !run.dry_run {
            let row = features_row(run.account.as_str(), &customer, &features, fetched_at);
            let written = db
                .run(move |conn| Ok::<_, DbError>(CustomerFeatures::write(conn, &row)?))
                .await?;
            drift.repaired += u64::from(written);
        }
    }
    drift.complete = true;
    run.checkpoint(NAME, &drift).await
}

impl CustomerFeatures {
    /// Stores the features as [`CustomerFeatures::upsert`] does; when they changed for a
    /// customer the gateway has, its organizer is told (`entitlements.changed`, with what the
    /// entitlements read serves) in the same transaction, its row locked first as every event
    /// writer does.
    pub fn write(conn: &mut DbConnection, row: &CustomerFeatures) -> QueryResult<bool> {
        let (account, stripe_id) = (&row.stripe_account_id, &row.stripe_customer_id);
        let (written, told) = write_transaction(conn, |conn| {
            let Some(customer) = Customer::find_by_account_and_stripe_id(conn, account, stripe_id)?
            else {
                return Ok((Self::upsert(conn, row)?, false));
            };
            GatewayEvent::lock_organizer(conn, &customer.organizer_id)?;
            let before: Option<CustomerFeatures> = entitlements::table
                .filter(entitlements::stripe_account_id.eq(account))
                .filter(entitlements::stripe_customer_id.eq(stripe_id))
                .select(CustomerFeatures::as_select())
                .first(conn)
                .optional()?;
            if !Self::upsert(conn, row)? {
                return Ok((false, false));
            }
            let keys = |features: &[String]| features.iter().cloned().collect::<BTreeSet<_>>();
            let had = before
                .map(|before| keys(&before.features))
                .unwrap_or_default();
            if had == keys(&row.features) {
                return Ok((true, false));
            }
            let granting = Subscription::list_by_account_and_customer(conn, account, stripe_id)?
                .into_iter()
                .filter(|subscription| ACCESS.contains(&subscription.status.as_str()))
                .collect();
            let served = EntitlementResponse::new(Some(row.clone()), granting);
            let told = GatewayEventType::EntitlementsChanged;
            GatewayEvent::tell(conn, &customer.organizer_id, told, &customer.id, &served)?;
            Ok::<_, diesel::result::Error>((true, true))
        })?;
        if told {
            APPENDED.notify_waiters();
        }
        Ok(written)
    }

    /// Stores the customer's active features, unless a later fetch stored them already.
    pub fn upsert(conn: &mut DbConnection, row: &CustomerFeatures) -> QueryResult<bool> {
        on_each_backend!(conn, |c| diesel::query_dsl::methods::FilterDsl::filter(
            diesel::insert_into(entitlements::table)
                .values(row)
                .on_conflict((
                    entitlements::stripe_account_id,
                    entitlements::stripe_customer_id
                ))
                .do_update()
                .set(row),
            entitlements::fetched_at.le(excluded(entitlements::fetched_at))
        )
        .execute(c))
        .map(|written| written > 0)
    }

    /// Every customer of the account the mirror holds entitlements for.
    pub fn list_by_account(
        conn: &mut DbConnection,
        account: &str,
    ) -> QueryResult<Vec<CustomerFeatures>> {
        entitlements::table
            .filter(entitlements::stripe_account_id.eq(account))
            .order(entitlements::stripe_customer_id.asc())
            .select(CustomerFeatures::as_select())
            .load(conn)
    }
}

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
    pub entitlements: Option<CustomerFeatures>,
    pub subscriptions: Vec<Subscription>,
}

/// For each (organizer id, customer id) key: the organizer and its customer with that id
/// (any status), with the customer's features and its subscriptions that grant access, by
/// id; for the whole batch in one statement naming the organizers' accounts (two when one is
/// not known, [`ChargeAccounts`]), answered in the keys' order. The statement returns one row
/// per such subscription (at least one per organizer and per customer), the organizer,
/// customer and features repeated.
pub fn find_access_with_organizers_by_ids(
    conn: &mut DbConnection,
    accounts: &ChargeAccounts,
    keys: &[IdKey],
) -> QueryResult<Vec<FoundAccess>> {
    type Row = (
        Organizer,
        Option<Customer>,
        Option<CustomerFeatures>,
        Option<Subscription>,
    );
    let organizer_ids = distinct(keys.iter().map(|(org, _)| org.as_str()));
    // Owned: diesel requires a bind in a nested join's `ON` to be `'static`.
    let customer_ids: Vec<String> = distinct(keys.iter().map(|(_, id)| id.as_str()))
        .into_iter()
        .map(str::to_owned)
        .collect();
    let load = |conn: &mut DbConnection, ids: &[&str], named: &[String]| {
        on_each_backend!(conn, |c| organizers::table
            .left_join(
                customers::table.on(customers::stripe_account_id
                    .eq_any(named.to_vec())
                    .and(customers::organizer_id.eq(organizers::id))
                    .and(customers::id.eq_any(customer_ids.clone()))),
            )
            .left_join(
                entitlements::table.on(entitlements::stripe_account_id
                    .nullable()
                    .eq(customers::stripe_account_id.nullable())
                    .and(
                        entitlements::stripe_customer_id
                            .nullable()
                            .eq(customers::stripe_customer_id),
                    )),
            )
            .left_join(
                subscriptions::table.on(subscriptions::stripe_account_id
                    .nullable()
                    .eq(customers::stripe_account_id.nullable())
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
            .filter(organizers::id.eq_any(ids))
            .order(subscriptions::id.asc())
            .select((
                Organizer::as_select(),
                Option::<Customer>::as_select(),
                Option::<CustomerFeatures>::as_select(),
                Option::<Subscription>::as_select(),
            ))
            .load::<Row>(c))
    };
    let rows = accounts.read(conn, &organizer_ids, load, |row| &row.0)?;
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
            let access = access.get(id).filter(|a| {
                a.customer.organizer_id == organizer.id
                    && a.customer.stripe_account_id == accounts.of(organizer)
            });
            Some((organizer.clone(), access.cloned()))
        })
        .collect())
}
