//! Bearer-token authentication. Tokens are JWTs signed with HS256 (shared secret) or verified
//! with a configured RS256 / EdDSA public key. Each algorithm is accepted only with its own key,
//! so `alg: none` and algorithm confusion (an HS256 token "signed" with the public key) fail.

use std::future::{ready, Ready};
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::configuration::{AuthArgs, ConfigError};
use crate::domain::OrganizerId;
use crate::error::ApiError;

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

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
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

    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self {
            Self::Admin { .. } => Ok(()),
            Self::Organizer { .. } => {
                Err(ApiError::Forbidden("this operation needs an admin token"))
            }
        }
    }

    /// Admins reach every organizer; an organizer token reaches only its own.
    pub fn require_organizer(&self, organizer: OrganizerId) -> Result<(), ApiError> {
        match self {
            Self::Admin { .. } => Ok(()),
            Self::Organizer { org, .. } if *org == organizer => Ok(()),
            Self::Organizer { .. } => Err(ApiError::Forbidden(
                "this token belongs to another organizer",
            )),
        }
    }
}

/// Verifies tokens; built once from configuration and shared as app data.
pub struct JwtVerifier {
    hs256: Option<DecodingKey>,
    public: Option<(Algorithm, DecodingKey)>,
    issuer: Option<String>,
    audience: Option<String>,
}

impl JwtVerifier {
    /// Accepted clock skew, in seconds, for `exp`.
    const LEEWAY_SECS: u64 = 30;

    pub fn from_settings(auth: &AuthArgs) -> Result<Self, ConfigError> {
        let hs256 = auth
            .jwt_secret
            .as_ref()
            .map(|secret| DecodingKey::from_secret(secret.expose_secret().as_bytes()));
        let public = match &auth.jwt_public_key_file {
            None => None,
            Some(path) => {
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
                Some(key)
            }
        };
        if hs256.is_none() && public.is_none() {
            return Err(ConfigError(
                "JWT_SECRET is not set: set it or JWT_PUBLIC_KEY_FILE".into(),
            ));
        }
        Ok(Self {
            hs256,
            public,
            issuer: auth.jwt_issuer.clone(),
            audience: auth.jwt_audience.clone(),
        })
    }

    pub fn verify(&self, token: &str) -> Result<Principal, ApiError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| ApiError::Unauthenticated("the bearer token is malformed"))?;
        let key = match (header.alg, &self.hs256, &self.public) {
            (Algorithm::HS256, Some(key), _) => key,
            (alg, _, Some((public_alg, key))) if alg == *public_alg => key,
            _ => {
                return Err(ApiError::Unauthenticated(
                    "the token's signing algorithm is not accepted",
                ))
            }
        };
        let mut validation = Validation::new(header.alg);
        validation.leeway = Self::LEEWAY_SECS;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        match &self.issuer {
            Some(issuer) => {
                validation.set_issuer(&[issuer]);
                required.push("iss");
            }
            None => validation.iss = None,
        }
        match &self.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);

        let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map_err(|err| ApiError::Unauthenticated(rejection_reason(err.kind())))?
            .claims;
        match (claims.role, claims.org) {
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
        }
    }
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
        ready(authenticate(req))
    }
}

fn authenticate(req: &HttpRequest) -> Result<Principal, ApiError> {
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
