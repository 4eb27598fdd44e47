//! Tokens verified before. A token's signature and claims verify the same way every time (the
//! keys and rules are fixed at start-up), so a token seen again only has its expiry checked:
//! frontends send the same token on every request, and checking its HMAC or RSA signature
//! again was the largest cost of a read after the database. Whether the organizer may still
//! act is not cached: that is read with the request's data, every time.

use std::collections::HashMap;
use std::sync::Mutex;

use super::Principal;

/// Most tokens remembered; when full, they are all forgotten and verified again.
const CAPACITY: usize = 10_000;

struct Entry {
    principal: Principal,
    /// The last second (Unix time) at which the token is accepted: `exp` plus the leeway.
    valid_until: u64,
}

/// What is known of a token without verifying it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Known {
    Valid(Principal),
    Expired,
    Unknown,
}

#[derive(Default)]
pub(super) struct VerifiedTokens {
    entries: Mutex<HashMap<Box<str>, Entry>>,
}

impl VerifiedTokens {
    pub(super) fn lookup(&self, token: &str, now: u64) -> Known {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(token) {
            Some(entry) if now <= entry.valid_until => Known::Valid(entry.principal.clone()),
            Some(_) => {
                entries.remove(token);
                Known::Expired
            }
            None => Known::Unknown,
        }
    }

    /// Remembers a token that verified, accepted until `valid_until` (inclusive).
    pub(super) fn remember(&self, token: &str, principal: &Principal, valid_until: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(
            token.into(),
            Entry {
                principal: principal.clone(),
                valid_until,
            },
        );
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin() -> Principal {
        Principal::Admin { sub: "ops".into() }
    }

    #[test]
    fn a_token_is_known_until_its_last_second_then_expired_and_forgotten() {
        let tokens = VerifiedTokens::default();
        assert_eq!(tokens.lookup("t", 100), Known::Unknown);
        tokens.remember("t", &admin(), 130);
        assert_eq!(tokens.lookup("t", 130), Known::Valid(admin()));
        assert_eq!(tokens.lookup("other", 100), Known::Unknown);
        assert_eq!(tokens.lookup("t", 131), Known::Expired);
        assert_eq!(tokens.lookup("t", 100), Known::Unknown);
    }

    #[test]
    fn memory_is_bounded() {
        let tokens = VerifiedTokens::default();
        for i in 0..CAPACITY + 5 {
            tokens.remember(&format!("token-{i}"), &admin(), u64::MAX);
        }
        assert!(tokens.len() <= CAPACITY, "{}", tokens.len());
        assert_eq!(
            tokens.lookup(&format!("token-{}", CAPACITY + 4), 0),
            Known::Valid(admin())
        );
    }
}
