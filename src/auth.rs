//! Bearer-token authentication. Tokens are JWTs signed with HS256 (shared secret) or verified
//! with a configured RS256 / EdDSA public key. Each algorithm is accepted only with its own key,
//! so `alg: none` and algorithm confusion (an HS256 token "signed" with the public key) fail.

use std::future::{ready, Ready};
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::configuration::{AuthArgs, ConfigError};

mod verified;

use crate::domain::OrganizerId;
pub use crate::domain::{Forbidden, Principal, Role};
use crate::error::ApiError;
use verified::{Known, VerifiedTokens};

/// The claims of a token the gateway signs (`token` command, tests).
#[derive(Debug, Serialize)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// The claims the gateway reads from a verified token. `iss` and `aud` (a string or a list)
/// are checked by `jsonwebtoken` itself, so they need no field here.
#[derive(Debug, Deserialize)]
struct VerifiedClaims {
    sub: String,
    /// Required, and a whole number of seconds once `jsonwebtoken` has accepted the token.
    exp: u64,
    role: Role,
    #[serde(default)]
    org: Option<String>,
}

/// Verifies tokens; built once from configuration and shared as app data. It holds one key and
/// one validation per accepted algorithm: a token is checked only against its own algorithm's key.
pub struct JwtVerifier {
    accepted: Vec<(Algorithm, DecodingKey, Validation)>,
    verified: VerifiedTokens,
}

impl JwtVerifier {
    /// Accepted clock skew, in seconds, for `exp` and `nbf`.
    const LEEWAY_SECS: u64 = 30;

    pub fn from_settings(auth: &AuthArgs) -> Result<Self, ConfigError> {
        let mut keys = Vec::new();
        if let Some(secret) = &auth.jwt_secret {
            keys.push((
                Algorithm::HS256,
                DecodingKey::from_secret(secret.expose_secret().as_bytes()),
            ));
        }
        if let Some(path) = &auth.jwt_public_key_file {
            let pem = std::fs::read(path).map_err(|e| {
                ConfigError(format!(
                    "JWT_PUBLIC_KEY_FILE {} cannot be read: {e}",
                    path.display()
                ))
            })?;
            let key = DecodingKey::from_rsa_pem(&pem)
                .map(|key| (Algorithm::RS256, key))
                .or_else(|_| DecodingKey::from_ed_pem(&pem).map(|key| (Algorithm::EdDSA, key)))
                .map_err(|_| {
                    ConfigError(format!(
                        "JWT_PUBLIC_KEY_FILE {} is not a PEM RSA or Ed25519 public key",
                        path.display()
                    ))
                })?;
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(ConfigError(
                "JWT_SECRET is not set: set it (HS256 shared secret) or JWT_PUBLIC_KEY_FILE (RS256/EdDSA public key)".into(),
            ));
        }
        let accepted = keys
            .into_iter()
            .map(|(algorithm, key)| (algorithm, key, validation(algorithm, auth)))
            .collect();
        Ok(Self {
            accepted,
            verified: VerifiedTokens::default(),
        })
    }

    pub fn verify(&self, token: &str) -> Result<Principal, ApiError> {
        self.verify_at(token, unix_now())
    }

    /// [`JwtVerifier::verify`] at `now`: a token verified before is only checked for expiry.
    fn verify_at(&self, token: &str, now: u64) -> Result<Principal, ApiError> {
        match self.verified.lookup(token, now) {
            Known::Valid(principal) => return Ok(principal),
            Known::Expired => {
                return Err(ApiError::Unauthenticated(rejection_reason(
                    &ErrorKind::ExpiredSignature,
                )))
            }
            Known::Unknown => {}
        }
        let (principal, exp) = self.verify_signed(token)?;
        self.verified
            .remember(token, &principal, exp.saturating_add(Self::LEEWAY_SECS));
        Ok(principal)
    }

