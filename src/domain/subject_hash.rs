use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use super::Email;

/// A keyed hash (HMAC-SHA256) of a person's normalized email. The audit log and erasure
/// receipts store it instead of the email: whoever holds the key can show that an address was
/// erased, and a leaked database does not give the addresses away (unlike a plain hash, which a
/// dictionary reverses).
#[derive(Clone)]
pub struct SubjectHasher {
    key: SecretString,
}

impl SubjectHasher {
    pub fn new(key: SecretString) -> Self {
        Self { key }
    }

    pub fn hash(&self, email: &Email) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose_secret().as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(email.normalized().as_bytes());
        super::lower_hex(&mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_address_hash_alike_and_keys_matter() {
        let hasher = SubjectHasher::new("k1".into());
        let a = hasher.hash(&Email::parse("Ana@Example.com").unwrap());
        assert_eq!(a, hasher.hash(&Email::parse("ana@example.com").unwrap()));
        assert_eq!(a.len(), 64);
        assert_ne!(
            a,
            SubjectHasher::new("k2".into()).hash(&Email::parse("ana@example.com").unwrap())
        );
    }
}
