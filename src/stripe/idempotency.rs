use sha2::{Digest, Sha256};
use stripe_client_core::IdempotencyKey;

/// An idempotency key derived from the intent of a write (what, for whom, with which inputs),
/// so that every retry of the same intent, from any gateway instance, sends the same key and
/// Stripe answers with the first result instead of creating a second object.
///
/// The parts are hashed: keys stay short, and no input (an email, say) appears in Stripe's logs.
pub fn idempotency_key(intent: &str, parts: &[&str]) -> IdempotencyKey {
    let mut hasher = Sha256::new();
    hasher.update(intent.as_bytes());
    for part in parts {
        // A separator that cannot appear in the parts keeps ("ab","c") apart from ("a","bc").
        hasher.update([0x1f]);
        hasher.update(part.len().to_le_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let hex = crate::domain::lower_hex(&digest);
    IdempotencyKey::new(format!("gw-{intent}-{hex}")).expect("intent names are short and non-empty")
}

#[cfg(test)]
mod tests {
    use super::idempotency_key;

    #[test]
    fn same_intent_same_key() {
        let a = idempotency_key("customer.create", &["acct_1", "a@example.com"]);
        let b = idempotency_key("customer.create", &["acct_1", "a@example.com"]);
        assert_eq!(a, b);
        assert!(a.as_str().len() <= 255);
        assert!(!a.as_str().contains("example.com"));
    }

    #[test]
    fn different_intents_or_parts_differ() {
        let base = idempotency_key("customer.create", &["acct_1", "a@example.com"]);
        assert_ne!(
            base,
            idempotency_key("customer.create", &["acct_2", "a@example.com"])
        );
        assert_ne!(
            base,
            idempotency_key("customer.update", &["acct_1", "a@example.com"])
        );
        assert_ne!(
            idempotency_key("x", &["ab", "c"]),
            idempotency_key("x", &["a", "bc"])
        );
    }
}
