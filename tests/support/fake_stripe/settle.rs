//! What a buyer's payment does in the fake, for `POST /_fake/trigger`: a Checkout Session paid
//! (its PaymentIntent succeeding, or its Subscription and first invoice), a PaymentIntent that
//! succeeds or fails, a refund, an account's onboarding completed. Each changes the objects as Stripe would and
//! returns the events Stripe sends for it, in Stripe's order.

use serde_json::{json, Value};

use super::billing::{invoice_json, subscription_json};
use super::State;

/// The trigger types this module answers.
pub const TRIGGERS: [&str; 5] = [
    "checkout.session.completed",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "charge.refunded",
    "account.updated",
];

type Events = Vec<(&'static str, Value)>;

fn object<'a>(
    state: &'a mut State,
    scope: &str,
    id: &str,
    kind: &str,
) -> Result<&'a mut Value, String> {
    state
        .billing
        .get_mut(&(scope.to_string(), id.to_string()))
        .filter(|object| object["object"] == kind)
        .ok_or_else(|| format!("no {kind} {id} in this account"))
}

fn next(state: &mut State, prefix: &str) -> String {
    state.next_id += 1;
    format!("{prefix}_fake{:014}", state.next_id)
}

fn store(state: &mut State, scope: &str, object: &Value) {
    let id = object["id"].as_str().unwrap().to_string();
    state
        .billing
        .insert((scope.to_string(), id), object.clone());
}

/// Answers the payment triggers; `None` for a type it does not know.
pub(super) fn apply(
    state: &mut State,
    scope: &str,
    kind: &str,
    session: Option<&str>,
    payment_intent: Option<&str>,
    account: Option<&str>,
) -> Option<Result<Events, String>> {
    let need =
        |id: Option<&str>, what: &str| id.map(str::to_string).ok_or(format!("{kind} needs {what}"));
    Some(match kind {
        "checkout.session.completed" => need(session, "a session").and_then(|id| complete(state, scope, &id)),
        "payment_intent.succeeded" => {
            need(payment_intent, "a payment_intent").and_then(|id| succeed(state, scope, &id))
        }
        "payment_intent.payment_failed" => need(payment_intent, "a payment_intent").and_then(|id| {
            let intent = object(state, scope, &id, "payment_intent")?;
            intent["status"] = json!("requires_payment_method");
            intent["last_payment_error"] =
                json!({"code": "card_declined", "decline_code": "generic_decline", "message": "Your card was declined."});
            Ok(vec![("payment_intent.payment_failed", intent.clone())])
        }),
        "charge.refunded" => need(payment_intent, "a payment_intent").and_then(|id| refund(state, scope, &id)),
        "account.updated" => need(account, "an account").map(|account| {
            vec![("account.updated", super::accounts::complete_onboarding(state, &account))]
        }),
        _ => return None,
    })
}

