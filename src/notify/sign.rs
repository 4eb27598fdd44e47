//! Standard Webhooks signatures (standardwebhooks.com), for the gateway's deliveries to the
//! platform's apps: `webhook-id` (the event's id, the same on every attempt), `webhook-timestamp`
//! (Unix seconds of the attempt) and `webhook-signature`: `v1,<base64 of HMAC-SHA256 over
//! "{id}.{timestamp}.{body}">` for each active secret, space-separated, so a receiver verifies
//! with whichever secret it holds while a secret is rotated. A secret is `whsec_` and the
//! base64 of its key; any Standard Webhooks library verifies these deliveries.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::Sha256;

/// What a secret's text starts with.
const PREFIX: &str = "whsec_";
/// The bytes of a new secret's key.
const KEY_BYTES: usize = 32;

/// A signing secret: its key, kept out of `Debug` and logs.
pub struct Secret(SecretSlice<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(whsec_…)")
    }
}

impl Secret {
    /// A new secret of 32 random bytes from the operating system.
    pub fn generate() -> Self {
        let mut key = vec![0_u8; KEY_BYTES];
        getrandom::fill(&mut key).expect("the operating system gives random bytes");
        Self(key.into())
    }

    /// A secret as written (`whsec_` and base64); `None` for any other text.
    pub fn parse(text: &str) -> Option<Self> {
        let key = STANDARD.decode(text.strip_prefix(PREFIX)?).ok()?;
        (!key.is_empty()).then(|| Self(key.into()))
    }

    /// The secret as written, to show once when it is made.
    pub fn expose(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(self.0.expose_secret()))
    }

    /// `v1,` and the base64 of the HMAC-SHA256 of `{id}.{timestamp}.{body}` under this key.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.expose_secret())
            .expect("HMAC takes keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// The three headers of a delivery of `body` as the event `id` at `timestamp`, signed with each
/// of `secrets` (more than one while a secret is rotated).
pub fn headers(
    id: &str,
    timestamp: i64,
    body: &[u8],
    secrets: &[Secret],
) -> [(&'static str, String); 3] {
    let signatures: Vec<String> = secrets
        .iter()
        .map(|secret| secret.sign(id, timestamp, body))
        .collect();
    [
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signatures.join(" ")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specifications_test_vector_signs_as_published() {
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signed = secret.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signed, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_rotation_signs_with_every_secret_and_new_secrets_read_back() {
        let (old, new) = (Secret::generate(), Secret::generate());
        let written = new.expose();
        assert!(written.starts_with("whsec_"), "{written}");
        assert_eq!(
            Secret::parse(&written).unwrap().sign("m", 1, b"{}"),
            new.sign("m", 1, b"{}")
        );
        assert_ne!(old.sign("m", 1, b"{}"), new.sign("m", 1, b"{}"));
        let [id, timestamp, signature] = headers("msg_1", 1_700_000_000, b"{}", &[old, new]);
        assert_eq!(id, ("webhook-id", "msg_1".to_string()));
        assert_eq!(timestamp.1, "1700000000");
        assert_eq!(signature.1.split(' ').count(), 2, "{}", signature.1);
        assert!(
            format!("{:?}", Secret::generate()).contains('…'),
            "no key in Debug"
        );
        for refused in ["", "whsec_", "sk_abc", "whsec_not base64!"] {
            assert!(Secret::parse(refused).is_none(), "{refused}");
        }
    }
}
