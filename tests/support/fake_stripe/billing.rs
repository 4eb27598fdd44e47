//! The fake's catalog and billing objects (products, prices, subscriptions, invoices, payment
//! intents), which tests put in place directly or the fake's payments make, and the routes that
//! read them. Objects are stored per account scope.

use serde_json::{json, Map, Value};

use super::objects::missing;
use super::{form, State};

/// The kinds of object the fake keeps here, by the path segment that names them.
const KINDS: [(&str, &str); 8] = [
    ("products", "product"),
    ("prices", "price"),
    ("subscriptions", "subscription"),
    ("invoices", "invoice"),
    ("invoice_payments", "invoice_payment"),
    ("payment_intents", "payment_intent"),
    ("refunds", "refund"),
    ("disputes", "dispute"),
];

pub(super) fn route(
    state: &State,
    method: &str,
    segments: &[&str],
    scope: &str,
    params: &[(String, String)],
) -> Option<(u16, Value)> {
    match (method, segments) {
        ("GET", ["v1", "subscriptions"]) => Some(list_subscriptions(state, scope, params)),
        ("GET", ["v1", "events"]) => Some(list_events(state, scope, params)),
        (
            "GET",
            ["v1", collection @ ("products" | "prices" | "invoices" | "invoice_payments"
            | "payment_intents" | "refunds" | "disputes")],
        ) => {
            let (_, kind) = KINDS.iter().find(|(path, _)| path == collection)?;
            Some(list_kind(
                state,
                scope,
                kind,
                params,
                &format!("/v1/{collection}"),
            ))
        }
        ("GET", ["v1", "entitlements", "active_entitlements"]) => {
            Some(list_entitlements(state, scope, params))
        }
        ("GET", ["v1", "checkout", "sessions", id]) => Some(
            match state.billing.get(&(scope.to_string(), id.to_string())) {
                Some(object) if object["object"] == "checkout.session" => (200, object.clone()),
                _ => missing("checkout.session", id),
            },
        ),
        ("GET", ["v1", collection, id]) => {
            let (_, kind) = KINDS.iter().find(|(path, _)| path == collection)?;
            Some(
                match state.billing.get(&(scope.to_string(), id.to_string())) {
                    Some(object) if object["object"] == *kind => (200, object.clone()),
                    _ => missing(kind, id),
                },
            )
        }
        _ => None,
    }
}

/// The subscriptions of `customer` (of every account's customer without it) with `status`:
/// `all`, one status, or, as Stripe lists them by default, every status but `canceled`;
/// oldest first, paged by `starting_after`.
fn list_subscriptions(state: &State, scope: &str, params: &[(String, String)]) -> (u16, Value) {
    let query: Map<String, Value> = form::nest(params);
    let customer = text(&query, "customer");
    let status = text(&query, "status");
    let mut all: Vec<&Value> = state
        .billing
        .iter()
        .filter(|((s, _), object)| s == scope && object["object"] == "subscription")
        .map(|(_, object)| object)
        .filter(|s| customer.as_deref().is_none_or(|c| s["customer"] == c))
        .filter(|s| match status.as_deref() {
            Some("all") => true,
            Some(status) => s["status"] == status,
            None => s["status"] != "canceled",
        })
        .collect();
    all.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    page(all, &query, "/v1/subscriptions")
}

/// Every object of `kind` in the account, by id, paged by `starting_after`; `active` and
/// `customer` filter.
/// Prices are listed as Stripe lists them: without `active`, only the active ones ("For the
/// list of inactive prices, set active to false"); products all.
fn list_kind(
    state: &State,
    scope: &str,
    kind: &str,
    params: &[(String, String)],
    url: &str,
) -> (u16, Value) {
    let query: Map<String, Value> = form::nest(params);
    let active = match text(&query, "active").as_deref() {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ if kind == "price" => Some(true),
        _ => None,
    };
    let customer = text(&query, "customer");
    let mut all: Vec<&Value> = state
        .billing
        .iter()
        .filter(|((s, _), object)| s == scope && object["object"] == kind)
        .map(|(_, object)| object)
        .filter(|object| active.is_none_or(|active| object["active"] == active))
        .filter(|object| customer.as_deref().is_none_or(|c| object["customer"] == c))
        .collect();
    all.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    page(all, &query, url)
}

/// The account's events created at or after `created[gte]`, newest first, paged by
/// `starting_after`.
fn list_events(state: &State, scope: &str, params: &[(String, String)]) -> (u16, Value) {
    let query: Map<String, Value> = form::nest(params);
    let since = query
        .get("created")
        .and_then(|c| c.get("gte"))
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<i64>().ok())
        .unwrap_or(0);
    let mut all: Vec<&Value> = state
        .events
        .get(scope)
        .map(|events| {
            events
                .iter()
                .filter(|e| e["created"].as_i64().unwrap_or(0) >= since)
                .collect()
        })
        .unwrap_or_default();
    all.sort_by(|a, b| {
        (b["created"].as_i64(), b["id"].as_str()).cmp(&(a["created"].as_i64(), a["id"].as_str()))
    });
    page(all, &query, "/v1/events")
}

