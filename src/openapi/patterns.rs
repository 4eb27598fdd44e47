//! The domain's input rules as JSON Schema, for the OpenAPI document. Each type that parses
//! client input states here exactly what its `parse` accepts, built from the same constants, so
//! that a client generated from the document (or a fuzzer) sends what the server takes, and
//! what the document refuses the server refuses too. The tests check each pattern against its
//! parser, with the small matcher below standing in for a client's regex engine.

use std::borrow::Cow;

use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::domain::payment::{Currency, HttpUrl};
use crate::domain::INVISIBLE;

mod cursor;
use crate::domain::{
    CustomerName, Email, GatewayEventType, Metadata, OrganizerName, Phone, StripeAccountId,
    TicketFees,
};
pub use cursor::{base64url_of, base64url_of_run, PageCursor};

/// `char::is_whitespace` (Unicode White_Space): what `str::trim` removes.
pub const WHITESPACE: &[(char, char)] = &[
    ('\u{9}', '\u{D}'),
    (' ', ' '),
    ('\u{85}', '\u{85}'),
    ('\u{A0}', '\u{A0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200A}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202F}', '\u{202F}'),
    ('\u{205F}', '\u{205F}'),
    ('\u{3000}', '\u{3000}'),
];

/// `char::is_control` (Unicode Cc).
pub const CONTROL: &[(char, char)] = &[('\u{0}', '\u{1F}'), ('\u{7F}', '\u{9F}')];

/// A regex character class of the characters in `sets` (or, `negated`, of all others).
/// Printable ASCII stands as itself, but for the characters a class gives a meaning to (`\ [ ]
/// ^ -`); every other character is written `\uXXXX`, which ECMA-262 (JSON Schema's dialect),
/// Python and Rust read alike. Lengths in these patterns count code points, as `maxLength`
/// does (an ECMA-262 engine without the `u` flag counts a character outside the basic plane
/// twice).
pub fn class(sets: &[&[(char, char)]], negated: bool) -> String {
    let mut ranges: Vec<(char, char)> = sets.iter().flat_map(|set| set.iter().copied()).collect();
    ranges.sort_unstable();
    let mut merged: Vec<(char, char)> = Vec::new();
    for (from, to) in ranges {
        match merged.last_mut() {
            Some((_, end)) if u32::from(from) <= u32::from(*end) + 1 => *end = (*end).max(to),
            _ => merged.push((from, to)),
        }
    }
    let one = |c: char| {
        assert!(u32::from(c) <= 0xFFFF, "classes stay in the basic plane");
        if c.is_ascii_graphic() && !"\\[]^-".contains(c) {
            c.to_string()
        } else {
            format!("\\u{:04X}", u32::from(c))
        }
    };
    let body: String = merged
        .iter()
        .map(|&(from, to)| match u32::from(to) - u32::from(from) {
            0 => one(from),
            1 => format!("{}{}", one(from), one(to)),
            _ => format!("{}-{}", one(from), one(to)),
        })
        .collect();
    format!("[{}{body}]", if negated { "^" } else { "" })
}

/// Free text that is trimmed before it is checked: optional whitespace around 1 to `max`
/// characters that start and end with a character of `edge` and hold characters of `inner`.
fn trimmed(edge: &str, inner: &str, max: usize) -> String {
    let ws = class(&[WHITESPACE], false);
    format!("^{ws}*{edge}(?:{inner}{{0,{}}}{edge})?{ws}*$", max - 2)
}

/// A string schema: `pattern`, the lengths when given, and an example.
fn text(
    pattern: String,
    (min, max): (Option<usize>, Option<usize>),
    description: &str,
    example: &str,
) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .min_length(min)
        .max_length(max)
        .description(Some(description))
        .examples([example])
        .into()
}

