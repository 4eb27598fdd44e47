//! The platform's fee on an organizer's charges beyond its share in basis points: a fixed
//! amount per ticket (per unit of a line item's quantity), per currency.

use std::collections::BTreeMap;

use super::payment::{Amount, Currency};

/// A fixed fee per ticket in each currency it is set for, in the currency's minor unit: at
/// most [`TicketFees::MAX_CURRENCIES`] currencies, each amount from 0 to Stripe's largest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TicketFees(BTreeMap<String, i64>);

impl TicketFees {
    pub const MAX_CURRENCIES: usize = 50;

    /// Every problem at once, as (currency, message).
    pub fn parse(raw: &BTreeMap<String, i64>) -> Result<Self, Vec<(String, String)>> {
        let mut errors = Vec::new();
        if raw.len() > Self::MAX_CURRENCIES {
            errors.push((
                String::new(),
                format!("must hold at most {} currencies", Self::MAX_CURRENCIES),
            ));
        }
        let mut fees = BTreeMap::new();
        for (currency, amount) in raw {
            if let Err(e) = Currency::parse(currency) {
                errors.push((currency.clone(), e));
            } else if !(0..=Amount::MAX).contains(amount) {
                errors.push((
                    currency.clone(),
                    format!(
                        "must be a whole number of minor units from 0 to {}",
                        Amount::MAX
                    ),
                ));
            } else {
                fees.insert(currency.clone(), *amount);
            }
        }
        if errors.is_empty() {
            Ok(Self(fees))
        } else {
            Err(errors)
        }
    }

    /// The fee per ticket in `currency`; 0 where none is set.
    pub fn per_ticket(&self, currency: &str) -> i64 {
        self.0.get(currency).copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_map(&self) -> &BTreeMap<String, i64> {
        &self.0
    }

    /// As stored: a JSON object.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).expect("a map of numbers serializes")
    }

    /// As stored; an unreadable value reads as no fees, and is logged where it is read.
    pub fn from_json(json: &str) -> Result<Self, String> {
        let raw: BTreeMap<String, i64> = serde_json::from_str(json).map_err(|e| e.to_string())?;
        Self::parse(&raw).map_err(|errors| format!("{errors:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
        pairs.iter().map(|(c, a)| (c.to_string(), *a)).collect()
    }

    #[test]
    fn fees_are_per_known_currency_and_bounded() {
        let fees = TicketFees::parse(&map(&[("eur", 50), ("usd", 0)])).unwrap();
        assert_eq!(fees.per_ticket("eur"), 50);
        assert_eq!(fees.per_ticket("gbp"), 0);
        assert_eq!(TicketFees::from_json(&fees.to_json()).unwrap(), fees);
        let errors =
            TicketFees::parse(&map(&[("EUR", 1), ("usd", -1), ("gbp", 100_000_000)])).unwrap_err();
        let named: Vec<&str> = errors.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(named, ["EUR", "gbp", "usd"]);
    }
}
