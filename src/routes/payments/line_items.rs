//! A checkout's line items as the request gives them, and their parsing: a catalog price, or an
//! item priced here; each problem named by its field (`line_items[2].quantity`).

use serde::Deserialize;

use crate::domain::payment::{Amount, Currency, Interval, LineItem, Quantity, Recurring};
use crate::error::FieldError;
use crate::extract::Whole;
use crate::routes::customers::body::optional;

/// Longest name of an item priced here.
pub(super) const MAX_NAME_CHARS: usize = 250;
/// Longest price id sent to Stripe (its own are far shorter).
pub(super) const MAX_PRICE_ID: usize = 255;

/// A price of the organizer's catalog (`price`, `quantity`), or an item priced here (`name`,
/// `unit_amount`, `currency`, `quantity`, and `recurring` for a subscription).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineItemBody {
    price: Option<String>,
    quantity: Whole,
    name: Option<String>,
    unit_amount: Option<Whole>,
    currency: Option<String>,
    recurring: Option<RecurringBody>,
}

/// How often the item bills, at most one year apart.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecurringBody {
    interval: String,
    interval_count: Option<Whole>,
}

/// 1 to `most` characters, without control characters and not only spaces.
pub(super) fn text(raw: &str, most: usize) -> Result<String, String> {
    let count = raw.chars().count();
    if count == 0 || count > most || raw.chars().any(char::is_control) || raw.trim().is_empty() {
        return Err(format!(
            "must be 1 to {most} characters, without control characters"
        ));
    }
    Ok(raw.to_string())
}

/// The line item at `index`, or `None` with each of its problems pushed.
pub(super) fn line_item(
    index: usize,
    item: LineItemBody,
    errors: &mut Vec<FieldError>,
) -> Option<LineItem> {
    let at = |field: &str| format!("line_items[{index}].{field}");
    let quantity = Quantity::parse(item.quantity.0)
        .map_err(|e| errors.push(FieldError::new(at("quantity"), e)))
        .ok();
    if let Some(price) = item.price {
        let custom = [
            ("name", item.name.is_some()),
            ("unit_amount", item.unit_amount.is_some()),
            ("currency", item.currency.is_some()),
            ("recurring", item.recurring.is_some()),
        ];
        for (field, _) in custom.iter().filter(|(_, sent)| *sent) {
            errors.push(FieldError::new(
                at(field),
                "not allowed with `price`; the price says it",
            ));
        }
        let well_formed = (1..=MAX_PRICE_ID).contains(&price.len())
            && price
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !well_formed {
            errors.push(FieldError::new(at("price"), "is not a Stripe price id"));
            return None;
        }
        return Some(LineItem::Price {
            price,
            quantity: quantity?,
        });
    }
    let mut required = |value: Option<String>, field: &str| {
        if value.is_none() {
            errors.push(FieldError::new(at(field), "required without `price`"));
        }
        value
    };
    let name = required(item.name, "name");
    let currency = required(item.currency, "currency");
    if item.unit_amount.is_none() {
        errors.push(FieldError::new(
            at("unit_amount"),
            "required without `price`",
        ));
    }
    let name = optional(
        name.as_deref(),
        &at("name"),
        |raw| text(raw, MAX_NAME_CHARS),
        errors,
    );
    let currency = optional(
        currency.as_deref(),
        &at("currency"),
        Currency::parse,
        errors,
    );
    let unit_amount = item.unit_amount.and_then(|raw| {
        Amount::parse(raw.0)
            .map_err(|e| errors.push(FieldError::new(at("unit_amount"), e)))
            .ok()
    });
    let recurring = match item.recurring {
        None => Some(None),
        Some(body) => Interval::parse(&body.interval)
            .map_err(|e| errors.push(FieldError::new(at("recurring.interval"), e)))
            .ok()
            .and_then(|interval| {
                Recurring::parse(interval, body.interval_count.map(|count| count.0))
                    .map_err(|e| errors.push(FieldError::new(at("recurring.interval_count"), e)))
                    .ok()
            })
            .map(Some),
    };
    Some(LineItem::Custom {
        name: name?,
        unit_amount: unit_amount?,
        currency: currency?,
        quantity: quantity?,
        recurring: recurring?,
    })
}
