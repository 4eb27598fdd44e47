//! Stripe access. The SDK (async-stripe's split crates) supplies the request and response
//! types; [`StripeTransport`] sends them with pooled connections, per-attempt timeouts and
//! retries. [`Stripe::for_account`] is the one place a request is tied to an organizer's account.

pub mod accounts;
pub mod customers;
mod error;
mod get;
mod idempotency;
pub mod limiter;
mod metrics;
pub mod payments;
mod signature;
pub mod subscriptions;
mod transport;
mod turns;

use stripe_client_core::{AccountId, RequestStrategy, StripeMethod, StripeRequest};

pub use error::{StripeError, StripeFailure};
pub use get::{Get, PAGE_SIZE};
pub use idempotency::idempotency_key;
pub use signature::{sign, SignatureError, SignatureVerifier};
pub use stripe_client_core::IdempotencyKey;
pub use transport::{RetryPolicy, StripeTransport};

use crate::configuration::StripeSettings;
use crate::domain::StripeAccountId;

/// The gateway's Stripe client: one pooled transport, shared by all organizers.
#[derive(Clone)]
pub struct Stripe {
    transport: StripeTransport,
    platform_account: Option<StripeAccountId>,
    publishable_key: Option<String>,
    max_fee_bps: u16,
    connect_account_type: crate::domain::ConnectAccountType,
}

impl Stripe {
    pub fn new(settings: &StripeSettings) -> Result<Self, StripeError> {
        Ok(Self {
            transport: StripeTransport::new(settings)?,
            platform_account: settings.platform_account_id.clone(),
            publishable_key: settings.publishable_key.clone(),
            max_fee_bps: settings.max_application_fee_bps,
            connect_account_type: settings.connect_account_type,
        })
    }

    /// The largest platform fee an organizer may have (`MAX_APPLICATION_FEE_BPS`).
    pub fn max_fee_bps(&self) -> u16 {
        self.max_fee_bps
    }

    /// The kind of connected account the gateway creates (`STRIPE_CONNECT_ACCOUNT_TYPE`).
    pub fn connect_account_type(&self) -> crate::domain::ConnectAccountType {
        self.connect_account_type
    }

    /// The platform's publishable key, for frontends that start Stripe.js; `None` when unset.
    pub fn publishable_key(&self) -> Option<&str> {
        self.publishable_key.as_deref()
    }

    /// The platform's own account (`STRIPE_PLATFORM_ACCOUNT_ID`), when configured.
    pub fn platform_account(&self) -> Option<&StripeAccountId> {
        self.platform_account.as_ref()
    }

    /// True when `account` is the platform's own account (requests carry no `Stripe-Account`).
    pub fn is_platform_account(&self, account: &str) -> bool {
        self.platform_account
            .as_ref()
            .is_some_and(|platform| platform.as_str() == account)
    }

    /// Requests made on behalf of an organizer's account: a connected account gets the
    /// `Stripe-Account` header, the platform's own account goes without.
    pub fn for_account(&self, account: &StripeAccountId) -> AccountClient<'_> {
        let header = (!self.is_platform_account(account.as_str()))
            .then(|| AccountId::from(account.as_str()));
        AccountClient {
            transport: &self.transport,
            account_header: header,
        }
    }

    /// The same client for background work (webhook workers, reconciliation): its calls use
    /// only the background share of the rate budget.
    pub fn background(&self) -> Stripe {
        Stripe {
            transport: self.transport.with_priority(limiter::Priority::Background),
            ..self.clone()
        }
    }

    /// The rate budget all of this process's clients share.
    pub fn limiter(&self) -> &std::sync::Arc<limiter::Limiter> {
        self.transport.limiter()
    }

    /// See [`StripeTransport::worst_case_call`].
    pub fn worst_case_call(&self) -> std::time::Duration {
        self.transport.worst_case_call()
    }

    /// Requests about the platform itself (e.g. retrieving a connected account's record).
    pub fn platform(&self) -> AccountClient<'_> {
        AccountClient {
            transport: &self.transport,
            account_header: None,
        }
    }
}

