//! `spawn_app()`: the gateway on port 0 with its own fresh database (a SQLite file, or a new
//! PostgreSQL database when `TEST_DATABASE_URL` is set) and its own fake Stripe.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use gateway::auth::{mint_hs256, unix_now, Claims, Role};
use gateway::configuration::{
    AuthArgs, DatabaseSettings, OutboundSettings, ServerSettings, Settings, StripeSettings,
    SyncSettings, WebhookSettings, WorkerSettings,
};
use gateway::db::DatabaseUrl;
use gateway::domain::StripeAccountId;
use gateway::startup::Application;
use reqwest::{Method, Response};
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::support::fake_stripe::{FakeStripe, Gate, PLATFORM_ACCOUNT};

mod database;
mod process;
pub mod receiver;
pub mod webhooks;

pub use database::{create_database, TestDatabase};

/// The key test gateways hash emails with in the audit log.
pub const AUDIT_HASH_KEY: &str = "test-audit-key";

/// The body size limit the test apps run with.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The webhook signing secret of test gateways (the fake Stripe signs with it).
pub const WEBHOOK_SECRET: &str = "whsec_test_gateway";

/// The publishable key test gateways hand to frontends.
pub const PUBLISHABLE_KEY: &str = "pk_test_gateway";

/// The webhook body limit of test gateways.
pub const WEBHOOK_MAX_BODY_BYTES: usize = 64 * 1024;

/// Workers that retry quickly, so that tests about failures finish quickly.
pub fn test_worker_settings() -> WorkerSettings {
    WorkerSettings {
        run_workers: true,
        worker_concurrency: 2,
        webhook_max_attempts: 4,
        webhook_retry_base_ms: 50,
        webhook_retry_cap_ms: 400,
        worker_lease_secs: 30,
        worker_poll_ms: 100,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each listed test once per backend: `<name>::sqlite` always, `<name>::postgres` when
/// `TEST_DATABASE_URL` is set (`.ci/run` always sets it). Each name is a plain function in the
/// same module: `async fn name(app: TestApp)` gets a fresh [`TestApp`]; `async fn name(backend:
/// Backend)` gets only the backend and starts what it needs itself.
///
/// ```ignore
/// backend_tests!(creates_a_thing, lists_things);
///
/// async fn creates_a_thing(app: TestApp) { ... }
/// ```
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::helpers::run_test(super::$name, $crate::helpers::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if !$crate::helpers::postgres_configured() {
                    eprintln!("skipped: set TEST_DATABASE_URL to run against PostgreSQL");
                    return;
                }
                $crate::helpers::run_test(super::$name, $crate::helpers::Backend::Postgres).await;
            }
        }
    )+};
}
pub(crate) use backend_tests;

/// A test function [`backend_tests!`] runs: one that takes a [`TestApp`], or a [`Backend`].
pub trait BackendTest<Input> {
    fn run(self, backend: Backend) -> impl Future<Output = ()>;
}

impl<F, Fut> BackendTest<TestApp> for F
where
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    async fn run(self, backend: Backend) {
        self(spawn_app(backend).await).await
    }
}

impl<F, Fut> BackendTest<Backend> for F
where
    F: FnOnce(Backend) -> Fut,
    Fut: Future<Output = ()>,
{
    async fn run(self, backend: Backend) {
        self(backend).await
    }
}

pub async fn run_test<Input>(test: impl BackendTest<Input>, backend: Backend) {
    test.run(backend).await
}

pub fn postgres_configured() -> bool {
    std::env::var("TEST_DATABASE_URL").is_ok_and(|url| !url.is_empty())
}

