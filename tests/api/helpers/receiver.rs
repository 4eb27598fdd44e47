//! An app's webhook receiver, as a real HTTP server in the test: it records every delivery
//! and answers as the test says (2xx, an error status, or not before the sender gives up).
//! Signatures are checked by [`verify`], written from the Standard Webhooks specification
//! apart from the gateway's own signing code.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::Notify;

/// How the receiver answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Ok,
    Status(u16),
    /// Holds the answer far longer than the gateway's attempt may take.
    Stall,
}

/// One delivery as it arrived.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub raw: Vec<u8>,
    pub body: Value,
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    answer: Option<Answer>,
}

pub struct Receiver {
    /// `http://127.0.0.1:{port}`.
    pub base: String,
    state: Arc<Mutex<State>>,
    arrived: Arc<Notify>,
}

async fn receive(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<Mutex<State>>,
    arrived: web::Data<Notify>,
) -> HttpResponse {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let received = Received {
        path: request.path().to_string(),
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        raw: body.to_vec(),
    };
    let answer = {
        let mut state = state.lock().unwrap();
        state.received.push(received);
        state.answer.unwrap_or(Answer::Ok)
    };
    arrived.notify_waiters();
    match answer {
        Answer::Ok => HttpResponse::Ok().body("thanks"),
        Answer::Status(status) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                .body("not now")
        }
        Answer::Stall => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            HttpResponse::Ok().finish()
        }
    }
}

impl Receiver {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = web::Data::new(Mutex::new(State::default()));
        let arrived = web::Data::new(Notify::new());
        let (shared, woken) = (state.clone(), arrived.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .app_data(woken.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self {
            base: format!("http://127.0.0.1:{port}"),
            state: state.into_inner(),
            arrived: arrived.into_inner(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn answer(&self, answer: Answer) {
        self.state.lock().unwrap().answer = Some(answer);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// The deliveries to `path` once there are at least `count`; fails after 20 s.
    pub async fn wait_for(&self, path: &str, count: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let got: Vec<Received> = self
                .received()
                .into_iter()
                .filter(|r| r.path == path)
                .collect();
            if got.len() >= count {
                return got;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!(
                    "{path} received {} deliveries, not {count}: {got:?}",
                    got.len()
                );
            }
        }
    }
}

/// Whether `received` carries a valid signature under `secret` (`whsec_` and the base64 of
/// the key), per Standard Webhooks: `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))
/// among the space-separated signatures, and a timestamp within five minutes.
pub fn verify(secret: &str, received: &Received) -> bool {
    let Some(key) = secret
        .strip_prefix("whsec_")
        .and_then(|key| STANDARD.decode(key).ok())
    else {
        return false;
    };
    let Ok(timestamp) = received.timestamp.parse::<i64>() else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    if (now - timestamp).abs() > 300 {
        return false;
    }
    let mut signed = format!("{}.{}.", received.id, received.timestamp).into_bytes();
    signed.extend_from_slice(&received.raw);
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(&signed);
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    received
        .signature
        .split(' ')
        .filter_map(|signature| signature.strip_prefix("v1,"))
        .any(|signature| signature == expected)
}
