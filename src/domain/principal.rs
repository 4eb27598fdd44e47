//! Who is calling: established from a verified token by the HTTP layer (`auth.rs`), and what
//! each use case checks before it acts.

use serde::{Deserialize, Serialize};

use super::OrganizerId;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Organizer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Organizer => "organizer",
        }
    }
}

/// Who is calling, established from a verified token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    Admin { sub: String },
    Organizer { sub: String, org: OrganizerId },
}

impl Principal {
    pub fn sub(&self) -> &str {
        match self {
            Self::Admin { sub } | Self::Organizer { sub, .. } => sub,
        }
    }

    pub fn role(&self) -> Role {
        match self {
            Self::Admin { .. } => Role::Admin,
            Self::Organizer { .. } => Role::Organizer,
        }
    }

    pub fn require_admin(&self) -> Result<(), Forbidden> {
        match self {
            Self::Admin { .. } => Ok(()),
            Self::Organizer { .. } => Err(Forbidden("this operation needs an admin token")),
        }
    }

    /// Admins reach every organizer; an organizer token reaches only its own.
    pub fn require_organizer(&self, organizer: OrganizerId) -> Result<(), Forbidden> {
        match self {
            Self::Admin { .. } => Ok(()),
            Self::Organizer { org, .. } if *org == organizer => Ok(()),
            Self::Organizer { .. } => Err(Forbidden("this token belongs to another organizer")),
        }
    }
}

/// A valid token that may not do this (403): the wrong role, or another organizer's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Forbidden(pub &'static str);