/// A customer's active entitlements, paged by `starting_after`.
fn list_entitlements(state: &State, scope: &str, params: &[(String, String)]) -> (u16, Value) {
    let query: Map<String, Value> = form::nest(params);
    let Some(customer) = text(&query, "customer") else {
        return super::stripe_error(
            400,
            "invalid_request_error",
            Some("parameter_missing"),
            "Missing required param: customer.",
        );
    };
    let all: Vec<&Value> = state
        .entitlements
        .get(&(scope.to_string(), customer))
        .map(|list| list.iter().collect())
        .unwrap_or_default();
    page(all, &query, "/v1/entitlements/active_entitlements")
}

fn text(query: &Map<String, Value>, name: &str) -> Option<String> {
    query.get(name).and_then(Value::as_str).map(str::to_string)
}

/// One page of `all` as Stripe lists it: after `starting_after`, at most `limit` (1 to 100,
/// default 10) items, and whether more follow. A `starting_after` naming no item is refused as
/// Stripe refuses it (400 `resource_missing`).
fn page(mut all: Vec<&Value>, query: &Map<String, Value>, url: &str) -> (u16, Value) {
    let limit = text(query, "limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(10)
        .clamp(1, 100);
    if let Some(after) = text(query, "starting_after") {
        match all.iter().position(|item| item["id"] == after.as_str()) {
            Some(index) => {
                all.drain(..=index);
            }
            None => {
                let (status, mut body) = super::stripe_error(
                    400,
                    "invalid_request_error",
                    Some("resource_missing"),
                    &format!("No such object: '{after}'"),
                );
                body["error"]["param"] = json!("starting_after");
                return (status, body);
            }
        }
    }
    let has_more = all.len() > limit;
    all.truncate(limit);
    (
        200,
        json!({ "object": "list", "url": url, "has_more": has_more, "data": all }),
    )
}

/// An active entitlement as Stripe returns it.
pub fn entitlement_json(index: usize, lookup_key: &str) -> Value {
    json!({
        "id": format!("ent_{index:05}"), "object": "entitlements.active_entitlement",
        "feature": format!("feat_{index:05}"), "livemode": false, "lookup_key": lookup_key,
    })
}

/// A checkout session as Stripe returns it.
pub fn checkout_session_json(
    id: &str,
    customer: Option<&str>,
    status: &str,
    payment_status: &str,
) -> Value {
    json!({
        "id": id, "object": "checkout.session", "customer": customer, "mode": "payment",
        "status": status, "payment_status": payment_status, "amount_total": 4900,
        "currency": "eur", "expires_at": 1_900_000_000, "metadata": {"order": "42"},
        "livemode": false, "url": null,
    })
}

/// A product as Stripe returns it.
pub fn product_json(id: &str, name: &str, active: bool) -> Value {
    json!({
        "id": id, "object": "product", "active": active, "name": name,
        "description": null, "metadata": {}, "created": 1_700_000_000, "updated": 1_700_000_000,
        "livemode": false, "images": [], "marketing_features": [], "package_dimensions": null,
        "shippable": null, "tax_code": null, "type": "service", "url": null,
    })
}

/// A price as Stripe returns it; `interval` makes it recurring.
pub fn price_json(id: &str, product: &str, unit_amount: i64, interval: Option<&str>) -> Value {
    json!({
        "id": id, "object": "price", "active": true, "currency": "eur", "product": product,
        "unit_amount": unit_amount, "lookup_key": null, "nickname": null, "metadata": {},
        "billing_scheme": "per_unit", "created": 1_700_000_000, "livemode": false,
        "type": if interval.is_some() { "recurring" } else { "one_time" },
        "recurring": interval.map(|i| json!({"interval": i, "interval_count": 1, "usage_type": "licensed"})),
    })
}

/// A subscription of `customer` to `price`, with its period end on the item (API versions
/// since 2025-03-31).
pub fn subscription_json(id: &str, customer: &str, price: &str, status: &str) -> Value {
    json!({
        "id": id, "object": "subscription", "customer": customer, "status": status,
        "cancel_at_period_end": false, "trial_end": null, "metadata": {},
        "created": 1_700_000_000, "livemode": false, "currency": "eur",
        "items": {"object": "list", "has_more": false, "data": [{
            "id": format!("si_{id}"), "object": "subscription_item", "quantity": 1,
            "current_period_end": 1_900_000_000,
            "price": {"id": price, "object": "price"},
        }]},
    })
}

/// An invoice of `customer` (of `subscription`, if any) in Stripe's shape since API version
/// 2025-03-31, with its period and creation at `created` (unix seconds).
pub fn invoice_json(
    id: &str,
    customer: &str,
    subscription: Option<&str>,
    status: &str,
    total: i64,
    created: i64,
) -> Value {
    let paid = if status == "paid" { total } else { 0 };
    json!({
        "id": id, "object": "invoice", "customer": customer, "status": status,
        "number": format!("NR-{id}"), "currency": "eur", "total": total, "amount_due": total,
        "amount_paid": paid, "amount_remaining": total - paid,
        "attempt_count": i64::from(status == "paid"), "attempted": status == "paid",
        "hosted_invoice_url": format!("https://invoice.stripe.com/i/{id}"),
        "period_start": created - 2_592_000, "period_end": created, "created": created,
        "parent": subscription.map(|s| json!({
            "type": "subscription_details", "subscription_details": {"subscription": s}
        })),
        "livemode": false,
    })
}
