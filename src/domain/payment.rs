//! What a checkout or a payment asks for, checked against Stripe's published limits before any
//! call, so that a bad amount, currency or URL is a field error and not a Stripe round trip.

/// An amount in the currency's minor unit: at least 1, at most Stripe's eight digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Amount(i64);

impl Amount {
    /// Stripe refuses larger amounts (`amount_too_large`) in every currency.
    pub const MAX: i64 = 99_999_999;

    pub fn parse(raw: i64) -> Result<Self, String> {
        if (1..=Self::MAX).contains(&raw) {
            Ok(Self(raw))
        } else {
            Err(format!(
                "must be a whole number of minor units from 1 to {}",
                Self::MAX
            ))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// The currencies Stripe supports, as the SDK's `Currency` lists them, sorted (a test in
/// `stripe::payments` keeps the two equal).
const SUPPORTED: &[&str] = &[
    "aed", "afn", "all", "amd", "ang", "aoa", "ars", "aud", "awg", "azn", "bam", "bbd", "bdt",
    "bgn", "bif", "bmd", "bnd", "bob", "brl", "bsd", "bwp", "byn", "bzd", "cad", "cdf", "chf",
    "clp", "cny", "cop", "crc", "cve", "czk", "djf", "dkk", "dop", "dzd", "eek", "egp", "etb",
    "eur", "fjd", "fkp", "gbp", "gel", "gip", "gmd", "gnf", "gtq", "gyd", "hkd", "hnl", "hrk",
    "htg", "huf", "idr", "ils", "inr", "isk", "jmd", "jpy", "kes", "kgs", "khr", "kmf", "krw",
    "kyd", "kzt", "lak", "lbp", "lkr", "lrd", "lsl", "ltl", "lvl", "mad", "mdl", "mga", "mkd",
    "mmk", "mnt", "mop", "mro", "mur", "mvr", "mwk", "mxn", "myr", "mzn", "nad", "ngn", "nio",
    "nok", "npr", "nzd", "pab", "pen", "pgk", "php", "pkr", "pln", "pyg", "qar", "ron", "rsd",
    "rub", "rwf", "sar", "sbd", "scr", "sek", "sgd", "shp", "sll", "sos", "srd", "std", "svc",
    "szl", "thb", "tjs", "top", "try", "ttd", "twd", "tzs", "uah", "ugx", "usd", "uyu", "uzs",
    "vef", "vnd", "vuv", "wst", "xaf", "xcd", "xof", "xpf", "yer", "zar", "zmw",
];

/// An ISO 4217 code, lowercase, of a currency Stripe supports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Currency(String);

impl Currency {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if SUPPORTED.binary_search(&raw).is_ok() {
            Ok(Self(raw.to_string()))
        } else {
            Err(
                "must be a lowercase ISO 4217 code of a currency Stripe supports, e.g. `eur`"
                    .into(),
            )
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Every code `parse` takes, in order.
    pub fn all() -> &'static [&'static str] {
        SUPPORTED
    }
}

super::text_enum! {
    /// Why a refund is asked for, in Stripe's words.
    pub enum RefundReason {
        Duplicate = "duplicate",
        Fraudulent = "fraudulent",
        RequestedByCustomer = "requested_by_customer",
    }
}

super::text_enum! {
    /// How Stripe prorates a subscription's new price or quantity.
    pub enum Proration {
        CreateProrations = "create_prorations",
        NoProrations = "none",
        AlwaysInvoice = "always_invoice",
    }
}

/// An absolute http(s) URL, as Stripe takes for redirects (at most 5,000 characters), in the
/// shape the OpenAPI document states exactly: `http://` or `https://` (any case), a domain name
/// whose last label starts with a letter, or a dotted IPv4 address, an optional port up to
/// 65535, then an optional path, query or fragment of printable ASCII. Other characters go
/// percent-encoded; user info, IPv6 literals and bare numbers as hosts are refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpUrl(String);

impl HttpUrl {
    pub(crate) const MAX_CHARS: usize = 5000;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let problem = "must be an absolute http:// or https:// URL of at most 5000 characters: a \
domain name or IPv4 address, an optional port, then printable ASCII (percent-encode the rest)";
        if raw.len() > Self::MAX_CHARS || !Self::shaped(raw) {
            return Err(problem.into());
        }
        // The shape is a subset of what browsers (and Stripe) parse; the parser has the last
        // word, e.g. on an `xn--` label that is not valid punycode.
        let parsed = url::Url::parse(raw).map_err(|_| problem.to_string())?;
        let web = matches!(parsed.scheme(), "http" | "https")
            && parsed.host_str().is_some_and(|host| !host.is_empty());
        if web {
            Ok(Self(raw.to_string()))
        } else {
            Err(problem.into())
        }
    }

    fn shaped(raw: &str) -> bool {
        let Some((scheme, rest)) = raw.split_once("://") else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return false;
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if !tail.bytes().all(|b| b.is_ascii_graphic()) {
            return false;
        }
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let port_ok = port.is_none_or(|port| {
            (1..=5).contains(&port.len())
                && port.bytes().all(|b| b.is_ascii_digit())
                && port.parse::<u32>().is_ok_and(|port| port <= 65_535)
        });
        port_ok && (Self::ipv4(host) || Self::domain(host))
    }

    /// Four decimal octets, without leading zeros (which URL parsers read as octal).
    fn ipv4(host: &str) -> bool {
        let octets: Vec<&str> = host.split('.').collect();
        octets.len() == 4
            && octets.iter().all(|octet| {
                (1..=3).contains(&octet.len())
                    && octet.bytes().all(|b| b.is_ascii_digit())
                    && (octet.len() == 1 || !octet.starts_with('0'))
                    && octet.parse::<u16>().is_ok_and(|n| n <= 255)
            })
    }

    /// Labels of letters, digits and inner hyphens, the last starting with a letter (a last
    /// label of digits makes parsers read the host as an IPv4 address), and an optional
    /// trailing dot.
    fn domain(host: &str) -> bool {
        let host = host.strip_suffix('.').unwrap_or(host);
        let labels: Vec<&str> = host.split('.').collect();
        let label_ok = |label: &&str| {
            let bytes = label.as_bytes();
            !bytes.is_empty()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
                && bytes[0] != b'-'
                && bytes[bytes.len() - 1] != b'-'
        };
        labels.iter().all(label_ok)
            && labels
                .last()
                .is_some_and(|last| last.as_bytes()[0].is_ascii_alphabetic())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A quantity of a line item: at least 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quantity(u64);

impl Quantity {
    /// Far above any real order, low enough that quantity × amount cannot overflow.
    pub const MAX: u64 = 1_000_000;

    pub fn parse(raw: i64) -> Result<Self, String> {
        match u64::try_from(raw) {
            Ok(quantity) if (1..=Self::MAX).contains(&quantity) => Ok(Self(quantity)),
            _ => Err(format!("must be a whole number from 1 to {}", Self::MAX)),
        }
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckoutMode {
    Payment,
    Subscription,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interval {
    Day,
    Week,
    Month,
    Year,
}

impl Interval {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "day" => Ok(Self::Day),
            "week" => Ok(Self::Week),
            "month" => Ok(Self::Month),
            "year" => Ok(Self::Year),
            _ => Err("must be `day`, `week`, `month` or `year`".into()),
        }
    }
}

/// How often a recurring line item bills: at most one year between charges, as Stripe allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recurring {
    pub interval: Interval,
    pub interval_count: u64,
}

impl Recurring {
    /// The most intervals between charges: one year.
    pub fn most(interval: Interval) -> u64 {
        match interval {
            Interval::Day => 365,
            Interval::Week => 52,
            Interval::Month => 12,
            Interval::Year => 1,
        }
    }

    pub fn parse(interval: Interval, count: Option<i64>) -> Result<Self, String> {
        let most = Self::most(interval) as i64;
        match count.unwrap_or(1) {
            count @ 1.. if count <= most => Ok(Self {
                interval,
                interval_count: count as u64,
            }),
            _ => Err(format!(
                "must be from 1 to {most} for this interval (at most one year between charges)"
            )),
        }
    }
}

/// One line of a checkout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineItem {
    /// A price of the organizer's catalog.
    Price { price: String, quantity: Quantity },
    /// An item priced here, with no catalog entry.
    Custom {
        name: String,
        unit_amount: Amount,
        currency: Currency,
        quantity: Quantity,
        recurring: Option<Recurring>,
    },
}

impl LineItem {
    /// Stripe's limit on line items in one Checkout Session.
    pub const MAX: usize = 100;
    /// In `subscription` mode, Stripe takes at most 20 items with recurring prices and 20 with
    /// one-time prices.
    pub const MAX_PER_KIND_IN_SUBSCRIPTION: usize = 20;
}

/// Whether Checkout saves what the buyer enters onto the Stripe customer: one of
/// `customer_update`'s fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Save {
    Auto,
    Never,
}

impl Save {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "auto" => Ok(Self::Auto),
            "never" => Ok(Self::Never),
            _ => Err("must be `auto` or `never`".into()),
        }
    }
}

