use std::collections::BTreeMap;
use std::fmt;

super::id::uuid_id! {
    /// The gateway's id for a customer; it stays the customer's for life, even when its Stripe
    /// customer is recreated.
    CustomerId
}

/// An email address as the client spelled it (trimmed), and its normalized form (lowercased),
/// which is what identifies a customer within an account.
#[derive(Clone, PartialEq, Eq)]
pub struct Email {
    display: String,
    normalized: String,
}

impl Email {
    /// RFC 5321's limit on a forward path (Stripe's own limit is higher).
    pub(crate) const MAX_LEN: usize = 254;
    pub(crate) const MAX_LOCAL_LEN: usize = 64;
    /// What RFC 5322 allows in a dot-atom besides letters, digits and dots. Quoted local parts
    /// and address literals are refused: no mail provider hands them out, and they are where
    /// two spellings of one mailbox hide.
    pub(crate) const LOCAL_SPECIALS: &'static str = "!#$%&'*+/=?^_`{|}~-";

    /// An address of the form `local@domain`, ASCII only: a Unicode domain is given in its
    /// `xn--` form, so that look-alike and invisible characters can never make a second key for
    /// the same mailbox.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let display = raw.trim();
        if display.is_empty() {
            return Err("must not be empty".to_string());
        }
        if display.len() > Self::MAX_LEN {
            return Err(format!("must be at most {} characters", Self::MAX_LEN));
        }
        if !display.is_ascii() {
            return Err(
                "must be ASCII; give an internationalized domain in its `xn--` form".to_string(),
            );
        }
        if display.chars().any(|c| {
            c.is_ascii_whitespace() || c.is_ascii_control() || matches!(c, '<' | '>' | ',' | ';')
        }) {
            return Err("must be a single address without spaces or separators".to_string());
        }
        let Some((local, domain)) = display.rsplit_once('@') else {
            return Err("must contain `@`".to_string());
        };
        if local.is_empty() || local.len() > Self::MAX_LOCAL_LEN || local.contains('@') {
            return Err("must have one `@` after a local part of 1 to 64 characters".to_string());
        }
        let valid_local = local.split('.').all(|atom| {
            !atom.is_empty()
                && atom
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || Self::LOCAL_SPECIALS.contains(c))
        });
        if !valid_local {
            return Err(
                "the part before `@` may hold letters, digits, dots (not first, last or doubled) and !#$%&'*+/=?^_`{|}~-"
                    .to_string(),
            );
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let valid_label = |label: &&str| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        let top_level_named = labels
            .last()
            .is_some_and(|tld| tld.chars().any(|c| c.is_ascii_alphabetic()));
        if labels.len() < 2 || !labels.iter().all(valid_label) || !top_level_named {
            return Err("must have a domain such as example.com after `@`".to_string());
        }
        Ok(Self {
            display: display.to_string(),
            normalized: display.to_ascii_lowercase(),
        })
    }

    /// As the client spelled it: what Stripe and the API show.
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The identity: two spellings that normalize alike are one customer per account.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }
}

/// Emails are personal data: debug output shows only the domain.
/// For rows: a stored email was valid when stored, and loading one that no longer parses fails.
impl TryFrom<String> for Email {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let domain = self.normalized.rsplit_once('@').map_or("", |(_, d)| d);
        write!(f, "Email(***@{domain})")
    }
}

/// Characters that change how text displays without being seen: zero-width spaces and joiners
/// at the edges of words, and the bidirectional overrides that make a name read differently
/// from how it is stored. (The zero-width non-joiner and joiner stay allowed: several scripts
/// spell names with them.)
pub(crate) const INVISIBLE: &[(char, char)] = &[
    ('\u{061C}', '\u{061C}'),
    ('\u{200B}', '\u{200B}'),
    ('\u{200E}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{2069}'),
    ('\u{FEFF}', '\u{FEFF}'),
];

fn is_invisible(c: char) -> bool {
    INVISIBLE.iter().any(|&(from, to)| (from..=to).contains(&c))
}

/// Parses an optional free-text field: trimmed, no control or invisible formatting characters,
/// at most `max` characters.
fn bounded_text(raw: &str, max: usize) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err("must not be empty (use null to clear it)".to_string());
    }
    if trimmed.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err("must not contain control characters".to_string());
    }
    if trimmed.chars().any(is_invisible) {
        return Err(
            "must not contain invisible formatting characters (zero-width spaces, direction overrides)"
                .to_string(),
        );
    }
    Ok(trimmed.to_string())
}

/// A customer's full name or business name, as Stripe bounds it (256 characters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerName(String);

impl CustomerName {
    pub(crate) const MAX_CHARS: usize = 256;

