//! Pure types with no I/O. Each is parsed once at the edge; holding one means it is valid.

mod organizer;
mod page;
mod stripe_account_id;

pub use organizer::{ApplicationFeeBps, OrganizerId, OrganizerName, OrganizerStatus};
pub use page::{Cursor, PageLimit};
pub use stripe_account_id::StripeAccountId;