pub struct TestApp {
    pub address: String,
    /// The metrics listener's, when the settings gave it one of its own.
    pub metrics_address: Option<String>,
    pub backend: Backend,
    pub stripe: FakeStripe,
    pub client: reqwest::Client,
    database_url: String,
    jwt_secret: SecretString,
    /// What [`TestApp::spawn_process`] passes on, so both gateways call Stripe alike.
    stripe_settings: StripeSettings,
    handle: ServerHandle,
    /// The instance's Stripe rate budget, for tests about sharing it.
    pub limiter: Arc<gateway::stripe::limiter::Limiter>,
    /// The instance's background duties, which tests drain instead of waiting on time.
    pub jobs: gateway::jobs::Jobs,
    /// Shared by instances started on one database; it is removed after the last one stops.
    _database: Arc<TestDatabase>,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Like [`spawn_app`], with a chance to change the settings first.
pub async fn spawn_app_with(backend: Backend, customize: impl FnOnce(&mut Settings)) -> TestApp {
    try_spawn_app(backend, |_| {}, customize)
        .await
        .expect("the gateway starts")
}

/// A gateway, or why it would not start: `prepare` readies its fake Stripe (a fault for
/// start-up to meet) and `customize` its settings first.
pub async fn try_spawn_app(
    backend: Backend,
    prepare: impl FnOnce(&FakeStripe),
    customize: impl FnOnce(&mut Settings),
) -> anyhow::Result<TestApp> {
    let (database, database_url) = create_database(backend).await;
    let jwt_secret = SecretString::from(format!("test-secret-{}", uuid::Uuid::new_v4()));
    let stripe = FakeStripe::start().await;
    prepare(&stripe);
    start_instance(
        backend,
        database,
        database_url,
        jwt_secret,
        stripe,
        customize,
    )
    .await
}

/// Two gateway instances started at the same moment on one fresh database, as a deployment
/// with several replicas does; they share the token secret, each has its own fake Stripe.
pub async fn spawn_two_instances(backend: Backend) -> (TestApp, TestApp) {
    let (database, database_url) = create_database(backend).await;
    let jwt_secret = SecretString::from(format!("test-secret-{}", uuid::Uuid::new_v4()));
    let (first, second) = tokio::join!(FakeStripe::start(), FakeStripe::start());
    let (first, second) = tokio::join!(
        start_instance(
            backend,
            database.clone(),
            database_url.clone(),
            jwt_secret.clone(),
            first,
            |_| {}
        ),
        start_instance(backend, database, database_url, jwt_secret, second, |_| {}),
    );
    (
        first.expect("the gateway starts"),
        second.expect("the gateway starts"),
    )
}

async fn start_instance(
    backend: Backend,
    database: Arc<TestDatabase>,
    database_url: String,
    jwt_secret: SecretString,
    stripe: FakeStripe,
    customize: impl FnOnce(&mut Settings),
) -> anyhow::Result<TestApp> {
    let mut settings = Settings {
        server: ServerSettings {
            bind_address: "127.0.0.1:0".parse().unwrap(),
            workers: Some(1),
            max_body_bytes: MAX_BODY_BYTES,
            create_wait_ms: 10_000,
            idempotency_keep_secs: 86_400,
            idempotency_lease_secs: 30,
            idempotency_purge_secs: 600,
            events_retention_days: 30,
            metrics_bind_address: None,
        },
        database: DatabaseSettings {
            database_url: DatabaseUrl::parse(&database_url).unwrap(),
            database_pool_size: 4,
            database_connect_timeout_secs: 5,
            database_read_runners: 1,
            auto_migrate: true,
        },
        stripe: test_stripe_settings(&stripe.base_url),
        auth: AuthArgs {
            jwt_secret: Some(jwt_secret.clone()),
            jwt_public_key_file: None,
            jwt_issuer: None,
            jwt_audience: None,
        },
        audit_hash_key: SecretString::from(AUDIT_HASH_KEY),
        webhooks: WebhookSettings {
            secrets: vec![SecretString::from(WEBHOOK_SECRET)],
            webhook_tolerance_secs: 300,
            webhook_max_body_bytes: WEBHOOK_MAX_BODY_BYTES,
            webhook_batch_max: 256,
            webhook_committers: 2,
            webhook_events_retention_days: 30,
        },
        worker: test_worker_settings(),
        // Reconciliation runs only when a test asks for it.
        sync: SyncSettings {
            reconcile_interval_secs: 0,
            reconcile_on_start: false,
            backfill_on_register: false,
            sync_concurrency: 2,
            sync_cooldown_secs: 0,
        },
        // Receivers run on 127.0.0.1 in tests; a retry waits until a test makes it due.
        outbound: OutboundSettings {
            allowed_hosts: vec!["127.0.0.1".to_string()],
            outbound_webhook_workers: 4,
            outbound_webhook_timeout_secs: 1,
            outbound_webhook_retry_base_ms: 600_000,
            outbound_webhook_disable_after_hours: 120,
        },
    };
    customize(&mut settings);
    let stripe_settings = settings.stripe.clone();
    let application = Application::build(settings).await?;
    // What start-up asked of Stripe (which account the key is of) is not the test's.
    stripe.forget_requests();
    let address = format!("http://127.0.0.1:{}", application.port());
    let metrics_address = application
        .metrics_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    let handle = application.handle();
    let limiter = application.state().stripe.limiter().clone();
    let jobs = application.jobs();
    tokio::spawn(application.run_until_stopped());
    Ok(TestApp {
        address,
        metrics_address,
        backend,
        stripe,
        client: reqwest::Client::new(),
        database_url,
        jwt_secret,
        stripe_settings,
        handle,
        limiter,
        jobs,
        _database: database,
    })
}

/// The Stripe timeout of test gateways: far longer than any answer of the fake Stripe on a
/// loaded machine, and than any gate holds a request, so no attempt times out (and is retried)
/// unless a test is about timeouts and says so with [`short_stripe_timeout`].
pub const STRIPE_TIMEOUT: Duration = Duration::from_secs(30);

/// The Stripe timeout of tests about timing out: the fake stalls its answer for [`STALL`], 60
/// times longer, so the timeout always fires first; and an answer that is not stalled comes
/// back well within it, even on a loaded machine.
pub const SHORT_STRIPE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a `Fault::Stall` or `Fault::StallAfterApply` holds its answer in timeout tests.
pub const STALL: Duration = Duration::from_secs(60);

/// Quick backoff so that fault tests finish quickly; see [`STRIPE_TIMEOUT`].
pub fn test_stripe_settings(base_url: &str) -> StripeSettings {
    StripeSettings {
        secret_key: SecretString::from("sk_test_gateway"),
        publishable_key: Some(PUBLISHABLE_KEY.to_string()),
        // Far above what any test sends, except the tests about the budget.
        budget: gateway::stripe::limiter::RateBudget {
            per_second: 10_000,
            background_share: 0.7,
        },
        api_base: base_url.to_string(),
        platform_account_id: Some(StripeAccountId::parse(PLATFORM_ACCOUNT).unwrap()),
        timeout: STRIPE_TIMEOUT,
        max_retries: 2,
        retry_base: Duration::from_millis(10),
        max_application_fee_bps: 3000,
        connect_account_type: gateway::domain::ConnectAccountType::Express,
    }
}

/// For tests about Stripe calls timing out: see [`SHORT_STRIPE_TIMEOUT`].
pub fn short_stripe_timeout(settings: &mut Settings) {
    settings.stripe.timeout = SHORT_STRIPE_TIMEOUT;
}

impl Drop for TestApp {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

impl TestApp {
    /// The test database's URL, for tests that reach behind the gateway.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// Runs SQL on the gateway's database behind its back (fault injection): `postgres` on
    /// PostgreSQL, `sqlite` on SQLite.
    pub async fn execute_sql(&self, postgres: &str, sqlite: &str) {
        let (url, sql) = match self.backend {
            Backend::Postgres => (self.database_url.clone(), postgres.to_string()),
            Backend::Sqlite => (self.database_url.clone(), sqlite.to_string()),
        };
        let backend = self.backend;
        tokio::task::spawn_blocking(move || match backend {
            Backend::Postgres => PgConnection::establish(&url).unwrap().batch_execute(&sql),
            Backend::Sqlite => {
                let path = url.trim_start_matches("sqlite://");
                let mut conn = diesel::SqliteConnection::establish(path).unwrap();
                conn.batch_execute("PRAGMA busy_timeout = 5000;").unwrap();
                conn.batch_execute(&sql)
            }
        })
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("SQL failed: {e}"));
    }