/// A session paid: `complete` and `paid`, with its PaymentIntent succeeded (payment mode) or
/// its Subscription active and first invoice paid by a PaymentIntent (subscription mode).
fn complete(state: &mut State, scope: &str, id: &str) -> Result<Events, String> {
    let session = object(state, scope, id, "checkout.session")?.clone();
    if session["status"] != "open" {
        return Err(format!(
            "checkout session {id} is {}, not open",
            session["status"]
        ));
    }
    let customer = session["customer"].as_str().unwrap_or_default().to_string();
    let mut events: Events = Vec::new();
    let mut paid = session.clone();
    paid["status"] = json!("complete");
    paid["payment_status"] = json!("paid");
    let mut later = Vec::new();
    if session["mode"] == "subscription" {
        let line = session["line_items"]["data"]
            .as_array()
            .and_then(|lines| lines.iter().find(|line| line["recurring"] == true))
            .ok_or("the session has no recurring price")?
            .clone();
        // An item priced inline becomes a price of its own, as in Stripe.
        let price = match line["price"].as_str() {
            Some(price) => price.to_string(),
            None => {
                let data = &line["price_data"];
                let price = json!({
                    "id": next(state, "price"), "object": "price", "active": false,
                    "currency": data["currency"], "product": next(state, "prod"),
                    "unit_amount": data["unit_amount"].as_str().and_then(|a| a.parse::<i64>().ok()),
                    "recurring": {"interval": data["recurring"]["interval"], "interval_count": 1},
                    "type": "recurring", "metadata": {}, "lookup_key": null, "nickname": null,
                });
                store(state, scope, &price);
                price["id"].as_str().unwrap().to_string()
            }
        };
        let subscription_id = next(state, "sub");
        let mut subscription = subscription_json(&subscription_id, &customer, &price, "active");
        subscription["metadata"] = session["subscription_data"]["metadata"].clone();
        store(state, scope, &subscription);
        let total = session["amount_total"].as_i64().unwrap_or(0);
        let created = super::objects::now() as i64;
        let mut invoice = invoice_json(
            &next(state, "in"),
            &customer,
            Some(&subscription_id),
            "paid",
            total,
            created,
        );
        invoice["currency"] = session["currency"].clone();
        store(state, scope, &invoice);
        // The first invoice is paid by a PaymentIntent of its own; an invoice payment links
        // the two (neither names the other since API version 2025-03-31).
        let intent_id = next(state, "pi");
        let intent = json!({
            "id": intent_id, "object": "payment_intent", "customer": customer,
            "amount": total, "currency": session["currency"], "status": "requires_payment_method",
            "livemode": false, "created": created, "metadata": {},
        });
        store(state, scope, &intent);
        let paid_by = succeed(state, scope, &intent_id)?;
        let invoice_payment = json!({
            "id": next(state, "inpay"), "object": "invoice_payment", "invoice": invoice["id"],
            "payment": {"type": "payment_intent", "payment_intent": intent_id},
            "status": "paid", "amount_paid": total, "amount_requested": total,
            "currency": session["currency"], "is_default": true, "created": created,
            "livemode": false,
        });
        store(state, scope, &invoice_payment);
        paid["subscription"] = json!(subscription_id);
        later.push(("customer.subscription.created", subscription));
        later.extend(paid_by);
        later.push(("invoice_payment.paid", invoice_payment));
        later.push(("invoice.paid", invoice));
    } else {
        let intent = json!({
            "id": next(state, "pi"), "object": "payment_intent", "customer": customer,
            "amount": session["amount_total"], "currency": session["currency"],
            "status": "requires_payment_method", "livemode": false, "created": super::objects::now(),
            "application_fee_amount": session["payment_intent_data"]["application_fee_amount"]
                .as_str().and_then(|fee| fee.parse::<i64>().ok()),
            "metadata": session["payment_intent_data"]["metadata"].clone(),
            "transfer_data": session["payment_intent_data"]["transfer_data"].clone(),
            "on_behalf_of": session["payment_intent_data"]["on_behalf_of"].clone(),
        });
        store(state, scope, &intent);
        let intent_id = intent["id"].as_str().unwrap().to_string();
        paid["payment_intent"] = json!(intent_id);
        later.extend(succeed(state, scope, &intent_id)?);
    }
    store(state, scope, &paid);
    events.push(("checkout.session.completed", paid));
    events.extend(later);
    Ok(events)
}

/// A PaymentIntent succeeded, with the charge that paid it.
fn succeed(state: &mut State, scope: &str, id: &str) -> Result<Events, String> {
    let intent = object(state, scope, id, "payment_intent")?.clone();
    if intent["status"] == "succeeded" {
        return Err(format!("payment intent {id} already succeeded"));
    }
    let charge = json!({
        "id": next(state, "ch"), "object": "charge", "payment_intent": id,
        "customer": intent["customer"], "amount": intent["amount"], "currency": intent["currency"],
        "amount_refunded": 0, "refunded": false, "paid": true, "status": "succeeded",
    });
    store(state, scope, &charge);
    let intent = object(state, scope, id, "payment_intent")?;
    intent["status"] = json!("succeeded");
    // A payment that failed once and then succeeded no longer has an error.
    intent["last_payment_error"] = Value::Null;
    intent["latest_charge"] = charge["id"].clone();
    intent["amount_received"] = intent["amount"].clone();
    Ok(vec![
        ("payment_intent.succeeded", intent.clone()),
        ("charge.succeeded", charge),
    ])
}

/// The whole charge of a succeeded PaymentIntent refunded.
fn refund(state: &mut State, scope: &str, id: &str) -> Result<Events, String> {
    let intent = object(state, scope, id, "payment_intent")?.clone();
    let charge_id = intent["latest_charge"]
        .as_str()
        .ok_or(format!("payment intent {id} has no charge to refund"))?
        .to_string();
    let refund = json!({
        "id": next(state, "re"), "object": "refund", "payment_intent": id, "charge": charge_id,
        "amount": intent["amount"], "currency": intent["currency"], "status": "succeeded",
    });
    store(state, scope, &refund);
    let charge = object(state, scope, &charge_id, "charge")?;
    charge["amount_refunded"] = charge["amount"].clone();
    charge["refunded"] = json!(true);
    Ok(vec![
        ("charge.refunded", charge.clone()),
        ("refund.created", refund),
    ])
}
