//! Webhook endpoints: where the gateway delivers its events (Standard Webhooks). An
//! organizer's token manages its own; an admin's manages every one, and registers the
//! platform's (every organizer's events, or those of the organizers it lists).

mod deliveries;

pub use deliveries::{list_deliveries, replay, rotate_secret};

use actix_web::{delete, get, patch, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::organizers::page_params;
use super::present;
use crate::domain::{GatewayEventType, OrganizerId, Principal};
use crate::error::{ApiError, ErrorBody, FieldError};
use crate::extract::{Json, Query};
use crate::services::outbound::endpoints::{self, EndpointUpdate, NewEndpoint};
use crate::services::outbound::WebhookEndpointResponse;
use crate::services::AppState;

/// The longest URL an endpoint may have.
const URL_MAX: usize = 2048;
/// The longest description.
const DESCRIPTION_MAX: usize = 500;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookEndpoint {
    /// Where deliveries are POSTed: `https`, reaching a public address (plain `http`, or a
    /// private address, only for hosts in `OUTBOUND_WEBHOOK_ALLOWED_HOSTS`).
    #[schema(
        format = "uri",
        max_length = 2048,
        example = "https://tickets.example/hooks/gateway"
    )]
    url: String,
    /// Up to 500 characters.
    #[schema(max_length = 500)]
    description: Option<String>,
    /// The types it hears; leave it out for every type.
    #[schema(value_type = Option<Vec<GatewayEventType>>, min_items = 1)]
    event_types: Option<Vec<String>>,
    /// The organizer whose events it hears (an organizer's token: its own, the default). Leave
    /// it out with an admin token for a platform endpoint.
    #[schema(value_type = Option<uuid::Uuid>)]
    organizer_id: Option<String>,
    /// A platform endpoint's organizers; leave it out for every organizer.
    #[schema(value_type = Option<Vec<uuid::Uuid>>, min_items = 1, max_items = 100)]
    organizer_ids: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookEndpoint {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, format = "uri", max_length = 2048, required = false)]
    url: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, max_length = 500, required = false)]
    description: Option<Option<String>>,
    /// `null` for every type.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<GatewayEventType>>, min_items = 1, nullable, required = false)]
    event_types: Option<Option<Vec<String>>>,
    /// A platform endpoint's organizers; `null` for every organizer.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<uuid::Uuid>>, min_items = 1, max_items = 100, nullable, required = false)]
    organizer_ids: Option<Option<Vec<String>>>,
    /// `true` enables it again (and clears its failure state); `false` stops deliveries.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = bool, required = false)]
    enabled: Option<Option<bool>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EndpointListQuery {
    /// Only this organizer's endpoints (admin; an organizer's token lists its own anyway).
    #[param(value_type = Option<uuid::Uuid>)]
    organizer_id: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// `next_cursor` from the previous page.
    #[param(value_type = Option<uuid::Uuid>)]
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpointPage {
    /// Oldest first.
    data: Vec<WebhookEndpointResponse>,
    /// Pass as `cursor` to get the next page; null on the last page.
    next_cursor: Option<String>,
}

/// A list's cursor: the id of the page's last item, a UUID.
fn cursor_id(raw: &str) -> Result<String, String> {
    uuid::Uuid::parse_str(raw)
        .map(|id| id.to_string())
        .map_err(|_| "must be a `next_cursor` of this list".to_string())
}

/// A path's endpoint id: anything but a UUID names no endpoint.
fn endpoint_id(raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(|id| id.to_string())
        .map_err(|_| ApiError::NotFound {
            code: "webhook_endpoint_not_found",
            message: format!("`{raw}` is not a webhook endpoint id"),
        })
}

fn parse_url(raw: &str, errors: &mut Vec<FieldError>) -> Option<url::Url> {
    if raw.len() > URL_MAX {
        errors.push(FieldError::new(
            "url",
            format!("must be at most {URL_MAX} characters"),
        ));
        return None;
    }
    url::Url::parse(raw)
        .map_err(|e| errors.push(FieldError::new("url", format!("is not a URL: {e}"))))
        .ok()
}

fn parse_description(raw: String, errors: &mut Vec<FieldError>) -> String {
    if raw.chars().count() > DESCRIPTION_MAX {
        errors.push(FieldError::new(
            "description",
            format!("must be at most {DESCRIPTION_MAX} characters"),
        ));
    }
    raw
}

fn parse_types(raw: &[String], errors: &mut Vec<FieldError>) -> Option<Vec<GatewayEventType>> {
    if raw.is_empty() {
        errors.push(FieldError::new(
            "event_types",
            "must name at least one type (leave it out, or null, for every type)",
        ));
        return None;
    }
    GatewayEventType::parse_list(&raw.join(","))
        .map_err(|e| errors.push(FieldError::new("event_types", e)))
        .ok()
}

fn parse_organizers(raw: &[String], errors: &mut Vec<FieldError>) -> Option<Vec<OrganizerId>> {
    if raw.is_empty() || raw.len() > 100 {
        errors.push(FieldError::new(
            "organizer_ids",
            "must list 1 to 100 organizers",
        ));
        return None;
    }
    raw.iter()
        .map(|id| OrganizerId::parse(id).map_err(|_| format!("`{id}` is not an organizer id")))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| errors.push(FieldError::new("organizer_ids", e)))
        .ok()
}

