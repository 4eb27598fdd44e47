//! What a use case passes before its first effect (a database write, a Stripe call): for a
//! request whose `Idempotency-Key` was only looked at, not claimed, the key is claimed then,
//! durably, once; for every other request, nothing.
//!
//! Why a deferred route may run before it claims its key: the look found no row, so no other
//! request with the key has run an effect yet, and the claim made at the gate, before this
//! request's first effect, is the one that decides: a concurrent request with the key either
//! claimed it first (this one's gate stays shut and it stops, having done nothing) or finds it
//! claimed. The claim commits like any other before the effect, so a crash cannot lose it after
//! the effect ran.
//!
//! A request that does nothing (an upsert of a customer that exists and is unchanged) never
//! passes the gate and never claims: its answer is inserted where the key is still free,
//! without waiting for the disk. A crash of PostgreSQL can lose that answer, and then the retry
//! runs the request again, which repeats no effect because the first one ran none; it answers
//! from the rows as they are then. Two such requests with one key may both run; one answer is
//! kept. So such a request costs a look and an insert, and no flush.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::db::DbError;

/// Why a gate stayed shut.
#[derive(Debug, thiserror::Error)]
pub enum GateShut {
    /// Another request with the key claimed it since this one looked at it: this request must
    /// not run its effects, and the same request again gets that one's answer.
    #[error("another request with this Idempotency-Key claimed it first; repeat the request to get its answer")]
    ClaimLost,
    /// Another request claimed the key first with another method, path or body.
    #[error("this Idempotency-Key was used with another request (method, path or body); use a new key for a new request")]
    KeyReused,
    #[error("the Idempotency-Key could not be claimed: {0}")]
    Db(#[from] DbError),
}

type Confirm = dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), GateShut>> + Send>> + Send + Sync;

/// Cheap to clone; one per request.
#[derive(Clone, Default)]
pub struct EffectGate {
    confirm: Option<Arc<Confirm>>,
    passed: Arc<OnceCell<()>>,
}

impl EffectGate {
    /// A gate with nothing to wait for: a request without a key, or that holds its key.
    pub fn open() -> Self {
        Self::default()
    }

    /// A gate that runs `confirm` the first time it is passed: `Ok` once the key is claimed.
    pub fn confirming<F, Fut>(confirm: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), GateShut>> + Send + 'static,
    {
        Self {
            confirm: Some(Arc::new(move || Box::pin(confirm()))),
            passed: Arc::default(),
        }
    }

    /// Waits until the request may run its effects; the confirmation runs once per request.
    pub async fn pass(&self) -> Result<(), GateShut> {
        let Some(confirm) = &self.confirm else {
            return Ok(());
        };
        self.passed.get_or_try_init(|| confirm()).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn an_open_gate_passes_and_a_confirming_one_confirms_once() {
        assert!(EffectGate::open().pass().await.is_ok());

        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let gate = EffectGate::confirming(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { Ok(()) }
        });
        gate.pass().await.unwrap();
        gate.clone().pass().await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_lost_claim_shuts_the_gate_every_time() {
        let gate = EffectGate::confirming(|| async { Err(GateShut::ClaimLost) });
        assert!(matches!(gate.pass().await, Err(GateShut::ClaimLost)));
        assert!(matches!(gate.pass().await, Err(GateShut::ClaimLost)));
    }
}
