//! A stateful fake of the parts of the Stripe API the gateway uses, served over loopback.
//!
//! - Objects are namespaced per `Stripe-Account` (no header = the platform account).
//! - `Idempotency-Key` works as Stripe's does: per account, the same key with the same
//!   parameters replays the first response (with `Idempotent-Replayed: true`); with other
//!   parameters it is a 400 `idempotency_error`. 5xx results are not saved.
//! - Every request is logged for assertions, and faults can be injected for the next N requests.
//! - Gates hold chosen requests, before or after the fake processed them, until the test
//!   releases them (see [`FakeStripe::hold_next`]).
//! - Responses are the JSON shapes of Stripe's API version the SDK is generated for, so they
//!   parse with the SDK's types (the suite checks that by calling through them).

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};

use super::form;

mod accounts;
pub mod billing;
mod contract;
pub mod control;
mod destination;
mod gate;
mod objects;
mod payments;
pub mod settle;
mod subscriptions;

use gate::Catch;
pub use gate::{Gate, Hold};
use objects::{find_customer, route};

/// The platform account's id as the fake reports it from `GET /v1/account`.
pub const PLATFORM_ACCOUNT: &str = "acct_1PlatformFake0001";

/// What the next requests suffer.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Answer with this status and a Stripe error body, without processing.
    Status(u16),
    /// Like `Status`, with `Stripe-Should-Retry: false`: Stripe says retrying will not help.
    StatusNoRetry(u16),
    /// Answer 502 with an HTML page, as a proxy in front of Stripe would.
    HtmlBadGateway,
    /// Wait this long, then answer 500, without processing (the client should time out first).
    /// For tests about timeouts only; to order requests, use a gate ([`FakeStripe::hold_next`]).
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
    /// When the request arrived.
    pub at: std::time::Instant,
    /// The gate hold the request waited at, if a gate caught it.
    pub held: Option<Hold>,
    pub replayed: bool,
}

#[derive(Default)]
struct State {
    connected_accounts: HashSet<String>,
    revoked_accounts: HashSet<String>,
    /// Accounts created through `POST /v1/accounts`, as they stand.
    accounts: HashMap<String, Value>,
    /// Per account: customers in creation order.
    customers: HashMap<String, Vec<Value>>,
    /// (account, id) -> product, price, subscription or checkout session.
    billing: HashMap<(String, String), Value>,
    /// (account, customer) -> active entitlements.
    entitlements: HashMap<(String, String), Vec<Value>>,
    /// Per account: the events the Events API lists.
    events: HashMap<String, Vec<Value>>,
    /// (account, key) -> (fingerprint, status, body).
    idempotency: HashMap<(String, String), (String, u16, Value)>,
    faults: VecDeque<Fault>,
    /// Faults for requests of one method (any when empty) to paths with a prefix, and a query
    /// or body holding a given text when one is set: (method, prefix, text, left, fault).
    targeted_faults: Vec<(String, String, Option<String>, usize, Fault)>,
    /// Gates that still catch requests, oldest first.
    gates: Vec<Catch>,
    log: Vec<RecordedRequest>,
    next_id: u64,
    /// Where `POST /_fake/trigger` delivers events, and the secret it signs them with.
    webhook: Option<(String, String)>,
    /// Every `acct_...` is a connected account (the runnable fake), not only those added.
    any_account: bool,
}

/// How [`FakeStripe::start_with`] starts the fake.
#[derive(Default)]
pub struct Options {
    /// Where to listen; a free loopback port when `None`.
    pub listener: Option<TcpListener>,
    /// Treat every `acct_...` as a connected account of the platform.
    pub any_account: bool,
    /// The webhook endpoint `POST /_fake/trigger` delivers to, and its signing secret.
    pub webhook: Option<(String, String)>,
}

pub struct FakeStripe {
    pub base_url: String,
    state: Arc<Mutex<State>>,
    handle: ServerHandle,
}