fn parse_create(body: CreateWebhookEndpoint) -> Result<NewEndpoint, ApiError> {
    let mut errors = Vec::new();
    let url = parse_url(&body.url, &mut errors);
    let description = parse_description(body.description.unwrap_or_default(), &mut errors);
    let event_types = body.event_types.map(|raw| parse_types(&raw, &mut errors));
    let organizer_id = body.organizer_id.map(|raw| {
        OrganizerId::parse(&raw)
            .map_err(|_| errors.push(FieldError::new("organizer_id", "is not an organizer id")))
            .ok()
    });
    let organizer_ids = body
        .organizer_ids
        .map(|raw| parse_organizers(&raw, &mut errors));
    match url {
        Some(url) if errors.is_empty() => Ok(NewEndpoint {
            url,
            description,
            event_types: event_types.flatten(),
            organizer_id: organizer_id.flatten(),
            organizer_ids: organizer_ids.flatten(),
        }),
        _ => Err(ApiError::Validation(errors)),
    }
}

fn parse_update(body: UpdateWebhookEndpoint) -> Result<EndpointUpdate, ApiError> {
    let mut errors = Vec::new();
    let not_null = |field: &'static str, errors: &mut Vec<FieldError>| {
        errors.push(FieldError::new(field, "must not be null"));
    };
    let mut changes = EndpointUpdate::default();
    match body.url {
        None => {}
        Some(None) => not_null("url", &mut errors),
        Some(Some(raw)) => changes.url = parse_url(&raw, &mut errors),
    }
    match body.description {
        None => {}
        Some(None) => not_null("description", &mut errors),
        Some(Some(raw)) => changes.description = Some(parse_description(raw, &mut errors)),
    }
    changes.event_types = body
        .event_types
        .map(|types| types.and_then(|raw| parse_types(&raw, &mut errors)));
    changes.organizer_ids = body
        .organizer_ids
        .map(|ids| ids.and_then(|raw| parse_organizers(&raw, &mut errors)));
    match body.enabled {
        None => {}
        Some(None) => not_null("enabled", &mut errors),
        Some(Some(enabled)) => changes.enabled = Some(enabled),
    }
    if errors.is_empty() {
        Ok(changes)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Register a webhook endpoint; the answer holds its signing secret, shown this once.
#[utoipa::path(
    operation_id = "create_webhook_endpoint",
    tag = "webhook-endpoints",
    security(("bearer" = [])),
    request_body = CreateWebhookEndpoint,
    responses(
        (status = 201, description = "Registered, with its `secret`", body = WebhookEndpointResponse),
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "An organizer's token for another organizer, or listing organizers, or a disabled organizer's (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer, as `organizer_id` or in `organizer_ids` (`organizer_not_found`)", body = ErrorBody),
        (status = 413, description = "Body too large (`payload_too_large`)", body = ErrorBody),
        (status = 415, description = "Body is not JSON (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "Invalid fields, or a URL the gateway does not deliver to (`validation_failed`)", body = ErrorBody),
    )
)]
#[post("/webhook-endpoints")]
pub async fn create(
    principal: Principal,
    state: web::Data<AppState>,
    body: Result<Json<CreateWebhookEndpoint>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let new = parse_create(body?.0)?;
    let created = endpoints::create(&state, &principal, new).await?;
    Ok(HttpResponse::Created().json(created))
}

