//! A stateful fake of the parts of the Stripe API the gateway uses, served over loopback.
//!
//! - Objects are namespaced per `Stripe-Account` (no header = the platform account).
//! - `Idempotency-Key` works as Stripe's does: per account, the same key with the same
//!   parameters replays the first response (with `Idempotent-Replayed: true`); with other
//!   parameters it is a 400 `idempotency_error`. 5xx results are not saved.
//! - Every request is logged for assertions, and faults can be injected for the next N requests.
//! - Responses are the JSON shapes of Stripe's API version the SDK is generated for, so they
//!   parse with the SDK's types (the suite checks that by calling through them).

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Map, Value};

use super::form;

/// The platform account's id as the fake reports it from `GET /v1/account`.
pub const PLATFORM_ACCOUNT: &str = "acct_1PlatformFake0001";

/// What the next requests suffer.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Answer with this status and a Stripe error body, without processing.
    Status(u16),
    /// Like `Status`, with `Stripe-Should-Retry: false`: Stripe says retrying will not help.
    StatusNoRetry(u16),
    /// Wait this long, then process the request normally.
    Delay(Duration),
    /// Answer 502 with an HTML page, as a proxy in front of Stripe would.
    HtmlBadGateway,
    /// Wait this long, then answer 500, without processing (the client should time out first).
    Stall(Duration),
    /// Answer 400 `invalid_request_error` about the `email` parameter with this message, as
    /// Stripe does for an address it will not accept.
    InvalidEmail(&'static str),
    /// Process the request (and save its idempotent result), then wait this long before
    /// answering: the caller times out although Stripe acted.
    StallAfterApply(Duration),
}

#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub stripe_account: Option<String>,
    pub idempotency_key: Option<String>,
    pub stripe_version: Option<String>,
    pub params: Vec<(String, String)>,
    pub fault: Option<Fault>,
    pub replayed: bool,
}

#[derive(Default)]
struct State {
    connected_accounts: HashSet<String>,
    revoked_accounts: HashSet<String>,
    /// Per account: customers in creation order.
    customers: HashMap<String, Vec<Value>>,
    /// (account, key) -> (fingerprint, status, body).
    idempotency: HashMap<(String, String), (String, u16, Value)>,
    faults: VecDeque<Fault>,
    /// Faults for requests of one method to paths with a prefix: (method, prefix, left, fault).
    targeted_faults: Vec<(String, String, usize, Fault)>,
    log: Vec<RecordedRequest>,
    next_id: u64,
}

pub struct FakeStripe {
    pub base_url: String,
    state: Arc<Mutex<State>>,
    handle: ServerHandle,
}

