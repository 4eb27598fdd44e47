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

/// Whether `id` could name a Stripe object (`evt_...`, `cs_...`): 1 to 255 printable ASCII
/// characters. Other text names nothing, so a lookup answers "not found" without asking the
/// database, which may refuse it outright (PostgreSQL takes no NUL in text).
pub fn could_be_stripe_id(id: &str) -> bool {
    (1..=255).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::could_be_stripe_id;

    #[test]
    fn stripe_ids_are_printable_ascii_without_spaces() {
        assert!(could_be_stripe_id("evt_1NfA2b3C4d5E6f"));
        assert!(could_be_stripe_id("cs_test_a1B2"));
        for impossible in ["", "evt_\0x", "evt 1", "évt_1", &"e".repeat(256)] {
            assert!(!could_be_stripe_id(impossible), "{impossible:?}");
        }
    }
}
