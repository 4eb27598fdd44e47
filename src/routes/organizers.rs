use std::collections::BTreeMap;

use actix_web::{get, patch, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::present;
use crate::domain::Principal;
use crate::domain::{
    ApplicationFeeBps, ChargeType, Cursor, OrganizerId, OrganizerName, OrganizerStatus, PageLimit,
    StripeAccountId, TicketFees,
};
use crate::error::{ApiError, ErrorBody, FieldError};
use crate::extract::{Json, Query, Whole};
use crate::openapi::patterns::PageCursor;
use crate::services::audit::AuditContext;
use crate::services::organizers::{self, NewOrganizerInput, OrganizerPatch, OrganizerResponse};
use crate::services::{sync, AppState};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganizer {
    /// Display name, 1 to 200 characters.
    #[schema(value_type = OrganizerName, example = "Acme Events")]
    name: String,
    /// The organizer's Stripe account: a connected account, or the platform's own. Leave it
    /// out to register the organizer first and create its account through the gateway
    /// (`POST /v1/organizers/{org_id}/stripe-account`, then an onboarding link).
    #[schema(value_type = Option<StripeAccountId>, example = "acct_1Nv0FGQ9RKHgCVdK")]
    stripe_account_id: Option<String>,
    /// Platform fee in basis points taken from the organizer's charges: 0 to the platform's
    /// cap, `MAX_APPLICATION_FEE_BPS` (the `maximum` here is this gateway's).
    #[schema(value_type = Option<i64>, example = 250, minimum = 0, maximum = 10000)]
    application_fee_bps: Option<Whole>,
    /// A fixed platform fee per ticket (per unit of a line item's quantity; once per payment
    /// intent) in each currency it is set for, in minor units, added to the share in basis
    /// points. Payment-mode checkouts and payment intents only: a subscription's fee is its
    /// share in basis points.
    #[schema(value_type = Option<TicketFees>)]
    ticket_fees: Option<BTreeMap<String, Whole>>,
    /// Whether a refund gives the platform's fee back (in proportion) when its request does not
    /// say; false when absent.
    refund_application_fee: Option<bool>,
    /// `direct` (the default) or `destination`; fixed once registered. Destination charges
    /// need `STRIPE_PLATFORM_ACCOUNT_ID`, a connected account (not the platform's own) and
    /// the platform's own organizer registered first.
    #[schema(value_type = Option<ChargeType>)]
    charge_type: Option<ChargeType>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganizer {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = OrganizerName, required = false, example = "Acme Events Ltd")]
    name: Option<Option<String>>,
    /// `null` removes the fee; at most `MAX_APPLICATION_FEE_BPS` (the `maximum` here is this
    /// gateway's).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, nullable, minimum = 0, maximum = 10000)]
    application_fee_bps: Option<Option<Whole>>,
    /// `null` removes every fee per ticket; an object replaces them all.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<TicketFees>, nullable)]
    ticket_fees: Option<Option<BTreeMap<String, Whole>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = bool, required = false)]
    refund_application_fee: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = OrganizerStatus, required = false)]
    status: Option<Option<OrganizerStatus>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizerPage {
    data: Vec<OrganizerResponse>,
    /// Pass as `cursor` to get the next page; null on the last page.
    #[schema(value_type = Option<PageCursor>)]
    next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` from the previous page.
    #[param(value_type = Option<PageCursor>)]
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn parse(&self) -> Result<(PageLimit, Option<Cursor>), ApiError> {
        page_params(self.limit, self.cursor.as_deref(), Cursor::decode)
    }
}

/// A list's `limit` and `cursor` (read by `decode`), or every field error of the two.
pub fn page_params<C>(
    limit: Option<i64>,
    cursor: Option<&str>,
    decode: impl Fn(&str) -> Result<C, String>,
) -> Result<(PageLimit, Option<C>), ApiError> {
    let mut errors = Vec::new();
    let limit = PageLimit::parse(limit).map_err(|e| errors.push(FieldError::new("limit", e)));
    let cursor = cursor
        .map(decode)
        .transpose()
        .map_err(|e| errors.push(FieldError::new("cursor", e)));
    match (limit, cursor) {
        (Ok(limit), Ok(cursor)) => Ok((limit, cursor)),
        _ => Err(ApiError::Validation(errors)),
    }
}

/// Path ids that are not UUIDs cannot name an organizer.
pub fn parse_organizer_id(raw: &str) -> Result<OrganizerId, ApiError> {
    OrganizerId::parse(raw).map_err(|_| ApiError::NotFound {
        code: "organizer_not_found",
        message: format!("`{raw}` is not an organizer id"),
    })
}

/// The fees per ticket, or `None` with each problem pushed (`ticket_fees.eur`).
fn ticket_fees(raw: &BTreeMap<String, Whole>, errors: &mut Vec<FieldError>) -> Option<TicketFees> {
    let raw: BTreeMap<String, i64> = raw.iter().map(|(c, a)| (c.clone(), a.0)).collect();
    TicketFees::parse(&raw)
        .map_err(|problems| {
            for (currency, message) in problems {
                let field = if currency.is_empty() {
                    "ticket_fees".to_string()
                } else {
                    format!("ticket_fees.{currency}")
                };
                errors.push(FieldError::new(field, message));
            }
        })
        .ok()
}

/// Collects every field problem at once, so a client fixes its request in one round.
fn parse_create(
    body: CreateOrganizer,
    fee_cap: u16,
    platform: Option<&StripeAccountId>,
) -> Result<NewOrganizerInput, ApiError> {
    let mut errors = Vec::new();
    let charge_type = body.charge_type.unwrap_or(ChargeType::Direct);
    if charge_type == ChargeType::Destination {
        let refusal = match (platform, body.stripe_account_id.as_deref()) {
            (None, _) => Some("destination charges are taken on the platform's account: set STRIPE_PLATFORM_ACCOUNT_ID"),
            (Some(platform), Some(account)) if platform.as_str() == account => {
                Some("the platform's own organizer takes direct charges on its account")
            }
            _ => None,
        };
        if let Some(refusal) = refusal {
            errors.push(FieldError::new("charge_type", refusal));
        }
    }
    let name =
        OrganizerName::parse(&body.name).map_err(|e| errors.push(FieldError::new("name", e)));
    let account = body
        .stripe_account_id
        .as_deref()
        .map(StripeAccountId::parse)
        .transpose()
        .map_err(|e| errors.push(FieldError::new("stripe_account_id", e)));
    let fee = body
        .application_fee_bps
        .map(|fee| ApplicationFeeBps::parse(fee.0).and_then(|fee| fee.within(fee_cap)))
        .transpose()
        .map_err(|e| errors.push(FieldError::new("application_fee_bps", e)));
    let ticket_fees = match &body.ticket_fees {
        None => Some(None),
        Some(raw) => ticket_fees(raw, &mut errors).map(Some),
    };
    match (name, account, fee, ticket_fees) {
        (Ok(name), Ok(stripe_account_id), Ok(application_fee_bps), Some(ticket_fees))
            if errors.is_empty() =>
        {
            Ok(NewOrganizerInput {
                name,
                stripe_account_id,
                application_fee_bps,
                ticket_fees,
                refund_application_fee: body.refund_application_fee.unwrap_or(false),
                charge_type,
            })
        }
        _ => Err(ApiError::Validation(errors)),
    }
}

fn parse_update(body: UpdateOrganizer, fee_cap: u16) -> Result<OrganizerPatch, ApiError> {
    let mut errors = Vec::new();
    let mut patch = OrganizerPatch::default();
    match body.name {
        None => {}
        Some(None) => errors.push(FieldError::new("name", "must not be null")),
        Some(Some(name)) => match OrganizerName::parse(&name) {
            Ok(name) => patch.name = Some(name),
            Err(e) => errors.push(FieldError::new("name", e)),
        },
    }
    match body.application_fee_bps {
        None => {}
        Some(None) => patch.application_fee_bps = Some(None),
        Some(Some(fee)) => {
            match ApplicationFeeBps::parse(fee.0).and_then(|fee| fee.within(fee_cap)) {
                Ok(fee) => patch.application_fee_bps = Some(Some(fee)),
                Err(e) => errors.push(FieldError::new("application_fee_bps", e)),
            }
        }
    }
    match body.ticket_fees {
        None => {}
        Some(None) => patch.ticket_fees = Some(None),
        Some(Some(raw)) => {
            if let Some(fees) = ticket_fees(&raw, &mut errors) {
                patch.ticket_fees = Some(Some(fees));
            }
        }
    }
    match body.refund_application_fee {
        None => {}
        Some(None) => errors.push(FieldError::new(
            "refund_application_fee",
            "must not be null",
        )),
        Some(Some(refund)) => patch.refund_application_fee = Some(refund),
    }
    match body.status {
        None => {}
        Some(None) => errors.push(FieldError::new("status", "must not be null")),
        Some(Some(status)) => patch.status = Some(status),
    }
    if errors.is_empty() {
        Ok(patch)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Register an organizer's Stripe account (admin).
///
/// Stripe is asked first whether the platform can act for the account; the organizer is stored
/// only when it can.
#[utoipa::path(
    operation_id = "create_organizer",
    tag = "organizers",
    security(("bearer" = [])),
    request_body = CreateOrganizer,
    responses(
        (status = 201, description = "Registered", body = OrganizerResponse),
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "Not an admin token (`forbidden`)", body = ErrorBody),
        (status = 409, description = "The Stripe account is already registered (`organizer_exists`), or a `destination` organizer was asked for before the platform's own organizer (`platform_organizer_missing`)", body = ErrorBody),
        (status = 413, description = "Body too large (`payload_too_large`)", body = ErrorBody),
        (status = 415, description = "Body is not JSON (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "Invalid fields (`validation_failed`), or Stripe has no such account or denies the platform access to it (`stripe_account_inaccessible`)", body = ErrorBody),
        (status = 502, description = "Stripe refused the gateway's call, or failed and said retrying will not help (`stripe_error`)", body = ErrorBody),
        (status = 503, description = "Stripe unreachable, rate-limiting or failing after retries; safe to retry (`stripe_unavailable`). Or the platform's own account was registered while `STRIPE_PLATFORM_ACCOUNT_ID` is not the account of `STRIPE_SECRET_KEY` (`platform_account_mismatch`, naming both; the operator fixes the setting)", body = ErrorBody),
    )
)]
#[post("/organizers")]
pub async fn create(
    principal: Principal,
    state: web::Data<AppState>,
    body: Result<Json<CreateOrganizer>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    // The role before the input: a non-admin gets 403 whatever it sent.
    principal.require_admin()?;
    let input = parse_create(
        body?.0,
        state.stripe.max_fee_bps(),
        state.stripe.platform_account(),
    )?;
    let organizer = organizers::register(&state, AuditContext::new(&principal), input).await?;
    if let (true, Some(account)) = (state.backfill_on_register, &organizer.stripe_account_id) {
        // The organizer exists either way; a backfill that could not be queued is made up by
        // the next sweep.
        if let Err(err) = sync::backfill(&state, &organizer.id, account).await {
            tracing::warn!(organizer_id = %organizer.id, error = %err, "could not queue the backfill");
        }
    }
    Ok(HttpResponse::Created().json(organizer))
}

/// List organizers, oldest first (admin).
#[utoipa::path(
    operation_id = "list_organizers",
    tag = "organizers",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "One page of organizers", body = OrganizerPage),
        (status = 400, description = "Unknown or malformed query parameters (`invalid_query`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "Not an admin token (`forbidden`)", body = ErrorBody),
        (status = 422, description = "Invalid `limit` or `cursor` (`validation_failed`)", body = ErrorBody),
    )
)]
#[get("/organizers")]
pub async fn list(
    principal: Principal,
    state: web::Data<AppState>,
    query: Result<Query<PageQuery>, ApiError>,
) -> Result<web::Json<OrganizerPage>, ApiError> {
    principal.require_admin()?;
    let (limit, cursor) = query?.0.parse()?;
    let page = organizers::list(&state, limit, cursor).await?;
    Ok(web::Json(OrganizerPage {
        data: page.organizers,
        next_cursor: page.next_cursor.map(|cursor| cursor.encode()),
    }))
}

/// Get one organizer (admin, or that organizer's own token).
#[utoipa::path(
    operation_id = "get_organizer",
    tag = "organizers",
    security(("bearer" = [])),
    params(("org_id" = uuid::Uuid, Path, description = "Organizer id")),
    responses(
        (status = 200, description = "The organizer", body = OrganizerResponse),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "A token of another organizer, or of a disabled one (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer (`organizer_not_found`)", body = ErrorBody),
    )
)]
#[get("/organizers/{org_id}")]
pub async fn get(
    principal: Principal,
    state: web::Data<AppState>,
    org_id: web::Path<String>,
) -> Result<web::Json<OrganizerResponse>, ApiError> {
    let id = parse_organizer_id(&org_id)?;
    Ok(web::Json(
        organizers::get_for(&state, &principal, id).await?,
    ))
}

/// Change an organizer's name, fee or status (admin). The Stripe account cannot change.
///
/// Fields left out stay as they are; an empty object changes nothing.
#[utoipa::path(
    operation_id = "update_organizer",
    tag = "organizers",
    security(("bearer" = [])),
    params(("org_id" = uuid::Uuid, Path, description = "Organizer id")),
    request_body = UpdateOrganizer,
    responses(
        (status = 200, description = "The updated organizer", body = OrganizerResponse),
        (status = 400, description = "Malformed JSON (`malformed_json`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token (`unauthenticated`)", body = ErrorBody),
        (status = 403, description = "Not an admin token (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such organizer (`organizer_not_found`)", body = ErrorBody),
        (status = 413, description = "Body too large (`payload_too_large`)", body = ErrorBody),
        (status = 415, description = "Body is not JSON (`unsupported_media_type`)", body = ErrorBody),
        (status = 422, description = "Invalid fields (`validation_failed`)", body = ErrorBody),
    )
)]
#[patch("/organizers/{org_id}")]
pub async fn update(
    principal: Principal,
    state: web::Data<AppState>,
    org_id: web::Path<String>,
    body: Result<Json<UpdateOrganizer>, ApiError>,
) -> Result<web::Json<OrganizerResponse>, ApiError> {
    principal.require_admin()?;
    let id = parse_organizer_id(&org_id)?;
    let patch = parse_update(body?.0, state.stripe.max_fee_bps())?;
    let organizer = organizers::update(&state, AuditContext::new(&principal), id, patch).await?;
    Ok(web::Json(organizer))
}
