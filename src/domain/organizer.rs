use serde::{Deserialize, Serialize};

super::id::uuid_id! {
    /// The gateway's id for an organizer (tenant).
    OrganizerId
}

/// A display name: trimmed, 1 to 200 characters, no control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrganizerName(String);

impl OrganizerName {
    pub(crate) const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err("must not be empty".to_string());
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(format!("must be at most {} characters", Self::MAX_CHARS));
        }
        if trimmed.chars().any(char::is_control) {
            return Err("must not contain control characters".to_string());
        }
        Ok(Self(trimmed.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The platform's application fee in basis points of each charge (0 to 10000).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApplicationFeeBps(u16);

impl ApplicationFeeBps {
    pub fn parse(raw: i64) -> Result<Self, String> {
        u16::try_from(raw)
            .ok()
            .filter(|bps| *bps <= 10_000)
            .map(Self)
            .ok_or_else(|| "must be between 0 and 10000 basis points".to_string())
    }

    pub fn get(self) -> u16 {
        self.0
    }

    /// The fee, when it is within the platform's cap (`MAX_APPLICATION_FEE_BPS`).
    pub fn within(self, cap: u16) -> Result<Self, String> {
        if self.0 <= cap {
            Ok(self)
        } else {
            Err(format!(
                "must be at most {cap} basis points, the platform's cap (MAX_APPLICATION_FEE_BPS)"
            ))
        }
    }
}

super::text_enum! {
    /// Whether the gateway acts for an organizer. A disabled organizer keeps its data, but its
    /// organizer-scoped tokens are refused (403).
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum OrganizerStatus {
        Active = "active",
        Disabled = "disabled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            OrganizerName::parse("  Acme Events ").unwrap().as_str(),
            "Acme Events"
        );
        assert!(OrganizerName::parse("   ").is_err());
        assert!(OrganizerName::parse(&"x".repeat(201)).is_err());
        assert!(OrganizerName::parse("a\u{0007}b").is_err());
        assert!(OrganizerName::parse(&"é".repeat(200)).is_ok());
    }

    #[test]
    fn fees_are_basis_points() {
        assert_eq!(ApplicationFeeBps::parse(0).unwrap().get(), 0);
        assert_eq!(ApplicationFeeBps::parse(10_000).unwrap().get(), 10_000);
        assert!(ApplicationFeeBps::parse(-1).is_err());
        assert!(ApplicationFeeBps::parse(10_001).is_err());
        assert!(ApplicationFeeBps::parse(i64::MAX).is_err());
    }

    #[test]
    fn organizer_ids_round_trip() {
        let id = OrganizerId::new();
        assert_eq!(OrganizerId::parse(&id.to_string()).unwrap(), id);
        assert!(OrganizerId::parse("not-a-uuid").is_err());
    }
}
