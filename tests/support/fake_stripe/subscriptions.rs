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