macro_rules! named_schema {
    ($type:ty, $name:literal, $schema:expr) => {
        impl PartialSchema for $type {
            fn schema() -> RefOr<Schema> {
                RefOr::T($schema)
            }
        }

        impl ToSchema for $type {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

named_schema!(
    OrganizerName,
    "OrganizerName",
    text(
        trimmed(
            &class(&[WHITESPACE, CONTROL], true),
            &class(&[CONTROL], true),
            OrganizerName::MAX_CHARS,
        ),
        (Some(1), None),
        "A display name: 1 to 200 characters without control characters once the whitespace \
around it is trimmed (the pattern counts them).",
        "Acme Events",
    )
);

named_schema!(
    CustomerName,
    "CustomerName",
    text(
        trimmed(
            &class(&[WHITESPACE, CONTROL, INVISIBLE], true),
            &class(&[CONTROL, INVISIBLE], true),
            CustomerName::MAX_CHARS,
        ),
        (Some(1), None),
        "A full name or business name: 1 to 256 characters once the whitespace around it is \
trimmed, without control characters or invisible formatting characters (zero-width spaces, \
direction overrides).",
        "Ana Lima",
    )
);

named_schema!(
    Phone,
    "Phone",
    text(
        trimmed("[0-9+().x-]", "[0-9 +().x-]", Phone::MAX_CHARS),
        (Some(1), None),
        "A phone number as free text: 1 to 20 digits, spaces and `+ - ( ) . x` once the \
whitespace around it is trimmed.",
        "+55 11 91234-5678",
    )
);

named_schema!(
    StripeAccountId,
    "StripeAccountId",
    text(
        format!(
            "^{}[A-Za-z0-9]{{1,{}}}$",
            StripeAccountId::PREFIX,
            StripeAccountId::MAX_LEN - StripeAccountId::PREFIX.len()
        ),
        (None, Some(StripeAccountId::MAX_LEN)),
        "A Stripe account id: `acct_` and 1 to 59 letters or digits.",
        "acct_1Nv0FGQ9RKHgCVdK",
    )
);

/// JSON Schema's `not`, which utoipa's builders lack: written through the extensions map, which
/// is serialized flat into the schema object.
fn not(schema: serde_json::Value) -> Option<Extensions> {
    Some(Extensions::from_iter([("not", schema)]))
}

/// An email as `Email::parse` takes it: one pattern for the shape, and the lengths a pattern
/// cannot bound without a lookahead (the part before `@`, the last label, the whole) as
/// patterns it must not match. Generators draw from the one pattern and filter by the others
/// (several positive patterns would each drive, and those of mere lengths rarely yield an email).
fn email_schema() -> Schema {
    let ws = class(&[WHITESPACE], false);
    let specials: Vec<(char, char)> = Email::LOCAL_SPECIALS.chars().map(|c| (c, c)).collect();
    let local = class(&[&[('A', 'Z'), ('a', 'z'), ('0', '9')], &specials], false);
    let label = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
    // The last label: letters, digits and inner hyphens, at least one a letter.
    let top = "(?:[A-Za-z]|[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z]\
|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9])";
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "An email address: ASCII (a Unicode domain in its `xn--` form), a dot-atom of 1 to 64 \
characters before the `@` (letters, digits and !#$%&'*+/=?^_`{|}~-), a domain of at least two \
labels of 1 to 63 letters, digits and inner hyphens, the last holding a letter, at most 254 \
characters in all. Whitespace around it is trimmed. Compared lowercased.",
        ))
        .examples([serde_json::json!("Ana.Lima@example.com")])
        .pattern(Some(format!(
            "^{ws}*{local}+(?:\\.{local}+)*@(?:{label}\\.)+{top}{ws}*$"
        )))
        .extensions(not(serde_json::json!({"anyOf": [
            // More than 64 characters before `@`.
            {"pattern": format!("^{ws}*[!-?A-~]{{{}}}", Email::MAX_LOCAL_LEN + 1)},
            // A last label of more than 63.
            {"pattern": format!("[A-Za-z0-9-]{{64}}{ws}*$")},
            // More than 254 in all.
            {"pattern": format!("[!-~]{{{}}}", Email::MAX_LEN + 1)},
        ]})))
        .into()
}

named_schema!(Email, "Email", email_schema());

fn metadata_schema() -> Schema {
    let brackets: &[(char, char)] = &[('[', '['), (']', ']')];
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "Key-value pairs, as Stripe keeps them: at most 48 keys of 1 to 40 characters without \
brackets or control characters, not starting with `gateway_` (the gateway's own), and values \
of at most 500 characters.",
        ))
        .max_properties(Some(Metadata::MAX_KEYS))
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(Metadata::MAX_KEY_CHARS))
                .pattern(Some(format!("^{}*$", class(&[CONTROL, brackets], true))))
                .extensions(not(serde_json::json!({
                    "pattern": format!("^{}", Metadata::RESERVED_PREFIX)
                }))),
        ))
        .additional_properties(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(Metadata::MAX_VALUE_CHARS)),
        ))
        .examples([serde_json::json!({"crm_id": "c-1042"})])
        .into()
}

