//! What makes two requests the same, and which answers are kept and how they are replayed.

use actix_web::dev::ServiceRequest;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use sha2::{Digest, Sha256};

use super::{HEADER, REPLAYED_HEADER};
use crate::db::models::idempotency::StoredResponse;
use crate::domain::Principal;
use crate::error::ApiError;

const MAX_KEY_CHARS: usize = 255;
/// What a replay repeats besides status and body; the rest (`x-request-id`, `date`) is the
/// replay's own.
const KEPT_HEADERS: [&str; 2] = ["content-type", "location"];

/// The header's value, when it has one: 1 to 255 printable ASCII characters.
pub(super) fn parse_key(req: &ServiceRequest) -> Result<Option<String>, ApiError> {
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

/// The key's scope for a caller.
pub(super) fn scope(principal: &Principal) -> String {
    match principal {
        Principal::Admin { .. } => "admin".to_string(),
        Principal::Organizer { org, .. } => format!("organizer:{org}"),
    }
}

/// What makes two requests the same one: method, path with query, and body.
pub(super) fn fingerprint(req: &ServiceRequest, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(req.method().as_str());
    hasher.update([0]);
    hasher.update(req.uri().path_and_query().map_or("", |p| p.as_str()));
    hasher.update([0]);
    hasher.update(body);
    crate::domain::lower_hex(&hasher.finalize())
}

/// Whether an answer is the request's outcome, to be replayed to its retries. Not so: a 5xx
/// (the retry must be able to finish the work); an answer that asks to be retried (`Retry-After`,
/// e.g. an erasure left `partial`, which the same request resumes); a refusal of the caller's
/// credentials or rights (401, 403), which can change while the request stays the same; a
/// conflict (409), which says how things stood at that moment; a wrong `Content-Type` (415) or a
/// rate limit (429), which say nothing of the request itself.
pub(super) fn is_final(head: &HttpResponse<()>) -> bool {
    let status = head.status();
    !status.is_server_error()
        && !matches!(status.as_u16(), 401 | 403 | 409 | 415 | 429)
        && !head.headers().contains_key(header::RETRY_AFTER)
}

/// A response as kept for replay.
pub(super) fn stored(head: &HttpResponse<()>, body: &web::Bytes) -> StoredResponse {
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

pub(super) fn replay(stored: StoredResponse) -> HttpResponse {
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
