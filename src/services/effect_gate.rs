//! What a use case passes before its first effect (a database write, a Stripe call): for a
//! request whose `Idempotency-Key` was only looked at, not claimed, the key is claimed then,
//! durably, once; for every other request, nothing.
//!
//! Why a deferred route may run before it claims its key: its first read looks at the key too
//! ([`KeyLook`], in the same batch on the same connection as the read, so a keyed request costs
//! no trip of its own before it runs). No row there means no other request with the key has
//! run an effect yet, and the claim made at the gate, before this request's first effect, is
//! the one that decides: a concurrent request with the key either claimed it first (this one's
//! gate stays shut and it stops, having done nothing) or finds it claimed. The claim commits
//! like any other before the effect, so a crash cannot lose it after the effect ran. A row
//! there settles the request as a claim would have before it ran: it stops ([`GateShut::Settled`])
//! and the key's answer, or its refusal, is sent instead of the handler's.
//!
//! A request that does nothing (an upsert of a customer that exists and is unchanged) never
//! passes the gate and never claims: its answer is inserted where the key is still free,
//! without waiting for the disk. A crash of PostgreSQL can lose that answer, and then the retry
//! runs the request again, which repeats no effect because the first one ran none; it answers
//! from the rows as they are then. Two such requests with one key may both run; one answer is
//! kept. So such a request costs a share of a read and of an insert, and no flush.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OnceCell;

use crate::db::models::idempotency::{Begun, KeyLease, KeyRequest, KeyTimes};
use crate::db::models::idempotency_looks::Looked;
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
    /// The look at the key found a row that settles the request (an answer to replay, a
    /// request still running, another request's key): the request stops, and what the row
    /// says is answered instead ([`KeyLook::take_settled`]).
    #[error("this Idempotency-Key already has a request; its answer is sent instead")]
    Settled,
    #[error("the Idempotency-Key could not be claimed: {0}")]
    Db(#[from] DbError),
}

type Confirm = dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), GateShut>> + Send>> + Send + Sync;

/// Cheap to clone; one per request.
#[derive(Clone, Default)]
pub struct EffectGate {
    confirm: Option<Arc<Confirm>>,
    passed: Arc<OnceCell<()>>,
    look: Option<Arc<KeyLook>>,
}

/// A deferred request's key: looked at with the request's first read, and held once claimed
/// (at the gate) or taken over (by the look).
#[derive(Debug)]
pub struct KeyLook {
    request: KeyRequest,
    times: KeyTimes,
    looked: AtomicBool,
    settled: Mutex<Option<Begun>>,
    lease: Mutex<Option<KeyLease>>,
}

impl KeyLook {
    pub fn new(request: KeyRequest, times: KeyTimes) -> Arc<Self> {
        Arc::new(Self {
            request,
            times,
            looked: AtomicBool::new(false),
            settled: Mutex::default(),
            lease: Mutex::default(),
        })
    }

    pub fn request(&self) -> &KeyRequest {
        &self.request
    }

    pub fn times(&self) -> KeyTimes {
        self.times
    }

    /// Whether the look was made (by the request's first read).
    pub fn looked(&self) -> bool {
        self.looked.load(Ordering::Acquire)
    }

    /// What the look found that stopped the request, taken: an answer to replay, a request
    /// still running, another request's key. `None` when the request could run.
    pub fn take_settled(&self) -> Option<Begun> {
        lock(&self.settled).take()
    }

    /// The lease the request holds: its gate's claim, or the look's takeover.
    pub fn lease(&self) -> Option<KeyLease> {
        lock(&self.lease).clone()
    }

    pub fn take_lease(&self) -> Option<KeyLease> {
        lock(&self.lease).take()
    }

    pub fn hold(&self, lease: KeyLease) {
        *lock(&self.lease) = Some(lease);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
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
            look: None,
        }
    }

    /// The gate of a request whose key its first read looks at.
    pub fn looking(self, look: Arc<KeyLook>) -> Self {
        Self {
            look: Some(look),
            ..self
        }
    }

    /// The key the request's first read should look at: `None` without one, or once looked.
    pub fn key_to_look(&self) -> Option<Arc<KeyLook>> {
        self.look.clone().filter(|look| !look.looked())
    }

    /// Takes in what the read's look found: the request runs on (the key is free, or this
    /// request took over a holder that died and now holds it), or stops
    /// ([`GateShut::Settled`]).
    pub fn looked(&self, found: Looked) -> Result<(), GateShut> {
        let Some(look) = &self.look else {
            return Ok(());
        };
        look.looked.store(true, Ordering::Release);
        match found {
            Looked::Free => Ok(()),
            Looked::Begun(Begun::Run(lease)) => {
                look.hold(lease);
                // Held already: the gate has nothing left to claim.
                let _ = self.passed.set(());
                Ok(())
            }
            Looked::Begun(begun) => {
                *lock(&look.settled) = Some(begun);
                Err(GateShut::Settled)
            }
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
    use crate::db::models::idempotency::StoredResponse;

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

    fn look() -> Arc<KeyLook> {
        let request = KeyRequest {
            scope: "admin".into(),
            key: "k-1".into(),
            fingerprint: "f".into(),
        };
        let second = std::time::Duration::from_secs(1);
        KeyLook::new(
            request,
            KeyTimes {
                lease: second,
                keep: second,
            },
        )
    }

    #[tokio::test]
    async fn a_free_key_is_looked_at_once_and_claimed_at_the_gate() {
        let look = look();
        let gate = EffectGate::confirming(|| async { Ok(()) }).looking(look.clone());
        assert!(gate.key_to_look().is_some());
        gate.looked(Looked::Free).unwrap();
        assert!(look.looked());
        assert!(gate.key_to_look().is_none(), "the key is looked at once");
        assert!(look.take_settled().is_none());
        gate.pass().await.unwrap();
    }

    #[tokio::test]
    async fn a_row_that_settles_the_request_stops_it_and_is_kept_for_the_answer() {
        let look = look();
        let gate = EffectGate::confirming(|| async { Ok(()) }).looking(look.clone());
        let stored = StoredResponse {
            status: 201,
            headers: Vec::new(),
            body: b"{}".to_vec(),
        };
        let found = Looked::Begun(Begun::Replay(stored.clone()));
        assert!(matches!(gate.looked(found), Err(GateShut::Settled)));
        assert_eq!(look.take_settled(), Some(Begun::Replay(stored)));
        assert!(look.take_settled().is_none(), "taken once");
        assert!(matches!(
            gate.looked(Looked::Begun(Begun::InFlight)),
            Err(GateShut::Settled)
        ));
        assert_eq!(look.take_settled(), Some(Begun::InFlight));
    }

    #[tokio::test]
    async fn a_gate_without_a_look_has_no_key_to_look_at() {
        let gate = EffectGate::open();
        assert!(gate.key_to_look().is_none());
        gate.looked(Looked::Begun(Begun::Mismatch)).unwrap();
    }

    #[tokio::test]
    async fn a_lost_claim_shuts_the_gate_every_time() {
        let gate = EffectGate::confirming(|| async { Err(GateShut::ClaimLost) });
        assert!(matches!(gate.pass().await, Err(GateShut::ClaimLost)));
        assert!(matches!(gate.pass().await, Err(GateShut::ClaimLost)));
    }
}
