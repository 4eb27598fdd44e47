//! Writing the rows of the kinds kept one row per object: what a fetch found ([`refresh`],
//! [`store`]), and what the platform's apps hear of it.
//!
//! What the platform's apps hear of the mirror: a write of a row of a kind apps hear of
//! ([`Rows::HEARD`]) that changes the row appends the gateway events the kind names for the
//! change, in the same transaction (an outbox: no change without its events, and no events
//! without the change). A write that changes nothing (a duplicate Stripe event, a re-fetch, a
//! reconciliation that finds the row right) appends nothing.
//!
//! The organizer's row is locked before the stored row is read, so writers of one organizer's
//! rows take turns: two workers refreshing one object cannot both see the old row and both tell
//! of the change, and the events' `seq` follows the order of commits.

use diesel::prelude::*;
use diesel::QueryResult;

use super::{Env, Fetched, MirrorError, MirrorRow, Rows};
use crate::db::models::gateway_event::{GatewayEvent, APPENDED};
use crate::db::schema::payment_intents;
use crate::db::{write_transaction, DbConnection, DbError};

/// Re-fetches the object `id` of kind `K` and writes what Stripe answered: its row, or the
/// row marked deleted when Stripe no longer has it.
pub async fn refresh<K: Rows>(env: &Env<'_>, id: &str) -> Result<(), MirrorError> {
    let fetched = K::fetch(&env.client, id)
        .await
        .map_err(|err| env.stripe_failed(err))?;
    store::<K>(env, id, fetched).await
}

/// Writes what a fetch of the object `id` found.
pub async fn store<K: Rows>(
    env: &Env<'_>,
    id: &str,
    fetched: Fetched<K::Remote>,
) -> Result<(), MirrorError> {
    let (account, id, at) = (env.account.to_string(), id.to_string(), env.fetched_at);
    env.db
        .run(move |conn| {
            match fetched {
                Fetched::Found(object) => write::<K>(conn, &K::row(&account, object, at))?,
                Fetched::Gone => K::Row::mark_deleted(conn, &account, &id, at)?,
            };
            Ok::<_, DbError>(())
        })
        .await?;
    Ok(())
}

/// Writes `row` as [`MirrorRow::upsert`] does (a fetch that began later wins), with the gateway
/// events its change makes; returns whether the row was written.
pub fn write<K: Rows>(conn: &mut DbConnection, row: &K::Row) -> QueryResult<bool> {
    if !K::HEARD {
        return K::Row::upsert(conn, row);
    }
    let (written, appended) = write_transaction(conn, |conn| {
        let organizer = match K::heard_by(conn, row)? {
            Some(account) => GatewayEvent::lock_organizer_of(conn, &account)?,
            None => None,
        };
        let Some(organizer) = organizer else {
            return Ok((K::Row::upsert(conn, row)?, false));
        };
        let before = K::Row::stored(conn, row.account(), row.id())?;
        if !K::Row::upsert(conn, row)? {
            return Ok((false, false));
        }
        if before.as_ref().is_some_and(|before| before.same(row)) {
            return Ok((true, false));
        }
        let types = K::notes(before.as_ref(), row);
        if types.is_empty() {
            return Ok((true, false));
        }
        let data = K::served(conn, row)?;
        for event_type in types {
            GatewayEvent::tell(conn, &organizer, event_type, row.id(), &data)?;
        }
        Ok::<_, diesel::result::Error>((true, true))
    })?;
    if appended {
        APPENDED.notify_waiters();
    }
    Ok(written)
}

/// The account whose organizer hears of what belongs to the payment `payment` of `account` (a
/// refund, a dispute, a session): the payment's destination for a mirrored destination charge;
/// else `account`.
pub fn payment_heard_by(
    conn: &mut DbConnection,
    account: &str,
    payment: Option<&str>,
) -> QueryResult<String> {
    let destination = match payment {
        Some(payment) => payment_intents::table
            .filter(payment_intents::stripe_account_id.eq(account))
            .filter(payment_intents::id.eq(payment))
            .select(payment_intents::destination_account)
            .first::<Option<String>>(conn)
            .optional()?
            .flatten(),
        None => None,
    };
    Ok(destination.unwrap_or_else(|| account.to_string()))
}
