//! A customer's invoices, read from the mirror: its billing history, newest first.

use actix_web::{get, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::customers::{organizer_scope, parse_customer_id};
use super::organizers::page_params;
use crate::domain::Principal;
use crate::domain::{ObjectCursor, PageLimit};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Query;
use crate::services::billing::{self, InvoiceResponse};
use crate::services::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct InvoicePage {
    data: Vec<InvoiceResponse>,
    /// Pass as `cursor` for older invoices; null on the last page.
    #[schema(value_type = Option<ObjectPageCursor>)]
    next_cursor: Option<String>,
}

/// Cursors of lists of mirrored Stripe objects as `ObjectCursor::encode` writes them: base64url
/// (unpadded) of `o1:` and the id of the last object returned (a [`crate::domain::StripeId`]).
pub struct ObjectPageCursor;

impl utoipa::PartialSchema for ObjectPageCursor {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        const ID: &[u8] = crate::domain::STRIPE_ID_CHARS;
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .pattern(Some(crate::openapi::patterns::base64url_of_run(
                ObjectCursor::VERSION,
                ID,
                255,
            )))
            .description(Some(
                "An opaque position in a list of Stripe objects: pass back the `next_cursor` of \
the previous page; do not build one. (The pattern is the exact set of cursors the API writes.)",
            ))
            .into()
    }
}

impl ToSchema for ObjectPageCursor {}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ObjectPageQuery {
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// `next_cursor` from the previous page.
    #[param(value_type = Option<ObjectPageCursor>)]
    cursor: Option<String>,
}

impl ObjectPageQuery {
    fn parse(&self) -> Result<(PageLimit, Option<ObjectCursor>), ApiError> {
        page_params(self.limit, self.cursor.as_deref(), ObjectCursor::decode)
    }
}

/// A customer's invoices, newest first: from the mirror, never from Stripe.
#[utoipa::path(
    operation_id = "list_invoices",
    tag = "billing",
    security(("bearer" = [])),
    params(
        ("org_id" = uuid::Uuid, Path, description = "Organizer id"),
        ("customer_id" = uuid::Uuid, Path, description = "Customer id"),
        ObjectPageQuery,
    ),
    responses(
        (status = 200, description = "One page of the customer's invoices", body = InvoicePage),
        (status = 400, description = "Unknown or malformed query parameters (`invalid_query`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A token of another organizer, or of a disabled one (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer or customer (`organizer_not_found`, `customer_not_found`)", body = ErrorBody),
        (status = 422, description = "Invalid `limit` or `cursor` (`validation_failed`)", body = ErrorBody),
    )
)]
#[get("/organizers/{org_id}/customers/{customer_id}/invoices")]
pub async fn list(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: Result<Query<ObjectPageQuery>, ApiError>,
) -> Result<web::Json<InvoicePage>, ApiError> {
    let org_id = organizer_scope(&principal, &path.0)?;
    let customer_id = parse_customer_id(&path.1)?;
    let (limit, cursor) = query?.0.parse()?;
    let (rows, next) =
        billing::invoices(&state, &principal, org_id, customer_id, cursor, limit).await?;
    Ok(web::Json(InvoicePage {
        data: rows,
        next_cursor: next.map(|cursor| cursor.encode()),
    }))
}
