//! The OpenAPI schemas of the domain's vocabularies (`domain::text_enum!`): a string with its
//! values in order, described by the enum's doc comment.

use std::borrow::Cow;

use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};

use crate::domain::payment::{Proration, RefundReason};
use crate::domain::{
    BusinessType, ChargeType, DeliveryState, DisputeStatus, EventStatus, GatewayEventType,
    OrganizerStatus, PaymentStatus, RunStatus, RunTrigger,
};

/// A doc comment's lines as the description: one space after `///` dropped, lines joined.
fn description(lines: impl Iterator<Item = &'static str>) -> Option<String> {
    let lines: Vec<&str> = lines
        .map(|line| line.strip_prefix(' ').unwrap_or(line).trim_end())
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

fn text_schema(
    values: impl Iterator<Item = &'static str>,
    doc: impl Iterator<Item = &'static str>,
) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(description(doc))
        .enum_values(Some(values))
        .into()
}

macro_rules! text_schema {
    ($($name:ident),+ $(,)?) => {$(
        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                text_schema($name::ALL.iter().map(|v| v.as_str()), $name::doc_lines())
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    )+};
}

text_schema!(
    BusinessType,
    ChargeType,
    DeliveryState,
    GatewayEventType,
    DisputeStatus,
    EventStatus,
    OrganizerStatus,
    PaymentStatus,
    Proration,
    RefundReason,
    RunStatus,
    RunTrigger
);
