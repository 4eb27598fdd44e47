//! The fake's payment objects: Checkout Sessions, PaymentIntents and billing portal sessions,
//! created per account as Stripe does. It refuses what Stripe refuses and the gateway must never
//! send: a customer or price of another account, an application fee on the platform's own
//! payments (Stripe takes one on a direct charge, with `Stripe-Account`, or a destination
//! charge: see `destination`), a transfer reversed on a payment that made none.

use serde_json::{json, Map, Value};

use super::objects::{find_customer, now};
use super::{form, refusal, State};

pub(super) fn route(
    state: &mut State,
    method: &str,
    segments: &[&str],
    scope: &str,
    params: &[(String, String)],
) -> Option<(u16, Value)> {
    let nested = form::nest(params);
    if let ("POST", ["v1", "checkout", "sessions"] | ["v1", "payment_intents"]) = (method, segments)
    {
        if let Some(refused) = super::accounts::charges_refused(state, scope) {
            return Some(refused);
        }
    }
    Some(match (method, segments) {
        ("POST", ["v1", "checkout", "sessions"]) => checkout_session(state, scope, &nested),
        ("POST", ["v1", "payment_intents"]) => payment_intent(state, scope, &nested),
        ("POST", ["v1", "billing_portal", "sessions"]) => portal_session(state, scope, &nested),
        ("POST", ["v1", "refunds"]) => refund(state, scope, &nested),
        _ => return None,
    })
}

fn text<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    map.get(name).and_then(Value::as_str)
}

fn invalid(param: &str, message: &str) -> (u16, Value) {
    refusal(param, None, message)
}

fn no_such(kind: &str, param: &str, id: &str) -> (u16, Value) {
    refusal(
        param,
        Some("resource_missing"),
        &format!("No such {kind}: '{id}'"),
    )
}

/// The customer must be a live one of this account.
fn check_customer(
    state: &mut State,
    scope: &str,
    nested: &Map<String, Value>,
) -> Result<String, (u16, Value)> {
    let Some(id) = text(nested, "customer") else {
        return Err(invalid("customer", "Missing required param: customer."));
    };
    match find_customer(state, scope, id) {
        Some(customer) if customer.get("deleted").is_none() => Ok(id.to_string()),
        _ => Err(no_such("customer", "customer", id)),
    }
}

/// An application fee is taken on a direct charge (`Stripe-Account`) or a destination charge;
/// the platform's own payments have none.
fn fee_refused(scope: &str, param: &str, destination: bool) -> Option<(u16, Value)> {
    (scope == "platform" && !destination).then(|| {
        invalid(
            param,
            "Can only apply an application_fee_amount when the PaymentIntent is attempting a direct payment (using an OAuth key or Stripe-Account header) or destination payment.",
        )
    })
}

fn next_id(state: &mut State, prefix: &str) -> String {
    state.next_id += 1;
    format!("{prefix}_test_fake{:08}", state.next_id)
}

