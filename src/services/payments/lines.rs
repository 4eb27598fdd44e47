//! What a checkout's line items come to, judged by Stripe's rules before anything is sent: each
//! catalog price is known (from the mirror, else read from Stripe once), is this account's and
//! active; the items fit the mode (one-time only in `payment`; in `subscription` at least one
//! recurring item, at most 20 recurring and 20 one-time); one currency; a total within Stripe's
//! eight digits; and the platform fee, which is only taken where a discount cannot exceed it.

use std::collections::HashMap;

use super::fees::FeeRules;
use super::{CheckoutInput, PaymentError};
use crate::domain::payment::{Amount, CheckoutMode, LineItem};
use crate::domain::StripeAccountId;
use crate::mirror::price::Price;
use crate::mirror::{price, Fetched};
use crate::services::AppState;
use crate::stripe::payments::Fee;

/// What the gateway knows of one line's price.
struct Line {
    recurring: bool,
    unit_amount: Option<i64>,
    currency: String,
    quantity: u64,
}

/// The line items as checked: what the fee is computed from.
pub(super) struct Lines {
    lines: Vec<Line>,
}

impl Lines {
    /// Reads every price the items name (the mirror's `known`, the rest from Stripe) and
    /// applies the rules of the module doc; a refusal names the field.
    pub(super) async fn check(
        state: &AppState,
        account: &StripeAccountId,
        input: &CheckoutInput,
        known: Vec<Price>,
    ) -> Result<Self, PaymentError> {
        let (ours, theirs): (Vec<Price>, Vec<Price>) = known
            .into_iter()
            .partition(|price| price.stripe_account_id == account.as_str());
        let ours: HashMap<String, Price> = ours.into_iter().map(|p| (p.id.clone(), p)).collect();
        // Prices the mirror lacks, read from Stripe once each however many lines name them.
        let mut fetched: HashMap<String, (bool, Option<i64>, String)> = HashMap::new();
        let mut lines = Vec::with_capacity(input.line_items.len());
        for (index, item) in input.line_items.iter().enumerate() {
            let field = format!("line_items[{index}].price");
            let line = match item {
                LineItem::Custom {
                    unit_amount,
                    currency,
                    quantity,
                    recurring,
                    ..
                } => Line {
                    recurring: recurring.is_some(),
                    unit_amount: Some(unit_amount.get()),
                    currency: currency.as_str().to_string(),
                    quantity: quantity.get(),
                },
                LineItem::Price { price, quantity } => {
                    let (recurring, unit_amount, currency) = match ours.get(price) {
                        Some(known) if known.deleted || !known.active => {
                            return Err(inactive(field, price));
                        }
                        Some(known) => (
                            known.recurring_interval.is_some(),
                            known.unit_amount,
                            known.currency.clone(),
                        ),
                        None if theirs.iter().any(|other| other.id == *price) => {
                            return Err(PaymentError::invalid(
                                field,
                                format!("price {price} is not on the Stripe account this checkout charges"),
                            ));
                        }
                        None => match fetched.get(price) {
                            Some(facts) => facts.clone(),
                            None => {
                                let facts = remote(state, account, price, &field).await?;
                                fetched.insert(price.clone(), facts.clone());
                                facts
                            }
                        },
                    };
                    Line {
                        recurring,
                        unit_amount,
                        currency,
                        quantity: quantity.get(),
                    }
                }
            };
            lines.push(line);
        }
        let lines = Self { lines };
        lines.fit(input.mode)?;
        Ok(lines)
    }

