//! The fake's control routes, for trying the gateway by hand and for tests that drive the fake
//! over HTTP (the TypeScript client's, the console's), like `stripe trigger` does for Stripe:
//!
//! - `POST /_fake/trigger` `{type, account?, customer?, lookup_key?, name?, session?,
//!   payment_intent?}` changes an object
//!   as the dashboard or a payment would, records the events that announce it for the Events API
//!   and delivers them, signed, to the webhook target: `{event_id, object_id, delivery_status,
//!   events: [{id, type, object_id, delivery_status}]}` (the first event's, then every event
//!   delivered, in order).
//! - `POST /_fake/fail-next` `{count, status, method?, path_prefix?}`: the next `count` matching
//!   API requests answer `status` without being processed.
//!
//! Neither needs an API key; both answer errors as `{"error": {"message"}}`.

use std::sync::Mutex;

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::billing::{entitlement_json, price_json, product_json, subscription_json};
use super::objects::find_customer;
use super::{account_key, Fault, State};

/// The event types `POST /_fake/trigger` knows: these, and the payments' (`settle::TRIGGERS`).
pub const TRIGGERS: [&str; 3] = [
    "product.created",
    "customer.updated",
    "customer.subscription.created",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Trigger {
    r#type: String,
    /// The connected account (`acct_...`); absent: the platform account.
    account: Option<String>,
    /// The customer (`cus_...`) a customer or subscription event is about.
    customer: Option<String>,
    /// The entitlement a new subscription grants (default `premium`).
    lookup_key: Option<String>,
    /// The name `customer.updated` gives the customer (default `Edited in Stripe`).
    name: Option<String>,
    /// The Checkout Session `checkout.session.completed` pays (`cs_...`).
    session: Option<String>,
    /// The PaymentIntent a payment intent or refund trigger is about (`pi_...`).
    payment_intent: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FailNext {
    count: usize,
    status: u16,
    method: Option<String>,
    path_prefix: Option<String>,
}

/// An event about `object` as Stripe sends it, for `account` (`None`: the platform's own).
pub fn event_json(id: &str, event_type: &str, account: Option<&str>, object: &Value) -> Value {
    let mut event = json!({
        "id": id,
        "object": "event",
        "api_version": "2026-09-30.endive",
        "created": chrono::Utc::now().timestamp(),
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": event_type,
        "data": {"object": object},
    });
    if let Some(account) = account {
        event["account"] = json!(account);
    }
    event
}

fn refused(status: u16, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .json(json!({"error": {"message": message}}))
}

pub(super) async fn trigger(
    request: web::Json<Trigger>,
    state: web::Data<Mutex<State>>,
) -> HttpResponse {
    let request = request.into_inner();
    // The named event first; then the others Stripe sends with it.
    let (events, target) = {
        let mut state = state.lock().unwrap();
        let announced = match apply(&mut state, &request) {
            Ok(announced) => announced,
            Err(message) => return refused(404, &message),
        };
        let mut events = Vec::new();
        for (event_type, object) in announced {
            state.next_id += 1;
            let id = format!("evt_fake{:014}", state.next_id);
            let event = event_json(&id, event_type, request.account.as_deref(), &object);
            state
                .events
                .entry(account_key(request.account.as_deref()).to_string())
                .or_default()
                .push(event.clone());
            events.push(event);
        }
        (events, state.webhook.clone())
    };
    let Some((url, secret)) = target else {
        return refused(409, "no webhook target: start the fake with --webhook-url");
    };
    let client = reqwest::Client::new();
    let mut delivered = Vec::new();
    for event in &events {
        let body = serde_json::to_vec_pretty(event).unwrap();
        let signature = gateway::stripe::sign(&[&secret], chrono::Utc::now().timestamp(), &body);
        let response = client
            .post(&url)
            .header("content-type", "application/json; charset=utf-8")
            .header("stripe-signature", signature)
            .body(body)
            .send()
            .await;
        match response {
            Ok(response) => delivered.push(json!({
                "id": event["id"], "type": event["type"],
                "object_id": event["data"]["object"]["id"],
                "delivery_status": response.status().as_u16(),
            })),
            Err(error) => return refused(502, &format!("delivering to {url} failed: {error}")),
        }
    }
    // The event the trigger names first; Stripe sends some with others (`events`, in order).
    HttpResponse::Ok().json(json!({
        "event_id": events[0]["id"],
        "object_id": events[0]["data"]["object"]["id"],
        "delivery_status": delivered[0]["delivery_status"],
        "events": delivered,
    }))
}

/// Makes the change the trigger names; returns the events that announce it, each with the
/// object it carries.
fn apply(state: &mut State, request: &Trigger) -> Result<Vec<(&'static str, Value)>, String> {
    let scope = account_key(request.account.as_deref()).to_string();
    if let Some(settled) = super::settle::apply(
        state,
        &scope,
        &request.r#type,
        request.session.as_deref(),
        request.payment_intent.as_deref(),
        request.account.as_deref(),
    ) {
        return settled;
    }
    state.next_id += 1;
    let n = state.next_id;
    match request.r#type.as_str() {
        "product.created" => {
            let product = product_json(&format!("prod_fake{n:014}"), "Fake product", true);
            let price = price_json(
                &format!("price_fake{n:014}"),
                &format!("prod_fake{n:014}"),
                1500,
                None,
            );
            for object in [&product, &price] {
                let id = object["id"].as_str().unwrap().to_string();
                state.billing.insert((scope.clone(), id), object.clone());
            }
            Ok(vec![("product.created", product), ("price.created", price)])
        }
        "customer.updated" => {
            let customer = find_customer(state, &scope, customer_id(request)?)
                .filter(|c| c.get("deleted").is_none())
                .ok_or("no such customer")?;
            customer["name"] = json!(request.name.as_deref().unwrap_or("Edited in Stripe"));
            Ok(vec![("customer.updated", customer.clone())])
        }
        "customer.subscription.created" => {
            let customer = customer_id(request)?.to_string();
            find_customer(state, &scope, &customer)
                .filter(|c| c.get("deleted").is_none())
                .ok_or("no such customer")?;
            let (product, price) = (format!("prod_fake{n:014}"), format!("price_fake{n:014}"));
            let subscription =
                subscription_json(&format!("sub_fake{n:014}"), &customer, &price, "active");
            let product = product_json(&product, "Fake plan", true);
            let price = price_json(&price, product["id"].as_str().unwrap(), 1500, Some("month"));
            for object in [&product, &price, &subscription] {
                let id = object["id"].as_str().unwrap().to_string();
                state.billing.insert((scope.clone(), id), object.clone());
            }
            let lookup_key = request.lookup_key.as_deref().unwrap_or("premium");
            let active = state
                .entitlements
                .entry((scope, customer.clone()))
                .or_default();
            active.push(entitlement_json(n as usize, lookup_key));
            // As in Stripe, the customer's entitlements change with its own event.
            let summary = json!({
                "object": "entitlements.active_entitlement_summary", "customer": customer,
                "livemode": false,
                "entitlements": {"object": "list", "has_more": false, "data": active.clone()},
            });
            Ok(vec![
                ("customer.subscription.created", subscription),
                ("entitlements.active_entitlement_summary.updated", summary),
                ("product.created", product),
                ("price.created", price),
            ])
        }
        other => Err(format!(
            "unknown trigger {other:?}; known: {}, {}",
            TRIGGERS.join(", "),
            super::settle::TRIGGERS.join(", ")
        )),
    }
}

fn customer_id(request: &Trigger) -> Result<&str, String> {
    request
        .customer
        .as_deref()
        .ok_or_else(|| format!("{} needs a customer", request.r#type))
}

pub(super) async fn fail_next(
    request: web::Json<FailNext>,
    state: web::Data<Mutex<State>>,
) -> HttpResponse {
    if !(400..=599).contains(&request.status) {
        return refused(400, "status must be 400 to 599");
    }
    let fault = Fault::Status(request.status);
    let mut state = state.lock().unwrap();
    match (&request.method, &request.path_prefix) {
        (None, None) => state
            .faults
            .extend(std::iter::repeat_n(fault, request.count)),
        (method, prefix) => state.targeted_faults.push((
            method.clone().unwrap_or_default().to_uppercase(),
            prefix.clone().unwrap_or_else(|| "/".to_string()),
            None,
            request.count,
            fault,
        )),
    }
    HttpResponse::NoContent().finish()
}
