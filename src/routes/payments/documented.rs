//! The payment bodies' JSON Schemas, written by hand: the rules that span fields (exactly one
//! payer, a catalog price or an item priced here, an interval's count) are stated as the parser
//! in [`super::body`] applies them.

use utoipa::openapi::schema::{
    AdditionalProperties, AllOfBuilder, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema,
};
use utoipa::openapi::{Ref, RefOr, Type};
use utoipa::{PartialSchema, ToSchema};

use super::body::{CreateCheckoutSession, CreatePaymentIntent, MAX_DESCRIPTION_CHARS};
use super::line_items::{LineItemBody, RecurringBody, MAX_NAME_CHARS, MAX_PRICE_ID};
use crate::domain::payment::{Amount, Currency, HttpUrl, Interval, LineItem, Quantity, Recurring};
use crate::domain::{Email, Metadata};
use crate::openapi::patterns::{class, CONTROL, WHITESPACE};

fn component<T: ToSchema>() -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(T::name()))
}

fn null() -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::Null).into()
}

fn nullable(schema: impl Into<RefOr<Schema>>) -> RefOr<Schema> {
    OneOfBuilder::new().item(schema).item(null()).into()
}

fn integer(min: i64, max: i64, description: &str, example: i64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(min))
        .maximum(Some(max))
        .description(Some(description))
        .examples([example])
}

/// Text as [`text`] takes it: 1 to `most` characters, none a control character, not only
/// whitespace.
fn text_schema(most: usize, description: &str) -> ObjectBuilder {
    let any = class(&[CONTROL], true);
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(most))
        .pattern(Some(format!(
            "^{any}*{}{any}*$",
            class(&[CONTROL, WHITESPACE], true)
        )))
        .description(Some(description))
}

fn quantity() -> ObjectBuilder {
    integer(1, Quantity::MAX as i64, "How many, 1 to 1,000,000.", 2)
}

/// Exactly one of `customer_id` and `email`, the other absent or null.
fn one_buyer() -> RefOr<Schema> {
    let buyer = |given: &str, other: &str| {
        ObjectBuilder::new()
            .required(given)
            .property(given, ObjectBuilder::new().schema_type(Type::String))
            .property(other, null())
    };
    OneOfBuilder::new()
        .description(Some(
            "Exactly one of `customer_id` and `email` (the other absent or null).",
        ))
        .item(buyer("customer_id", "email"))
        .item(buyer("email", "customer_id"))
        .into()
}

/// Checkout's `customer_update`: each field `auto` or `never` (Stripe's default).
fn customer_update() -> ObjectBuilder {
    let save = |what: &str| {
        nullable(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["auto", "never"]))
                .description(Some(format!(
                    "`auto` saves the {what} the buyer enters onto the Stripe customer."
                ))),
        )
    };
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .property("address", save("billing address"))
        .property("name", save("name"))
        .property("shipping", save("shipping details"))
        .description(Some("What Checkout saves onto the customer."))
}

fn customer_id() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Uuid,
        )))
        .description(Some(
            "A customer of this organizer; or send `email` instead.",
        ))
}

impl PartialSchema for RecurringBody {
    fn schema() -> RefOr<Schema> {
        let variants = [
            (Interval::Day, "day"),
            (Interval::Week, "week"),
            (Interval::Month, "month"),
            (Interval::Year, "year"),
        ];
        let mut one_of = OneOfBuilder::new().description(Some(
            "How often the item bills: `interval`, and `interval_count` intervals between \
charges (default 1), at most one year apart: up to 365 days, 52 weeks, 12 months or 1 year.",
        ));
        for (interval, name) in variants {
            let most = Recurring::most(interval) as i64;
            one_of = one_of.item(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .additional_properties(Some(AdditionalProperties::FreeForm(false)))
                    .required("interval")
                    .property(
                        "interval",
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .enum_values(Some([name])),
                    )
                    .property(
                        "interval_count",
                        nullable(integer(
                            1,
                            most,
                            "Intervals between charges (default 1).",
                            1,
                        )),
                    ),
            );
        }
        one_of.into()
    }
}

impl ToSchema for RecurringBody {}