fn checkout_session(state: &mut State, scope: &str, nested: &Map<String, Value>) -> (u16, Value) {
    let customer = match check_customer(state, scope, nested) {
        Ok(customer) => customer,
        Err(refusal) => return refusal,
    };
    let Some(mode) = text(nested, "mode") else {
        return invalid("mode", "Missing required param: mode.");
    };
    if text(nested, "success_url").is_none() {
        return invalid("success_url", "Missing required param: success_url.");
    }
    // Each mode's own data: `payment_intent_data` in `payment` mode, `subscription_data` in
    // `subscription` mode.
    for (parent, its_mode) in [
        ("payment_intent_data", "payment"),
        ("subscription_data", "subscription"),
    ] {
        if nested.contains_key(parent) && mode != its_mode {
            return invalid(
                parent,
                &format!("You can not pass `{parent}` in `{mode}` mode."),
            );
        }
    }
    let intent_data = nested.get("payment_intent_data").and_then(Value::as_object);
    let destination =
        match super::destination::checked(state, scope, intent_data, "payment_intent_data[") {
            Ok(destination) => destination,
            Err(refusal) => return refusal,
        };
    let fee_paths = [
        ("payment_intent_data", "application_fee_amount"),
        ("subscription_data", "application_fee_percent"),
    ];
    for (parent, field) in fee_paths {
        let sent = nested.get(parent).and_then(|p| p.get(field)).is_some();
        let param = format!("{parent}[{field}]");
        if let (true, Some(refusal)) = (sent, fee_refused(scope, &param, destination.is_some())) {
            return refusal;
        }
    }
    let Some(Value::Object(items)) = nested.get("line_items") else {
        return invalid("line_items", "Missing required param: line_items.");
    };
    let mut total = 0_i64;
    let mut currency: Option<String> = None;
    let mut recurring = 0;
    let mut lines = Vec::new();
    for (index, item) in items {
        let quantity: i64 = item["quantity"]
            .as_str()
            .and_then(|q| q.parse().ok())
            .unwrap_or(1);
        let (amount, item_currency, recurs) = if let Some(price) = item["price"].as_str() {
            match state.billing.get(&(scope.to_string(), price.to_string())) {
                Some(object) if object["object"] == "price" => {
                    if object["active"] == false {
                        return invalid(
                            &format!("line_items[{index}][price]"),
                            &format!("The price specified is inactive: {price}"),
                        );
                    }
                    (
                        object["unit_amount"].as_i64().unwrap_or(0),
                        object["currency"].as_str().unwrap_or_default().to_string(),
                        !object["recurring"].is_null(),
                    )
                }
                _ => return no_such("price", &format!("line_items[{index}][price]"), price),
            }
        } else {
            let data = &item["price_data"];
            let amount = data["unit_amount"].as_str().and_then(|a| a.parse().ok());
            let Some(amount) = amount else {
                return invalid(
                    &format!("line_items[{index}]"),
                    "You must specify either `price` or `price_data`.",
                );
            };
            (
                amount,
                data["currency"].as_str().unwrap_or_default().to_string(),
                data.get("recurring").is_some(),
            )
        };
        total = total.saturating_add(amount.saturating_mul(quantity));
        recurring += usize::from(recurs);
        lines.push(json!({
            "price": item["price"], "price_data": item["price_data"], "quantity": quantity,
            "recurring": recurs,
        }));
        currency.get_or_insert(item_currency);
    }
    if let Some(refusal) = mode_refusal(mode, items.len(), recurring) {
        return refusal;
    }
    let fee = nested
        .get("payment_intent_data")
        .and_then(|data| data.get("application_fee_amount"))
        .and_then(Value::as_str)
        .and_then(|fee| fee.parse::<i64>().ok());
    if fee.is_some_and(|fee| fee > total) {
        return invalid(
            "payment_intent_data[application_fee_amount]",
            "The application fee amount cannot be greater than the total amount of the Checkout Session.",
        );
    }
    if total > 99_999_999 {
        return refusal(
            "line_items",
            Some("amount_too_large"),
            "The Checkout Session's total amount due must be no more than 99999999.",
        );
    }
    let update = |field: &str| {
        nested
            .get("customer_update")
            .and_then(|u| u.get(field))
            .and_then(Value::as_str)
    };
    let address_known =
        find_customer(state, scope, &customer).is_some_and(|c| !c["address"].is_null());
    let tax = nested
        .get("automatic_tax")
        .and_then(|t| t.get("enabled"))
        .and_then(Value::as_str)
        == Some("true");
    if tax
        && !address_known
        && update("address") != Some("auto")
        && update("shipping") != Some("auto")
    {
        return refusal(
            "customer_update[address]",
            Some("customer_tax_location_invalid"),
            "Automatic tax calculation in Checkout requires a valid address on the Customer. Add a valid address to the Customer or set either `customer_update[address]` to 'auto' or `customer_update[shipping]` to 'auto' to save the address entered in Checkout to the Customer.",
        );
    }
    let id = next_id(state, "cs");
    let session = json!({
        "id": id, "object": "checkout.session", "customer": customer, "mode": mode,
        "status": "open", "payment_status": "unpaid", "amount_total": total,
        "currency": currency, "expires_at": 1_900_000_000,
        "client_reference_id": text(nested, "client_reference_id"),
        "metadata": nested.get("metadata").cloned().unwrap_or_else(|| json!({})),
        "payment_intent_data": nested.get("payment_intent_data").cloned(),
        "subscription_data": nested.get("subscription_data").cloned(),
        "line_items": {"object": "list", "data": lines},
        "livemode": false, "url": format!("https://checkout.stripe.com/c/pay/{id}"),
    });
    state
        .billing
        .insert((scope.to_string(), id), session.clone());
    (200, session)
}

/// Checkout's line item rules by mode: in `payment` mode one-time prices only, at most 100; in
/// `subscription` mode at least one recurring price, at most 20 recurring and 20 one-time.
fn mode_refusal(mode: &str, items: usize, recurring: usize) -> Option<(u16, Value)> {
    let one_time = items - recurring;
    let message = match mode {
        "payment" if recurring > 0 => "You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or use only one-time prices.",
        "payment" if items > 100 => "You may only specify up to 100 line items in `payment` mode.",
        "subscription" if recurring == 0 => "You must provide at least one recurring price in `subscription` mode when using prices.",
        "subscription" if recurring > 20 || one_time > 20 => "In `subscription` mode, you can specify up to 20 line items with recurring prices and 20 line items with one-time prices.",
        _ => return None,
    };
    Some(invalid("line_items", message))
}

