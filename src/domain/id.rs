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
