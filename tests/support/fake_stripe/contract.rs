//! The parameters Stripe takes for each call the gateway makes, and their limits: a request
//! with a parameter Stripe does not know, a value past its length, outside its enum or bounds,
//! or metadata past Stripe's limits is refused here as Stripe refuses it (400
//! `invalid_request_error` naming `param`), before any object is touched.
//!
//! The rules come from Stripe's published OpenAPI description for API version
//! `2026-09-30.endive` (the `stripe/openapi` repository, `latest/openapi.spec3.json`), which
//! async-stripe 1.0.0-rc.10, the version the gateway pins, is generated from: the parameter
//! names, enums and `maxLength`s of its schemas, and the limits its descriptions state in words
//! (`limit` 1 to 100; amounts of at most eight digits; `application_fee_percent` from 0 to 100
//! with two decimals). Metadata's limits (50 keys, keys of at most 40 characters without
//! brackets, values of at most 500) are those of Stripe's metadata documentation. The rules
//! that span parameters (Checkout's mode rules, amounts in total) are checked where the object
//! is created, in `payments.rs`.

use serde_json::Value;

use super::refusal;

/// What a parameter may hold.
#[derive(Clone, Copy)]
enum Rule {
    /// Text of at most this many characters.
    Text(usize),
    Enum(&'static [&'static str]),
    /// A whole number within the bounds.
    Int(i64, i64),
    Bool,
    /// A decimal within the bounds, with at most two decimals.
    Percent,
    /// A metadata value: Stripe's limits on keys and values.
    Metadata,
}

const EIGHT_DIGITS: i64 = 99_999_999;
const PAGING: [(&str, Rule); 2] = [
    ("limit", Rule::Int(1, 100)),
    ("starting_after", Rule::Text(5000)),
];

