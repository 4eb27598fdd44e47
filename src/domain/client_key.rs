//! A client's `Idempotency-Key`, as the use cases derive Stripe keys from it.

/// The client's key of the request being run, for handlers that derive Stripe keys from it:
/// with the caller's scope (equal keys of two organizers give different Stripe keys) and the
/// request's fingerprint (the same key sent again with another body, after a 5xx freed it, gives
/// another Stripe key rather than Stripe's `idempotency_error`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientKey {
    pub scope: String,
    pub key: String,
    pub fingerprint: String,
}

impl ClientKey {
    /// The parts a Stripe idempotency key is derived from.
    pub fn parts(&self) -> [&str; 3] {
        [&self.scope, &self.key, &self.fingerprint]
    }
}
