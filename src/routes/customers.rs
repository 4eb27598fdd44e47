use std::collections::BTreeMap;

use actix_web::{delete, get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::organizers::{parse_organizer_id, PageQuery};
use super::present;
use crate::auth::Principal;
use crate::domain::{CustomerId, CustomerName, Email, Metadata, OrganizerId, Phone};
use crate::error::{ApiError, ErrorBody, FieldError};
use crate::extract::Json;
use crate::services::customers::{
    self, ActiveCustomer, CustomerError, CustomerPatch, UpsertInput, Upserted,
};
use crate::services::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertCustomer {
    /// The customer's email. With the organizer's Stripe account it is the customer's key:
    /// compared trimmed and lowercased, shown as first spelled. ASCII only (a Unicode domain in
    /// its `xn--` form), a dot-atom before the `@`.
    #[schema(
        example = "Ana.Lima@example.com",
        format = "email",
        min_length = 1,
        max_length = 254
    )]
    email: String,
    /// Full name or business name, up to 256 characters, without control characters or
    /// invisible direction overrides.
    #[schema(example = "Ana Lima", min_length = 1, max_length = 256)]
    name: Option<String>,
    /// Up to 20 characters: digits, spaces and `+ - ( ) . x`.
    #[schema(
        example = "+55 11 91234-5678",
        min_length = 1,
        max_length = 20,
        pattern = r"^[0-9 +\-().x]+$"
    )]
    phone: Option<String>,
    /// Merged into the Stripe customer's metadata: keys of 1 to 40 characters (no brackets,
    /// not starting with `gateway_`), values of at most 500 characters; an empty value removes
    /// its key. The customer may hold at most 48 keys in all (`validation_failed` on `metadata`
    /// otherwise).
    #[schema(example = json!({"crm_id": "c-1042"}))]
    metadata: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCustomer {
    /// A new email moves the customer's key; `customer_exists` if another customer of the
    /// organizer has it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, required = false, example = "ana@example.org", format = "email", min_length = 1, max_length = 254)]
    email: Option<Option<String>>,
    /// Up to 256 characters; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, required = false, nullable, min_length = 1, max_length = 256)]
    name: Option<Option<String>>,
    /// Up to 20 characters: digits, spaces and `+ - ( ) . x`; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, required = false, nullable, min_length = 1, max_length = 20, pattern = r"^[0-9 +\-().x]+$")]
    phone: Option<Option<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerResponse {
    /// The gateway's id; stays the same for the customer's life, even if its Stripe customer
    /// is recreated.
    #[schema(example = "0193a7c0-5b1e-7c3a-9f10-2d4e6f8a0b1c")]
    id: String,
    organizer_id: String,
    /// The organizer's Stripe account, which holds the Stripe customer.
    #[schema(example = "acct_1Nv0FGQ9RKHgCVdK")]
    stripe_account_id: String,
    /// The customer in that account; never valid with any other account.
    #[schema(example = "cus_QzX4hJ2mT8k9Lp")]
    stripe_customer_id: String,
    /// As first spelled by the client.
    email: String,
    name: Option<String>,
    phone: Option<String>,
    /// The Stripe customer's metadata, without the gateway's own `gateway_*` keys.
    metadata: BTreeMap<String, String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<ActiveCustomer> for CustomerResponse {
    fn from(customer: ActiveCustomer) -> Self {
        let row = customer.row;
        Self {
            metadata: row.metadata.0,
            id: row.id,
            organizer_id: row.organizer_id,
            stripe_account_id: row.stripe_account_id,
            stripe_customer_id: customer.stripe_customer_id,
            email: row.email.as_str().to_string(),
            name: row.name,
            phone: row.phone,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerPage {
    data: Vec<CustomerResponse>,
    /// Pass as `cursor` to get the next page; null on the last page.
    next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CustomerListQuery {
    /// Only the customer with this email (compared trimmed and lowercased).
    email: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// `next_cursor` from the previous page.
    cursor: Option<String>,
}

/// The organizer in the path, and that the token may act for it: checked before anything
/// else, the body included (handlers take it as a `Result` and open it after this), so another
/// organizer's token learns nothing (not even whether a customer exists) and always gets 403.
fn organizer_scope(principal: &Principal, raw: &str) -> Result<OrganizerId, ApiError> {
    let org_id = parse_organizer_id(raw)?;
    principal.require_organizer(org_id)?;
    Ok(org_id)
}

fn parse_customer_id(raw: &str) -> Result<CustomerId, ApiError> {
    CustomerId::parse(raw).map_err(|_| CustomerError::NotFound(raw.to_string()).into())
}

fn optional<T>(
    raw: Option<&str>,
    field: &str,
    parse: impl Fn(&str) -> Result<T, String>,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    raw.and_then(|raw| {
        parse(raw)
            .map_err(|e| errors.push(FieldError::new(field, e)))
            .ok()
    })
}

/// A nullable PATCH field: absent leaves it, `null` clears it, a value must parse.
fn nullable<T>(
    raw: Option<Option<String>>,
    field: &str,
    parse: impl Fn(&str) -> Result<T, String>,
    errors: &mut Vec<FieldError>,
) -> Option<Option<T>> {
    match raw {
        None => None,
        Some(None) => Some(None),
        Some(Some(value)) => match parse(&value) {
            Ok(value) => Some(Some(value)),
            Err(e) => {
                errors.push(FieldError::new(field, e));
                None
            }
        },
    }
}

fn parse_upsert(body: UpsertCustomer) -> Result<UpsertInput, ApiError> {
    let mut errors = Vec::new();
    let email = optional(Some(&body.email), "email", Email::parse, &mut errors);
    let name = optional(
        body.name.as_deref(),
        "name",
        CustomerName::parse,
        &mut errors,
    );
    let phone = optional(body.phone.as_deref(), "phone", Phone::parse, &mut errors);
    let metadata = body.metadata.and_then(|raw| {
        Metadata::parse(raw)
            .map_err(|problems| {
                errors.extend(problems.into_iter().map(|(key, message)| {
                    let field = if key.is_empty() {
                        "metadata".to_string()
                    } else {
                        format!("metadata.{key}")
                    };
                    FieldError::new(field, message)
                }))
            })
            .ok()
    });
    match email {
        Some(email) if errors.is_empty() => Ok(UpsertInput {
            email,
            name,
            phone,
            metadata,
        }),
        _ => Err(ApiError::Validation(errors)),
    }
}

fn parse_update(body: UpdateCustomer) -> Result<CustomerPatch, ApiError> {
    let mut errors = Vec::new();
    let email = match body.email {
        Some(None) => {
            errors.push(FieldError::new("email", "must not be null"));
            None
        }
        Some(Some(raw)) => optional(Some(&raw), "email", Email::parse, &mut errors),
        None => None,
    };
    let patch = CustomerPatch {
        email,
        name: nullable(body.name, "name", CustomerName::parse, &mut errors),
        phone: nullable(body.phone, "phone", Phone::parse, &mut errors),
    };
    if errors.is_empty() {
        Ok(patch)
    } else {
        Err(ApiError::Validation(errors))
    }
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
    params(("org_id" = String, Path, description = "Organizer id")),
    request_body = UpsertCustomer,
    responses(
        (status = 200, description = "The customer existed (details updated if they differed)", body = CustomerResponse),
        (status = 201, description = "Created", body = CustomerResponse),
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A token of another organizer, or of a disabled one (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer (`organizer_not_found`), or the customer was deleted in Stripe again while this request recreated it (`customer_not_found`; repeat the request)", body = ErrorBody),
        (status = 409, description = "The customer was erased while being created (`customer_deleted`)", body = ErrorBody),
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
    body: Result<Json<UpsertCustomer>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let org_id = organizer_scope(&principal, &org_id)?;
    let input = parse_upsert(body?.0)?;
    Ok(
        match customers::upsert(&state, &principal, org_id, input).await? {
            Upserted::Created(customer) => {
                HttpResponse::Created().json(CustomerResponse::from(customer))
            }
            Upserted::Existing(customer) => {
                HttpResponse::Ok().json(CustomerResponse::from(customer))
            }
        },
    )
}

/// List the organizer's customers, oldest first; `email` finds one by email.
///
/// Served from the gateway's database; Stripe is not called.
#[utoipa::path(
    operation_id = "list_customers",
    tag = "customers",
    security(("bearer" = [])),
    params(("org_id" = String, Path, description = "Organizer id"), CustomerListQuery),
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
    Ok(web::Json(CustomerPage {
        data: page
            .customers
            .into_iter()
            .map(CustomerResponse::from)
            .collect(),
        next_cursor: page.next_cursor.map(|cursor| cursor.encode()),
    }))
}

/// Get one customer of the organizer. Served from the gateway's database.
#[utoipa::path(
    operation_id = "get_customer",
    tag = "customers",
    security(("bearer" = [])),
    params(
        ("org_id" = String, Path, description = "Organizer id"),
        ("customer_id" = String, Path, description = "Customer id"),
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
        ("org_id" = String, Path, description = "Organizer id"),
        ("customer_id" = String, Path, description = "Customer id"),
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
        ("org_id" = String, Path, description = "Organizer id"),
        ("customer_id" = String, Path, description = "Customer id"),
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
