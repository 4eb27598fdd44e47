use super::regex::Regex;
use super::*;
use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::domain::Cursor;

/// What a string schema's `pattern` and `not: {pattern}` / `not: {anyOf: [{pattern}]}` say
/// of `text`.
fn allows(object: &utoipa::openapi::schema::Object, text: &str) -> bool {
    let matches =
        |pattern: &serde_json::Value| Regex::new(pattern.as_str().unwrap()).is_match(text);
    let refused = object
        .extensions
        .as_ref()
        .and_then(|extensions| extensions.get("not"))
        .is_some_and(|not| match not.get("anyOf") {
            Some(any) => any
                .as_array()
                .unwrap()
                .iter()
                .any(|s| matches(&s["pattern"])),
            None => matches(&not["pattern"]),
        });
    Regex::new(object.pattern.as_ref().unwrap()).is_match(text) && !refused
}

fn documented<T: PartialSchema>(text: &str) -> bool {
    match T::schema() {
        RefOr::T(Schema::Object(object)) => allows(&object, text),
        _ => panic!("a string schema"),
    }
}

/// `count` strings of 0 to `longest` characters drawn from `alphabet`, from a fixed seed.
fn samples(alphabet: &str, longest: usize, count: usize) -> Vec<String> {
    let alphabet: Vec<char> = alphabet.chars().collect();
    let mut rng = fastrand::Rng::with_seed(7);
    (0..count)
        .map(|_| {
            let len = rng.usize(0..=longest);
            (0..len)
                .map(|_| alphabet[rng.usize(..alphabet.len())])
                .collect()
        })
        .collect()
}

fn agree<T: PartialSchema>(text: &str, accepted: bool) {
    assert_eq!(
        documented::<T>(text),
        accepted,
        "{text:?}: the document says {}, the parser {}",
        documented::<T>(text),
        accepted
    );
}

#[test]
fn the_character_sets_are_the_standard_librarys() {
    let within = |set: &[(char, char)], c: char| set.iter().any(|&(a, b)| (a..=b).contains(&c));
    for c in (0..=0x10FFFF).filter_map(char::from_u32) {
        assert_eq!(within(WHITESPACE, c), c.is_whitespace(), "{c:?}");
        assert_eq!(within(CONTROL, c), c.is_control(), "{c:?}");
    }
}

#[test]
fn the_name_and_phone_patterns_are_their_parsers() {
    let fixed = [
        "Acme",
        " Acme Events ",
        "\tAcme\n",
        "",
        "   ",
        "a\u{7}b",
        "Ana\u{202E}x",
        "Ana\u{200B}",
        "\u{3000}名前\u{3000}",
        "+1 (555) 010-9999",
        " 123 ",
        "1 2",
        "x",
    ];
    let padded_max = format!("  {}  ", "é".repeat(200));
    let over = format!(" {} ", "é".repeat(201));
    let long_phone = format!(" {} ", "1".repeat(20));
    let generated = samples(
        " \t\n\u{3000}\u{85}ab1+()-.x\u{7}\u{202E}\u{200B}é",
        24,
        4000,
    );
    for text in fixed
        .iter()
        .map(|s| s.to_string())
        .chain([padded_max, over, long_phone])
        .chain(generated)
    {
        agree::<OrganizerName>(&text, OrganizerName::parse(&text).is_ok());
        agree::<CustomerName>(&text, CustomerName::parse(&text).is_ok());
        agree::<Phone>(&text, Phone::parse(&text).is_ok());
    }
    for max in [200, 201] {
        let text = format!(" {} ", "n".repeat(max));
        agree::<OrganizerName>(&text, OrganizerName::parse(&text).is_ok());
    }
    for max in [256, 257] {
        let text = format!("\t{}\n", "n".repeat(max));
        agree::<CustomerName>(&text, CustomerName::parse(&text).is_ok());
    }
}

