//! The inbox's retention: a duty of the jobs runner that deletes settled events past it.

use crate::db::models::WebhookEvent;
use crate::db::{Db, DbError};
use crate::jobs::{Duty, Ran};

/// How many events one purge deletes at most: a long backlog goes in several units.
const PURGE_BATCH: i64 = 1000;

/// The purge of settled events (processed, ignored, of an unknown account) received more than
/// `retention` ago, with their attempts. Pending and dead events stay.
pub fn purge(db: Db, retention: chrono::Duration) -> impl Duty {
    move || {
        let db = db.clone();
        async move {
            let purged = db
                .run(move |conn| {
                    let before = crate::db::database_now(conn)? - retention;
                    Ok::<_, DbError>(WebhookEvent::purge_settled_across_accounts_before(
                        conn,
                        before,
                        PURGE_BATCH,
                    )?)
                })
                .await?;
            if purged > 0 {
                tracing::info!(purged, "purged webhook events past their retention");
            }
            Ok(if purged as i64 == PURGE_BATCH {
                Ran::Worked
            } else {
                Ran::Idle
            })
        }
    }
}