    /// Verifies the signature and every claim; returns who the token names and its `exp`.
    fn verify_signed(&self, token: &str) -> Result<(Principal, u64), ApiError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| ApiError::Unauthenticated("the bearer token is malformed"))?;
        let (_, key, validation) = self
            .accepted
            .iter()
            .find(|(algorithm, _, _)| *algorithm == header.alg)
            .ok_or(ApiError::Unauthenticated(
                "the token's signing algorithm is not accepted",
            ))?;
        let claims = jsonwebtoken::decode::<VerifiedClaims>(token, key, validation)
            .map_err(|err| ApiError::Unauthenticated(rejection_reason(err.kind())))?
            .claims;
        let exp = claims.exp;
        let principal = match (claims.role, claims.org) {
            (Role::Admin, _) => Ok(Principal::Admin { sub: claims.sub }),
            (Role::Organizer, Some(org)) => OrganizerId::parse(&org)
                .map(|org| Principal::Organizer {
                    sub: claims.sub,
                    org,
                })
                .map_err(|_| {
                    ApiError::Unauthenticated("the token's `org` claim is not an organizer id")
                }),
            (Role::Organizer, None) => Err(ApiError::Unauthenticated(
                "an organizer token needs an `org` claim",
            )),
        }?;
        Ok((principal, exp))
    }
}

fn validation(algorithm: Algorithm, auth: &AuthArgs) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.leeway = JwtVerifier::LEEWAY_SECS;
    validation.validate_nbf = true;
    let mut required = vec!["exp", "sub"];
    match &auth.jwt_issuer {
        Some(issuer) => {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        None => validation.iss = None,
    }
    match &auth.jwt_audience {
        Some(audience) => {
            validation.set_audience(&[audience]);
            required.push("aud");
        }
        None => validation.validate_aud = false,
    }
    validation.set_required_spec_claims(&required);
    validation
}

fn rejection_reason(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::ImmatureSignature => "the token is not valid yet",
        ErrorKind::InvalidSignature => "the token's signature does not verify",
        ErrorKind::InvalidIssuer => "the token's issuer is not accepted",
        ErrorKind::InvalidAudience => "the token's audience is not accepted",
        ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
        ErrorKind::Json(_) | ErrorKind::InvalidClaimFormat(_) => "the token's claims are not valid",
        _ => "the bearer token is malformed",
    }
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // The idempotency middleware verified the token already when the request has a key.
        if let Some(principal) = req.extensions().get::<Principal>() {
            return ready(Ok(principal.clone()));
        }
        ready(authenticate(req))
    }
}

pub(crate) fn authenticate(req: &HttpRequest) -> Result<Principal, ApiError> {
    let verifier = req
        .app_data::<web::Data<JwtVerifier>>()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("JwtVerifier is not registered")))?;
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::Unauthenticated(
            "send `Authorization: Bearer <token>`",
        ))?
        .to_str()
        .map_err(|_| ApiError::Unauthenticated("the Authorization header is not valid text"))?;
    let token = value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
        .ok_or(ApiError::Unauthenticated(
            "the Authorization header must be `Bearer <token>`",
        ))?;
    verifier.verify(token)
}

/// Signs an HS256 token; used by the `token` command and by tests.
pub fn mint_hs256(
    secret: &SecretString,
    claims: &Claims,
) -> Result<String, jsonwebtoken::errors::Error> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.expose_secret().as_bytes()),
    )
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier(secret: &SecretString) -> JwtVerifier {
        JwtVerifier::from_settings(&AuthArgs {
            jwt_secret: Some(secret.clone()),
            jwt_public_key_file: None,
            jwt_issuer: None,
            jwt_audience: None,
        })
        .unwrap()
    }

    fn admin_token(secret: &SecretString, exp: u64) -> String {
        let claims = Claims {
            sub: "ops".into(),
            exp,
            iat: None,
            role: Role::Admin,
            org: None,
            iss: None,
            aud: None,
        };
        mint_hs256(secret, &claims).unwrap()
    }

    #[test]
    fn a_token_verified_before_is_refused_once_expired() {
        let secret = SecretString::from("unit-secret");
        let verifier = verifier(&secret);
        let now = unix_now();
        let token = admin_token(&secret, now + 60);
        let admin = Principal::Admin { sub: "ops".into() };
        assert_eq!(verifier.verify_at(&token, now).unwrap(), admin);
        let last = now + 60 + JwtVerifier::LEEWAY_SECS;
        assert_eq!(verifier.verify_at(&token, last).unwrap(), admin);
        let refused = verifier.verify_at(&token, last + 1).unwrap_err();
        assert!(refused.to_string().contains("expired"), "{refused}");
    }

    #[test]
    fn a_token_that_failed_is_not_remembered() {
        let secret = SecretString::from("unit-secret");
        let verifier = verifier(&secret);
        let forged = admin_token(&SecretString::from("another"), unix_now() + 60);
        for _ in 0..2 {
            let refused = verifier.verify(&forged).unwrap_err();
            assert!(refused.to_string().contains("signature"), "{refused}");
        }
    }
}
