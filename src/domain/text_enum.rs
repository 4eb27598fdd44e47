//! Closed vocabularies spelled as text: a status a row stores, a value a client sends.

/// Defines an enum whose every variant has one text:
///
/// ```ignore
/// text_enum! {
///     /// Where a customer row stands.
///     pub enum CustomerStatus {
///         Pending = "pending",
///         Active = "active",
///     }
/// }
/// ```
///
/// It gets `as_str`, `FromStr` (an unknown text is an error naming the type), `ALL` (the
/// variants in order) and `doc_lines` (its doc comment, for the OpenAPI document).
/// Storage (`db::text_column!`) and the OpenAPI document (`openapi::text_schema!`) implement
/// their traits for it where those crates are used; further derives go on it as attributes.
macro_rules! text_enum {
    (
        $(#[$($attr:tt)*])*
        $vis:vis enum $name:ident {
            $($(#[$variant_meta:meta])* $variant:ident = $text:literal),+ $(,)?
        }
    ) => {
        $(#[$($attr)*])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        $vis enum $name {
            $($(#[$variant_meta])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The lines of the enum's doc comment.
            pub fn doc_lines() -> impl Iterator<Item = &'static str> {
                const LINES: &[Option<&str>] = &[$($crate::domain::doc_line!($($attr)*)),*];
                LINES.iter().flatten().copied()
            }

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, String> {
                match text {
                    $($text => Ok(Self::$variant),)+
                    other => Err(format!("unknown {} `{other}`", stringify!($name))),
                }
            }
        }
    };
}
pub(crate) use text_enum;

/// The text of a `doc` attribute, or `None` for any other attribute.
macro_rules! doc_line {
    (doc = $line:literal) => {
        Some($line)
    };
    ($($other:tt)*) => {
        None
    };
}
pub(crate) use doc_line;

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    text_enum! {
        /// A test vocabulary.
        /// Second line.
        enum Sample {
            One = "one",
            TwoWords = "two_words",
        }
    }

    #[test]
    fn texts_round_trip_and_unknown_texts_are_named() {
        for value in Sample::ALL {
            assert_eq!(Sample::from_str(value.as_str()), Ok(*value));
        }
        assert_eq!(Sample::TwoWords.as_str(), "two_words");
        assert_eq!(
            Sample::from_str("three").unwrap_err(),
            "unknown Sample `three`"
        );
        let doc: Vec<_> = Sample::doc_lines().collect();
        assert_eq!(doc, [" A test vocabulary.", " Second line."]);
    }
}
