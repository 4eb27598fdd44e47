//! The customer routes' request and response bodies, and their parsing into domain values.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::{CustomerName, Email, Metadata, Phone};
use crate::error::{ApiError, FieldError};
use crate::openapi::patterns::PageCursor;
use crate::routes::present;
pub use crate::services::customers::CustomerResponse;
use crate::services::customers::{self, CustomerPatch, UpsertInput};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertCustomer {
    /// The customer's email. With the organizer's Stripe account it is the customer's key:
    /// compared trimmed and lowercased, shown as first spelled. ASCII only (a Unicode domain in
    /// its `xn--` form), a dot-atom before the `@`.
    #[schema(value_type = Email, example = "Ana.Lima@example.com")]
    email: String,
    /// Full name or business name, up to 256 characters, without control characters or
    /// invisible direction overrides.
    #[schema(value_type = Option<CustomerName>, example = "Ana Lima")]
    name: Option<String>,
    /// Up to 20 characters: digits, spaces and `+ - ( ) . x`.
    #[schema(value_type = Option<Phone>, example = "+55 11 91234-5678")]
    phone: Option<String>,
    /// Merged into the Stripe customer's metadata: keys of 1 to 40 characters (no brackets,
    /// not starting with `gateway_`), values of at most 500 characters; an empty value removes
    /// its key. The customer may hold at most 48 keys in all (`validation_failed` on `metadata`
    /// otherwise).
    #[schema(value_type = Option<Metadata>, example = json!({"crm_id": "c-1042"}))]
    metadata: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCustomer {
    /// A new email moves the customer's key; `customer_exists` if another customer of the
    /// organizer has it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Email, required = false, example = "ana@example.org")]
    email: Option<Option<String>>,
    /// Up to 256 characters; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<CustomerName>, required = false)]
    name: Option<Option<String>>,
    /// Up to 20 characters: digits, spaces and `+ - ( ) . x`; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Phone>, required = false)]
    phone: Option<Option<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerPage {
    data: Vec<CustomerResponse>,
    /// Pass as `cursor` to get the next page; null on the last page.
    #[schema(value_type = Option<PageCursor>)]
    next_cursor: Option<String>,
}

impl From<customers::CustomerPage> for CustomerPage {
    fn from(page: customers::CustomerPage) -> Self {
        Self {
            data: page
                .customers
                .into_iter()
                .map(CustomerResponse::from)
                .collect(),
            next_cursor: page.next_cursor.map(|cursor| cursor.encode()),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CustomerListQuery {
    /// Only the customer with this email (compared trimmed and lowercased).
    #[param(value_type = Option<Email>)]
    pub(super) email: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub(super) limit: Option<i64>,
    /// `next_cursor` from the previous page.
    #[param(value_type = Option<PageCursor>)]
    pub(super) cursor: Option<String>,
}

pub(in crate::routes) fn optional<T>(
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

/// Metadata within Stripe's limits; problems are reported as `metadata.<key>`.
pub(in crate::routes) fn metadata(
    raw: BTreeMap<String, String>,
    errors: &mut Vec<FieldError>,
) -> Option<Metadata> {
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

pub(super) fn parse_upsert(body: UpsertCustomer) -> Result<UpsertInput, ApiError> {
    let mut errors = Vec::new();
    let email = optional(Some(&body.email), "email", Email::parse, &mut errors);
    let name = optional(
        body.name.as_deref(),
        "name",
        CustomerName::parse,
        &mut errors,
    );
    let phone = optional(body.phone.as_deref(), "phone", Phone::parse, &mut errors);
    let metadata = body.metadata.and_then(|raw| metadata(raw, &mut errors));
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

pub(super) fn parse_update(body: UpdateCustomer) -> Result<CustomerPatch, ApiError> {
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
