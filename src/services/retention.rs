//! Rows past their retention, deleted by a duty of the jobs runner a batch at a time: the
//! gateway's events and finished outbound deliveries, the inbox's settled events.

use chrono::NaiveDateTime;
use diesel::QueryResult;

use crate::db::{Db, DbConnection, DbError};
use crate::jobs::{Duty, Ran};

/// How many rows one purge deletes at most, of each kind: a long backlog goes in several units.
const PURGE_BATCH: i64 = 1000;

/// Deletes at most `limit` rows older than the time given; returns how many.
pub type PurgeBefore = fn(&mut DbConnection, NaiveDateTime, i64) -> QueryResult<usize>;

/// The duty that runs each of `purges` for the rows older than `retention` (by the database's
/// clock); `what` names them in the log.
pub fn purge(
    db: Db,
    retention: chrono::Duration,
    what: &'static str,
    purges: &'static [PurgeBefore],
) -> impl Duty {
    move || {
        let db = db.clone();
        async move {
            let purged = db
                .run(move |conn| {
                    let before = crate::db::database_now(conn)? - retention;
                    let mut most = 0;
                    for purge in purges {
                        most = most.max(purge(conn, before, PURGE_BATCH)?);
                    }
                    Ok::<_, DbError>(most)
                })
                .await?;
            if purged > 0 {
                tracing::info!(purged, what, "purged rows past their retention");
            }
            Ok(if purged as i64 == PURGE_BATCH {
                Ran::Worked
            } else {
                Ran::Idle
            })
        }
    }
}
