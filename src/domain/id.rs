/// Defines a gateway id type: a UUIDv7 (ids sort by creation time, which keyset pagination
/// uses), shown and stored in its lowercase hyphenated form.
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(uuid::Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }

            pub fn parse(raw: &str) -> Result<Self, String> {
                uuid::Uuid::try_parse(raw)
                    .map(Self)
                    .map_err(|_| "must be a UUID".to_string())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

pub(crate) use uuid_id;

/// The id of a Stripe object (`evt_...`, `cus_...`, `cs_...`): 1 to 255 of the characters of
/// [`STRIPE_ID_CHARS`]. The one definition of what can name a Stripe object, for every path
/// that takes one (webhook envelopes, the admin API, lookups): text that is not one names
/// nothing, and never reaches the database, which may refuse it outright (PostgreSQL takes no
/// NUL in text).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StripeId(String);

impl StripeId {
    pub const MAX_LEN: usize = 255;

    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::check(raw).map(|()| Self(raw.to_string()))
    }

    /// [`StripeId::parse`] of text already owned, kept without a copy.
    pub fn new(raw: String) -> Result<Self, String> {
        Self::check(&raw).map(|()| Self(raw))
    }

    /// Whether `text` has the shape of a Stripe id, without keeping it: for a lookup that only
    /// needs to know it could name something, and for Stripe's type names, which share it.
    pub fn check(text: &str) -> Result<(), String> {
        if is_stripe_token(text) {
            Ok(())
        } else {
            Err(format!(
                "must be 1 to {} ASCII letters, digits or any of `{}`",
                Self::MAX_LEN,
                PUNCTUATION
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for StripeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The punctuation a Stripe id may hold besides letters and digits: what a URL's path segment
/// carries as itself (RFC 3986's unreserved characters, sub-delimiters, `:` and `@`), so that
/// every id can be named in a path without escaping. Stripe's own ids use `_`; ids a user
/// chooses (a product's, a coupon's) may use more.
pub const PUNCTUATION: &str = "-._~!$&'()*+,;=:@";

/// Every character a Stripe id may hold.
pub const STRIPE_ID_CHARS: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@";

/// Whether `text` has the shape of Stripe's identifiers and names (ids, event types such as
/// `customer.subscription.updated`, object types): 1 to [`StripeId::MAX_LEN`] characters of
/// [`STRIPE_ID_CHARS`].
fn is_stripe_token(text: &str) -> bool {
    (1..=StripeId::MAX_LEN).contains(&text.len())
        && text.bytes().all(|b| STRIPE_ID_CHARS.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::{StripeId, PUNCTUATION, STRIPE_ID_CHARS};

    #[test]
    fn the_characters_are_letters_digits_and_the_punctuation() {
        let expected: Vec<u8> = (b'A'..=b'Z')
            .chain(b'a'..=b'z')
            .chain(b'0'..=b'9')
            .chain(PUNCTUATION.bytes())
            .collect();
        assert_eq!(STRIPE_ID_CHARS, expected);
    }

    #[test]
    fn stripe_ids_are_printable_ascii_without_spaces() {
        for id in [
            "evt_1NfA2b3C4d5E6f",
            "cs_test_a1B2",
            "prod_x.y-z~1",
            &"e".repeat(255),
        ] {
            assert_eq!(StripeId::parse(id).unwrap().as_str(), id);
        }
        for impossible in [
            "",
            "evt_\0x",
            "evt 1",
            "évt_1",
            "evt_\"1\"",
            "evt/1",
            "evt_1?x",
            "evt_1#x",
            "evt_%41",
            "evt_1\n",
            "evt_\u{202E}1",
            &"e".repeat(256),
        ] {
            assert!(StripeId::parse(impossible).is_err(), "{impossible:?}");
        }
    }
}
