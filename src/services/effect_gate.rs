//! What a use case passes before its first effect (a database write, a Stripe call): for a
//! request whose `Idempotency-Key` was claimed without waiting for the disk, the claim is made
//! durable and checked to be still its own, once; for every other request, nothing.
//!
//! Why a claim may skip its own flush: PostgreSQL writes its log in order, and a commit that
//! waits for the disk waits for everything logged before it. A claim committed without waiting
//! is visible to every other request at once (only its durability is late), so a concurrent
//! retry with the key is refused as before. Only a crash of PostgreSQL can lose it, and then
//! only if no later commit of the request reached the disk. Passing the gate is such a commit
//! (it renews the claim and waits for the disk), made before the first effect and refused when
//! the claim is gone: a request whose claim was lost stops before doing anything, and the
//! retry that claims the key again is the only one that runs.
//!
//! A request that does nothing (an upsert of a customer that exists and is unchanged) never
//! passes the gate, and its answer is kept without waiting for the disk either: a crash of
//! PostgreSQL can lose that answer (and the claim), and then the retry runs the request again,
//! which repeats no effect because the first one ran none. It answers from the rows as they are
//! then. So such a request costs no flush at all.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::db::DbError;

/// Why a gate stayed shut.
#[derive(Debug, thiserror::Error)]
pub enum GateShut {
    /// The key's claim is not there any more (lost in a crash of the database, or taken over
    /// after the request stalled past its lease): the request must not run its effects.
    #[error("this request's claim of its Idempotency-Key was lost (the database restarted); repeat the request")]
    ClaimLost,
    #[error("the claim of the Idempotency-Key could not be made durable: {0}")]
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
    /// A gate with nothing to wait for: a request without a key, or whose claim is durable.
    pub fn open() -> Self {
        Self::default()
    }

    /// A gate that runs `confirm` the first time it is passed: `Ok` once the claim is durable
    /// and still held.
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

    /// Whether the request passed this gate: false for one that ran no effect (it never
    /// needed to), so its answer may be kept without waiting for the disk.
    pub fn passed(&self) -> bool {
        self.passed.initialized()
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
        assert!(!gate.passed());
        gate.pass().await.unwrap();
        gate.clone().pass().await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(gate.passed());
    }

    #[tokio::test]
    async fn a_lost_claim_shuts_the_gate_every_time() {
        let gate = EffectGate::confirming(|| async { Err(GateShut::ClaimLost) });
        assert!(matches!(gate.pass().await, Err(GateShut::ClaimLost)));
        assert!(matches!(gate.pass().await, Err(GateShut::ClaimLost)));
        assert!(!gate.passed());
    }
}
