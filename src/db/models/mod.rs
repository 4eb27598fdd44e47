//! Rows and the queries on them. Every query that touches tenant data takes the tenant's
//! Stripe account as a parameter and says so in its name (`find_by_account_and_id`); the few
//! that cross tenants on purpose say that instead (`find_all_by_email_across_accounts`).

pub mod adoption;
mod audit_event;
mod charge_accounts;
mod customer;
pub(crate) mod customer_reads;
mod erasure;
pub mod gateway_event;
pub mod idempotency;
pub mod idempotency_answers;
pub mod idempotency_looks;
mod organizer;
mod outbox;
pub mod sync;
mod webhook_claim;
pub mod webhook_delivery;
pub mod webhook_endpoint;
mod webhook_event;
mod webhook_insert;
mod webhook_purge;

pub use audit_event::{AuditEvent, AuditFilter, NewAuditEvent};
pub use charge_accounts::ChargeAccounts;
pub use customer::{
    Customer, CustomerKey, CustomerStatus, NewCustomer, StripeProfile, CREATE_LEASE,
};
pub use customer_reads::{EmailKey, FoundByEmail};
pub use erasure::{Erasure, ErasureAccount};
pub use organizer::{NewOrganizer, Organizer, OrganizerChanges};
pub use webhook_claim::ClaimTurns;
pub use webhook_event::{EventAttempt, EventFilter, NewWebhookEvent, WebhookEvent, NO_ACCOUNT};
