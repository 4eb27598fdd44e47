//! Request extractors whose failures are [`ApiError`]s, so that bad input always gets the
//! gateway's JSON error shape with a stable code, never actix's plain-text defaults.

use std::future::{ready, Future, Ready};
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};

/// A JSON body: `Content-Type: application/json` (or `+json`), within the configured size limit,
/// well-formed, and matching `T` exactly (request types deny unknown fields). Type errors are
/// reported per field as `validation_failed`.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if !is_json(req) {
            return Box::pin(async { Err(ApiError::UnsupportedMediaType) });
        }
        let limit = req
            .app_data::<BodyLimit>()
            .map_or(BodyLimit::DEFAULT, |limit| limit.0);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = body.await.map_err(|err| {
                if err.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge { limit }
                } else {
                    ApiError::MalformedJson(format!("the body could not be read: {err}"))
                }
            })?;
            parse_json(&bytes).map(Json)
        })
    }
}

/// The largest body the gateway reads, registered as app data next to the matching
/// `web::PayloadConfig` (see [`body_limit`]); [`Json`] quotes it in its 413 message.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit(pub usize);

impl BodyLimit {
    /// actix's own default for `PayloadConfig`.
    const DEFAULT: usize = 262_144;
}

fn is_json(req: &HttpRequest) -> bool {
    let Some(value) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses a JSON body into `T`: syntax errors (the whole body is checked first) are malformed
/// JSON (400); a body that is not an object, or whose fields do not fit, is a field problem (422).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::MalformedJson(
            "the body is empty; send a JSON object".into(),
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|err| {
        ApiError::MalformedJson(format!(
            "the body is not valid JSON: {}",
            without_position(&err.to_string())
        ))
    })?;
    // serde would also read a struct from an array of its fields in order; the API takes objects only.
    if !value.is_object() {
        return Err(ApiError::validation("body", "must be a JSON object"));
    }
    // From the bytes rather than the parsed value: a value keeps only the last of two equal
    // keys, while deserializing the text refuses `{"email": "a@x.co", "email": "b@x.co"}`.
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let message = without_position(&err.into_inner().to_string());
        // An unknown field's path already ends in its name; a missing or repeated one's is its
        // parent.
        let field = match (named_field(&message), path.as_str()) {
            (Some(name), ".") => name,
            (Some(name), parent) => format!("{parent}.{name}"),
            (None, ".") => "body".to_string(),
            (None, path) => path.to_string(),
        };
        ApiError::Validation(vec![FieldError::new(field, message)])
    })
}

/// serde_json appends " at line 1 column 9"; clients need the field, not the column.
fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

/// `missing field `x`` and `duplicate field `x`` name the field only inside the message.
fn named_field(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("missing field `")
        .or_else(|| message.strip_prefix("duplicate field `"))?;
    rest.split('`').next().map(str::to_string)
}

/// A whole number in a JSON body, as JSON Schema's `integer` defines it: `81` and also `81.0` or
/// `8.1e1` (a number whose fraction is zero), which the OpenAPI document cannot tell apart from
/// `81` and which many JSON encoders write for integers held in floating point. `81.5`, a
/// string, or a value beyond 64 bits is refused with a field error. Ranges are the domain's to
/// check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Whole(pub i64);

impl<'de> serde::Deserialize<'de> for Whole {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = Whole;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a whole number")
            }

            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Whole, E> {
                Ok(Whole(n))
            }

            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Whole, E> {
                i64::try_from(n)
                    .map(Whole)
                    .map_err(|_| E::custom(format!("{n} is out of range")))
            }

            fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Whole, E> {
                // Every whole f64 in this range converts exactly; 2^63 itself does not fit.
                const LIMIT: f64 = 9_223_372_036_854_775_808.0;
                if n.fract() != 0.0 || !n.is_finite() {
                    return Err(E::invalid_type(serde::de::Unexpected::Float(n), &self));
                }
                if !(-LIMIT..LIMIT).contains(&n) {
                    return Err(E::custom(format!("{n} is out of range")));
                }
                Ok(Whole(n as i64))
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

/// The body size limit, for actix's payload reader and for [`Json`]'s error message.
pub fn body_limit(limit: usize) -> (web::PayloadConfig, BodyLimit) {
    (web::PayloadConfig::new(limit), BodyLimit(limit))
}

/// A query string that fits `T`, or `invalid_query` (the same answer [`query_config`] gives
/// `web::Query`). As an [`ApiError`] it can be taken as `Result<Query<T>, ApiError>` and opened
/// after the role check, so that a caller without the role gets 403 whatever it sent.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            web::Query::<T>::from_query(req.query_string())
                .map(|query| Query(query.into_inner()))
                .map_err(invalid_query),
        )
    }
}

