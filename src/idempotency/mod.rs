//! `Idempotency-Key` for every POST under `/v1` (the IETF "Idempotency-Key HTTP Header Field"
//! draft, and Stripe's own behaviour): the first request with a key runs; a retry with the same
//! key and request gets the first answer again (`Idempotent-Replayed: true`) without running;
//! the same key with another request is refused (422 `idempotency_key_reused`), and so is a
//! retry while the first is still running (409 `idempotency_key_in_flight`, `Retry-After`).
//!
//! Keys belong to the caller's scope (the organizer of an organizer token, or the admins), so
//! two organizers' keys never meet. Only final answers are kept (see `answer::is_final`): after
//! a 5xx, or an answer that asks to be retried, the retry must be able to finish the work. Handlers read the key with [`ClientKey`] to derive the idempotency keys of their own
//! Stripe writes from it, so a retry after a crash between Stripe and the database adopts what
//! the first request created.

mod answer;
mod claims;
mod held;

use actix_web::body::{self, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, Error, FromRequest, HttpMessage, HttpRequest, ResponseError};

pub use claims::{Answers, Looks, ANSWERS_SESSION, LOOKS_SESSION, UNCLAIMED_ANSWERS_SESSION};
pub use held::purge;

use crate::auth::authenticate;
use crate::db::models::idempotency::{Begun, KeyTimes};
use crate::error::ApiError;
use crate::extract::BodyLimit;
use crate::services::effect_gate::EffectGate;
use crate::services::AppState;
use answer::{fingerprint, is_final, parse_key, replay, scope, stored};
use claims::{start_alone, Start};
use held::{Held, Slot};

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// What `Retry-After` says while the first request with a key runs.
const IN_FLIGHT_RETRY_SECS: u64 = 1;

/// How keys are kept, registered as app data.
#[derive(Clone)]
pub struct Idempotency {
    pub times: KeyTimes,
    /// Where the routes in `deferred` look at their keys: grouped, on connections of their own
    /// ([`LOOKS_SESSION`]; on SQLite, the pool's).
    pub looks: Looks,
    /// Where every keyed request's answer is kept: grouped, durably unless its request ran
    /// unclaimed.
    pub answers: Answers,
    /// Route patterns whose handlers pass an [`EffectGate`] before their first effect, so
    /// their keys are claimed only there, and never by a request that runs no effect (see
    /// [`crate::services::effect_gate`]). Every other route's key is claimed, durably, before
    /// its handler runs.
    pub deferred: &'static [&'static str],
}

/// Extract it in a handler of a deferred route; open for every other request.
impl FromRequest for EffectGate {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(req
            .extensions()
            .get::<EffectGate>()
            .cloned()
            .unwrap_or_default()))
    }
}

pub use crate::domain::ClientKey;

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

/// Set by a handler on its response: the customer the answer is about. Erasing that customer
/// forgets the kept answer, which may hold the person's details.
#[derive(Clone, Debug)]
pub struct AnswerAbout(pub String);

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
    // The handler's `Principal` extractor takes it from here rather than verifying again.
    req.extensions_mut().insert(principal.clone());
    let (Some(state), Some(settings)) = (
        req.app_data::<web::Data<AppState>>().cloned(),
        req.app_data::<Idempotency>().cloned(),
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
        fingerprint: fingerprint(&req, &body),
    };
    req.set_payload(Payload::from(body));
    let deferred = req
        .match_pattern()
        .is_some_and(|pattern| settings.deferred.contains(&pattern.as_str()));
    let times = settings.times;

    let start = if deferred {
        settings.looks.start_request(&client_key, &principal).await
    } else {
        let client_key = client_key.clone();
        state
            .db
            .run(move |conn| start_alone(conn, &client_key, &principal, times))
            .await
    };
    let (lease, unclaimed) = match start {
        Ok(Start::Key(Begun::Run(lease))) => (Some(lease), None),
        Ok(Start::Free) => (None, Some((claims::request(&client_key), Slot::default()))),
        Ok(Start::Unkeyed) => return Ok(next.call(req).await?.map_into_boxed_body()),
        Ok(Start::Key(Begun::Replay(stored))) => return Ok(req.into_response(replay(stored))),
        Ok(Start::Key(Begun::InFlight)) => {
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
        Ok(Start::Key(Begun::Mismatch)) => {
            return Ok(req.error_response(ApiError::Unprocessable {
                code: "idempotency_key_reused",
                message: "this Idempotency-Key was used with another request (method, path or body); use a new key for a new request".into(),
            }))
        }
        Err(err) => return Ok(req.error_response(ApiError::from(err))),
    };

    req.extensions_mut().insert(client_key);
    if let Some((request, slot)) = &unclaimed {
        let gate = held::claim_gate(state.db.clone(), request.clone(), times, slot.clone());
        req.extensions_mut().insert(gate);
    }
    let mut held = Held {
        db: state.db.clone(),
        answers: settings.answers.clone(),
        lease,
        unclaimed,
    };
    // The lease is renewed at a third of its length for as long as the request runs, so only
    // a holder that died (or lost the database) is ever taken over.
    let ttl = times.lease;
    let every = ttl / 3;
    let run = next.call(req);
    tokio::pin!(run);
    let mut renewals = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let response = loop {
        tokio::select! {
            response = &mut run => break response?,
            _ = renewals.tick() => held.renew(ttl).await,
        }
    };
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
        let about = head.extensions().get::<AnswerAbout>().map(|a| a.0.clone());
        held.complete(stored(&head, &bytes), about).await;
    } else {
        held.release().await;
    }
    let response = head.set_body(BoxBody::new(bytes));
    Ok(ServiceResponse::new(request, response))
}