named_schema!(Metadata, "Metadata", metadata_schema());

named_schema!(
    TicketFees,
    "TicketFees",
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "A fixed platform fee per ticket, by currency, in the currency's minor unit (0 to \
99,999,999): at most 50 currencies.",
        ))
        .max_properties(Some(TicketFees::MAX_CURRENCIES))
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(currency_pattern())),
        ))
        .additional_properties(Some(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0))
                .maximum(Some(crate::domain::payment::Amount::MAX)),
        ))
        .examples([serde_json::json!({"eur": 50, "usd": 60})])
        .into()
);

named_schema!(
    PageCursor,
    "PageCursor",
    text(
        PageCursor::pattern(),
        (None, None),
        "An opaque position in a list: pass back the `next_cursor` of the previous page; do not \
build one. (The pattern is the exact set of cursors the API writes.)",
        "djE6MDE5M2E3YzAtNWIxZS03YzNhLTlmMTAtMmQ0ZTZmOGEwYjFj",
    )
);

/// Gateway event types, comma-separated, as the event feed filters by.
pub struct EventTypeList;

named_schema!(EventTypeList, "EventTypeList", {
    let one = GatewayEventType::ALL
        .iter()
        .map(|kind| kind.as_str().replace('.', "\\."))
        .collect::<Vec<_>>()
        .join("|");
    text(
        format!("^(?:{one})(?:,(?:{one}))*$"),
        (None, None),
        "Gateway event types, comma-separated, without spaces (the pattern lists them all).",
        "checkout.completed,payment.succeeded",
    )
});

/// The currencies as one pattern, not an enum: a client generated from the document types a
/// currency as text, so `currency: "eur"` in an object built apart from the call is taken
/// without a cast (an enum of 135 literals made it `string`, which the enum refused).
fn currency_pattern() -> String {
    format!("^(?:{})$", Currency::all().join("|"))
}

named_schema!(
    Currency,
    "Currency",
    text(
        currency_pattern(),
        (Some(3), Some(3)),
        "A lowercase ISO 4217 code of a currency Stripe supports (the pattern lists them all).",
        "eur",
    )
);

/// An HTTP port, 0 to 65535, in at most five digits.
const PORT: &str =
    "(?:[0-9]{1,4}|[0-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])";
/// A decimal octet without leading zeros.
const OCTET: &str = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";

named_schema!(
    HttpUrl,
    "HttpUrl",
    text(
        format!(
            "^[Hh][Tt][Tt][Pp][Ss]?://(?:{OCTET}(?:\\.{OCTET}){{3}}\
|(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\\.)*[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?\\.?)\
(?::{PORT})?(?:[/?#][!-~]*)?$"
        ),
        (None, Some(HttpUrl::MAX_CHARS)),
        "An absolute http:// or https:// URL of at most 5000 characters: a domain name (labels \
of letters, digits and inner hyphens, the last starting with a letter; an `xn--` label must be \
valid punycode) or a dotted IPv4 address, an optional port up to 65535, then an optional path, \
query or fragment of printable ASCII (percent-encode other characters).",
        "https://shop.example/account",
    )
);

#[cfg(test)]
pub(crate) mod regex;

#[cfg(test)]
mod tests;