/// The parameters of the operation, by their pattern (`[N]` an index, `[*]` a metadata key);
/// `None` for a call the fake does not check (its control routes).
fn parameters(method: &str, segments: &[&str]) -> Option<Vec<(&'static str, Rule)>> {
    let customer_fields = [
        ("email", Rule::Text(512)),
        ("name", Rule::Text(256)),
        ("phone", Rule::Text(20)),
        ("description", Rule::Text(5000)),
        ("metadata[*]", Rule::Metadata),
    ];
    let save = Rule::Enum(&["auto", "never"]);
    let mut params: Vec<(&'static str, Rule)> = match (method, segments) {
        ("POST", ["v1", "customers"]) | ("POST", ["v1", "customers", _]) => {
            customer_fields.to_vec()
        }
        ("GET", ["v1", "customers"]) => [("email", Rule::Text(512))].to_vec(),
        ("GET" | "DELETE", ["v1", "customers", _]) => vec![],
        ("POST", ["v1", "checkout", "sessions"]) => vec![
            ("mode", Rule::Enum(&["payment", "setup", "subscription"])),
            ("customer", Rule::Text(5000)),
            ("client_reference_id", Rule::Text(200)),
            ("success_url", Rule::Text(5000)),
            ("cancel_url", Rule::Text(5000)),
            ("allow_promotion_codes", Rule::Bool),
            (
                "billing_address_collection",
                Rule::Enum(&["auto", "required"]),
            ),
            ("customer_update[address]", save),
            ("customer_update[name]", save),
            ("customer_update[shipping]", save),
            ("automatic_tax[enabled]", Rule::Bool),
            ("metadata[*]", Rule::Metadata),
            ("line_items[N][price]", Rule::Text(5000)),
            ("line_items[N][quantity]", Rule::Int(0, i64::MAX)),
            ("line_items[N][price_data][currency]", Rule::Text(3)),
            (
                "line_items[N][price_data][unit_amount]",
                Rule::Int(0, EIGHT_DIGITS),
            ),
            (
                "line_items[N][price_data][product_data][name]",
                Rule::Text(5000),
            ),
            (
                "line_items[N][price_data][recurring][interval]",
                Rule::Enum(&["day", "month", "week", "year"]),
            ),
            (
                "line_items[N][price_data][recurring][interval_count]",
                Rule::Int(1, i64::MAX),
            ),
            (
                "payment_intent_data[application_fee_amount]",
                Rule::Int(0, EIGHT_DIGITS),
            ),
            ("payment_intent_data[metadata][*]", Rule::Metadata),
            ("payment_intent_data[on_behalf_of]", Rule::Text(5000)),
            (
                "payment_intent_data[transfer_data][destination]",
                Rule::Text(5000),
            ),
            ("subscription_data[application_fee_percent]", Rule::Percent),
            ("subscription_data[metadata][*]", Rule::Metadata),
        ],
        ("GET", ["v1", "checkout", "sessions", _]) => vec![],
        ("POST", ["v1", "payment_intents"]) => vec![
            ("amount", Rule::Int(1, EIGHT_DIGITS)),
            ("currency", Rule::Text(3)),
            ("customer", Rule::Text(5000)),
            ("description", Rule::Text(1000)),
            ("metadata[*]", Rule::Metadata),
            ("application_fee_amount", Rule::Int(0, EIGHT_DIGITS)),
            ("on_behalf_of", Rule::Text(5000)),
            ("transfer_data[destination]", Rule::Text(5000)),
        ],
        ("POST", ["v1", "subscriptions", _]) => vec![
            ("cancel_at_period_end", Rule::Bool),
            ("items[N][id]", Rule::Text(5000)),
            ("items[N][price]", Rule::Text(5000)),
            ("items[N][quantity]", Rule::Int(0, i64::MAX)),
            (
                "proration_behavior",
                Rule::Enum(&["always_invoice", "create_prorations", "none"]),
            ),
        ],
        ("DELETE", ["v1", "subscriptions", _]) => vec![],
        ("POST", ["v1", "invoices", "create_preview"]) => vec![
            ("subscription", Rule::Text(5000)),
            ("subscription_details[cancel_at_period_end]", Rule::Bool),
            ("subscription_details[items][N][id]", Rule::Text(5000)),
            ("subscription_details[items][N][price]", Rule::Text(5000)),
            (
                "subscription_details[items][N][quantity]",
                Rule::Int(0, i64::MAX),
            ),
            (
                "subscription_details[proration_behavior]",
                Rule::Enum(&["always_invoice", "create_prorations", "none"]),
            ),
        ],
        ("POST", ["v1", "refunds"]) => vec![
            ("payment_intent", Rule::Text(5000)),
            ("amount", Rule::Int(1, EIGHT_DIGITS)),
            (
                "reason",
                Rule::Enum(&["duplicate", "fraudulent", "requested_by_customer"]),
            ),
            ("refund_application_fee", Rule::Bool),
            ("reverse_transfer", Rule::Bool),
            ("metadata[*]", Rule::Metadata),
        ],
        ("POST", ["v1", "billing_portal", "sessions"]) => vec![
            ("customer", Rule::Text(5000)),
            ("return_url", Rule::Text(5000)),
            ("configuration", Rule::Text(5000)),
        ],
        ("POST", ["v1", "accounts"]) => vec![
            ("type", Rule::Enum(&["custom", "express", "standard"])),
            ("country", Rule::Text(5000)),
            ("email", Rule::Text(5000)),
            (
                "business_type",
                Rule::Enum(&["company", "government_entity", "individual", "non_profit"]),
            ),
            ("capabilities[card_payments][requested]", Rule::Bool),
            ("capabilities[transfers][requested]", Rule::Bool),
            ("metadata[*]", Rule::Metadata),
        ],
        ("POST", ["v1", "account_links"]) => vec![
            ("account", Rule::Text(5000)),
            (
                "type",
                Rule::Enum(&["account_onboarding", "account_update"]),
            ),
            ("refresh_url", Rule::Text(5000)),
            ("return_url", Rule::Text(5000)),
        ],
        ("POST", ["v1", "accounts", _, "login_links"]) => vec![],
        ("GET", ["v1", "products"]) | ("GET", ["v1", "prices"]) => {
            vec![("active", Rule::Bool)]
        }
        ("GET", ["v1", "subscriptions"]) => vec![
            ("customer", Rule::Text(5000)),
            (
                "status",
                Rule::Enum(&[
                    "active",
                    "all",
                    "canceled",
                    "ended",
                    "incomplete",
                    "incomplete_expired",
                    "past_due",
                    "paused",
                    "trialing",
                    "unpaid",
                ]),
            ),
        ],
        ("GET", ["v1", "events"]) => vec![("created[gte]", Rule::Int(0, i64::MAX))],
        ("GET", ["v1", "invoices" | "payment_intents"]) => vec![("customer", Rule::Text(5000))],
        ("GET", ["v1", "refunds"]) => vec![("payment_intent", Rule::Text(5000))],
        ("GET", ["v1", "disputes"]) => vec![("payment_intent", Rule::Text(5000))],
        ("GET", ["v1", "invoice_payments"]) => vec![
            ("invoice", Rule::Text(5000)),
            ("status", Rule::Enum(&["canceled", "open", "paid"])),
        ],
        ("GET", ["v1", "entitlements", "active_entitlements"]) => {
            vec![("customer", Rule::Text(5000))]
        }
        (
            "GET",
            ["v1", "products" | "prices" | "subscriptions" | "invoices" | "invoice_payments"
            | "payment_intents" | "refunds" | "disputes", _],
        )
        | ("GET", ["v1", "account"])
        | ("GET", ["v1", "accounts", _]) => vec![],
        _ => return None,
    };
    let lists = matches!(
        (method, segments),
        (
            "GET",
            [
                "v1",
                "customers"
                    | "products"
                    | "prices"
                    | "subscriptions"
                    | "events"
                    | "invoices"
                    | "invoice_payments"
                    | "payment_intents"
                    | "refunds"
                    | "disputes"
            ]
        ) | ("GET", ["v1", "entitlements", "active_entitlements"])
    );
    if lists {
        params.extend(PAGING);
    }
    Some(params)
}