    pub fn token(&self, role: Role, org: Option<&str>) -> String {
        let claims = Claims {
            sub: "test-user".into(),
            exp: unix_now() + 600,
            iat: Some(unix_now()),
            role,
            org: org.map(str::to_string),
            iss: None,
            aud: None,
        };
        mint_hs256(&self.jwt_secret, &claims).unwrap()
    }

    pub fn admin_token(&self) -> String {
        self.token(Role::Admin, None)
    }

    pub fn organizer_token(&self, org: &str) -> String {
        self.token(Role::Organizer, Some(org))
    }

    /// Signs arbitrary claims with the gateway's HS256 secret.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with(jsonwebtoken::Algorithm::HS256, claims)
    }

    /// Signs claims with the gateway's secret under another HMAC algorithm.
    pub fn sign_with(&self, algorithm: jsonwebtoken::Algorithm, claims: &Value) -> String {
        use secrecy::ExposeSecret;
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(algorithm),
            claims,
            &jsonwebtoken::EncodingKey::from_secret(self.jwt_secret.expose_secret().as_bytes()),
        )
        .unwrap()
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("the gateway answers")
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path, Some(token), None).await
    }

    /// The JSON body of a GET, whatever its status.
    pub async fn get_json(&self, path: &str, token: &str) -> Value {
        self.get(path, token).await.json().await.unwrap()
    }

    /// A GET that must answer 200, as the organizer `org`'s own token.
    pub async fn read_as_organizer(&self, org: &Value, path: &str) -> Value {
        let response = self
            .get(path, &self.organizer_token(org["id"].as_str().unwrap()))
            .await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Response {
        self.request(Method::POST, path, Some(token), Some(body))
            .await
    }

    /// A POST with an `Idempotency-Key`.
    pub async fn post_keyed(&self, path: &str, token: &str, key: &str, body: &Value) -> Response {
        self.client
            .post(format!("{}{path}", self.address))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
            .expect("the gateway answers")
    }

    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> Response {
        self.request(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.request(Method::DELETE, path, Some(token), None).await
    }

    /// Registers an organizer for a connected account that the fake Stripe knows.
    pub async fn create_organizer(&self, name: &str, account: &str) -> Value {
        self.stripe.add_connected_account(account);
        let response = self
            .post(
                "/v1/organizers",
                &self.admin_token(),
                &json!({ "name": name, "stripe_account_id": account }),
            )
            .await;
        assert_eq!(response.status(), 201, "creating organizer {name}");
        response.json().await.unwrap()
    }

    /// Upserts the organizer's customer with `email` (created, or found), with its own token.
    pub async fn create_customer(&self, org: &str, email: &str) -> Value {
        let response = self
            .post(
                &format!("/v1/organizers/{org}/customers"),
                &self.organizer_token(org),
                &json!({ "email": email }),
            )
            .await;
        assert!(response.status().is_success(), "upserting customer {email}");
        response.json().await.unwrap()
    }
}

/// Reads an error response and checks the shape every error shares: a stable code, a message,
/// and the request id that the `x-request-id` header also carries.
pub async fn error_body(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status, "status");
    let header_id = response
        .headers()
        .get("x-request-id")
        .expect("x-request-id header")
        .to_str()
        .unwrap()
        .to_string();
    let content_type = response
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("application/json"),
        "content type {content_type}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(body["error"]["request_id"], header_id.as_str(), "{body}");
    body
}

/// The `id` of each object of a page's `data`, in order.
pub fn ids(page: &Value) -> Vec<&str> {
    page["data"]
        .as_array()
        .expect("a page")
        .iter()
        .map(|object| object["id"].as_str().unwrap())
        .collect()
}

/// The `field` of each entry of a `validation_failed` body's `fields`, in order.
pub fn error_fields(body: &Value) -> Vec<&str> {
    body["error"]["fields"]
        .as_array()
        .expect("an error with fields")
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect()
}

/// Runs `held` until `gate` holds its Stripe request, then `overtaking` to its end, and only
/// then releases the gate to let `held` finish: `overtaking` passes `held` at the gate. The
/// order comes from what is awaited, never from a sleep.
pub async fn overtake<A, B>(
    gate: Gate,
    held: impl Future<Output = A>,
    overtaking: impl Future<Output = B>,
) -> (A, B) {
    let overtaking = async {
        gate.arrived().await;
        let output = overtaking.await;
        gate.release();
        output
    };
    tokio::join!(held, overtaking)
}