/// List webhook endpoints, oldest first: an admin's every one, an organizer's its own.
#[utoipa::path(
    operation_id = "list_webhook_endpoints",
    tag = "webhook-endpoints",
    security(("bearer" = [])),
    params(EndpointListQuery),
    responses(
        (status = 200, description = "One page of endpoints", body = WebhookEndpointPage),
        (status = 400, description = "Unknown or malformed query parameters (`invalid_query`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A disabled organizer's token (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer (`organizer_not_found`)", body = ErrorBody),
        (status = 422, description = "Invalid `organizer_id`, `limit` or `cursor` (`validation_failed`)", body = ErrorBody),
    )
)]
#[get("/webhook-endpoints")]
pub async fn list(
    principal: Principal,
    state: web::Data<AppState>,
    query: Result<Query<EndpointListQuery>, ApiError>,
) -> Result<web::Json<WebhookEndpointPage>, ApiError> {
    let query = query?.0;
    let organizer = query
        .organizer_id
        .map(|raw| {
            OrganizerId::parse(&raw)
                .map_err(|_| FieldError::new("organizer_id", "is not an organizer id"))
        })
        .transpose();
    let page = page_params(query.limit, query.cursor.as_deref(), cursor_id);
    let (organizer, (limit, cursor)) = match (organizer, page) {
        (Ok(organizer), Ok(page)) => (organizer, page),
        (organizer, page) => {
            let mut errors: Vec<FieldError> = organizer.err().into_iter().collect();
            match page {
                Err(ApiError::Validation(more)) => errors.extend(more),
                Err(other) => return Err(other),
                Ok(_) => {}
            }
            return Err(ApiError::Validation(errors));
        }
    };
    let data = endpoints::list(&state, &principal, organizer, cursor, limit).await?;
    let next_cursor = (data.len() == limit.get())
        .then(|| data.last().map(|endpoint| endpoint.id.clone()))
        .flatten();
    Ok(web::Json(WebhookEndpointPage { data, next_cursor }))
}

/// Get one webhook endpoint (its secret is never shown again).
#[utoipa::path(
    operation_id = "get_webhook_endpoint",
    tag = "webhook-endpoints",
    security(("bearer" = [])),
    params(("endpoint_id" = uuid::Uuid, Path, description = "Webhook endpoint id")),
    responses(
        (status = 200, description = "The endpoint", body = WebhookEndpointResponse),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A disabled organizer's token (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such endpoint, or another organizer's (`webhook_endpoint_not_found`)", body = ErrorBody),
    )
)]
#[get("/webhook-endpoints/{endpoint_id}")]
pub async fn get(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<WebhookEndpointResponse>, ApiError> {
    let id = endpoint_id(&path)?;
    Ok(web::Json(endpoints::get(&state, &principal, id).await?))
}

/// Change a webhook endpoint: its URL, description, filters, or whether it is enabled.
#[utoipa::path(
    operation_id = "update_webhook_endpoint",
    tag = "webhook-endpoints",
    security(("bearer" = [])),
    params(("endpoint_id" = uuid::Uuid, Path, description = "Webhook endpoint id")),
    request_body = UpdateWebhookEndpoint,
    responses(
        (status = 200, description = "The endpoint as changed", body = WebhookEndpointResponse),
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A disabled organizer's token (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such endpoint, or another organizer's (`webhook_endpoint_not_found`); no such organizer in `organizer_ids` (`organizer_not_found`)", body = ErrorBody),
        (status = 413, description = "Body too large (`payload_too_large`)", body = ErrorBody),
        (status = 415, description = "Body is not JSON (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "Invalid fields, or `organizer_ids` on an organizer's endpoint (`validation_failed`)", body = ErrorBody),
    )
)]
#[patch("/webhook-endpoints/{endpoint_id}")]
pub async fn update(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: Result<Json<UpdateWebhookEndpoint>, ApiError>,
) -> Result<web::Json<WebhookEndpointResponse>, ApiError> {
    let id = endpoint_id(&path)?;
    let changes = parse_update(body?.0)?;
    Ok(web::Json(
        endpoints::update(&state, &principal, id, changes).await?,
    ))
}

/// Delete a webhook endpoint, with its secrets and delivery log.
#[utoipa::path(
    operation_id = "delete_webhook_endpoint",
    tag = "webhook-endpoints",
    security(("bearer" = [])),
    params(("endpoint_id" = uuid::Uuid, Path, description = "Webhook endpoint id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A disabled organizer's token (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such endpoint, or another organizer's (`webhook_endpoint_not_found`)", body = ErrorBody),
    )
)]
#[delete("/webhook-endpoints/{endpoint_id}")]
pub async fn remove(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = endpoint_id(&path)?;
    endpoints::delete(&state, &principal, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