    pub fn parse(raw: &str) -> Result<Self, String> {
        bounded_text(raw, Self::MAX_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number as free text (Stripe does not parse it), at most 20 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub(crate) const MAX_CHARS: usize = 20;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let phone = bounded_text(raw, Self::MAX_CHARS)?;
        if !phone
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().x".contains(c))
        {
            return Err("may contain only digits, spaces and + - ( ) . x".to_string());
        }
        Ok(Self(phone))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Key-value pairs stored on the Stripe customer, within Stripe's limits. Keys starting with
/// `gateway_` are the gateway's own (it stores its ids there) and cannot be set by clients. An
/// empty value removes its key, as in Stripe.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata(BTreeMap<String, String>);

impl Metadata {
    pub const RESERVED_PREFIX: &'static str = "gateway_";
    /// Stripe keeps at most 50 keys on an object; the gateway's own take 2.
    pub const MAX_KEYS: usize = 48;
    pub(crate) const MAX_KEY_CHARS: usize = 40;
    pub(crate) const MAX_VALUE_CHARS: usize = 500;

    /// Checks every pair; the errors name the key, for `metadata.<key>` field errors.
    pub fn parse(raw: BTreeMap<String, String>) -> Result<Self, Vec<(String, String)>> {
        let mut errors = Vec::new();
        if raw.len() > Self::MAX_KEYS {
            errors.push((
                String::new(),
                format!("must have at most {} keys", Self::MAX_KEYS),
            ));
        }
        for (key, value) in &raw {
            let problem = if key.is_empty() || key.chars().count() > Self::MAX_KEY_CHARS {
                Some(format!(
                    "keys must be 1 to {} characters",
                    Self::MAX_KEY_CHARS
                ))
            } else if key.contains(['[', ']']) || key.chars().any(char::is_control) {
                Some("keys must not contain brackets or control characters".to_string())
            } else if key.starts_with(Self::RESERVED_PREFIX) {
                Some(format!(
                    "keys starting with `{}` are reserved",
                    Self::RESERVED_PREFIX
                ))
            } else if value.chars().count() > Self::MAX_VALUE_CHARS {
                Some(format!(
                    "values must be at most {} characters (empty removes the key)",
                    Self::MAX_VALUE_CHARS
                ))
            } else {
                None
            };
            if let Some(problem) = problem {
                errors.push((key.clone(), problem));
            }
        }
        if errors.is_empty() {
            Ok(Self(raw))
        } else {
            Err(errors)
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter()
    }

    pub fn into_inner(self) -> BTreeMap<String, String> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_normalized_but_keep_their_spelling() {
        let email = Email::parse("  Alice.Smith@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "Alice.Smith@Example.COM");
        assert_eq!(email.normalized(), "alice.smith@example.com");
        assert!(!format!("{email:?}").contains("alice"));
        // Surrounding whitespace is trimmed, not refused.
        assert!(Email::parse("alice@example.com\n").is_ok());
    }

    #[test]
    fn malformed_emails_are_refused() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long = format!("a@{}.com", "b".repeat(260));
        for bad in [
            "",
            "   ",
            "alice",
            "@example.com",
            "alice@",
            "alice@example",
            "alice@@example.com",
            "al ice@example.com",
            "alice@exa_mple.com",
            "alice@-example.com",
            "alice@example..com",
            "a@b.com, c@d.com",
            long_local.as_str(),
            long.as_str(),
            // Invisible and look-alike characters would make a second key for one mailbox.
            "ana\u{200B}@example.com",
            "\u{FEFF}ana@example.com",
            "ana@ex\u{0430}mple.com",
            "\u{212A}im@example.com",
            // Quoted strings, comments, stray dots, address literals.
            "\"ana\"@example.com",
            "ana(x)@example.com",
            ".ana@example.com",
            "ana.@example.com",
            "an..a@example.com",
            "ana@[127.0.0.1]",
            "ana@127.0.0.1",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn the_254_character_limit_is_on_the_whole_address() {
        let label = "d".repeat(60);
        let domain = format!("{label}.{label}.{label}.{label}.com"); // 247 characters
        let fits = format!("abcdef@{domain}");
        assert_eq!(fits.len(), 254);
        assert!(Email::parse(&fits).is_ok());
        let over = format!("abcdefg@{domain}");
        assert_eq!(
            Email::parse(&over).unwrap_err(),
            "must be at most 254 characters"
        );
    }

    #[test]
    fn ordinary_addresses_are_accepted() {
        for good in [
            "ana+tickets@example.com",
            "o'brien@example.ie",
            "first.last@sub.example.co.uk",
            "ana@xn--exmple-cua.com",
            "x@a-b.io",
        ] {
            assert!(Email::parse(good).is_ok(), "{good:?} was refused");
        }
    }

    #[test]
    fn names_and_phones_are_bounded() {
        assert!(CustomerName::parse("Ana\u{202E}amiL").is_err());
        assert!(CustomerName::parse("Ana\u{200B}").is_err());
        // Scripts that need the zero-width non-joiner keep it.
        assert!(CustomerName::parse(
            "\u{0645}\u{06CC}\u{200C}\u{062E}\u{0648}\u{0627}\u{0647}\u{0645}"
        )
        .is_ok());
        assert_eq!(CustomerName::parse(" Ana ").unwrap().as_str(), "Ana");
        assert!(CustomerName::parse(&"n".repeat(257)).is_err());
        assert!(CustomerName::parse("").is_err());
        assert_eq!(
            Phone::parse("+1 (555) 010-9999").unwrap().as_str(),
            "+1 (555) 010-9999"
        );
        assert!(Phone::parse("+1 555 0100 0100 0100 1").is_err());
        assert!(Phone::parse("call me").is_err());
    }

    #[test]
    fn metadata_respects_stripe_limits_and_reserved_keys() {
        let ok = BTreeMap::from([("ticket".to_string(), "42".to_string())]);
        assert!(Metadata::parse(ok).is_ok());
        let bad = BTreeMap::from([
            ("gateway_customer_id".to_string(), "x".to_string()),
            ("a[b]".to_string(), "x".to_string()),
            ("k".repeat(41), "x".to_string()),
            ("long".to_string(), "v".repeat(501)),
        ]);
        assert_eq!(Metadata::parse(bad).unwrap_err().len(), 4);
        let removal = BTreeMap::from([("ticket".to_string(), String::new())]);
        assert!(Metadata::parse(removal).is_ok());
        let many: BTreeMap<_, _> = (0..49)
            .map(|i| (format!("k{i}"), "v".to_string()))
            .collect();
        assert!(Metadata::parse(many).is_err());
    }
}
