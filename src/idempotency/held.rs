//! A key's lease while its request runs: renewed as long as the request does, then completed
//! with the answer or released. The answer is queued to its group before the request waits for
//! it, and a release runs in a task of its own, so a request that stops halfway (its client went
//! away and actix dropped it) cannot cut either short. A deferred
//! request that ran unclaimed takes the lease at its effect gate ([`claim_gate`]), or never,
//! and then leaves its answer where the key is still free.

use std::sync::Arc;
use std::time::Duration;

use super::claims::Answers;
use crate::db::models::idempotency::{self, Begun, KeyLease, StoredResponse};
use crate::db::{Db, DbError};
use crate::jobs::{Duty, Ran};
use crate::services::effect_gate::{EffectGate, GateShut, KeyLook};

/// The gate of a request that runs unclaimed: passing it claims the key on the pool, durably,
/// before the request's first effect, and the request then holds it (in its [`KeyLook`]) as if
/// it had claimed it first. Shut when another request with the key claimed it since the look
/// (`ClaimLost`), or claimed it with another request (`KeyReused`).
pub(super) fn claim_gate(db: Db, look: Arc<KeyLook>) -> EffectGate {
    EffectGate::confirming(move || {
        let (db, look) = (db.clone(), look.clone());
        async move {
            let (request, times) = (look.request().clone(), look.times());
            let begun = db
                .run(move |conn| {
                    let (scope, key, fingerprint) =
                        (&request.scope, &request.key, &request.fingerprint);
                    Ok::<_, DbError>(idempotency::begin(conn, scope, key, fingerprint, times)?)
                })
                .await?;
            match begun {
                Begun::Run(lease) => {
                    look.hold(lease);
                    Ok(())
                }
                Begun::Mismatch => Err(GateShut::KeyReused),
                Begun::Replay(_) | Begun::InFlight => Err(GateShut::ClaimLost),
            }
        }
    })
}

pub(super) struct Held {
    pub(super) db: Db,
    pub(super) answers: Answers,
    /// The lease the request started with, if it claimed its key then.
    pub(super) lease: Option<KeyLease>,
    /// A deferred request's key: unclaimed until its gate claims it or its look takes it over.
    pub(super) look: Option<Arc<KeyLook>>,
}

impl Held {
    /// Keeps `response` for replay, as the answer about `customer_id`.
    pub(super) async fn complete(&mut self, response: StoredResponse, customer_id: Option<String>) {
        // Each keep queues the answer when first polled, so it is kept even if this request is
        // dropped while it waits ([`crate::db::group::Group::run`]).
        let kept = match (self.take_lease(), self.look.take()) {
            (Some(lease), _) => self.answers.keep((lease, response, customer_id)).await,
            (None, Some(look)) => {
                let request = look.request().clone();
                let answer = (request, response, customer_id);
                self.answers.keep_unclaimed(answer).await
            }
            (None, None) => return,
        };
        match kept {
            Ok(true) => {}
            // The holder lost its lease (it could not renew it in time) and a retry took the
            // request over, or another request claimed the key of one that ran unclaimed; that
            // one's answer will be kept.
            Ok(false) => {
                tracing::info!(
                    "an idempotency key was another request's by the time its answer was kept"
                )
            }
            // The retry runs the request again once the lease ends; the Stripe writes it makes
            // carry keys derived from the client's, so Stripe answers them with the first result.
            Err(err) => tracing::error!(error = %err, "an idempotent answer could not be kept"),
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
        let Some(lease) = self.lease.clone().or_else(|| self.look.as_ref()?.lease()) else {
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

    /// The lease the request holds now, taken: the one it started with, or its gate's.
    fn take_lease(&mut self) -> Option<KeyLease> {
        self.lease
            .take()
            .or_else(|| self.look.as_ref()?.take_lease())
    }

    fn spawn_release(&mut self) -> Option<tokio::task::JoinHandle<()>> {
        let lease = self.take_lease()?;
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