#[test]
fn the_email_patterns_are_the_parser() {
    let label = "d".repeat(60);
    let domain = format!("{label}.{label}.{label}.{label}.com");
    let fixed = [
        "ana@example.com".to_string(),
        " Ana.Lima@Example.COM\n".to_string(),
        "o'brien@example.ie".to_string(),
        "x@a-b.io".to_string(),
        "x@1.2".to_string(),
        "x@1.a2".to_string(),
        "a.@b.co".to_string(),
        "a..b@c.co".to_string(),
        "a@b".to_string(),
        "a@-b.co".to_string(),
        "a@b-.co".to_string(),
        "@b.co".to_string(),
        "a@@b.co".to_string(),
        "a b@c.co".to_string(),
        "\u{3000}a@b.co".to_string(),
        format!("{}@b.co", "a".repeat(64)),
        format!("{}@b.co", "a".repeat(65)),
        format!("a@{}.co", "b".repeat(63)),
        format!("a@{}.co", "b".repeat(64)),
        format!("a@b.{}", "c".repeat(63)),
        format!("a@b.{}", "c".repeat(64)),
        "a@b.c1".to_string(),
        "a@b.1c".to_string(),
        "a@b.1-c".to_string(),
        "a@b.c-".to_string(),
        "a@b.-c".to_string(),
        "a@b.12".to_string(),
        format!("abcdef@{domain}"),
        format!("abcdefg@{domain}"),
        format!("  abcdef@{domain}  "),
    ];
    for text in fixed
        .into_iter()
        .chain(samples("a1.@-_!+ \tZ9é", 14, 20000))
    {
        agree::<Email>(&text, Email::parse(&text).is_ok());
    }
}

#[test]
fn the_account_pattern_is_the_parser() {
    let long = format!("acct_{}", "a".repeat(59));
    let longer = format!("acct_{}", "a".repeat(60));
    for text in [
        "acct_1", "acct_", "acct_1 ", "cus_1", "ACCT_1", &long, &longer,
    ] {
        agree::<StripeAccountId>(text, StripeAccountId::parse(text).is_ok());
    }
    for text in samples("acta_t1Z ;", 9, 5000) {
        agree::<StripeAccountId>(&text, StripeAccountId::parse(&text).is_ok());
    }
}

#[test]
fn the_metadata_key_pattern_is_the_parser() {
    let RefOr::T(Schema::Object(object)) = Metadata::schema() else {
        panic!("an object schema");
    };
    let names = object.property_names.expect("propertyNames");
    let Schema::Object(names) = *names else {
        panic!("a string schema");
    };

    let fixed = [
        "g",
        "gateway",
        "gateway_",
        "gateway_x",
        "Gateway_x",
        "gatewa_",
        "xgateway_",
        "a[b]",
        "a\u{0}",
        "",
        "ticket",
    ];
    let generated = samples("gatewy_[]\u{1}x", 10, 20000);
    for key in fixed.iter().map(|k| k.to_string()).chain(generated) {
        let documented =
            allows(&names, &key) && (1..=names.max_length.unwrap()).contains(&key.chars().count());
        let parsed = Metadata::parse(BTreeMap::from([(key.clone(), "v".to_string())])).is_ok();
        assert_eq!(documented, parsed, "{key:?}");
    }
}

#[test]
fn the_cursor_pattern_is_the_decoder() {
    let regex = Regex::new(&PageCursor::pattern());
    let mut rng = fastrand::Rng::with_seed(3);
    for _ in 0..2000 {
        let id = uuid::Uuid::from_u128(rng.u128(..));
        let cursor = Cursor::after(&id.hyphenated().to_string()).encode();
        assert!(regex.is_match(&cursor), "{cursor}");
        // One digit changed: the document and the decoder agree on the result.
        let mut digits: Vec<char> = cursor.chars().collect();
        let at = rng.usize(..digits.len());
        digits[at] = rng
            .choice(b"AQgw-_09azAZ".iter())
            .map(|&b| char::from(b))
            .unwrap();
        let changed: String = digits.into_iter().collect();
        assert_eq!(
            regex.is_match(&changed),
            Cursor::decode(&changed).is_ok(),
            "{changed}"
        );
    }
    for text in samples("djE6MTIzNA-_", 56, 3000) {
        assert_eq!(
            regex.is_match(&text),
            Cursor::decode(&text).is_ok(),
            "{text}"
        );
    }
    for other in ["v1:0193A7C0-0000-7000-8000-000000000000", "v2:x", "v1:"] {
        assert!(!regex.is_match(&URL_SAFE_NO_PAD.encode(other)));
    }
}

