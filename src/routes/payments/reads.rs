//! An organizer's payments (PaymentIntents), read from the mirror: a payment's state after a
//! checkout or an embedded form, and a customer's payment history.

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::super::customers::organizer_scope;
use super::super::invoices::ObjectPageCursor;
use super::super::organizers::page_params;
use crate::domain::{CustomerId, ObjectCursor, PaymentStatus, Principal};
use crate::error::{ApiError, ErrorBody, FieldError};
use crate::extract::Query;
use crate::services::billing::{self, PaymentFilter, PaymentQuery, PaymentResponse};
use crate::services::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PaymentListQuery {
    /// Only the payments of this customer (the gateway's id).
    #[param(value_type = Option<uuid::Uuid>)]
    customer_id: Option<String>,
    /// Only payments in this status.
    #[param(value_type = Option<PaymentStatus>)]
    status: Option<String>,
    /// Only payments created at or after this time (RFC 3339).
    #[param(value_type = Option<DateTime<Utc>>)]
    created_gte: Option<String>,
    /// Only payments created before this time (RFC 3339).
    #[param(value_type = Option<DateTime<Utc>>)]
    created_lt: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// `next_cursor` from the previous page.
    #[param(value_type = Option<ObjectPageCursor>)]
    cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentPage {
    data: Vec<PaymentResponse>,
    /// Pass as `cursor` for older payments; null on the last page.
    #[schema(value_type = Option<ObjectPageCursor>)]
    next_cursor: Option<String>,
}

fn parse_time(field: &str, raw: Option<&str>) -> Result<Option<DateTime<Utc>>, FieldError> {
    raw.map(|raw| {
        DateTime::parse_from_rfc3339(raw)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| FieldError::new(field, "must be an RFC 3339 date-time"))
    })
    .transpose()
}

fn parse_query(query: PaymentListQuery) -> Result<PaymentQuery, ApiError> {
    let mut errors = Vec::new();
    let customer = match query
        .customer_id
        .as_deref()
        .map(CustomerId::parse)
        .transpose()
    {
        Ok(customer) => customer,
        Err(_) => {
            errors.push(FieldError::new(
                "customer_id",
                "must be a customer id (a UUID)",
            ));
            None
        }
    };
    if let Some(status) = &query.status {
        if status.parse::<PaymentStatus>().is_err() {
            errors.push(FieldError::new("status", "must be a PaymentIntent status"));
        }
    }
    let gte = parse_time("created_gte", query.created_gte.as_deref());
    let lt = parse_time("created_lt", query.created_lt.as_deref());
    let (gte, lt) = match (gte, lt) {
        (Ok(gte), Ok(lt)) => (gte, lt),
        (gte, lt) => {
            errors.extend(gte.err().into_iter().chain(lt.err()));
            (None, None)
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok(PaymentQuery {
        customer,
        filter: PaymentFilter {
            stripe_customer_id: None,
            status: query.status,
            created_gte: gte.map(|t| t.naive_utc()),
            created_lt: lt.map(|t| t.naive_utc()),
        },
    })
}

/// The organizer's payments, newest first: from the mirror, never from Stripe.
#[utoipa::path(
    operation_id = "list_payments",
    tag = "payments",
    security(("bearer" = [])),
    params(
        ("org_id" = uuid::Uuid, Path, description = "Organizer id"),
        PaymentListQuery,
    ),
    responses(
        (status = 200, description = "One page of payments", body = PaymentPage),
        (status = 400, description = "Unknown or malformed query parameters (`invalid_query`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A token of another organizer, or of a disabled one (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer or customer (`organizer_not_found`, `customer_not_found`)", body = ErrorBody),
        (status = 422, description = "Invalid `customer_id`, `status`, `created_gte`, `created_lt`, `limit` or `cursor` (`validation_failed`)", body = ErrorBody),
    )
)]
#[get("/organizers/{org_id}/payments")]
pub async fn list(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: Result<Query<PaymentListQuery>, ApiError>,
) -> Result<web::Json<PaymentPage>, ApiError> {
    let org_id = organizer_scope(&principal, &path)?;
    let query = query?.0;
    let (limit, cursor) = page_params(query.limit, query.cursor.as_deref(), ObjectCursor::decode)?;
    let query = parse_query(query)?;
    let (data, next) = billing::payments(&state, &principal, org_id, query, cursor, limit).await?;
    Ok(web::Json(PaymentPage {
        data,
        next_cursor: next.map(|cursor| cursor.encode()),
    }))
}

/// One of the organizer's payments: as the webhook mirror last fetched it.
#[utoipa::path(
    operation_id = "get_payment",
    tag = "payments",
    security(("bearer" = [])),
    params(
        ("org_id" = uuid::Uuid, Path, description = "Organizer id"),
        ("payment_id" = String, Path, description = "Stripe's PaymentIntent id (`pi_...`)"),
    ),
    responses(
        (status = 200, description = "The payment", body = PaymentResponse),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A token of another organizer, or of a disabled one (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer or payment (`organizer_not_found`, `payment_not_found`)", body = ErrorBody),
    )
)]
#[get("/organizers/{org_id}/payments/{payment_id}")]
pub async fn get(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<web::Json<PaymentResponse>, ApiError> {
    let org_id = organizer_scope(&principal, &path.0)?;
    let payment = billing::payment(&state, &principal, org_id, path.1.clone()).await?;
    Ok(web::Json(payment))
}
