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
use actix_web::{web, Error, FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};

pub use claims::{Answers, ANSWERS_SESSION, UNCLAIMED_ANSWERS_SESSION, UNCLAIMED_RUNNERS};
pub use held::purge;

use crate::auth::authenticate;
use crate::db::models::idempotency::{Begun, KeyLease, KeyTimes};
use crate::error::ApiError;
use crate::extract::BodyLimit;
use crate::routes::matches_template;
use crate::services::effect_gate::{EffectGate, KeyLook};
use crate::services::AppState;
use answer::{fingerprint, is_final, parse_key, replay, scope, stored};
use claims::{start_alone, Start};
use held::Held;

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// What `Retry-After` says while the first request with a key runs.
const IN_FLIGHT_RETRY_SECS: u64 = 1;

/// How keys are kept, registered as app data.
#[derive(Clone)]
pub struct Idempotency {
    pub times: KeyTimes,
    /// Where every keyed request's answer is kept: grouped, durably unless its request ran
    /// unclaimed.
    pub answers: Answers,
    /// Route patterns whose handlers look at their keys with their first read and pass an
    /// [`EffectGate`] before their first effect, so their keys are claimed only there, and
    /// never by a request that runs no effect (see [`crate::services::effect_gate`]). Every
    /// other route's key is claimed, durably, before its handler runs.
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
    let deferred = settings
        .deferred
        .iter()
        .any(|pattern| matches_template(pattern, req.path()));
    let times = settings.times;

    // A deferred route's key is looked at by its handler's first read (`KeyLook`); every other
    // route's is claimed here, before its handler runs.
    let look = deferred.then(|| KeyLook::new(claims::request(&client_key), times));
    let lease = match &look {
        Some(_) => None,
        None => {
            let (key, principal) = (client_key.clone(), principal.clone());
            let start = state
                .db
                .run(move |conn| start_alone(conn, &key, &principal, times))
                .await;
            match start {
                Ok(Start::Key(begun)) => match settled(begun) {
                    Ok(answer) => return Ok(req.into_response(answer)),
                    Err(lease) => Some(lease),
                },
                Ok(Start::Unkeyed) => return Ok(next.call(req).await?.map_into_boxed_body()),
                Err(err) => return Ok(req.error_response(ApiError::from(err))),
            }
        }
    };

    req.extensions_mut().insert(client_key.clone());
    if let Some(look) = &look {
        let gate = held::claim_gate(state.db.clone(), look.clone()).looking(look.clone());
        req.extensions_mut().insert(gate);
    }
    let mut held = Held {
        db: state.db.clone(),
        answers: settings.answers.clone(),
        lease,
        look: look.clone(),
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
    if let Some(look) = &look {
        let found = match look.take_settled() {
            Some(begun) => Some(begun),
            // The handler stopped before its first read (a refusal of its input), having done
            // nothing: the key is claimed now, and settles the answer as it would have first.
            None if !look.looked() && look.lease().is_none() => {
                let principal = principal.clone();
                let start = state
                    .db
                    .run(move |conn| start_alone(conn, &client_key, &principal, times))
                    .await;
                match start {
                    Ok(Start::Key(begun)) => Some(begun),
                    Ok(Start::Unkeyed) => {
                        return Ok(ServiceResponse::new(request, response).map_into_boxed_body())
                    }
                    Err(err) => {
                        let answer = ApiError::from(err).error_response();
                        return Ok(ServiceResponse::new(request, answer));
                    }
                }
            }
            None => None,
        };
        match found.map(settled) {
            Some(Ok(answer)) => return Ok(ServiceResponse::new(request, answer)),
            Some(Err(lease)) => look.hold(lease),
            None => {}
        }
    }
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

/// The answer a key's row gives a request that did not get to run it: `Err` with the lease
/// when the request holds the key.
fn settled(begun: Begun) -> Result<HttpResponse, KeyLease> {
    match begun {
        Begun::Run(lease) => Err(lease),
        Begun::Replay(stored) => Ok(replay(stored)),
        Begun::InFlight => {
            let err = ApiError::Conflict {
                code: "idempotency_key_in_flight",
                message: "a request with this Idempotency-Key is still running; retry after it answers".into(),
            };
            let mut response = err.error_response();
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(IN_FLIGHT_RETRY_SECS),
            );
            Ok(response)
        }
        Begun::Mismatch => Ok(ApiError::Unprocessable {
            code: "idempotency_key_reused",
            message: "this Idempotency-Key was used with another request (method, path or body); use a new key for a new request".into(),
        }
        .error_response()),
    }
}
