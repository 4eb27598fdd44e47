//! `Idempotency-Key` for every POST under `/v1` (the IETF "Idempotency-Key HTTP Header Field"
//! draft, and Stripe's own behaviour): the first request with a key runs; a retry with the same
//! key and request gets the first answer again (`Idempotent-Replayed: true`) without running;
//! the same key with another request is refused (422 `idempotency_key_reused`), and so is a
//! retry while the first is still running (409 `idempotency_key_in_flight`, `Retry-After`).
//!
//! Keys belong to the caller's scope (the organizer of an organizer token, or the admins), so
//! two organizers' keys never meet. Only final answers are kept (see [`is_final`]): after a 5xx,
//! or an answer that asks to be retried, the retry must be able to finish the work. Handlers read the key with [`ClientKey`] to derive the idempotency keys of their own
//! Stripe writes from it, so a retry after a crash between Stripe and the database adopts what
//! the first request created.

use std::time::Duration;

use actix_web::body::{self, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, Error, FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use sha2::{Digest, Sha256};

use crate::auth::{authenticate, Principal};
use crate::db::models::idempotency::{self, Begun, KeyLease, KeyTimes, StoredResponse};
use crate::db::{Db, DbError};
use crate::error::ApiError;
use crate::extract::BodyLimit;
use crate::services::AppState;

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
const MAX_KEY_CHARS: usize = 255;
/// What a replay repeats besides status and body; the rest (`x-request-id`, `date`) is the
/// replay's own.
const KEPT_HEADERS: [&str; 2] = ["content-type", "location"];
/// What `Retry-After` says while the first request with a key runs.
const IN_FLIGHT_RETRY_SECS: u64 = 1;

/// How long keys live, registered as app data.
#[derive(Clone, Copy, Debug)]
pub struct Idempotency(pub KeyTimes);

/// The client's key of the request being run, for handlers that derive Stripe keys from it:
/// scoped to its caller, so equal keys of two organizers give different Stripe keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientKey {
    pub scope: String,
    pub key: String,
}

impl ClientKey {
    /// The parts a Stripe idempotency key is derived from.
    pub fn parts(&self) -> [&str; 2] {
        [&self.scope, &self.key]
    }
}

/// Extract it as `Option<ClientKey>`: a request sent without the header has none.
impl FromRequest for ClientKey {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(req.extensions().get::<ClientKey>().cloned().ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!("the request has no Idempotency-Key"))
        }))
    }
}

/// The key's scope for a caller.
fn scope(principal: &Principal) -> String {
    match principal {
        Principal::Admin { .. } => "admin".to_string(),
        Principal::Organizer { org, .. } => format!("organizer:{org}"),
    }
}

/// The header's value, when it has one: 1 to 255 printable ASCII characters.
fn parse_key(req: &ServiceRequest) -> Result<Option<String>, ApiError> {
    let mut values = req.headers().get_all(HEADER);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let invalid = |why: &str| ApiError::Refused {
        code: "invalid_idempotency_key",
        message: format!("the Idempotency-Key header {why}"),
    };
    if values.next().is_some() {
        return Err(invalid("must be sent once"));
    }
    let text = value
        .to_str()
        .ok()
        .filter(|text| text.bytes().all(|b| (0x20..=0x7e).contains(&b)))
        .ok_or_else(|| invalid("must be printable ASCII"))?;
    // A structured-field string (`"abc"`) as the draft writes it, or the bare value.
    let key = text
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or(text);
    if key.is_empty() || key.len() > MAX_KEY_CHARS {
        return Err(invalid("must be 1 to 255 characters"));
    }
    Ok(Some(key.to_string()))
}

