//! Telling the platform's apps over HTTP: the Standard Webhooks signature of a delivery
//! ([`sign`]) and where a delivery may go ([`target`]). The deliveries themselves (endpoints,
//! attempts, retries) build on these.

pub mod sign;
pub mod target;
