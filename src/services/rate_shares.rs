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
use crate::jobs::{Duty, Ran};
use crate::on_each_backend;
use crate::stripe::limiter::Limiter;

const LIVE_SECS: i64 = 15;

/// How often an instance says it is alive: the period of [`heartbeat`].
pub const BEAT: Duration = Duration::from_secs(5);
/// The instance's heartbeat, a duty of the jobs runner every [`BEAT`]: each unit records this
/// instance alive and sets its limiter to its share of the budget.
pub fn heartbeat(db: Db, limiter: Arc<Limiter>) -> impl Duty {
    let id = uuid::Uuid::new_v4().to_string();
    move || {
        let (db, limiter, me) = (db.clone(), limiter.clone(), id.clone());
        async move {
            let live = db
                .run(move |conn| Ok::<_, DbError>(beat(conn, &me)?))
                .await?;
            limiter.set_instances(u32::try_from(live).unwrap_or(u32::MAX));
            Ok(Ran::Worked)
        }
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
