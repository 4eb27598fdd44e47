//! Rows and the queries on them. Every query that touches tenant data takes the tenant
//! (organizer id or Stripe account) as a parameter and says so in its name.

mod audit_event;
mod organizer;

pub use audit_event::{AuditEvent, NewAuditEvent};
pub use organizer::{NewOrganizer, Organizer, OrganizerChanges};
