//! Verifies a webhook's `Stripe-Signature` header: `t=<unix seconds>,v1=<hex>[,v1=<hex>...]`,
//! each `v1` an HMAC-SHA256 of `"{t}.{raw body}"` under an endpoint secret.
//!
//! Every `v1` in the header is tried against every configured secret: while a secret is being
//! rolled, Stripe signs each delivery with the old and the new one, and the platform and Connect
//! endpoints have secrets of their own. Comparison is constant-time (`Mac::verify_slice`).

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// Why a delivery's signature was refused. The text is safe to return to the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing")]
    Missing,
    #[error("the Stripe-Signature header has no timestamp or no v1 signature")]
    Malformed,
    #[error("the Stripe-Signature timestamp is outside the tolerance")]
    Stale,
    #[error("no v1 signature matches a configured webhook secret")]
    NoMatch,
}

/// The endpoint secrets and the accepted clock difference.
#[derive(Clone, Debug)]
pub struct SignatureVerifier {
    secrets: Vec<SecretString>,
    tolerance_secs: u64,
}

impl SignatureVerifier {
    pub fn new(secrets: Vec<SecretString>, tolerance_secs: u64) -> Self {
        Self {
            secrets,
            tolerance_secs,
        }
    }

    pub fn has_secrets(&self) -> bool {
        !self.secrets.is_empty()
    }

    /// Checks `header` against `body` at the time `now` (unix seconds).
    pub fn verify(
        &self,
        header: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?;
        let mut timestamp = None;
        let mut signatures = Vec::new();
        for part in header.split(',') {
            match part.trim().split_once('=') {
                Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
                Some(("v1", value)) => {
                    if let Some(bytes) = decode_hex(value) {
                        signatures.push(bytes);
                    }
                }
                // v0 (test-mode legacy) and unknown schemes are ignored, as Stripe's libraries do.
                _ => {}
            }
        }
        let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
        if signatures.is_empty() {
            return Err(SignatureError::Malformed);
        }
        if now.abs_diff(timestamp) > self.tolerance_secs {
            return Err(SignatureError::Stale);
        }
        let matches = self.secrets.iter().any(|secret| {
            let mac = signed_payload_mac(secret.expose_secret().as_bytes(), timestamp, body);
            signatures
                .iter()
                .any(|signature| mac.clone().verify_slice(signature).is_ok())
        });
        if matches {
            Ok(())
        } else {
            Err(SignatureError::NoMatch)
        }
    }
}

fn signed_payload_mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value Stripe would send for `body` signed at `timestamp` with each secret: for
/// tests, the benchmark and the local fake Stripe.
pub fn sign(secrets: &[&str], timestamp: i64, body: &[u8]) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        let digest = signed_payload_mac(secret.as_bytes(), timestamp, body)
            .finalize()
            .into_bytes();
        header.push_str(",v1=");
        header.push_str(&crate::domain::lower_hex(&digest));
    }
    header
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;
    const BODY: &[u8] = br#"{"id":"evt_1"}"#;

    fn verifier(secrets: &[&str]) -> SignatureVerifier {
        SignatureVerifier::new(
            secrets.iter().map(|s| SecretString::from(*s)).collect(),
            300,
        )
    }

    #[test]
    fn a_signature_by_any_configured_secret_is_accepted() {
        let verifier = verifier(&["whsec_platform", "whsec_connect"]);
        for secret in ["whsec_platform", "whsec_connect"] {
            let header = sign(&[secret], NOW, BODY);
            assert_eq!(verifier.verify(Some(&header), BODY, NOW), Ok(()));
        }
    }

    #[test]
    fn during_rotation_either_v1_may_match() {
        let verifier = verifier(&["whsec_new"]);
        let header = sign(&["whsec_old", "whsec_new"], NOW, BODY);
        assert_eq!(verifier.verify(Some(&header), BODY, NOW), Ok(()));
        let header = sign(&["whsec_new", "whsec_old"], NOW, BODY);
        assert_eq!(verifier.verify(Some(&header), BODY, NOW), Ok(()));
    }

    #[test]
    fn forged_altered_and_stale_deliveries_are_refused() {
        let verifier = verifier(&["whsec_right"]);
        let forged = sign(&["whsec_wrong"], NOW, BODY);
        assert_eq!(
            verifier.verify(Some(&forged), BODY, NOW),
            Err(SignatureError::NoMatch)
        );
        let signed = sign(&["whsec_right"], NOW, BODY);
        assert_eq!(
            verifier.verify(Some(&signed), br#"{"id":"evt_2"}"#, NOW),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verifier.verify(Some(&signed), BODY, NOW + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(verifier.verify(Some(&signed), BODY, NOW + 299), Ok(()));
    }

    #[test]
    fn extreme_timestamps_are_stale_not_a_panic() {
        let verifier = verifier(&["whsec_right"]);
        for t in [i64::MIN, i64::MAX, -1] {
            let header = format!("t={t},v1=00");
            assert_eq!(
                verifier.verify(Some(&header), BODY, NOW),
                Err(SignatureError::Stale)
            );
        }
    }

    #[test]
    fn headers_without_a_timestamp_or_v1_are_malformed() {
        let verifier = verifier(&["whsec_right"]);
        assert_eq!(
            verifier.verify(None, BODY, NOW),
            Err(SignatureError::Missing)
        );
        for header in [
            "",
            "t=abc,v1=00",
            "v1=00",
            "t=1800000000",
            "t=1800000000,v1=zz",
        ] {
            assert_eq!(
                verifier.verify(Some(header), BODY, NOW),
                Err(SignatureError::Malformed),
                "{header}"
            );
        }
    }
}