/// Sends SDK requests for one account. Reads (GET) go as they are; writes must carry an
/// idempotency key, so a retry (ours, the caller's, or a racing request's) can never create a
/// second object.
pub struct AccountClient<'a> {
    transport: &'a StripeTransport,
    account_header: Option<AccountId>,
}

impl AccountClient<'_> {
    /// Sends a GET. Anything else is refused: it would go without an idempotency key.
    pub async fn read<R>(&self, request: &R) -> Result<R::Output, StripeError>
    where
        R: StripeRequest,
        R::Output: miniserde::Deserialize,
    {
        if !matches!(request.build().method, StripeMethod::Get) {
            return Err(StripeError::Config(
                "a Stripe write was sent as a read; use `write` with an idempotency key".into(),
            ));
        }
        self.send(request, None).await
    }

    /// Sends a GET and reads the answer with serde into `T`, which names only the fields the
    /// gateway mirrors: the SDK builds the request, and an answer in another API version's
    /// shape still reads as long as those fields are there.
    pub async fn read_json<R, T>(&self, request: &R) -> Result<T, StripeError>
    where
        R: StripeRequest,
        T: serde::de::DeserializeOwned,
    {
        if !matches!(request.build().method, StripeMethod::Get) {
            return Err(StripeError::Config(
                "a Stripe write was sent as a read; use `write` with an idempotency key".into(),
            ));
        }
        self.send_json(request, None).await
    }

    /// [`AccountClient::write`], reading the answer with serde into `T` (see `read_json`).
    pub async fn write_json<R, T>(&self, request: &R, key: IdempotencyKey) -> Result<T, StripeError>
    where
        R: StripeRequest,
        T: serde::de::DeserializeOwned,
    {
        self.send_json(request, Some(key)).await
    }

    async fn send_json<R, T>(
        &self,
        request: &R,
        key: Option<IdempotencyKey>,
    ) -> Result<T, StripeError>
    where
        R: StripeRequest,
        T: serde::de::DeserializeOwned,
    {
        let mut customized = request.build().customize::<miniserde::json::Value>();
        if let Some(account) = &self.account_header {
            customized = customized.account_id(account.clone());
        }
        if let Some(key) = key {
            customized = customized.request_strategy(RequestStrategy::Idempotent(key));
        }
        let value = customized.send(self.transport).await?;
        serde_json::from_str(&miniserde::json::to_string(&value))
            .map_err(|e| StripeError::Decode(e.to_string()))
    }

    /// Sends a DELETE. Deleting is idempotent by nature (a second one gets 404), and Stripe
    /// ignores idempotency keys on it, so none is sent.
    pub async fn delete<R>(&self, request: &R) -> Result<R::Output, StripeError>
    where
        R: StripeRequest,
        R::Output: miniserde::Deserialize,
    {
        if !matches!(request.build().method, StripeMethod::Delete) {
            return Err(StripeError::Config(
                "only a DELETE may be sent as a delete".into(),
            ));
        }
        self.send(request, None).await
    }

    /// [`AccountClient::delete`], reading the answer with serde into `T` (see `read_json`).
    pub async fn delete_json<R, T>(&self, request: &R) -> Result<T, StripeError>
    where
        R: StripeRequest,
        T: serde::de::DeserializeOwned,
    {
        if !matches!(request.build().method, StripeMethod::Delete) {
            return Err(StripeError::Config(
                "only a DELETE may be sent as a delete".into(),
            ));
        }
        self.send_json(request, None).await
    }

    pub async fn write<R>(&self, request: &R, key: IdempotencyKey) -> Result<R::Output, StripeError>
    where
        R: StripeRequest,
        R::Output: miniserde::Deserialize,
    {
        self.send(request, Some(key)).await
    }

    async fn send<R>(
        &self,
        request: &R,
        key: Option<IdempotencyKey>,
    ) -> Result<R::Output, StripeError>
    where
        R: StripeRequest,
        R::Output: miniserde::Deserialize,
    {
        let mut customized = request.customize();
        if let Some(account) = &self.account_header {
            customized = customized.account_id(account.clone());
        }
        if let Some(key) = key {
            customized = customized.request_strategy(RequestStrategy::Idempotent(key));
        }
        customized.send(self.transport).await
    }
}
