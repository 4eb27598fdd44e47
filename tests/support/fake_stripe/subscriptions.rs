//! The fake's subscription changes: a new price or quantity of an item, cancelling at the
//! period's end or resuming (`POST /v1/subscriptions/{id}`), and cancelling now (`DELETE`).
//! Refused as Stripe refuses them: an unknown subscription, item or price of the account, and
//! any change to a canceled subscription.

use serde_json::{json, Map, Value};

use super::objects::missing;
use super::{form, refusal, State};

pub(super) fn route(
    state: &mut State,
    method: &str,
    segments: &[&str],
    scope: &str,
    params: &[(String, String)],
) -> Option<(u16, Value)> {
    let (method, id) = match (method, segments) {
        ("POST" | "DELETE", ["v1", "subscriptions", id]) => (method, id.to_string()),
        ("POST", ["v1", "invoices", "create_preview"]) => {
            return Some(preview(state, scope, &form::nest(params)))
        }
        _ => return None,
    };
    let key = (scope.to_string(), id.clone());
    let Some(subscription) = state
        .billing
        .get(&key)
        .filter(|object| object["object"] == "subscription")
        .cloned()
    else {
        return Some(missing("subscription", &id));
    };
    if subscription["status"] == "canceled" {
        return Some(refusal(
            "subscription",
            None,
            "A canceled subscription can only update its cancellation_details and metadata.",
        ));
    }
    let changed = if method == "DELETE" {
        let mut canceled = subscription;
        canceled["status"] = json!("canceled");
        canceled["cancel_at_period_end"] = json!(false);
        Ok(canceled)
    } else {
        update(state, scope, subscription, &form::nest(params))
    };
    Some(match changed {
        Ok(changed) => {
            state.billing.insert(key, changed.clone());
            (200, changed)
        }
        Err(refused) => refused,
    })
}

/// The next invoice of `subscription` after `subscription_details`, computed simply: a line
/// per item at its price, and with a new price and prorations (the default), a credit for half
/// a period of the old price and a charge for half a period of the new one.
fn preview(state: &State, scope: &str, nested: &Map<String, Value>) -> (u16, Value) {
    let Some(id) = nested.get("subscription").and_then(Value::as_str) else {
        return refusal(
            "subscription",
            None,
            "Missing required param: subscription.",
        );
    };
    let Some(current) = state
        .billing
        .get(&(scope.to_string(), id.to_string()))
        .filter(|object| object["object"] == "subscription")
        .cloned()
    else {
        return refusal(
            "subscription",
            Some("resource_missing"),
            &format!("No such subscription: '{id}'"),
        );
    };
    let details = nested
        .get("subscription_details")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let changed = match update(state, scope, current.clone(), &details) {
        Ok(changed) => changed,
        Err(refused) => return refused,
    };
    let amount = |item: &Value| {
        let price = item["price"]["id"].as_str().unwrap_or_default();
        let unit = state
            .billing
            .get(&(scope.to_string(), price.to_string()))
            .and_then(|price| price["unit_amount"].as_i64())
            .unwrap_or(0);
        unit * item["quantity"].as_i64().unwrap_or(1)
    };
    let items = |subscription: &Value| {
        subscription["items"]["data"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let mut lines = Vec::new();
    let prorate = details.get("proration_behavior").and_then(Value::as_str) != Some("none");
    for (before, after) in items(&current).iter().zip(items(&changed).iter()) {
        if prorate && amount(before) != amount(after) {
            lines.push(json!({ "description": "Unused time", "amount": -amount(before) / 2 }));
            lines.push(json!({ "description": "Remaining time", "amount": amount(after) / 2 }));
        }
    }
    for item in items(&changed) {
        lines.push(json!({ "description": format!("{} × {}", item["quantity"], item["price"]["id"]), "amount": amount(&item) }));
    }
    let total: i64 = lines
        .iter()
        .map(|line| line["amount"].as_i64().unwrap_or(0))
        .sum();
    (
        200,
        json!({
            "object": "invoice", "subscription": id, "currency": current["currency"],
            "total": total, "amount_due": total.max(0),
            "lines": { "object": "list", "has_more": false, "data": lines },
        }),
    )
}

fn update(
    state: &State,
    scope: &str,
    mut subscription: Value,
    nested: &Map<String, Value>,
) -> Result<Value, (u16, Value)> {
    if let Some(cancel) = nested.get("cancel_at_period_end").and_then(Value::as_str) {
        subscription["cancel_at_period_end"] = json!(cancel == "true");
    }
    let Some(items) = nested.get("items").and_then(Value::as_object) else {
        return Ok(subscription);
    };
    for change in items.values() {
        let item_id = change["id"].as_str().unwrap_or_default();
        let position = subscription["items"]["data"]
            .as_array()
            .and_then(|items| items.iter().position(|item| item["id"] == item_id))
            .ok_or_else(|| {
                refusal(
                    "items",
                    None,
                    &format!("No such subscription item: '{item_id}'"),
                )
            })?;
        let item = &mut subscription["items"]["data"][position];
        if let Some(price) = change["price"].as_str() {
            let known = state
                .billing
                .get(&(scope.to_string(), price.to_string()))
                .is_some_and(|object| object["object"] == "price");
            if !known {
                return Err(refusal(
                    "items[0][price]",
                    Some("resource_missing"),
                    &format!("No such price: '{price}'"),
                ));
            }
            item["price"] = json!({ "id": price, "object": "price" });
        }
        if let Some(quantity) = change["quantity"]
            .as_str()
            .and_then(|q| q.parse::<u64>().ok())
        {
            item["quantity"] = json!(quantity);
        }
    }
    Ok(subscription)
}
