//! Connect onboarding calls, made by the platform about its connected accounts: creating an
//! account, an Account Link into Stripe's hosted onboarding, a login link into the Express
//! dashboard. Answers are read with serde into what the gateway keeps.

use std::collections::HashMap;

use serde::Deserialize;
use stripe_connect::account::{
    CreateAccount, CreateAccountCapabilities, CreateAccountCapabilitiesCardPayments,
    CreateAccountCapabilitiesTransfers, CreateAccountType,
};
use stripe_connect::account_link::{CreateAccountLink, CreateAccountLinkType};
use stripe_connect::login_link::CreateAccountLoginLink;
use stripe_connect::AccountBusinessType;

use super::{AccountClient, IdempotencyKey, StripeError};
use crate::domain::payment::HttpUrl;
use crate::domain::{BusinessType, ConnectAccountType, Country};

/// A connected account to create for an organizer.
pub struct NewAccount<'a> {
    pub kind: ConnectAccountType,
    pub country: &'a Country,
    pub business_type: Option<BusinessType>,
    pub email: Option<&'a str>,
    /// The gateway's ids, so the account can be traced back from Stripe's dashboard.
    pub metadata: HashMap<String, String>,
}

/// Creates the account; the answer is read as `T` (the mirror's shape of an account).
pub async fn create_account<T: serde::de::DeserializeOwned>(
    platform: &AccountClient<'_>,
    new: &NewAccount<'_>,
    key: IdempotencyKey,
) -> Result<T, StripeError> {
    let mut request = CreateAccount::new()
        .type_(match new.kind {
            ConnectAccountType::Express => CreateAccountType::Express,
            ConnectAccountType::Standard => CreateAccountType::Standard,
            ConnectAccountType::Custom => CreateAccountType::Custom,
        })
        .country(new.country.as_str())
        .metadata(new.metadata.clone());
    // Express and Custom accounts take charges and receive transfers only once these
    // capabilities are requested; a Standard account has them from its own onboarding.
    if new.kind != ConnectAccountType::Standard {
        let mut capabilities = CreateAccountCapabilities::new();
        let mut card_payments = CreateAccountCapabilitiesCardPayments::new();
        card_payments.requested = Some(true);
        let mut transfers = CreateAccountCapabilitiesTransfers::new();
        transfers.requested = Some(true);
        capabilities.card_payments = Some(card_payments);
        capabilities.transfers = Some(transfers);
        request = request.capabilities(capabilities);
    }
    if let Some(business_type) = new.business_type {
        request = request.business_type(match business_type {
            BusinessType::Individual => AccountBusinessType::Individual,
            BusinessType::Company => AccountBusinessType::Company,
            BusinessType::NonProfit => AccountBusinessType::NonProfit,
            BusinessType::GovernmentEntity => AccountBusinessType::GovernmentEntity,
        });
    }
    if let Some(email) = new.email {
        request = request.email(email);
    }
    platform.write_json(&request, key).await
}

/// A single-use link into Stripe's hosted onboarding (or its update of the account's details).
#[derive(Clone, Debug, Deserialize)]
pub struct RemoteLink {
    pub url: String,
    /// Unix seconds; a login link has none.
    pub expires_at: Option<i64>,
}

/// An Account Link of type `account_onboarding`: where the organizer goes to give Stripe what
/// it needs. Stripe sends them to `refresh_url` when the link has expired or was used.
pub async fn create_onboarding_link(
    platform: &AccountClient<'_>,
    account: &str,
    refresh_url: &HttpUrl,
    return_url: &HttpUrl,
    key: IdempotencyKey,
) -> Result<RemoteLink, StripeError> {
    let request = CreateAccountLink::new(account, CreateAccountLinkType::AccountOnboarding)
        .refresh_url(refresh_url.as_str())
        .return_url(return_url.as_str());
    platform.write_json(&request, key).await
}

/// A login link into the Express dashboard of `account`.
pub async fn create_login_link(
    platform: &AccountClient<'_>,
    account: &str,
    key: IdempotencyKey,
) -> Result<RemoteLink, StripeError> {
    let request = CreateAccountLoginLink::new(account);
    platform.write_json(&request, key).await
}