impl PartialSchema for LineItemBody {
    fn schema() -> RefOr<Schema> {
        let catalog = ObjectBuilder::new()
            .schema_type(Type::Object)
            .title(Some("A price of the organizer's catalog"))
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .required("price")
            .required("quantity")
            .property(
                "price",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(format!("^[A-Za-z0-9_-]{{1,{MAX_PRICE_ID}}}$")))
                    .description(Some(
                        "A price of the organizer's Stripe account (`price_...`): active, this \
account's, and recurring only in `subscription` mode. One the catalog mirror lacks is read from \
Stripe before the session is created.",
                    ))
                    .examples(["price_1PqRst"]),
            )
            .property("quantity", quantity());
        let custom = ObjectBuilder::new()
            .schema_type(Type::Object)
            .title(Some("An item priced here"))
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .required("name")
            .required("unit_amount")
            .required("currency")
            .required("quantity")
            .property(
                "name",
                text_schema(
                    MAX_NAME_CHARS,
                    "The item's name, shown to the buyer: 1 to 250 characters, no control \
characters.",
                )
                .examples(["Festival pass"]),
            )
            .property(
                "unit_amount",
                integer(
                    1,
                    Amount::MAX,
                    "In the currency's minor unit, 1 to 99,999,999.",
                    4900,
                ),
            )
            .property("currency", component::<Currency>())
            .property("quantity", quantity())
            .property("recurring", nullable(component::<RecurringBody>()));
        OneOfBuilder::new()
            .description(Some(
                "A price of the organizer's catalog (`price`, `quantity`), or an item priced \
here (`name`, `unit_amount`, `currency`, `quantity`, and `recurring` for a subscription).",
            ))
            .item(catalog)
            .item(custom)
            .into()
    }
}

impl ToSchema for LineItemBody {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((Currency::name().into(), Currency::schema()));
        schemas.push((RecurringBody::name().into(), RecurringBody::schema()));
    }
}

impl PartialSchema for CreateCheckoutSession {
    fn schema() -> RefOr<Schema> {
        let fields = ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .required("mode")
            .required("line_items")
            .required("success_url")
            .required("cancel_url")
            .property("customer_id", nullable(customer_id()))
            .property(
                "email",
                nullable(
                    AllOfBuilder::new()
                        .item(component::<Email>())
                        .description(Some(
                            "The buyer's email: the organizer's customer with it is used, or \
created.",
                        )),
                ),
            )
            .property(
                "mode",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["payment", "subscription"]))
                    .description(Some(
                        "`payment` (one-time items only: an item priced here with `recurring` \
needs `subscription`) or `subscription` (at least one recurring item; at most 20 recurring and \
20 one-time items). Rules across items are stated here rather than as a schema, which generated \
clients would turn into types no cart satisfies; the gateway refuses what breaks them (422).",
                    )),
            )
            .property(
                "line_items",
                ArrayBuilder::new()
                    .items(component::<LineItemBody>())
                    .min_items(Some(1))
                    .max_items(Some(LineItem::MAX))
                    .description(Some(
                        "1 to 100 items, all in one currency, totalling at most 99,999,999 \
minor units.",
                    )),
            )
            .property(
                "success_url",
                AllOfBuilder::new()
                    .item(component::<HttpUrl>())
                    .description(Some(
                        "Where Stripe sends the buyer after paying. Stripe replaces \
`{CHECKOUT_SESSION_ID}` in it with the session's id.",
                    )),
            )
            .property(
                "cancel_url",
                AllOfBuilder::new()
                    .item(component::<HttpUrl>())
                    .description(Some("Where Stripe sends a buyer who goes back.")),
            )
            .property(
                "metadata",
                nullable(
                    AllOfBuilder::new()
                        .item(component::<Metadata>())
                        .description(Some(
                            "Set on the session, and on the PaymentIntent or Subscription it \
creates, beside the gateway's own `gateway_customer_id` and `gateway_organizer_id` (which is why \
48 keys, not Stripe's 50). The session's `client_reference_id` is the gateway's customer id.",
                        )),
                ),
            )
            .property(
                "application_fee_amount",
                nullable(integer(
                    0,
                    Amount::MAX,
                    "Admin tokens only (403 for others): the platform's fee for this payment (`payment` mode only), in \
minor units, instead of the organizer's rules; at most the platform's cap \
(`MAX_APPLICATION_FEE_BPS`) of the total, and never on the platform's own account.",
                    150,
                )),
            )
            .property(
                "allow_promotion_codes",
                ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
                        Type::Boolean,
                        Type::Null,
                    ]))
                    .description(Some(
                        "Let the buyer enter promotion codes. Refused (`true`) for a `payment` \
with a platform fee: that fee is a fixed amount on the undiscounted total, which a discount could \
exceed. A subscription's fee is a percentage Stripe takes after discounts.",
                    )),
            )
            .property("customer_update", nullable(customer_update()))
            .property(
                "automatic_tax",
                nullable(
                    ObjectBuilder::new()
                        .schema_type(Type::Object)
                        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
                        .required("enabled")
                        .property("enabled", ObjectBuilder::new().schema_type(Type::Boolean))
                        .description(Some(
                            "Stripe Tax computes the tax from the buyer's location (the \
organizer's account must have Stripe Tax set up). Unless `customer_update.address` is given, the \
address Checkout collects is then saved onto the customer (`auto`), as Stripe requires of a \
customer without one.",
                        )),
                ),
            )
            .property(
                "billing_address_collection",
                nullable(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(["auto", "required"]))
                        .description(Some(
                            "`auto` (Stripe's default): only what the payment needs; \
`required`: always a full billing address.",
                        )),
                ),
            );
        AllOfBuilder::new()
            .description(Some(
                "Who pays: exactly one of `customer_id` (a customer of this organizer) or `email` \
(found or created like `POST .../customers` does).",
            ))
            .item(fields)
            .item(one_buyer())
            .examples([serde_json::json!({
                "email": "ana@example.com",
                "mode": "payment",
                "line_items": [{"name": "Festival pass", "unit_amount": 4900, "currency": "eur", "quantity": 2}],
                "success_url": "https://shop.example/thanks?session={CHECKOUT_SESSION_ID}",
                "cancel_url": "https://shop.example/cart",
                "metadata": {"order_id": "1042"}
            })])
            .into()
    }
}

