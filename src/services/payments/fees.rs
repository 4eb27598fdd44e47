//! The platform's fee on an organizer's charge: a share in basis points of the total (rounded
//! down) plus a fixed fee per ticket in the charge's currency, or an admin's amount for one
//! request. Never on the platform's own account, never above the platform's cap in basis points
//! (`MAX_APPLICATION_FEE_BPS`) for a stored share, never above what the buyer pays.

use super::PaymentError;
use crate::db::models::Organizer;
use crate::domain::{Forbidden, Principal, TicketFees};
use crate::services::organizers::{Charging, OrganizerError};
use crate::services::AppState;
use crate::stripe::payments::Fee;

/// What a charge's fee is made of, for one organizer.
pub(super) struct FeeRules {
    /// The share in basis points; 0 when none.
    bps: i64,
    tickets: TicketFees,
    /// An admin's fee for this request, replacing the organizer's rules.
    fixed: Option<i64>,
    /// The platform's cap in basis points (`MAX_APPLICATION_FEE_BPS`), which bounds an admin's
    /// fee too.
    cap: i64,
}

/// `amount × bps / 10 000`, rounded down: the platform never takes more than its rate.
pub(super) fn fee_of(amount: i64, bps: i64) -> i64 {
    (i128::from(amount) * i128::from(bps) / 10_000) as i64
}

impl FeeRules {
    /// The organizer's rules for a charge taken as `charging` says, with the request's
    /// `override_amount` (admin tokens only); `None` when no fee applies (a direct charge on the
    /// platform's own account, or no rule). A destination charge on the platform's account is
    /// the organizer's, and takes its fee.
    pub(super) fn of(
        state: &AppState,
        principal: &Principal,
        charging: &Charging,
        organizer: &Organizer,
        override_amount: Option<i64>,
    ) -> Result<Option<Self>, PaymentError> {
        if override_amount.is_some() && !matches!(principal, Principal::Admin { .. }) {
            let refused = Forbidden("only an admin token may set `application_fee_amount`");
            return Err(OrganizerError::from(refused).into());
        }
        if charging.destination.is_none()
            && state.stripe.is_platform_account(charging.account.as_str())
        {
            if override_amount.is_some() {
                return Err(PaymentError::invalid(
                    "application_fee_amount",
                    "the platform takes no fee on its own account",
                ));
            }
            return Ok(None);
        }
        let bps = organizer.application_fee_bps.map_or(0, i64::from);
        let cap = i64::from(state.stripe.max_fee_bps());
        if bps > cap {
            return Err(PaymentError::FeeAboveCap { bps, cap });
        }
        let tickets = organizer.ticket_fees()?;
        if bps == 0 && tickets.is_empty() && override_amount.is_none() {
            return Ok(None);
        }
        Ok(Some(Self {
            bps,
            tickets,
            fixed: override_amount,
            cap,
        }))
    }

    /// The share of a subscription's invoices, in percent; the fees per ticket do not apply
    /// to invoices, nor does an admin's amount.
    pub(super) fn subscription(&self) -> Result<Fee, PaymentError> {
        if self.fixed.is_some() {
            return Err(PaymentError::invalid(
                "application_fee_amount",
                "a subscription's fee is the organizer's share of each invoice; a fixed amount applies to payments only",
            ));
        }
        // Basis points are hundredths of a percent: at most two decimals, as Stripe requires.
        Ok(if self.bps > 0 {
            Fee::Percent(self.bps as f64 / 100.0)
        } else {
            Fee::None
        })
    }

    /// The fee of a payment of `total` in `currency` for `tickets` units: the admin's amount,
    /// or the share plus the fee per ticket. Refused above the total, and an admin's above the
    /// platform's cap of the total.
    pub(super) fn payment(
        &self,
        (total, field): (i64, &str),
        currency: &str,
        tickets: u64,
    ) -> Result<Fee, PaymentError> {
        let fee = match self.fixed {
            Some(amount) => {
                let most = fee_of(total, self.cap);
                if amount > most {
                    return Err(PaymentError::invalid(
                        "application_fee_amount",
                        format!("must be at most {most}, the platform's cap (MAX_APPLICATION_FEE_BPS) of this payment's {total}"),
                    ));
                }
                amount
            }
            None => {
                let per_ticket = self.tickets.per_ticket(currency);
                i64::try_from(tickets)
                    .ok()
                    .and_then(|tickets| per_ticket.checked_mul(tickets))
                    .and_then(|fixed| fixed.checked_add(fee_of(total, self.bps)))
                    .unwrap_or(i64::MAX)
            }
        };
        if fee > total {
            return Err(PaymentError::invalid(
                field,
                format!("the platform fee ({fee}) would be more than the payment ({total}): the organizer's fee per ticket is too high for this price"),
            ));
        }
        Ok(if fee > 0 { Fee::Amount(fee) } else { Fee::None })
    }
}

#[cfg(test)]
mod tests {
    use super::fee_of;

    #[test]
    fn fees_round_down() {
        assert_eq!(fee_of(10_000, 250), 250);
        assert_eq!(fee_of(999, 250), 24);
        assert_eq!(fee_of(1, 9_999), 0);
        assert_eq!(fee_of(99_999_999, 10_000), 99_999_999);
    }
}