fn payment_intent(state: &mut State, scope: &str, nested: &Map<String, Value>) -> (u16, Value) {
    let customer = match check_customer(state, scope, nested) {
        Ok(customer) => customer,
        Err(refusal) => return refusal,
    };
    let Some(amount) = text(nested, "amount").and_then(|a| a.parse::<i64>().ok()) else {
        return invalid("amount", "Missing required param: amount.");
    };
    let destination = match super::destination::checked(state, scope, Some(nested), "") {
        Ok(destination) => destination,
        Err(refusal) => return refusal,
    };
    if let Some(fee) = text(nested, "application_fee_amount") {
        if let Some(refusal) = fee_refused(scope, "application_fee_amount", destination.is_some()) {
            return refusal;
        }
        if fee.parse::<i64>().is_ok_and(|fee| fee > amount) {
            return invalid(
                "application_fee_amount",
                "The application fee amount cannot be greater than the amount of the PaymentIntent.",
            );
        }
    }
    let (transfer_data, on_behalf_of) = super::destination::intent_fields(destination.as_deref());
    let id = next_id(state, "pi");
    let intent = json!({
        "transfer_data": transfer_data, "on_behalf_of": on_behalf_of,
        "id": id, "object": "payment_intent", "amount": amount,
        "currency": text(nested, "currency"), "customer": customer,
        "client_secret": format!("{id}_secret_fake"), "status": "requires_payment_method",
        "application_fee_amount": text(nested, "application_fee_amount").and_then(|a| a.parse::<i64>().ok()),
        "metadata": nested.get("metadata").cloned().unwrap_or_else(|| json!({})),
        "livemode": false, "created": now(),
    });
    state
        .billing
        .insert((scope.to_string(), id), intent.clone());
    (200, intent)
}

fn portal_session(state: &mut State, scope: &str, nested: &Map<String, Value>) -> (u16, Value) {
    let customer = match check_customer(state, scope, nested) {
        Ok(customer) => customer,
        Err(refusal) => return refusal,
    };
    let id = next_id(state, "bps");
    (
        200,
        json!({
            "id": id, "object": "billing_portal.session", "customer": customer,
            "return_url": text(nested, "return_url"), "livemode": false,
            "url": format!("https://billing.stripe.com/p/session/{id}"),
        }),
    )
}

/// A refund of a PaymentIntent's charge: all of what is left, or `amount` of it. Refused as
/// Stripe refuses it: an unknown PaymentIntent, one with no successful charge, an amount above
/// what is left, a charge refunded in full.
fn refund(state: &mut State, scope: &str, nested: &Map<String, Value>) -> (u16, Value) {
    let Some(intent_id) = text(nested, "payment_intent").map(str::to_string) else {
        return invalid("payment_intent", "Missing required param: payment_intent.");
    };
    let key = (scope.to_string(), intent_id.clone());
    let intent = match state.billing.get(&key) {
        Some(intent) if intent["object"] == "payment_intent" => intent.clone(),
        _ => return no_such("payment_intent", "payment_intent", &intent_id),
    };
    let sent_on = !intent["transfer_data"].is_null();
    if text(nested, "refund_application_fee").is_some() {
        if let Some(refusal) = fee_refused(scope, "refund_application_fee", sent_on) {
            return refusal;
        }
    }
    if text(nested, "reverse_transfer").is_some() && !sent_on {
        return invalid(
            "reverse_transfer",
            &format!("The charge of {intent_id} has no transfer to reverse: `reverse_transfer` is for destination charges."),
        );
    }
    let charge_id = match intent["latest_charge"].as_str() {
        Some(id) if intent["status"] == "succeeded" => id.to_string(),
        _ => {
            return invalid(
                "payment_intent",
                &format!(
                    "This PaymentIntent ({intent_id}) does not have a successful charge to refund."
                ),
            )
        }
    };
    let charge_key = (scope.to_string(), charge_id.clone());
    let charge = state.billing[&charge_key].clone();
    let left =
        charge["amount"].as_i64().unwrap_or(0) - charge["amount_refunded"].as_i64().unwrap_or(0);
    if left <= 0 {
        return refusal(
            "charge",
            Some("charge_already_refunded"),
            &format!("Charge {charge_id} has already been refunded."),
        );
    }
    let amount = match text(nested, "amount").map(|a| a.parse::<i64>()) {
        None => left,
        Some(Ok(amount)) if amount <= left => amount,
        Some(_) => {
            return invalid(
                "amount",
                &format!(
                    "Refund amount ({}) is greater than unrefunded amount on charge ({left})",
                    text(nested, "amount").unwrap_or_default()
                ),
            )
        }
    };
    let refund = json!({
        "id": next_id(state, "re"), "object": "refund", "payment_intent": intent_id,
        "charge": charge_id, "amount": amount, "currency": intent["currency"],
        "status": "succeeded", "reason": text(nested, "reason"), "failure_reason": null,
        "metadata": nested.get("metadata").cloned().unwrap_or_else(|| json!({})),
        "created": now(),
    });
    state.billing.insert(
        (
            scope.to_string(),
            refund["id"].as_str().unwrap_or_default().to_string(),
        ),
        refund.clone(),
    );
    let charge = state
        .billing
        .get_mut(&charge_key)
        .expect("the charge read above");
    let refunded = charge["amount_refunded"].as_i64().unwrap_or(0) + amount;
    charge["amount_refunded"] = json!(refunded);
    charge["refunded"] = json!(refunded == charge["amount"].as_i64().unwrap_or(0));
    (200, refund)
}
