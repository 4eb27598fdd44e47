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

super::text_enum! {
    /// How an organizer's buyers pay: `direct` charges on the organizer's own account (the
    /// organizer is the merchant of record; its buyers are customers of its account), or
    /// `destination` charges on the platform's account with `on_behalf_of` and
    /// `transfer_data[destination]` the organizer's (its buyers are customers of the
    /// platform's account, kept apart per organizer). Chosen at registration, never changed:
    /// the buyers and payments of each live on a different account.
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum ChargeType {
        Direct = "direct",
        Destination = "destination",
    }
}

super::text_enum! {
    /// The kind of connected account the gateway creates for an organizer
    /// (`STRIPE_CONNECT_ACCOUNT_TYPE`): `express` (Stripe hosts onboarding and a light
    /// dashboard; login links work), `standard` (the organizer's own full Stripe account) or
    /// `custom` (the platform owns the whole experience).
    pub enum ConnectAccountType {
        Express = "express",
        Standard = "standard",
        Custom = "custom",
    }
}

super::text_enum! {
    /// The legal form of the business behind a new connected account, in Stripe's words.
    pub enum BusinessType {
        Individual = "individual",
        Company = "company",
        NonProfit = "non_profit",
        GovernmentEntity = "government_entity",
    }
}

/// A country as Stripe takes it for a new account: ISO 3166-1 alpha-2, two letters, kept in
/// upper case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Country(String);

impl Country {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.len() == 2 && raw.bytes().all(|b| b.is_ascii_alphabetic()) {
            Ok(Self(raw.to_ascii_uppercase()))
        } else {
            Err("must be a two-letter ISO 3166-1 country code, e.g. `FR`".to_string())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
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
    fn countries_are_two_letters_in_upper_case() {
        assert_eq!(Country::parse("fr").unwrap().as_str(), "FR");
        assert_eq!(Country::parse("US").unwrap().as_str(), "US");
        for bad in ["", "F", "FRA", "F1", "é"] {
            assert!(Country::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn organizer_ids_round_trip() {
        let id = OrganizerId::new();
        assert_eq!(OrganizerId::parse(&id.to_string()).unwrap(), id);
        assert!(OrganizerId::parse("not-a-uuid").is_err());
    }
}
