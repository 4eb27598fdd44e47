//! Telling the platform's apps over HTTP: the Standard Webhooks signature of a delivery
//! ([`sign`]), where a delivery may go ([`target`]) and one attempt of it ([`send`]). Which
//! events go where, and when, is the deliveries' service (`services::outbound`).

pub mod send;
pub mod sign;
pub mod target;
