//! Customers of an organizer: upsert, list, get, update, delete.

pub(super) mod body;

use actix_web::{delete, get, patch, post, web, HttpResponse};

use super::organizers::{parse_organizer_id, PageQuery};
use crate::domain::Principal;
use crate::domain::{CustomerId, Email, OrganizerId};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;
use crate::idempotency::AnswerAbout;
use crate::services::customers::{self, CustomerError, Upserted};
use crate::services::effect_gate::EffectGate;
use crate::services::AppState;
use body::{
    optional, parse_update, parse_upsert, CustomerListQuery, CustomerPage, CustomerResponse,
    UpdateCustomer, UpsertCustomer,
};

/// The organizer in the path, and that the token may act for it: checked before anything
/// else, the body included (handlers take it as a `Result` and open it after this), so another
/// organizer's token learns nothing (not even whether a customer exists) and always gets 403.
pub(super) fn organizer_scope(principal: &Principal, raw: &str) -> Result<OrganizerId, ApiError> {
    let org_id = parse_organizer_id(raw)?;
    principal.require_organizer(org_id)?;
    Ok(org_id)
}

pub(super) fn parse_customer_id(raw: &str) -> Result<CustomerId, ApiError> {
    CustomerId::parse(raw).map_err(|_| CustomerError::NotFound(raw.to_string()).into())
}

/// Create or find the organizer's customer with this email.
///
/// The customer is keyed by (email, the organizer's Stripe account). When none exists, the
/// Stripe customer is created in the organizer's account first (with the gateway's ids in its
/// metadata), then stored: 201. When one exists: 200, after sending any `name`, `phone` or
/// `metadata` that differ to Stripe. Concurrent and repeated calls for one email give one
/// customer.
#[utoipa::path(
    operation_id = "upsert_customer",
    tag = "customers",
    security(("bearer" = [])),
    params(("org_id" = uuid::Uuid, Path, description = "Organizer id")),
    request_body = UpsertCustomer,
    responses(
        (status = 200, description = "The customer existed (details updated if they differed)", body = CustomerResponse),
        (status = 201, description = "Created", body = CustomerResponse),
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A token of another organizer, or of a disabled one (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer (`organizer_not_found`), or the customer was deleted in Stripe again while this request recreated it (`customer_not_found`; repeat the request)", body = ErrorBody),
        (status = 409, description = "The customer was erased while being created (`customer_deleted`), or another request with the same `Idempotency-Key` claimed it first, before this one did anything (`idempotency_claim_lost`; repeat the request to get its answer)", body = ErrorBody),
        (status = 413, description = "Body too large (`payload_too_large`)", body = ErrorBody),
        (status = 415, description = "Body is not JSON (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "Invalid or unknown fields (`validation_failed`), Stripe refused the data (`stripe_invalid_request`, with Stripe's message), or the platform has no access to the organizer's account (`stripe_account_inaccessible`)", body = ErrorBody),
        (status = 502, description = "Stripe refused the gateway's call (`stripe_error`)", body = ErrorBody),
        (status = 503, description = "Stripe unreachable, rate-limiting or failing after retries (`stripe_unavailable`). No customer is returned or listed; repeat the same request after `Retry-After`: it finishes the creation, never making a second Stripe customer", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    )
)]
#[post("/organizers/{org_id}/customers")]
pub async fn upsert(
    principal: Principal,
    state: web::Data<AppState>,
    org_id: web::Path<String>,
    gate: EffectGate,
    body: Result<Json<UpsertCustomer>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let org_id = organizer_scope(&principal, &org_id)?;
    let input = parse_upsert(body?.0)?;
    let (mut response, customer) =
        match customers::upsert(&state, &principal, org_id, input, &gate).await? {
            Upserted::Created(customer) => (HttpResponse::Created(), customer),
            Upserted::Existing(customer) => (HttpResponse::Ok(), customer),
        };
    let about = AnswerAbout(customer.row.id.clone());
    let mut response = response.json(CustomerResponse::from(customer));
    response.extensions_mut().insert(about);
    Ok(response)
}

/// List the organizer's customers, oldest first; `email` finds one by email.
///
/// Served from the gateway's database; Stripe is not called.
#[utoipa::path(
    operation_id = "list_customers",
    tag = "customers",
    security(("bearer" = [])),
    params(("org_id" = uuid::Uuid, Path, description = "Organizer id"), CustomerListQuery),
    responses(
        (status = 200, description = "One page of customers", body = CustomerPage),
        (status = 400, description = "Unknown or malformed query parameters (`invalid_query`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A token of another organizer, or of a disabled one (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer (`organizer_not_found`)", body = ErrorBody),
        (status = 422, description = "Invalid `email`, `limit` or `cursor` (`validation_failed`)", body = ErrorBody),
    )
)]
#[get("/organizers/{org_id}/customers")]
pub async fn list(
    principal: Principal,
    state: web::Data<AppState>,
    org_id: web::Path<String>,
    query: web::Query<CustomerListQuery>,
) -> Result<web::Json<CustomerPage>, ApiError> {
    let org_id = organizer_scope(&principal, &org_id)?;
    let query = query.into_inner();
    let mut errors = Vec::new();
    let email = optional(query.email.as_deref(), "email", Email::parse, &mut errors);
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .parse();
    let (limit, cursor) = match page {
        Ok(page) if errors.is_empty() => page,
        Ok(_) => return Err(ApiError::Validation(errors)),
        Err(ApiError::Validation(more)) => {
            errors.extend(more);
            return Err(ApiError::Validation(errors));
        }
        Err(other) => return Err(other),
    };
    let page = customers::list(&state, &principal, org_id, email, limit, cursor).await?;
    Ok(web::Json(page.into()))
}