    fn fit(&self, mode: CheckoutMode) -> Result<(), PaymentError> {
        let first = &self.lines[0].currency;
        for (index, line) in self.lines.iter().enumerate() {
            if line.recurring && mode == CheckoutMode::Payment {
                return Err(PaymentError::invalid(
                    format!("line_items[{index}]"),
                    "a recurring item needs `mode: subscription`",
                ));
            }
            if line.currency != *first {
                return Err(PaymentError::invalid(
                    format!("line_items[{index}]"),
                    format!(
                        "all items must be in one currency; this one is {}, an earlier one {first}",
                        line.currency
                    ),
                ));
            }
        }
        if mode == CheckoutMode::Subscription {
            let recurring = self.lines.iter().filter(|line| line.recurring).count();
            let one_time = self.lines.len() - recurring;
            let most = LineItem::MAX_PER_KIND_IN_SUBSCRIPTION;
            let problem = if recurring == 0 {
                Some("a subscription needs at least one recurring item".to_string())
            } else if recurring > most {
                Some(format!(
                    "a subscription takes at most {most} recurring items; this one has {recurring}"
                ))
            } else if one_time > most {
                Some(format!(
                    "a subscription takes at most {most} one-time items; this one has {one_time}"
                ))
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(PaymentError::invalid("line_items", problem));
            }
        }
        self.total().map(drop)
    }

    /// What the buyer pays at checkout (for a subscription, its first invoice) of the items
    /// with a fixed unit amount; at most Stripe's eight digits.
    fn total(&self) -> Result<i64, PaymentError> {
        let mut total: i64 = 0;
        for line in &self.lines {
            let Some(unit_amount) = line.unit_amount else {
                continue;
            };
            total = i64::try_from(line.quantity)
                .ok()
                .and_then(|quantity| unit_amount.checked_mul(quantity))
                .and_then(|amount| total.checked_add(amount))
                .filter(|total| *total <= Amount::MAX)
                .ok_or_else(|| {
                    PaymentError::invalid(
                        "line_items",
                        format!(
                            "the total must be at most {} minor units (Stripe's eight digits)",
                            Amount::MAX
                        ),
                    )
                })?;
        }
        Ok(total)
    }

    /// The platform fee by the organizer's `rules`: a share of the total plus a fee per
    /// ticket (a unit of quantity) for a payment, a percentage of each invoice for a
    /// subscription. A payment's fee is a fixed amount on the undiscounted total, which a
    /// promotion code could push above what the buyer pays (Stripe then fails the payment), so
    /// promotion codes are refused where a fee applies; a subscription's percentage is taken
    /// after discounts.
    pub(super) fn fee(
        &self,
        input: &CheckoutInput,
        rules: Option<&FeeRules>,
    ) -> Result<Fee, PaymentError> {
        let Some(rules) = rules else {
            return Ok(Fee::None);
        };
        if input.mode == CheckoutMode::Subscription {
            return rules.subscription();
        }
        if let Some(index) = self
            .lines
            .iter()
            .position(|line| line.unit_amount.is_none())
        {
            return Err(PaymentError::invalid(
                format!("line_items[{index}].price"),
                "this price has no fixed unit amount, so the platform fee cannot be computed",
            ));
        }
        let tickets = self.lines.iter().map(|line| line.quantity).sum();
        let total = (self.total()?, "line_items");
        let fee = rules.payment(total, &self.lines[0].currency, tickets)?;
        if fee != Fee::None && input.allow_promotion_codes == Some(true) {
            return Err(PaymentError::invalid(
                "allow_promotion_codes",
                "cannot be true for a payment with a platform fee: the fee is a fixed amount on \
the undiscounted total, which a discount could exceed",
            ));
        }
        Ok(fee)
    }
}

fn inactive(field: String, price: &str) -> PaymentError {
    PaymentError::invalid(field, format!("price {price} is no longer active"))
}

/// A price the mirror does not have yet, read from Stripe: whether it recurs, its unit amount
/// and currency.
pub(super) async fn remote(
    state: &AppState,
    account: &StripeAccountId,
    price: &str,
    field: &str,
) -> Result<(bool, Option<i64>, String), PaymentError> {
    let client = state.stripe.for_account(account);
    match price::fetch(&client, price).await {
        Ok(Fetched::Found(remote)) if remote.active => Ok((
            remote.recurring.is_some(),
            remote.unit_amount,
            remote.currency,
        )),
        Ok(Fetched::Found(_)) => Err(inactive(field.to_string(), price)),
        Ok(Fetched::Gone) => Err(PaymentError::invalid(
            field,
            format!("the organizer's Stripe account has no price {price}"),
        )),
        Err(err) => Err(PaymentError::stripe(account, err)),
    }
}
