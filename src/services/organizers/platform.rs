//! The platform's own account: `STRIPE_PLATFORM_ACCOUNT_ID` must be the account of
//! `STRIPE_SECRET_KEY`, checked at start-up and again when the platform's organizer is
//! registered.

use stripe_connect::account::RetrieveForMyAccountAccount;

use crate::domain::StripeAccountId;
use crate::stripe::{Stripe, StripeError};

/// The account `stripe`'s key belongs to, when `configured` (`STRIPE_PLATFORM_ACCOUNT_ID`) is
/// another: `Ok(None)` when they agree.
pub async fn platform_mismatch(
    stripe: &Stripe,
    configured: &StripeAccountId,
) -> Result<Option<String>, StripeError> {
    let own = stripe
        .platform()
        .read(&RetrieveForMyAccountAccount::new())
        .await?;
    Ok(Some(own.id.as_str().to_string()).filter(|own| own != configured.as_str()))
}

/// How long start-up waits for Stripe to say which account the key is of.
const PLATFORM_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// `STRIPE_PLATFORM_ACCOUNT_ID` must be the key's own account: a mismatch stops start-up naming
/// both; a Stripe that cannot be asked now leaves a warning (registering the platform's
/// organizer checks again).
pub async fn check_platform_account(
    stripe: &Stripe,
    configured: &StripeAccountId,
) -> anyhow::Result<()> {
    let asked = tokio::time::timeout(
        PLATFORM_CHECK_TIMEOUT,
        platform_mismatch(stripe, configured),
    )
    .await;
    match asked {
        Ok(Ok(None)) => Ok(()),
        Ok(Ok(Some(actual))) => anyhow::bail!(
            "STRIPE_PLATFORM_ACCOUNT_ID is {configured}, but STRIPE_SECRET_KEY is the key of {actual}: set STRIPE_PLATFORM_ACCOUNT_ID={actual}, or unset it"
        ),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "could not check STRIPE_PLATFORM_ACCOUNT_ID against the key's account; registering the platform's organizer checks again");
            Ok(())
        }
        Err(_) => {
            tracing::warn!(timeout = ?PLATFORM_CHECK_TIMEOUT, "Stripe did not say in time which account STRIPE_SECRET_KEY is of; registering the platform's organizer checks again");
            Ok(())
        }
    }
}
