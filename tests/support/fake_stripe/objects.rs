//! The fake's Stripe objects: customers, and the routes that read and change them.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use super::{form, stripe_error, State};

pub(super) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub(super) fn route(
    state: &mut State,
    method: &str,
    path: &str,
    scope: &str,
    params: &[(String, String)],
) -> (u16, Value) {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if state.revoked_accounts.contains(scope) {
        return no_access();
    }
    if let Some(refusal) = super::contract::check(method, &segments, params) {
        return refusal;
    }
    match (method, segments.as_slice()) {
        ("POST", ["v1", "customers"]) => create_customer(state, scope, params),
        ("GET", ["v1", "customers"]) => list_customers(state, scope, params),
        ("GET", ["v1", "customers", id]) => match find_customer(state, scope, id) {
            Some(customer) => (200, customer.clone()),
            None => missing("customer", id),
        },
        ("POST", ["v1", "customers", id]) => match find_customer(state, scope, id) {
            Some(customer) if customer.get("deleted").is_some() => missing("customer", id),
            Some(customer) => {
                apply_customer_params(customer, params);
                (200, customer.clone())
            }
            None => missing("customer", id),
        },
        ("DELETE", ["v1", "customers", id]) => match find_customer(state, scope, id) {
            Some(customer) if customer.get("deleted").is_some() => missing("customer", id),
            Some(customer) => {
                *customer = json!({ "id": id, "object": "customer", "deleted": true });
                (200, customer.clone())
            }
            None => missing("customer", id),
        },
        _ => super::accounts::route(state, method, &segments, scope, params)
            .or_else(|| super::payments::route(state, method, &segments, scope, params))
            .or_else(|| super::subscriptions::route(state, method, &segments, scope, params))
            .or_else(|| super::billing::route(state, method, &segments, scope, params))
            .unwrap_or_else(|| {
                stripe_error(
                    404,
                    "invalid_request_error",
                    None,
                    &format!("Unrecognized request URL ({method}: {path})"),
                )
            }),
    }
}

pub(super) fn no_access() -> (u16, Value) {
    stripe_error(
        403,
        "invalid_request_error",
        Some("account_invalid"),
        "The provided key 'sk_test_********gway' does not have access to account (or that account does not exist). Application access may have been revoked.",
    )
}

pub(super) fn missing(kind: &str, id: &str) -> (u16, Value) {
    stripe_error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        &format!("No such {kind}: '{id}'"),
    )
}

pub(super) fn find_customer<'a>(
    state: &'a mut State,
    scope: &str,
    id: &str,
) -> Option<&'a mut Value> {
    state
        .customers
        .get_mut(scope)?
        .iter_mut()
        .find(|c| c["id"] == id)
}

pub(super) fn create_customer(
    state: &mut State,
    scope: &str,
    params: &[(String, String)],
) -> (u16, Value) {
    state.next_id += 1;
    let id = format!("cus_fake{:010}{}", state.next_id, fastrand::alphanumeric());
    let mut customer = json!({
        "id": id,
        "object": "customer",
        "created": now(),
        "livemode": false,
        "email": null,
        "name": null,
        "phone": null,
        "description": null,
        "address": null,
        "balance": 0,
        "delinquent": false,
        "metadata": {},
        "preferred_locales": [],
    });
    apply_customer_params(&mut customer, params);
    state
        .customers
        .entry(scope.to_string())
        .or_default()
        .push(customer.clone());
    (200, customer)
}

/// Stripe's update semantics: given fields are set, `""` clears a field, metadata merges
/// key by key and `metadata[k]=""` removes a key.
fn apply_customer_params(customer: &mut Value, params: &[(String, String)]) {
    let nested = form::nest(params);
    for field in ["email", "name", "phone", "description"] {
        if let Some(Value::String(value)) = nested.get(field) {
            customer[field] = if value.is_empty() {
                Value::Null
            } else {
                json!(value)
            };
        }
    }
    if let Some(Value::Object(address)) = nested.get("address") {
        customer["address"] = Value::Object(address.clone());
    }
    if let Some(Value::Object(metadata)) = nested.get("metadata") {
        let current = customer["metadata"]
            .as_object_mut()
            .expect("metadata is an object");
        for (key, value) in metadata {
            match value.as_str() {
                Some("") => {
                    current.remove(key);
                }
                _ => {
                    current.insert(key.clone(), value.clone());
                }
            }
        }
    }
}

/// Newest first, as Stripe lists; `email` filters exactly, `starting_after` pages.
fn list_customers(state: &State, scope: &str, params: &[(String, String)]) -> (u16, Value) {
    let query: Map<String, Value> = form::nest(params);
    let text = |name: &str| query.get(name).and_then(Value::as_str).map(str::to_string);
    let limit = text("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(10)
        .clamp(1, 100);
    let email = text("email");
    let mut customers: Vec<&Value> = state
        .customers
        .get(scope)
        .map(|all| {
            all.iter()
                .rev()
                .filter(|c| c.get("deleted").is_none())
                .filter(|c| email.as_deref().is_none_or(|e| c["email"] == e))
                .collect()
        })
        .unwrap_or_default();
    if let Some(after) = text("starting_after") {
        match customers.iter().position(|c| c["id"] == after.as_str()) {
            Some(index) => customers.drain(..=index),
            None => return missing("customer", &after),
        };
    }
    let has_more = customers.len() > limit;
    customers.truncate(limit);
    (
        200,
        json!({
            "object": "list",
            "url": "/v1/customers",
            "has_more": has_more,
            "data": customers,
        }),
    )
}