/// What makes two requests the same one: method, path with query, and body.
fn fingerprint(req: &ServiceRequest, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(req.method().as_str());
    hasher.update([0]);
    hasher.update(req.uri().path_and_query().map_or("", |p| p.as_str()));
    hasher.update([0]);
    hasher.update(body);
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if req.method() != Method::POST || !req.path().starts_with("/v1/") {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let key = match parse_key(&req) {
        Ok(Some(key)) => key,
        Ok(None) => return Ok(next.call(req).await?.map_into_boxed_body()),
        Err(err) => return Ok(req.error_response(err)),
    };
    // An unauthenticated request is refused by its handler the same way with or without a
    // key; nothing is kept for it.
    let Ok(principal) = authenticate(req.request()) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let (Some(state), Some(settings)) = (
        req.app_data::<web::Data<AppState>>().cloned(),
        req.app_data::<Idempotency>().copied(),
    ) else {
        return Ok(req.error_response(ApiError::internal(anyhow::anyhow!(
            "idempotency is not configured"
        ))));
    };
    let limit = req
        .app_data::<BodyLimit>()
        .map_or(usize::MAX, |limit| limit.0);
    let body = match req.extract::<web::Bytes>().await {
        Ok(body) => body,
        Err(err) if err.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Ok(req.error_response(ApiError::PayloadTooLarge { limit }));
        }
        Err(err) => {
            return Ok(req.error_response(ApiError::MalformedJson(format!(
                "the body could not be read: {err}"
            ))))
        }
    };
    let client_key = ClientKey {
        scope: scope(&principal),
        key,
    };
    let fingerprint = fingerprint(&req, &body);
    req.set_payload(Payload::from(body));

    let begun = {
        let ClientKey { scope, key } = client_key.clone();
        state
            .db
            .run(move |conn| {
                Ok::<_, DbError>(idempotency::begin(
                    conn,
                    &scope,
                    &key,
                    &fingerprint,
                    settings.0,
                )?)
            })
            .await
    };
    let lease = match begun {
        Ok(Begun::Run(lease)) => lease,
        Ok(Begun::Replay(stored)) => return Ok(req.into_response(replay(stored))),
        Ok(Begun::InFlight) => {
            let err = ApiError::Conflict {
                code: "idempotency_key_in_flight",
                message: "a request with this Idempotency-Key is still running; retry after it answers".into(),
            };
            let mut response = req.error_response(err);
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(IN_FLIGHT_RETRY_SECS),
            );
            return Ok(response);
        }
        Ok(Begun::Mismatch) => {
            return Ok(req.error_response(ApiError::Unprocessable {
                code: "idempotency_key_reused",
                message: "this Idempotency-Key was used with another request (method, path or body); use a new key for a new request".into(),
            }))
        }
        Err(err) => return Ok(req.error_response(ApiError::from(err))),
    };

    req.extensions_mut().insert(client_key);
    let mut held = Held {
        db: state.db.clone(),
        lease: Some(lease),
    };
    let response = next.call(req).await?;
    let (request, response) = response.into_parts();
    let (head, body) = response.into_parts();
    let bytes = match body::to_bytes(body).await {
        Ok(bytes) => bytes,
        Err(_) => {
            held.release().await;
            let err = ApiError::internal(anyhow::anyhow!("the response body could not be read"));
            return Ok(ServiceResponse::new(request, err.error_response()));
        }
    };
    if is_final(&head) {
        held.complete(stored(&head, &bytes)).await;
    } else {
        held.release().await;
    }
    let response = head.set_body(BoxBody::new(bytes));
    Ok(ServiceResponse::new(request, response))
}

/// Whether an answer is the request's outcome, to be replayed to its retries. Not so: a 5xx
/// (the retry must be able to finish the work), an answer that asks to be retried (`Retry-After`,
/// e.g. an erasure left `partial`, which the same request resumes), and a refusal of the caller's
/// credentials or rights (401, 403), which can change while the request stays the same.
fn is_final(head: &HttpResponse<()>) -> bool {
    let status = head.status();
    !status.is_server_error()
        && status != StatusCode::UNAUTHORIZED
        && status != StatusCode::FORBIDDEN
        && !head.headers().contains_key(header::RETRY_AFTER)
}

/// A response as kept for replay.
fn stored(head: &HttpResponse<()>, body: &web::Bytes) -> StoredResponse {
    StoredResponse {
        status: head.status().as_u16(),
        headers: KEPT_HEADERS
            .iter()
            .filter_map(|name| {
                let value = head.headers().get(*name)?.to_str().ok()?;
                Some((name.to_string(), value.to_string()))
            })
            .collect(),
        body: body.to_vec(),
    }
}

fn replay(stored: StoredResponse) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    for (name, value) in &stored.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            response.insert_header((name, value));
        }
    }
    response.insert_header((REPLAYED_HEADER, "true"));
    response.body(stored.body)
}

/// The key's lease while the request runs. A request that stops before answering (its client
/// went away and actix dropped it) frees the key, so a retry need not wait for the lease to end.
struct Held {
    db: Db,
    lease: Option<KeyLease>,
}

impl Held {
    async fn complete(&mut self, response: StoredResponse) {
        let Some(lease) = self.lease.take() else {
            return;
        };
        let result = self
            .db
            .run(move |conn| Ok::<_, DbError>(lease.complete(conn, &response)?))
            .await;
        match result {
            Ok(true) => {}
            // The lease ran out and a retry took the request over; its answer will be kept.
            Ok(false) => {
                tracing::warn!("an idempotency key's lease ended before its request answered")
            }
            // The retry runs the request again once the lease ends; the Stripe writes it makes
            // carry keys derived from the client's, so Stripe answers them with the first result.
            Err(err) => tracing::error!(error = %err, "an idempotent answer could not be kept"),
        }
    }

    async fn release(&mut self) {
        if let Some(lease) = self.lease.take() {
            if let Err(err) = self
                .db
                .run(move |conn| Ok::<_, DbError>(lease.release(conn)?))
                .await
            {
                tracing::error!(error = %err, "an idempotency key could not be freed");
            }
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let Some(lease) = self.lease.take() else {
            return;
        };
        let db = self.db.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(err) = db
                    .run(move |conn| Ok::<_, DbError>(lease.release(conn)?))
                    .await
                {
                    tracing::error!(error = %err, "an idempotency key could not be freed");
                }
            });
        }
    }
}

/// Deletes expired keys every `every`, for as long as the gateway runs.
pub async fn purge_forever(db: Db, every: Duration) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        match db
            .run(|conn| Ok::<_, DbError>(idempotency::purge_expired(conn)?))
            .await
        {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged expired idempotency keys"),
            Err(err) => tracing::warn!(error = %err, "purging idempotency keys failed"),
        }
    }
}
