//! The fake's Connect accounts: created by the platform (`POST /v1/accounts`), onboarded through
//! Account Links, read by the platform (`GET /v1/accounts/{id}`) or by the account itself
//! (`GET /v1/account` with `Stripe-Account`), and Express login links. A created account cannot
//! take charges until its onboarding completes (`POST /_fake/trigger` with `account.updated`),
//! and the fake refuses charges on it meanwhile, as Stripe does.

use serde_json::{json, Value};

use super::objects::{missing, now};
use super::{form, refusal, State, PLATFORM_ACCOUNT};

/// What Stripe asks of a new account before it can take charges.
const DUE_AT_START: [&str; 4] = [
    "business_profile.url",
    "external_account",
    "tos_acceptance.date",
    "tos_acceptance.ip",
];

pub(super) fn route(
    state: &mut State,
    method: &str,
    segments: &[&str],
    scope: &str,
    params: &[(String, String)],
) -> Option<(u16, Value)> {
    let on_platform = scope == "platform";
    Some(match (method, segments) {
        ("GET", ["v1", "account"]) if on_platform => (200, state_of(state, PLATFORM_ACCOUNT)),
        // The connected account reading its own record.
        ("GET", ["v1", "account"]) => (200, state_of(state, scope)),
        ("GET", ["v1", "accounts", id]) if on_platform => {
            if state.revoked_accounts.contains(*id) {
                super::objects::no_access()
            } else if known(state, id) {
                (200, state_of(state, id))
            } else {
                missing("account", id)
            }
        }
        ("POST", ["v1", "accounts"]) if on_platform => create(state, params),
        ("POST", ["v1", "account_links"]) if on_platform => link(state, params),
        ("POST", ["v1", "accounts", id, "login_links"]) if on_platform => login_link(state, id),
        ("POST", ["v1", "accounts" | "account_links", ..]) => refusal(
            "account",
            None,
            "Only the platform can manage connected accounts: send this request without Stripe-Account.",
        ),
        _ => return None,
    })
}

/// Whether the platform can reach this account.
pub(super) fn known(state: &State, id: &str) -> bool {
    state.connected_accounts.contains(id)
        || state.accounts.contains_key(id)
        || id == PLATFORM_ACCOUNT
        || (state.any_account && id.starts_with("acct_"))
}

/// The account as Stripe answers for it: a created one as it stands, any other connected
/// account fully onboarded.
fn state_of(state: &State, id: &str) -> Value {
    state.accounts.get(id).cloned().unwrap_or_else(|| {
        json!({
            "id": id, "object": "account", "type": "standard",
            "charges_enabled": true, "payouts_enabled": true, "details_submitted": true,
            "country": "US", "default_currency": "usd", "metadata": {},
            "requirements": {"currently_due": [], "past_due": [], "disabled_reason": null},
        })
    })
}

/// Whether the account may take a charge; `None` when it may.
pub(super) fn charges_refused(state: &State, scope: &str) -> Option<(u16, Value)> {
    let account = state.accounts.get(scope)?;
    (account["charges_enabled"] != true).then(|| {
        refusal(
            "account",
            None,
            "Your account cannot currently make charges: its onboarding is not complete (card_payments is inactive). Finish the account's requirements first.",
        )
    })
}

fn create(state: &mut State, params: &[(String, String)]) -> (u16, Value) {
    let nested = form::nest(params);
    let kind = nested.get("type").and_then(Value::as_str);
    let Some(kind) = kind else {
        return refusal(
            "type",
            None,
            "You must provide `type` or `controller` when creating an account.",
        );
    };
    let country = nested
        .get("country")
        .and_then(Value::as_str)
        .unwrap_or("US");
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        return refusal("country", None, &format!("Country '{country}' is unknown. Try using a 2-character alphanumeric country code instead, such as 'US', 'EG', or 'GB'."));
    }
    if country == "AQ" {
        return refusal("country", None, "Connect is not available in AQ.");
    }
    let capabilities = &nested["capabilities"];
    if kind != "standard" && capabilities["card_payments"]["requested"] != "true" {
        return refusal(
            "capabilities",
            None,
            "You must request at least one capability for Express and Custom accounts.",
        );
    }
    state.next_id += 1;
    let id = format!("acct_fake{:010}", state.next_id);
    let account = json!({
        "id": id, "object": "account", "type": kind, "country": country,
        "email": nested.get("email"), "business_type": nested.get("business_type"),
        "charges_enabled": false, "payouts_enabled": false, "details_submitted": false,
        "created": now(), "default_currency": "usd",
        "metadata": nested.get("metadata").cloned().unwrap_or(json!({})),
        "requirements": {
            "currently_due": DUE_AT_START, "past_due": [],
            "disabled_reason": "requirements.past_due",
        },
    });
    state.accounts.insert(id, account.clone());
    (200, account)
}

fn link(state: &mut State, params: &[(String, String)]) -> (u16, Value) {
    let nested = form::nest(params);
    let text = |name: &str| nested.get(name).and_then(Value::as_str);
    let Some(account) = text("account") else {
        return refusal("account", None, "Missing required param: account.");
    };
    if !known(state, account) || account == PLATFORM_ACCOUNT {
        return refusal(
            "account",
            Some("account_invalid"),
            &format!("The account {account} is not connected to your platform."),
        );
    }
    for url in ["refresh_url", "return_url"] {
        match text(url) {
            // A URL's scheme is any case.
            Some(u)
                if u.to_ascii_lowercase().starts_with("http://")
                    || u.to_ascii_lowercase().starts_with("https://") => {}
            Some(_) => return refusal(url, Some("url_invalid"), "Not a valid URL"),
            None => return refusal(url, None, &format!("Missing required param: {url}.")),
        }
    }
    state.next_id += 1;
    let created = now();
    (
        200,
        json!({
            "object": "account_link", "created": created, "expires_at": created + 300,
            "url": format!("https://connect.stripe.com/setup/e/{account}/fake{}", state.next_id),
        }),
    )
}

fn login_link(state: &mut State, id: &str) -> (u16, Value) {
    if !known(state, id) {
        return missing("account", id);
    }
    let account = state_of(state, id);
    if account["type"] != "express" {
        return refusal(
            "account",
            None,
            "Cannot create a login link for an account that is not an Express account.",
        );
    }
    if account["details_submitted"] != true {
        return refusal(
            "account",
            None,
            "Cannot create a login link for an account that has not completed onboarding.",
        );
    }
    state.next_id += 1;
    (
        200,
        json!({
            "object": "login_link", "created": now(),
            "url": format!("https://connect.stripe.com/express/fake{}", state.next_id),
        }),
    )
}

/// Onboarding finished: everything given, charges and payouts enabled. Returns the account.
pub(super) fn complete_onboarding(state: &mut State, id: &str) -> Value {
    match state.accounts.get_mut(id) {
        Some(account) => {
            account["charges_enabled"] = json!(true);
            account["payouts_enabled"] = json!(true);
            account["details_submitted"] = json!(true);
            account["requirements"] =
                json!({"currently_due": [], "past_due": [], "disabled_reason": null});
            account.clone()
        }
        None => state_of(state, id),
    }
}
