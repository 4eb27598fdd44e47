//! Destination charges: a payment on the platform's account sent on to a connected account
//! (`transfer_data[destination]`, usually with `on_behalf_of` the same account). Refused as
//! Stripe refuses them: asked with `Stripe-Account` (only the platform sends money on), to an
//! account that is not connected to the platform or cannot take charges yet, or with an
//! `on_behalf_of` that is another account.

use serde_json::{json, Map, Value};

use super::{refusal, State, PLATFORM_ACCOUNT};

/// What a payment's parameters (a PaymentIntent's, or a session's `payment_intent_data`, whose
/// fields are named under `prefix`) say of a destination: its account, checked; `Ok(None)` for
/// a payment that is the account's own.
pub(super) fn checked(
    state: &State,
    scope: &str,
    data: Option<&Map<String, Value>>,
    prefix: &str,
) -> Result<Option<String>, (u16, Value)> {
    let field = |name: &str| data.and_then(|data| data.get(name));
    let destination = field("transfer_data")
        .and_then(|t| t.get("destination"))
        .and_then(Value::as_str);
    let on_behalf_of = field("on_behalf_of").and_then(Value::as_str);
    let Some(destination) = destination else {
        return Ok(None);
    };
    let param = format!("{prefix}transfer_data[destination]");
    if scope != "platform" {
        return Err(refusal(
            &param,
            None,
            "Destination charges are made by the platform: send this request without Stripe-Account.",
        ));
    }
    if destination == PLATFORM_ACCOUNT || !super::accounts::known(state, destination) {
        return Err(refusal(
            &param,
            Some("resource_missing"),
            &format!("No such destination: '{destination}'"),
        ));
    }
    if on_behalf_of.is_some_and(|account| account != destination) {
        return Err(refusal(
            &format!("{prefix}on_behalf_of"),
            None,
            "The `on_behalf_of` account must be the same as `transfer_data[destination]`.",
        ));
    }
    if super::accounts::charges_refused(state, destination).is_some() {
        return Err(refusal(
            &param,
            Some("insufficient_capabilities_for_transfer"),
            &format!("Your destination account {destination} needs to have at least one of the following capabilities enabled: transfers, crypto_transfers, legacy_payments"),
        ));
    }
    Ok(Some(destination.to_string()))
}

/// The fields a PaymentIntent sent on to `destination` carries.
pub(super) fn intent_fields(destination: Option<&str>) -> (Value, Value) {
    match destination {
        Some(destination) => (json!({ "destination": destination }), json!(destination)),
        None => (Value::Null, Value::Null),
    }
}