fn invalid_query(err: impl std::fmt::Display) -> ApiError {
    ApiError::InvalidQuery(format!("invalid query string: {err}"))
}

/// Query strings that do not fit the handler's type get `invalid_query`.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| invalid_query(err).into())
}

/// Path segments that do not fit the handler's type get a JSON 404.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_err, req| {
        ApiError::NotFound {
            code: "not_found",
            message: format!("no resource at {}", req.path()),
        }
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        nested: Option<Nested>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Nested {
        count: u8,
    }

    fn fields(err: ApiError) -> Vec<FieldError> {
        match err {
            ApiError::Validation(fields) => fields,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn syntax_errors_are_malformed_json() {
        assert!(matches!(
            parse_json::<Body>(b"{\"name\":"),
            Err(ApiError::MalformedJson(_))
        ));
        assert!(matches!(
            parse_json::<Body>(b""),
            Err(ApiError::MalformedJson(_))
        ));
        assert!(matches!(
            parse_json::<Body>(b"{\"name\":\"a\"} trailing"),
            Err(ApiError::MalformedJson(_))
        ));
    }

    #[test]
    fn only_objects_are_bodies() {
        for body in [&b"[\"a\", null]"[..], b"\"a\"", b"null", b"3"] {
            assert_eq!(
                fields(parse_json::<Body>(body).unwrap_err())[0].field,
                "body"
            );
        }
    }

    #[test]
    fn field_errors_name_the_field() {
        let missing = fields(parse_json::<Body>(b"{}").unwrap_err());
        assert_eq!(missing[0].field, "name");
        let unknown = fields(parse_json::<Body>(b"{\"name\":\"a\",\"extra\":1}").unwrap_err());
        assert_eq!(unknown[0].field, "extra");
        let nested_missing =
            fields(parse_json::<Body>(b"{\"name\":\"a\",\"nested\":{}}").unwrap_err());
        assert_eq!(nested_missing[0].field, "nested.count");
        let nested_unknown = fields(
            parse_json::<Body>(b"{\"name\":\"a\",\"nested\":{\"count\":1,\"x\":2}}").unwrap_err(),
        );
        assert_eq!(nested_unknown[0].field, "nested.x");
        let wrong_type = fields(
            parse_json::<Body>(b"{\"name\":\"a\",\"nested\":{\"count\":\"x\"}}").unwrap_err(),
        );
        assert_eq!(wrong_type[0].field, "nested.count");
        assert!(
            !wrong_type[0].message.contains("line"),
            "{}",
            wrong_type[0].message
        );
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Counted {
        count: Whole,
        limit: Option<Whole>,
    }

    #[test]
    fn whole_numbers_are_read_as_json_schema_counts_integers() {
        for (body, count) in [
            (&b"{\"count\": 81}"[..], 81),
            (b"{\"count\": 81.0}", 81),
            (b"{\"count\": 8.1e1}", 81),
            (b"{\"count\": -3.0}", -3),
            (b"{\"count\": -0.0}", 0),
        ] {
            let parsed: Counted = parse_json(body).unwrap();
            assert_eq!(parsed.count, Whole(count));
            assert_eq!(parsed.limit, None);
        }
        let parsed: Counted = parse_json(b"{\"count\": 1, \"limit\": 2.0}").unwrap();
        assert_eq!(parsed.limit, Some(Whole(2)));
        for body in [
            &b"{\"count\": 81.5}"[..],
            b"{\"count\": \"81\"}",
            b"{\"count\": 1e19}",
            b"{\"count\": 18446744073709551615}",
            b"{\"count\": true}",
        ] {
            let problems = fields(parse_json::<Counted>(body).unwrap_err());
            assert_eq!(
                problems[0].field,
                "count",
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn a_field_given_twice_is_refused_not_overwritten() {
        let twice = fields(parse_json::<Body>(b"{\"name\":\"a\",\"name\":\"b\"}").unwrap_err());
        assert_eq!(twice[0].field, "name");
        assert!(
            twice[0].message.contains("duplicate"),
            "{}",
            twice[0].message
        );
    }
}