#[test]
fn runs_of_bytes_encode_as_documented() {
    let set = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let regex = Regex::new(&base64url_of_run("e1:", set, 255));
    let mut rng = fastrand::Rng::with_seed(5);
    for len in (0..=257).chain(0..300) {
        let len = if len > 257 { rng.usize(0..=257) } else { len };
        let text: String = (0..len)
            .map(|_| char::from(set[rng.usize(..set.len())]))
            .collect();
        let encoded = URL_SAFE_NO_PAD.encode(format!("e1:{text}"));
        assert_eq!(regex.is_match(&encoded), (1..=255).contains(&len), "{len}");
        let odd = URL_SAFE_NO_PAD.encode(format!("e1:{text}."));
        assert!(!regex.is_match(&odd));
    }
}

#[test]
fn the_url_pattern_is_the_parser() {
    let mut rng = fastrand::Rng::with_seed(11);
    let pieces = [
        "http://", "https://", "HTTPS://", "a", "b-c", "x9", "9", ".", "-", ":", "80", "00080",
        "65535", "65536", "255", "256", "01", "/", "?", "#", "%zz", "\\", "q=1&r", "@", "[", "]",
        "{", "\u{e9}", " ", "_", "xn--", "1.2.3.4",
    ];
    let mut accepted = 0;
    for _ in 0..60000 {
        let scheme = pieces[rng.usize(..3)];
        let text: String = std::iter::once(scheme)
            .chain((0..rng.usize(1..8)).map(|_| pieces[rng.usize(3..pieces.len())]))
            .collect();
        let parsed = HttpUrl::parse(&text).is_ok();
        accepted += usize::from(parsed);
        // `xn--` labels are the parser's to judge (valid punycode or not).
        if !text.to_ascii_lowercase().contains("xn--") {
            agree::<HttpUrl>(&text, parsed);
        } else if parsed {
            assert!(documented::<HttpUrl>(&text), "{text:?}");
        }
    }
    assert!(accepted > 2000, "{accepted}");
    let long = format!("https://e.com/{}", "a".repeat(4986));
    let longer = format!("{long}a");
    for text in [&long, &longer] {
        assert_eq!(
            documented::<HttpUrl>(text) && text.chars().count() <= HttpUrl::MAX_CHARS,
            HttpUrl::parse(text).is_ok()
        );
    }
}

#[test]
fn the_examples_are_valid() {
    fn example<T: PartialSchema>() -> String {
        let RefOr::T(Schema::Object(object)) = T::schema() else {
            panic!("a string schema");
        };
        let example = object.examples[0].as_str().unwrap().to_string();
        assert!(allows(&object, &example), "{example}");
        example
    }
    assert!(OrganizerName::parse(&example::<OrganizerName>()).is_ok());
    assert!(CustomerName::parse(&example::<CustomerName>()).is_ok());
    assert!(Phone::parse(&example::<Phone>()).is_ok());
    assert!(StripeAccountId::parse(&example::<StripeAccountId>()).is_ok());
    assert!(Email::parse(&example::<Email>()).is_ok());
    assert!(HttpUrl::parse(&example::<HttpUrl>()).is_ok());
    assert!(Cursor::decode(&example::<PageCursor>()).is_ok());
}

#[test]
fn currencies_are_listed_whole() {
    let all = Currency::all();
    assert!(all.len() > 100, "{}", all.len());
    assert!(all.iter().all(|code| Currency::parse(code).is_ok()));
    assert!(all.contains(&"eur") && all.contains(&"jpy"));
    // The document's pattern takes exactly what the parser takes.
    for text in all
        .iter()
        .copied()
        .chain(["EUR", "xxx", "eu", "euro", "", "usd "])
    {
        agree::<Currency>(text, Currency::parse(text).is_ok());
    }
}

#[test]
fn event_type_lists_are_documented_as_the_feed_parses_them() {
    let mut texts: Vec<String> = GatewayEventType::ALL
        .iter()
        .map(|kind| kind.as_str().to_string())
        .collect();
    texts.extend(
        [
            "payment.succeeded,refund.updated",
            "customer.deleted,customer.deleted",
            "",
            ",",
            "payment.succeeded,",
            " payment.succeeded",
            "payment_succeeded",
            "paymentXsucceeded",
            "payment.succeeded;refund.updated",
            "Payment.Succeeded",
        ]
        .map(String::from),
    );
    texts.extend(samples("payment.sucedrfun,_ ", 24, 300));
    for text in &texts {
        agree::<EventTypeList>(text, GatewayEventType::parse_list(text).is_ok());
    }
}