impl FakeStripe {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake Stripe");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .app_data(web::PayloadConfig::new(1 << 20))
                .default_service(web::to(handle))
        })
        .workers(1)
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            base_url: format!("http://127.0.0.1:{port}"),
            state,
            handle,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Makes `GET /v1/accounts/{id}` find a connected account.
    pub fn add_connected_account(&self, id: &str) {
        self.state().connected_accounts.insert(id.to_string());
    }

    /// Answers as Stripe does once a connected account has revoked the platform's access:
    /// 403 `account_invalid`, to `GET /v1/accounts/{id}` and to every request made for the
    /// account (with its `Stripe-Account` header).
    pub fn revoke_account(&self, id: &str) {
        self.state().revoked_accounts.insert(id.to_string());
    }

    /// Gives the platform its access to a revoked account back.
    pub fn restore_account(&self, id: &str) {
        self.state().revoked_accounts.remove(id);
    }

    /// The next `n` requests suffer `fault`.
    pub fn fail_next(&self, n: usize, fault: Fault) {
        let mut state = self.state();
        state.faults.extend(std::iter::repeat_n(fault, n));
    }

    /// The next `n` requests with this method to paths starting with `path_prefix` suffer
    /// `fault`; other requests go through untouched.
    pub fn fail_next_to(&self, method: &str, path_prefix: &str, n: usize, fault: Fault) {
        self.state()
            .targeted_faults
            .push((method.to_string(), path_prefix.to_string(), n, fault));
    }

    /// Deletes a customer as the Stripe dashboard would, behind the gateway's back.
    pub fn delete_customer(&self, account: Option<&str>, id: &str) {
        let mut state = self.state();
        let customer =
            find_customer(&mut state, account_key(account), id).expect("no such customer");
        *customer = json!({ "id": id, "object": "customer", "deleted": true });
    }

    /// Forgets every saved idempotent result, as Stripe does after 24 hours.
    pub fn forget_idempotency_keys(&self) {
        self.state().idempotency.clear();
    }

    /// Every customer ever created in the account, deleted ones included.
    pub fn created_customers(&self, account: Option<&str>) -> usize {
        self.state()
            .customers
            .get(account_key(account))
            .map_or(0, Vec::len)
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state().log.clone()
    }

    pub fn requests_to(&self, method: &str, path: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path == path)
            .collect()
    }

    /// Live (not deleted) customers of an account; `None` is the platform account.
    pub fn customers(&self, account: Option<&str>) -> Vec<Value> {
        self.state()
            .customers
            .get(account_key(account))
            .map(|all| {
                all.iter()
                    .filter(|c| c.get("deleted").is_none())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        // Sends the stop command; the returned future only waits for completion.
        drop(self.handle.stop(false));
    }
}

fn account_key(account: Option<&str>) -> &str {
    account.unwrap_or("platform")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn header(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn stripe_error(status: u16, kind: &str, code: Option<&str>, message: &str) -> (u16, Value) {
    let mut error = json!({ "type": kind, "message": message });
    if let Some(code) = code {
        error["code"] = json!(code);
    }
    (status, json!({ "error": error }))
}

fn respond(status: u16, body: &Value, replayed: bool) -> HttpResponse {
    let mut response = HttpResponse::build(StatusCode::from_u16(status).unwrap());
    response.insert_header(("Request-Id", format!("req_fake{}", fastrand::u64(..))));
    if replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    response.json(body)
}

async fn handle(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Mutex<State>>,
) -> HttpResponse {
    let authorized = header(&req, "authorization")
        .is_some_and(|v| v.starts_with("Bearer sk_") || v.starts_with("Bearer rk_"));
    if !authorized {
        let (status, body) = stripe_error(
            401,
            "invalid_request_error",
            None,
            "Invalid API Key provided",
        );
        return respond(status, &body, false);
    }
    let method = req.method().as_str().to_string();
    let path = req.path().to_string();
    let account = header(&req, "stripe-account");
    let key = header(&req, "idempotency-key");
    let raw_params = if method == "POST" {
        String::from_utf8_lossy(&body).into_owned()
    } else {
        req.query_string().to_string()
    };
    let params = form::pairs(&raw_params);

    let fault = {
        let mut state = state.lock().unwrap();
        let targeted = state
            .targeted_faults
            .iter_mut()
            .find(|(m, prefix, left, _)| {
                *left > 0 && *m == method && path.starts_with(prefix.as_str())
            })
            .map(|(_, _, left, fault)| {
                *left -= 1;
                fault.clone()
            });
        let fault = targeted.or_else(|| state.faults.pop_front());
        state.log.push(RecordedRequest {
            method: method.clone(),
            path: path.clone(),
            stripe_account: account.clone(),
            idempotency_key: key.clone(),
            stripe_version: header(&req, "stripe-version"),
            params: params.clone(),
            fault: fault.clone(),
            replayed: false,
        });
        fault
    };
    match &fault {
        Some(Fault::Status(status)) => {
            let (status, body) = stripe_error(*status, "api_error", None, "injected fault");
            return respond(status, &body, false);
        }
        Some(Fault::StatusNoRetry(status)) => {
            let (status, body) = stripe_error(*status, "api_error", None, "injected fault");
            let mut response = respond(status, &body, false);
            response.headers_mut().insert(
                actix_web::http::header::HeaderName::from_static("stripe-should-retry"),
                actix_web::http::header::HeaderValue::from_static("false"),
            );
            return response;
        }
        Some(Fault::InvalidEmail(message)) => {
            let (status, mut body) =
                stripe_error(400, "invalid_request_error", Some("email_invalid"), message);
            body["error"]["param"] = json!("email");
            return respond(status, &body, false);
        }
        Some(Fault::Delay(delay)) => tokio::time::sleep(*delay).await,
        Some(Fault::HtmlBadGateway) => {
            return HttpResponse::BadGateway()
                .content_type("text/html")
                .body("<html><body>502 Bad Gateway</body></html>");
        }
        Some(Fault::Stall(delay)) => {
            tokio::time::sleep(*delay).await;
            let (status, body) = stripe_error(500, "api_error", None, "stalled");
            return respond(status, &body, false);
        }
        _ => {}
    }

    let (status, body, replayed) = {
        let mut state = state.lock().unwrap();
        let scope = account_key(account.as_deref()).to_string();
        let fingerprint = {
            let mut sorted = params.clone();
            sorted.sort();
            format!("{method} {path} {sorted:?}")
        };
        let saved = key.as_ref().filter(|_| method == "POST").and_then(|key| {
            state
                .idempotency
                .get(&(scope.clone(), key.clone()))
                .cloned()
        });
        match saved {
            Some((saved_fingerprint, status, body)) if saved_fingerprint == fingerprint => {
                (status, body, true)
            }
            Some(_) => {
                let (status, body) = stripe_error(
                    400,
                    "idempotency_error",
                    None,
                    "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                );
                (status, body, false)
            }
            None => {
                let (status, body) = route(&mut state, &method, &path, &scope, &params);
                if let (Some(key), true) = (&key, method == "POST" && status < 500) {
                    state
                        .idempotency
                        .insert((scope, key.clone()), (fingerprint, status, body.clone()));
                }
                (status, body, false)
            }
        }
    };
    if replayed {
        if let Some(last) = state.lock().unwrap().log.last_mut() {
            last.replayed = true;
        }
    }
    if let Some(Fault::StallAfterApply(delay)) = fault {
        tokio::time::sleep(delay).await;
    }
    respond(status, &body, replayed)
}

fn route(
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
    match (method, segments.as_slice()) {
        ("GET", ["v1", "account"]) if scope == "platform" => (200, account_json(PLATFORM_ACCOUNT)),
        ("GET", ["v1", "accounts", id]) if scope == "platform" => {
            if state.revoked_accounts.contains(*id) {
                no_access()
            } else if state.connected_accounts.contains(*id) || *id == PLATFORM_ACCOUNT {
                (200, account_json(id))
            } else {
                missing("account", id)
            }
        }
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
        _ => stripe_error(
            404,
            "invalid_request_error",
            None,
            &format!("Unrecognized request URL ({method}: {path})"),
        ),
    }
}

fn no_access() -> (u16, Value) {
    stripe_error(
        403,
        "invalid_request_error",
        Some("account_invalid"),
        "The provided key 'sk_test_********gway' does not have access to account (or that account does not exist). Application access may have been revoked.",
    )
}

fn missing(kind: &str, id: &str) -> (u16, Value) {
    stripe_error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        &format!("No such {kind}: '{id}'"),
    )
}

fn account_json(id: &str) -> Value {
    json!({
        "id": id,
        "object": "account",
        "charges_enabled": true,
        "payouts_enabled": true,
        "details_submitted": true,
        "country": "US",
        "default_currency": "usd",
        "metadata": {},
    })
}

fn find_customer<'a>(state: &'a mut State, scope: &str, id: &str) -> Option<&'a mut Value> {
    state
        .customers
        .get_mut(scope)?
        .iter_mut()
        .find(|c| c["id"] == id)
}

fn create_customer(state: &mut State, scope: &str, params: &[(String, String)]) -> (u16, Value) {
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
        json!({ "object": "list", "url": "/v1/customers", "has_more": has_more, "data": customers }),
    )
}