/// The parameter's pattern: indices as `[N]`, the keys under a `metadata` as `[*]`.
fn pattern(key: &str) -> String {
    let mut segments = key.split('[').map(|s| s.trim_end_matches(']'));
    let mut out = segments.next().unwrap_or_default().to_string();
    let mut previous = out.clone();
    for segment in segments {
        let shown = if previous == "metadata" {
            "*"
        } else if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            "N"
        } else {
            segment
        };
        out.push_str(&format!("[{shown}]"));
        previous = segment.to_string();
    }
    out
}

fn refuse(param: &str, message: String) -> (u16, Value) {
    refusal(param, None, &message)
}

/// Stripe's refusal of the request's parameters, if any.
pub(super) fn check(
    method: &str,
    segments: &[&str],
    params: &[(String, String)],
) -> Option<(u16, Value)> {
    let allowed = parameters(method, segments)?;
    let mut metadata_keys: std::collections::HashMap<String, usize> = Default::default();
    for (key, value) in params {
        let shape = pattern(key);
        let Some((_, rule)) = allowed.iter().find(|(name, _)| *name == shape) else {
            return Some(refuse(key, format!("Received unknown parameter: {key}")));
        };
        if let Some(refusal) = check_value(key, value, *rule) {
            return Some(refusal);
        }
        if matches!(rule, Rule::Metadata) {
            let parent = key[..key.rfind('[').unwrap_or(0)].to_string();
            *metadata_keys.entry(parent).or_default() += 1;
        }
    }
    metadata_keys
        .into_iter()
        .find(|(_, n)| *n > 50)
        .map(|(parent, _)| {
            refuse(
                &parent,
                format!("Invalid {parent}: metadata can have at most 50 keys"),
            )
        })
}

fn check_value(key: &str, value: &str, rule: Rule) -> Option<(u16, Value)> {
    match rule {
        Rule::Text(most) if value.chars().count() > most => Some(refuse(
            key,
            format!("Invalid string: {value:.20}...; must be at most {most} characters"),
        )),
        Rule::Enum(values) if !values.contains(&value) => Some(refuse(
            key,
            format!("Invalid {key}: must be one of {}", values.join(", ")),
        )),
        Rule::Int(min, max) => match value.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => None,
            Ok(_) if max == EIGHT_DIGITS => Some(refusal(
                key,
                Some("amount_too_large"),
                "Amount must be no more than $999,999.99",
            )),
            _ => Some(refuse(key, format!("Invalid integer: {value}"))),
        },
        Rule::Bool if value != "true" && value != "false" => {
            Some(refuse(key, format!("Invalid boolean: {value}")))
        }
        Rule::Percent => {
            let decimals = value.split_once('.').map_or(0, |(_, d)| d.len());
            match value.parse::<f64>() {
                Ok(p) if (0.0..=100.0).contains(&p) && decimals <= 2 => None,
                _ => Some(refuse(
                    key,
                    format!("Invalid {key}: must be a decimal between 0 and 100 with at most two decimal places"),
                )),
            }
        }
        Rule::Metadata => {
            let name = &key[key.rfind('[').map_or(0, |i| i + 1)..key.len() - 1];
            if name.is_empty() || name.chars().count() > 40 || name.contains(['[', ']']) {
                Some(refuse(
                    key,
                    format!("Invalid metadata key {name:.50}: keys must be 1 to 40 characters without brackets"),
                ))
            } else if value.chars().count() > 500 {
                Some(refuse(
                    key,
                    "Invalid metadata value: values must be at most 500 characters".into(),
                ))
            } else {
                None
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::pattern;

    #[test]
    fn indices_and_metadata_keys_become_placeholders() {
        assert_eq!(pattern("line_items[3][price]"), "line_items[N][price]");
        assert_eq!(pattern("metadata[order_1]"), "metadata[*]");
        assert_eq!(
            pattern("payment_intent_data[metadata][12]"),
            "payment_intent_data[metadata][*]"
        );
        assert_eq!(pattern("created[gte]"), "created[gte]");
    }
}
