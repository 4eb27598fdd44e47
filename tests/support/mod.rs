//! Test support shared by the API suite: the fake Stripe and its form parsing.

pub mod fake_stripe;
mod form;
