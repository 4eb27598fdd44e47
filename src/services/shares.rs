//! The Stripe rate budget shared by the instances on one database: each instance says it is
//! alive every few seconds and counts the live ones; its limiter then allows
//! `budget / live instances`. An instance that stops is forgotten after 15 seconds, and the
//! others take its share back.

use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as Span;
use diesel::prelude::*;

use crate::db::schema::stripe_instances;
use crate::db::{now, Db, DbConnection, DbError};
use crate::on_each_backend;
use crate::stripe::limiter::Limiter;

const BEAT: Duration = Duration::from_secs(5);
const LIVE_SECS: i64 = 15;

/// Beats for as long as the process runs.
pub async fn keep_share(db: Db, limiter: Arc<Limiter>) {
    let id = uuid::Uuid::new_v4().to_string();
    loop {
        let me = id.clone();
        match db.run(move |conn| Ok::<_, DbError>(beat(conn, &me)?)).await {
            Ok(live) => limiter.set_instances(u32::try_from(live).unwrap_or(u32::MAX)),
            Err(err) => {
                tracing::warn!(error = %err, "could not count the instances sharing the Stripe budget")
            }
        }
        tokio::time::sleep(BEAT).await;
    }
}

/// Records that instance `id` is alive; returns how many are.
pub fn beat(conn: &mut DbConnection, id: &str) -> QueryResult<i64> {
    let at = now();
    on_each_backend!(conn, |c| diesel::insert_into(stripe_instances::table)
        .values((
            stripe_instances::id.eq(id),
            stripe_instances::seen_at.eq(at)
        ))
        .on_conflict(stripe_instances::id)
        .do_update()
        .set(stripe_instances::seen_at.eq(at))
        .execute(c))?;
    let cutoff = at - Span::seconds(LIVE_SECS);
    diesel::delete(
        stripe_instances::table
            .filter(stripe_instances::seen_at.lt(at - Span::seconds(4 * LIVE_SECS))),
    )
    .execute(conn)?;
    stripe_instances::table
        .filter(stripe_instances::seen_at.ge(cutoff))
        .count()
        .get_result(conn)
}
