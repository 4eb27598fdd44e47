use std::fmt;

/// A Stripe account id (`acct_` followed by letters and digits).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StripeAccountId(String);

impl StripeAccountId {
    pub(crate) const PREFIX: &'static str = "acct_";
    /// Stripe ids are far shorter; the bound keeps garbage out of headers and indexes.
    pub(crate) const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let suffix = raw
            .strip_prefix(Self::PREFIX)
            .ok_or_else(|| "must start with `acct_`".to_string())?;
        if suffix.is_empty() || raw.len() > Self::MAX_LEN {
            return Err(format!(
                "must be `acct_` followed by 1 to {} letters or digits",
                Self::MAX_LEN - Self::PREFIX.len()
            ));
        }
        if !suffix.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err("may contain only letters and digits after `acct_`".to_string());
        }
        Ok(Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StripeAccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::StripeAccountId;

    #[test]
    fn accepts_stripe_shaped_ids() {
        assert_eq!(
            StripeAccountId::parse("acct_1Nv0FGQ9RKHgCVdK")
                .unwrap()
                .as_str(),
            "acct_1Nv0FGQ9RKHgCVdK"
        );
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "",
            "acct_",
            "cus_123",
            "acct_12 3",
            "acct_1;DROP",
            "ACCT_123",
            &format!("acct_{}", "a".repeat(60)),
        ] {
            assert!(StripeAccountId::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
