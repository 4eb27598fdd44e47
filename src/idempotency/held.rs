//! A key's lease while its request runs: renewed as long as the request does, then completed
//! with the answer or released. The database work runs in tasks of its own, so a request that
//! stops halfway (its client went away and actix dropped it) cannot cut it short.

use std::time::Duration;

use super::claims::{Answers, Keep};
use crate::db::models::idempotency::{self, KeyLease, StoredResponse};
use crate::db::{Db, DbError};
use crate::jobs::{Duty, Ran};
use crate::services::effect_gate::{EffectGate, GateShut};

/// The gate of a request whose key was claimed without a flush: passing it renews the lease
/// with a commit that waits for the disk (and so for the claim logged before it), refused when
/// the claim is no longer this request's.
pub(super) fn gate(db: Db, lease: KeyLease, ttl: Duration) -> EffectGate {
    EffectGate::confirming(move || {
        let (db, lease) = (db.clone(), lease.clone());
        async move {
            let held = db
                .run(move |conn| Ok::<_, DbError>(lease.renew(conn, ttl)?))
                .await?;
            if held {
                Ok(())
            } else {
                tracing::warn!("an idempotency key's claim was gone before its request's first effect; the request is refused without running it");
                Err(GateShut::ClaimLost)
            }
        }
    })
}

pub(super) struct Held {
    pub(super) db: Db,
    pub(super) answers: Answers,
    pub(super) lease: Option<KeyLease>,
    /// A deferred request's gate: its answer is kept durably only if the request passed it.
    pub(super) gate: Option<EffectGate>,
}

impl Held {
    /// Keeps `response` for replay, as the answer about `customer_id`.
    pub(super) async fn complete(&mut self, response: StoredResponse, customer_id: Option<String>) {
        let Some(lease) = self.lease.take() else {
            return;
        };
        let keep = match &self.gate {
            Some(gate) if !gate.passed() => Keep::Quiet,
            _ => Keep::Durable,
        };
        let answers = self.answers.clone();
        let task =
            tokio::spawn(async move { answers.keep((lease, response, customer_id), keep).await });
        match task.await {
            Ok(Ok(true)) => {}
            // The holder lost its lease (it could not renew it in time) and a retry took the
            // request over; that one's answer will be kept.
            Ok(Ok(false)) => {
                tracing::warn!("an idempotency key's lease ended before its request answered")
            }
            // The retry runs the request again once the lease ends; the Stripe writes it makes
            // carry keys derived from the client's, so Stripe answers them with the first result.
            Ok(Err(err)) => tracing::error!(error = %err, "an idempotent answer could not be kept"),
            Err(err) => tracing::error!(error = %err, "keeping an idempotent answer failed"),
        }
    }

    /// Frees the key without an answer, so that a retry runs the request again.
    pub(super) async fn release(&mut self) {
        if let Some(task) = self.spawn_release() {
            let _ = task.await;
        }
    }

    /// Extends the lease while the request runs; best effort (a missed renewal only lets a
    /// retry take over when the lease ends).
    pub(super) async fn renew(&self, ttl: Duration) {
        let Some(lease) = self.lease.clone() else {
            return;
        };
        let result = self
            .db
            .run(move |conn| Ok::<_, DbError>(lease.renew(conn, ttl)?))
            .await;
        match result {
            Ok(true) => {}
            Ok(false) => tracing::warn!("an idempotency key was taken over while its request ran"),
            Err(err) => tracing::warn!(error = %err, "an idempotency key's lease was not renewed"),
        }
    }

    fn spawn_release(&mut self) -> Option<tokio::task::JoinHandle<()>> {
        let lease = self.lease.take()?;
        let db = self.db.clone();
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        Some(runtime.spawn(async move {
            if let Err(err) = db
                .run(move |conn| Ok::<_, DbError>(lease.release(conn)?))
                .await
            {
                tracing::error!(error = %err, "an idempotency key could not be freed");
            }
        }))
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.spawn_release();
    }
}

/// The purge of expired keys, a duty of the jobs runner every `IDEMPOTENCY_PURGE_SECS`.
pub fn purge(db: Db) -> impl Duty {
    move || {
        let db = db.clone();
        async move {
            let purged = db
                .run(|conn| Ok::<_, DbError>(idempotency::purge_expired(conn)?))
                .await?;
            if purged > 0 {
                tracing::info!(purged, "purged expired idempotency keys");
            }
            Ok(Ran::Worked)
        }
    }
}
