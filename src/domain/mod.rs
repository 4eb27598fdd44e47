//! Pure types with no I/O. Each is parsed once at the edge; holding one means it is valid.

mod chain;
mod client_key;
mod customer;
mod event;
mod fees;
mod hex;
mod id;
mod organizer;
mod page;
pub mod payment;
mod principal;
mod status;
mod stripe_account_id;
mod subject_hash;
mod text_enum;

pub use chain::chain;
pub use client_key::ClientKey;
pub(crate) use customer::INVISIBLE;
pub use customer::{CustomerId, CustomerName, Email, Metadata, Phone};
pub use event::{DeliveryState, GatewayEventType};
pub use fees::TicketFees;
pub use hex::lower_hex;
pub use id::{StripeId, STRIPE_ID_CHARS};
pub use organizer::{
    ApplicationFeeBps, BusinessType, ChargeType, ConnectAccountType, Country, OrganizerId,
    OrganizerName, OrganizerStatus,
};
pub use page::{Cursor, ObjectCursor, PageLimit};
pub use principal::{Forbidden, Principal, Role};
pub use status::{
    DisputeStatus, ErasureOutcome, ErasureStatus, EventStatus, Outcome, PaymentStatus, RunStatus,
    RunTrigger,
};
pub use stripe_account_id::StripeAccountId;
pub use subject_hash::SubjectHasher;
pub(crate) use text_enum::{doc_line, text_enum};
