//! Logging and request context: the tracing subscriber, and a middleware that gives every
//! request an id (taken from a well-formed incoming `x-request-id`, else a new UUIDv7), a span
//! carrying it, an access log line, the id in the response header and error bodies, and the
//! request's metrics.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::Error;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

use crate::configuration::{LogFormat, LogSettings};

pub mod metrics;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Installs the global subscriber. A second call (tests build many apps) is a no-op.
pub fn init(settings: &LogSettings) {
    let filter =
        EnvFilter::try_new(&settings.log_filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match settings.log_format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
}

/// The id of the request being served on this task, or `none` outside a request.
pub fn current_request_id() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "none".to_string())
}

fn incoming_request_id(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(REQUEST_ID_HEADER)?.to_str().ok()?;
    let well_formed = (1..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    well_formed.then(|| value.to_string())
}

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let request_id = incoming_request_id(&req).unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let span = tracing::info_span!(
        "http_request",
        method = %req.method(),
        path = %req.path(),
        request_id = %request_id,
    );
    let started = Instant::now();
    let header_value = HeaderValue::from_str(&request_id).ok();

    REQUEST_ID
        .scope(request_id, async move {
            // Handlers and extractors turn their errors into responses inside this scope, so
            // error bodies carry the request id. No middleware runs inside this one, so an `Err`
            // here would come from actix itself; it is passed on unchanged.
            let mut response = next.call(req).await?.map_into_boxed_body();
            if let Some(value) = header_value {
                response.headers_mut().insert(REQUEST_ID_HEADER, value);
            }
            let status = response.status().as_u16();
            let took = started.elapsed();
            let request = response.request();
            metrics::http_request(
                request.match_pattern(),
                request.method().as_str(),
                status,
                took,
            );
            let latency_us = took.as_micros() as u64;
            // Probes arrive every few seconds; they stay out of the info log unless they fail.
            let probe = matches!(response.request().path(), "/healthz" | "/readyz");
            match (status, probe) {
                (500.., _) => tracing::warn!(status, latency_us, "request finished"),
                (_, true) => tracing::debug!(status, latency_us, "request finished"),
                _ => tracing::info!(status, latency_us, "request finished"),
            }
            Ok(response)
        })
        .instrument(span)
        .await
}