/// Checkout's `customer_update`: what it saves onto the customer (Stripe's default: nothing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CustomerUpdate {
    pub address: Option<Save>,
    pub name: Option<Save>,
    pub shipping: Option<Save>,
}

/// Checkout's `billing_address_collection`: only what payment needs (`auto`, Stripe's
/// default) or always a full address (`required`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressCollection {
    Auto,
    Required,
}

impl AddressCollection {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "auto" => Ok(Self::Auto),
            "required" => Ok(Self::Required),
            _ => Err("must be `auto` or `required`".into()),
        }
    }
}

/// A billing portal configuration of the organizer's account (`bpc_...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortalConfiguration(String);

impl PortalConfiguration {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = raw.strip_prefix("bpc_").is_some_and(|rest| {
            !rest.is_empty()
                && raw.len() <= 255
                && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        });
        if ok {
            Ok(Self(raw.to_string()))
        } else {
            Err("must be a billing portal configuration id: `bpc_` and letters, digits or `_`, at most 255 characters".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_positive_and_within_eight_digits() {
        assert!(Amount::parse(1).is_ok());
        assert!(Amount::parse(99_999_999).is_ok());
        assert!(Amount::parse(0).is_err());
        assert!(Amount::parse(-5).is_err());
        assert!(Amount::parse(100_000_000).is_err());
    }

    #[test]
    fn currencies_are_lowercase_codes_stripe_knows() {
        assert_eq!(Currency::parse("eur").unwrap().as_str(), "eur");
        assert!(Currency::parse("EUR").is_err());
        assert!(Currency::parse("zzz").is_err());
        assert!(Currency::parse("eu").is_err());
        assert!(Currency::parse("").is_err());
    }

    #[test]
    fn urls_are_absolute_http() {
        assert!(HttpUrl::parse("https://shop.example/thanks?id={CHECKOUT_SESSION_ID}").is_ok());
        assert!(HttpUrl::parse("http://localhost:3000/done").is_ok());
        assert!(HttpUrl::parse("/relative").is_err());
        assert!(HttpUrl::parse("javascript:alert(1)").is_err());
        assert!(HttpUrl::parse("ftp://example.com/x").is_err());
        assert!(HttpUrl::parse("https://exa mple.com").is_err());
        assert!(HttpUrl::parse(&format!("https://e.com/{}", "a".repeat(5000))).is_err());
        assert!(HttpUrl::parse("http://127.0.0.1:8080/callback").is_ok());
        assert!(HttpUrl::parse("HTTPS://Shop.Example./x?y#z").is_ok());
        // Outside the documented shape: user info, IPv6, numeric or odd hosts, other text.
        for refused in [
            "https://user@shop.example/",
            "http://[::1]/",
            "http://1.2.3/",
            "http://010.0.0.1/",
            "https://shop.example:65536/",
            "https://shop.example:/",
            "https://shop_example.com/",
            "https://shop.example/caf\u{e9}",
            "https://-shop.example/",
        ] {
            assert!(HttpUrl::parse(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn recurring_is_at_most_a_year() {
        assert!(Recurring::parse(Interval::Month, Some(12)).is_ok());
        assert!(Recurring::parse(Interval::Month, Some(13)).is_err());
        assert!(Recurring::parse(Interval::Year, None).is_ok());
        assert!(Recurring::parse(Interval::Week, Some(0)).is_err());
    }

    #[test]
    fn quantities_start_at_one() {
        assert!(Quantity::parse(1).is_ok());
        assert!(Quantity::parse(0).is_err());
        assert!(Quantity::parse(-1).is_err());
        assert!(Quantity::parse(1_000_001).is_err());
    }
}