/// Get one customer of the organizer. Served from the gateway's database.
#[utoipa::path(
    operation_id = "get_customer",
    tag = "customers",
    security(("bearer" = [])),
    params(
        ("org_id" = uuid::Uuid, Path, description = "Organizer id"),
        ("customer_id" = uuid::Uuid, Path, description = "Customer id"),
    ),
    responses(
        (status = 200, description = "The customer", body = CustomerResponse),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A token of another organizer, or of a disabled one (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer or customer (`organizer_not_found`, `customer_not_found`)", body = ErrorBody),
    )
)]
#[get("/organizers/{org_id}/customers/{customer_id}")]
pub async fn get(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<web::Json<CustomerResponse>, ApiError> {
    let org_id = organizer_scope(&principal, &path.0)?;
    let customer_id = parse_customer_id(&path.1)?;
    let row = customers::get(&state, &principal, org_id, customer_id).await?;
    Ok(web::Json(row.into()))
}

/// Update a customer's email, name or phone: in Stripe first, then in the gateway.
///
/// Fields left out stay as they are; `null` clears `name` or `phone`. A new email moves the
/// customer's key.
#[utoipa::path(
    operation_id = "update_customer",
    tag = "customers",
    security(("bearer" = [])),
    params(
        ("org_id" = uuid::Uuid, Path, description = "Organizer id"),
        ("customer_id" = uuid::Uuid, Path, description = "Customer id"),
    ),
    request_body = UpdateCustomer,
    responses(
        (status = 200, description = "The updated customer", body = CustomerResponse),
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A token of another organizer, or of a disabled one (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer or customer, or the customer was deleted in Stripe (`organizer_not_found`, `customer_not_found`)", body = ErrorBody),
        (status = 409, description = "Another customer of the organizer has the new email (`customer_exists`)", body = ErrorBody),
        (status = 413, description = "Body too large (`payload_too_large`)", body = ErrorBody),
        (status = 415, description = "Body is not JSON (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "Invalid or unknown fields (`validation_failed`), Stripe refused the data (`stripe_invalid_request`), or the platform has no access to the organizer's account (`stripe_account_inaccessible`)", body = ErrorBody),
        (status = 502, description = "Stripe refused the gateway's call (`stripe_error`)", body = ErrorBody),
        (status = 503, description = "Stripe unavailable; the customer is unchanged; retry after `Retry-After` (`stripe_unavailable`)", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    )
)]
#[patch("/organizers/{org_id}/customers/{customer_id}")]
pub async fn update(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: Result<Json<UpdateCustomer>, ApiError>,
) -> Result<web::Json<CustomerResponse>, ApiError> {
    let org_id = organizer_scope(&principal, &path.0)?;
    let customer_id = parse_customer_id(&path.1)?;
    let patch = parse_update(body?.0)?;
    let row = customers::update(&state, &principal, org_id, customer_id, patch).await?;
    Ok(web::Json(row.into()))
}

/// Delete a customer: in Stripe first, then the gateway erases its data.
///
/// A customer already deleted in Stripe is not an error.
#[utoipa::path(
    operation_id = "delete_customer",
    tag = "customers",
    security(("bearer" = [])),
    params(
        ("org_id" = uuid::Uuid, Path, description = "Organizer id"),
        ("customer_id" = uuid::Uuid, Path, description = "Customer id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A token of another organizer, or of a disabled one (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer or customer (`organizer_not_found`, `customer_not_found`)", body = ErrorBody),
        (status = 422, description = "The platform has no access to the organizer's account (`stripe_account_inaccessible`)", body = ErrorBody),
        (status = 502, description = "Stripe refused the gateway's call (`stripe_error`)", body = ErrorBody),
        (status = 503, description = "Stripe unavailable, or the customer kept changing while it was deleted; the customer is kept; retry after `Retry-After` (`stripe_unavailable`)", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    )
)]
#[delete("/organizers/{org_id}/customers/{customer_id}")]
pub async fn remove(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let org_id = organizer_scope(&principal, &path.0)?;
    let customer_id = parse_customer_id(&path.1)?;
    customers::delete(&state, &principal, org_id, customer_id).await?;
    Ok(HttpResponse::NoContent().finish())
}