impl ToSchema for CreateCheckoutSession {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        for (name, schema) in [
            (Email::name(), Email::schema()),
            (HttpUrl::name(), HttpUrl::schema()),
            (Metadata::name(), Metadata::schema()),
            (LineItemBody::name(), LineItemBody::schema()),
        ] {
            schemas.push((name.into(), schema));
        }
        LineItemBody::schemas(schemas);
    }
}

impl PartialSchema for CreatePaymentIntent {
    fn schema() -> RefOr<Schema> {
        let fields = ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .required("amount")
            .required("currency")
            .property("customer_id", nullable(customer_id()))
            .property("email", nullable(component::<Email>()))
            .property(
                "amount",
                integer(
                    1,
                    Amount::MAX,
                    "In the currency's minor unit, 1 to 99,999,999.",
                    4900,
                ),
            )
            .property("currency", component::<Currency>())
            .property(
                "application_fee_amount",
                nullable(integer(
                    0,
                    Amount::MAX,
                    "Admin tokens only (403 for others): the platform's fee for this payment, in \
minor units, instead of the organizer's rules; at most the platform's cap \
(`MAX_APPLICATION_FEE_BPS`) of the total, and never on the platform's own account.",
                    150,
                )),
            )
            .property(
                "description",
                nullable(text_schema(
                    MAX_DESCRIPTION_CHARS,
                    "Shown in the organizer's dashboard: 1 to 1000 characters, no control \
characters.",
                )),
            )
            .property("metadata", nullable(component::<Metadata>()));
        AllOfBuilder::new()
            .item(fields)
            .item(one_buyer())
            .examples([serde_json::json!({
                "email": "ana@example.com", "amount": 4900, "currency": "eur",
                "metadata": {"order_id": "1042"}
            })])
            .into()
    }
}

impl ToSchema for CreatePaymentIntent {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        for (name, schema) in [
            (Email::name(), Email::schema()),
            (Currency::name(), Currency::schema()),
            (Metadata::name(), Metadata::schema()),
        ] {
            schemas.push((name.into(), schema));
        }
    }
}