impl FakeStripe {
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Self {
        let listener = options
            .listener
            .unwrap_or_else(|| TcpListener::bind("127.0.0.1:0").expect("bind the fake Stripe"));
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            webhook: options.webhook,
            any_account: options.any_account,
            ..State::default()
        }));
        let shared = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .app_data(web::PayloadConfig::new(1 << 20))
                .route("/_fake/trigger", web::post().to(control::trigger))
                .route("/_fake/fail-next", web::post().to(control::fail_next))
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

    /// Makes `POST /_fake/trigger` deliver its events to `url`, signed with `secret`.
    pub fn deliver_webhooks_to(&self, url: &str, secret: &str) {
        self.state().webhook = Some((url.to_string(), secret.to_string()));
    }

    /// Makes `GET /v1/accounts/{id}` find a connected account.
    pub fn add_connected_account(&self, id: &str) {
        self.state().connected_accounts.insert(id.to_string());
    }

    /// A connected account the platform created, as Stripe holds it now.
    pub fn account(&self, id: &str) -> Option<Value> {
        self.state().accounts.get(id).cloned()
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
        self.state().targeted_faults.push((
            method.to_string(),
            path_prefix.to_string(),
            None,
            n,
            fault,
        ));
    }

    /// Like [`FakeStripe::fail_next_to`], only for requests whose query (or form body) holds
    /// `text`, e.g. `starting_after=` for every page of a listing but the first.
    pub fn fail_next_with(
        &self,
        method: &str,
        path_prefix: &str,
        text: &str,
        n: usize,
        fault: Fault,
    ) {
        self.state().targeted_faults.push((
            method.to_string(),
            path_prefix.to_string(),
            Some(text.to_string()),
            n,
            fault,
        ));
    }

    /// Holds the next request with this method to a path starting with `path_prefix` before
    /// the fake looks at it (Stripe has not acted), until the returned gate is released or
    /// dropped. [`Gate::arrived`] resolves once the request is held.
    pub fn hold_next(&self, method: &str, path_prefix: &str) -> Gate {
        self.hold(method, path_prefix, 1, Hold::Request)
    }

    /// Processes the next request with this method to a path starting with `path_prefix` (and
    /// saves its idempotent result), then holds its answer until the returned gate is released
    /// or dropped: Stripe has acted, its caller does not know yet. [`Gate::arrived`] resolves
    /// once the request is processed and its answer held.
    pub fn hold_next_answer(&self, method: &str, path_prefix: &str) -> Gate {
        self.hold(method, path_prefix, 1, Hold::Answer)
    }

    /// Holds the next `n` such requests at `hold`; [`Gate::arrived`] resolves once all `n` are
    /// held, and releasing the gate lets them all go. Gates catch requests before faults are
    /// drawn, and a request caught by one gate is not caught by another; faults still apply
    /// to it after a [`Hold::Request`].
    pub fn hold(&self, method: &str, path_prefix: &str, n: usize, hold: Hold) -> Gate {
        let (catch, gate) = Catch::new(method, path_prefix, n, hold);
        self.state().gates.push(catch);
        gate
    }

    /// Deletes a customer as the Stripe dashboard would, behind the gateway's back.
    pub fn delete_customer(&self, account: Option<&str>, id: &str) {
        let mut state = self.state();
        let customer =
            find_customer(&mut state, account_key(account), id).expect("no such customer");
        *customer = json!({ "id": id, "object": "customer", "deleted": true });
    }

    /// Puts a product, price or subscription in place (created or changed in Stripe).
    pub fn put_object(&self, account: Option<&str>, object: Value) {
        let id = object["id"]
            .as_str()
            .expect("objects have an id")
            .to_string();
        self.state()
            .billing
            .insert((account_key(account).to_string(), id), object);
    }

    /// Sets a customer's active entitlements.
    pub fn set_entitlements(
        &self,
        account: Option<&str>,
        customer: &str,
        entitlements: Vec<Value>,
    ) {
        self.state().entitlements.insert(
            (account_key(account).to_string(), customer.to_string()),
            entitlements,
        );
    }

    /// Creates a customer as the dashboard would: no gateway ids in its metadata.
    pub fn add_customer(&self, account: Option<&str>, email: &str, name: &str) -> String {
        let mut state = self.state();
        let params = [
            ("email".to_string(), email.to_string()),
            ("name".to_string(), name.to_string()),
        ];
        let (_, customer) = objects::create_customer(&mut state, account_key(account), &params);
        customer["id"].as_str().unwrap().to_string()
    }

    /// Records an event of the account for the Events API (`GET /v1/events`), as Stripe keeps
    /// every event whether or not a webhook delivered it.
    pub fn add_event(&self, account: Option<&str>, event: Value) {
        self.state()
            .events
            .entry(account_key(account).to_string())
            .or_default()
            .push(event);
    }

    /// Removes an object as a hard delete would: reading it answers 404 `resource_missing`.
    pub fn remove_object(&self, account: Option<&str>, id: &str) {
        self.state()
            .billing
            .remove(&(account_key(account).to_string(), id.to_string()));
    }

    /// Changes a customer's fields in Stripe, as the dashboard would.
    pub fn edit_customer(&self, account: Option<&str>, id: &str, fields: Value) {
        let mut state = self.state();
        let customer =
            find_customer(&mut state, account_key(account), id).expect("no such customer");
        for (key, value) in fields.as_object().expect("fields are an object") {
            customer[key] = value.clone();
        }
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

    /// Forgets the requests received so far (call it with none in flight): what follows is
    /// counted alone.
    pub fn forget_requests(&self) {
        self.state().log.clear();
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

fn header(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Stripe's 400 about one parameter of the request (`param`), with its `code` when it has one.
fn refusal(param: &str, code: Option<&str>, message: &str) -> (u16, Value) {
    let (status, mut body) = stripe_error(400, "invalid_request_error", code, message);
    body["error"]["param"] = json!(param);
    (status, body)
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

    let (fault, ticket, log_index) = {
        let mut state = state.lock().unwrap();
        let targeted = state
            .targeted_faults
            .iter_mut()
            .find(|(m, prefix, text, left, _)| {
                *left > 0
                    && (m.is_empty() || *m == method)
                    && path.starts_with(prefix.as_str())
                    && text
                        .as_ref()
                        .is_none_or(|text| raw_params.contains(text.as_str()))
            })
            .map(|(_, _, _, left, fault)| {
                *left -= 1;
                fault.clone()
            });
        let fault = targeted.or_else(|| state.faults.pop_front());
        let ticket = state
            .gates
            .iter_mut()
            .find_map(|gate| gate.take(&method, &path));
        state.gates.retain(|gate| !gate.is_spent());
        let log_index = state.log.len();
        state.log.push(RecordedRequest {
            method: method.clone(),
            path: path.clone(),
            stripe_account: account.clone(),
            idempotency_key: key.clone(),
            stripe_version: header(&req, "stripe-version"),
            params: params.clone(),
            fault: fault.clone(),
            at: std::time::Instant::now(),
            held: ticket.as_ref().map(|ticket| ticket.hold),
            replayed: false,
        });
        (fault, ticket, log_index)
    };
    let ticket = match ticket {
        Some(ticket) if ticket.hold == Hold::Request => {
            ticket.wait().await;
            None
        }
        other => other,
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
        // This request's own entry: others may have been logged since it arrived.
        if let Some(entry) = state.lock().unwrap().log.get_mut(log_index) {
            entry.replayed = true;
        }
    }
    if let Some(Fault::StallAfterApply(delay)) = fault {
        tokio::time::sleep(delay).await;
    }
    if let Some(ticket) = ticket {
        ticket.wait().await;
    }
    respond(status, &body, replayed)
}
