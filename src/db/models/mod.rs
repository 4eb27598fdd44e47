//! Rows and the queries on them. Every query that touches tenant data takes the tenant
//! (organizer id or Stripe account) as a parameter and says so in its name.

mod audit_event;
mod customer;
mod erasure;
mod organizer;

pub use audit_event::{AuditEvent, AuditFilter, NewAuditEvent};
pub use customer::{Customer, CustomerStatus, NewCustomer, StripeProfile};
pub use erasure::{Erasure, ErasureAccount};
pub use organizer::{NewOrganizer, Organizer, OrganizerChanges};
