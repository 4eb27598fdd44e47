//! Builds the running gateway from [`Settings`]: database pool and migrations, Stripe client,
//! token verifier, the background duties ([`background`]), and the HTTP server bound to its
//! listener (port 0 in tests).

mod background;
mod cli;

pub use cli::reconcile_now;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use secrecy::SecretString;
use tokio::sync::Notify;
use utoipa_actix_web::AppExt;

use background::{Background, Purges};

use crate::auth::JwtVerifier;
use crate::configuration::{DatabaseSettings, ServerSettings, Settings, WorkerProcessSettings};
use crate::db::{run_pending_migrations, Db};
use crate::domain::SubjectHasher;
use crate::idempotency::{self, Idempotency};
use crate::jobs::{Jobs, Runner};
use crate::notify::target::Targets;
use crate::routes::{self, OpenApiDocument, ServedMethods, WebhookBodyLimit};
use crate::services::customers::GroupedReads;
use crate::services::webhooks::Ingest;
use crate::services::AppState;
use crate::stripe::Stripe;
use crate::{extract, openapi, telemetry};

pub struct Application {
    port: u16,
    server: Server,
    /// `GET /metrics` on its own listener (`METRICS_BIND_ADDRESS`), and its port.
    metrics: Option<(Server, u16)>,
    state: AppState,
    jobs: Jobs,
}

/// How long background work may take to stop after the server has: a unit in progress ends
/// (an event's fetch, a page of a run); what outlasts it is stopped, its claims expire.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// What the state needs besides the database, Stripe and the audit key.
struct StateOptions {
    read_runners: usize,
    create_wait: std::time::Duration,
    backfill_on_register: bool,
    reconcile_every: Option<std::time::Duration>,
    targets: Targets,
}

/// The state every use case and duty shares: built here, once per process.
fn app_state(
    db: Db,
    stripe: Stripe,
    audit_hash_key: SecretString,
    jobs: Jobs,
    options: StateOptions,
) -> anyhow::Result<AppState> {
    let platform = stripe.platform_account().cloned();
    let reads = GroupedReads::start(&db, options.read_runners, platform)
        .context("cannot start the read runners")?;
    Ok(AppState {
        db,
        stripe,
        subject_hasher: SubjectHasher::new(audit_hash_key),
        create_wait: options.create_wait,
        backfill_on_register: options.backfill_on_register,
        reconcile_every: options.reconcile_every,
        reads,
        jobs,
        targets: options.targets,
    })
}

/// What the webhook route needs.
struct Webhooks {
    ingest: Ingest,
    body_limit: WebhookBodyLimit,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // Configuration that can be wrong is checked before anything is created on disk.
        let verifier = JwtVerifier::from_settings(&settings.auth)?;
        telemetry::metrics::recorder();
        let stripe = Stripe::new(&settings.stripe)?;
        if let Some(platform) = &settings.stripe.platform_account_id {
            crate::services::organizers::check_platform_account(&stripe, platform).await?;
        }
        let db = open_database(&settings.database)?;
        if settings.database.auto_migrate {
            let applied = migrate(&db).await?;
            if !applied.is_empty() {
                tracing::info!(?applied, "applied database migrations");
            }
        }
        let mut runner = Runner::new();
        let state = app_state(
            db,
            stripe,
            settings.audit_hash_key.clone(),
            runner.jobs(),
            StateOptions {
                read_runners: settings.database.database_read_runners,
                create_wait: settings.server.create_wait(),
                backfill_on_register: settings.sync.backfill_on_register,
                reconcile_every: settings.sync.interval(),
                targets: Targets::allowing(settings.outbound.allowed_hosts.clone()),
            },
        )?;
        let stored = Arc::new(Notify::new());
        let ingest = Ingest::new(
            &settings.webhooks,
            settings.stripe.livemode(),
            settings.stripe.platform_account_id.clone(),
            &state.db,
            stored.clone(),
        )
        .context("cannot start the inbox's committers")?;
        let run_workers = settings.worker.run_workers;
        background::register(
            &mut runner,
            &state,
            Background {
                inbox: run_workers.then_some((&settings.worker, stored)),
                sweep: run_workers.then_some(&settings.sync),
                purges: Some(Purges {
                    every: settings.server.idempotency_purge_every(),
                    events_retention: settings.server.events_retention(),
                    inbox_retention: settings.webhooks.events_retention(),
                }),
                deliveries: run_workers.then_some(&settings.outbound),
                metrics: true,
            },
        );
        let jobs = runner.start();
        let listener = TcpListener::bind(settings.server.bind_address)
            .with_context(|| format!("cannot listen on {}", settings.server.bind_address))?;
        let port = listener.local_addr()?.port();
        let webhooks = Webhooks {
            ingest,
            body_limit: WebhookBodyLimit(settings.webhooks.webhook_max_body_bytes),
        };
        let server = run(
            listener,
            state.clone(),
            verifier,
            webhooks,
            &settings.server,
        )?;
        tracing::info!(
            address = %listener_address(&settings.server, port),
            database = state.db.backend().as_str(),
            "gateway listening"
        );
        let metrics = match settings.server.metrics_bind_address {
            Some(address) => Some(serve_metrics(address, state.clone())?),
            None => None,
        };
        Ok(Self {
            port,
            server,
            metrics,
            state,
            jobs,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the metrics listener, when `METRICS_BIND_ADDRESS` gave it one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(_, port)| *port)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// The background duties: tests drain them rather than waiting on time.
    pub fn jobs(&self) -> Jobs {
        self.jobs.clone()
    }

    /// Serves until stopped; the background duties stop with the server.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let metrics = self.metrics.map(|(server, _)| {
            let handle = server.handle();
            tokio::spawn(server);
            handle
        });
        let result = self.server.await;
        if let Some(metrics) = metrics {
            metrics.stop(true).await;
        }
        self.jobs.shutdown(SHUTDOWN_GRACE).await;
        result
    }
}

/// The `worker` subcommand: webhook workers only, until Ctrl-C or SIGTERM. The database must
/// be migrated already (by `serve` or `migrate`).
pub async fn run_workers(settings: WorkerProcessSettings) -> anyhow::Result<()> {
    let db = open_database(&settings.database)?;
    let mut runner = Runner::new();
    let state = app_state(
        db,
        Stripe::new(&settings.stripe)?,
        settings.audit_hash_key.clone(),
        runner.jobs(),
        StateOptions {
            read_runners: settings.database.database_read_runners,
            create_wait: std::time::Duration::ZERO,
            backfill_on_register: false,
            reconcile_every: settings.sync.interval(),
            targets: Targets::allowing(settings.outbound.allowed_hosts.clone()),
        },
    )?;
    let metrics = match settings.metrics_bind_address {
        Some(address) => {
            telemetry::metrics::recorder();
            let (server, _) = serve_metrics(address, state.clone())?;
            let handle = server.handle();
            tokio::spawn(server);
            Some(handle)
        }
        None => None,
    };
    // Events stored by `serve` processes are found by polling.
    background::register(
        &mut runner,
        &state,
        Background {
            inbox: Some((&settings.worker, Arc::new(Notify::new()))),
            sweep: Some(&settings.sync),
            purges: None,
            deliveries: Some(&settings.outbound),
            metrics: metrics.is_some(),
        },
    );
    let jobs = runner.start();
    tracing::info!(
        concurrency = settings.worker.worker_concurrency,
        "webhook workers running"
    );
    tokio::signal::ctrl_c().await?;
    jobs.shutdown(SHUTDOWN_GRACE).await;
    if let Some(metrics) = metrics {
        metrics.stop(true).await;
    }
    Ok(())
}

/// The pool for `settings`, with one connection opened so a wrong URL fails now.
fn open_database(settings: &DatabaseSettings) -> anyhow::Result<Db> {
    Db::connect(
        &settings.database_url,
        settings.database_pool_size,
        settings.connect_timeout(),
    )
    .with_context(|| format!("cannot open the database at {}", settings.database_url))
}

fn listener_address(server: &ServerSettings, port: u16) -> String {
    listener_address_of(server.bind_address, port)
}

/// The address a listener bound to `address` took (its port, when `address` asked for any).
fn listener_address_of(address: std::net::SocketAddr, port: u16) -> String {
    format!("{}:{port}", address.ip())
}

/// Applies pending migrations off the async threads; returns the versions applied.
pub async fn migrate(db: &Db) -> anyhow::Result<Vec<String>> {
    let db = db.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = db.get()?;
        run_pending_migrations(&mut conn).map_err(|e| anyhow::anyhow!("migrations failed: {e}"))
    })
    .await?
}

/// `GET /metrics` alone on `address`, one worker: Prometheus scrapes it every few seconds.
fn serve_metrics(address: std::net::SocketAddr, state: AppState) -> anyhow::Result<(Server, u16)> {
    let listener = TcpListener::bind(address)
        .with_context(|| format!("cannot listen on {address} (METRICS_BIND_ADDRESS)"))?;
    let port = listener.local_addr()?.port();
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .configure(routes::metrics::configure)
    })
    .workers(1)
    .listen(listener)?
    .run();
    tracing::info!(address = %listener_address_of(address, port), "metrics listening");
    Ok((server, port))
}

/// Connections of the durable kept answers (on PostgreSQL, beside the pool's): one per
/// runner.
const CLAIM_CONNECTIONS: u32 = 2;

fn run(
    listener: TcpListener,
    state: AppState,
    verifier: JwtVerifier,
    webhooks: Webhooks,
    settings: &ServerSettings,
) -> anyhow::Result<Server> {
    let state = web::Data::new(state);
    let ingest = web::Data::new(webhooks.ingest);
    let webhook_limit = web::Data::new(webhooks.body_limit);
    let verifier = web::Data::new(verifier);
    // Built once: served as YAML, and read for the fallback's `Allow`.
    let spec = openapi::document_with_fee_cap(state.stripe.max_fee_bps());
    let served = web::Data::new(ServedMethods::of(&spec));
    let document = web::Data::new(OpenApiDocument(
        spec.to_yaml()
            .expect("the OpenAPI document serializes to YAML")
            .into(),
    ));
    let max_body_bytes = settings.max_body_bytes;
    let keys = Idempotency {
        times: settings.idempotency_times(),
        answers: idempotency::Answers::start(
            state
                .db
                .dedicated(CLAIM_CONNECTIONS, idempotency::ANSWERS_SESSION, "answers"),
            state.db.dedicated(
                idempotency::UNCLAIMED_RUNNERS as u32,
                idempotency::UNCLAIMED_ANSWERS_SESSION,
                "unclaimed_answers",
            ),
            settings.idempotency_times(),
        )?,
        // The customers' upsert looks at its key with its first read and passes its gate
        // before each effect; an upsert that changes nothing (most of them) then never claims
        // its key, and waits for no flush.
        deferred: &["/v1/organizers/{org_id}/customers"],
    };
    let metrics_here = settings.metrics_bind_address.is_none();
    let mut server = HttpServer::new(move || {
        let (payload_config, body_limit) = extract::body_limit(max_body_bytes);
        App::new()
            // The last wrapped runs first: request context, then idempotency, then the route.
            .wrap(from_fn(idempotency::middleware))
            .wrap(from_fn(telemetry::request_context))
            .app_data(keys.clone())
            .app_data(state.clone())
            .app_data(verifier.clone())
            .app_data(document.clone())
            .app_data(served.clone())
            .app_data(ingest.clone())
            .app_data(webhook_limit.clone())
            .app_data(payload_config)
            .app_data(body_limit)
            .app_data(extract::query_config())
            .app_data(extract::path_config())
            .into_utoipa_app()
            .configure(routes::configure)
            .default_service(web::to(routes::fallback))
            .into_app()
            .configure(routes::console::configure)
            .configure(|cfg| {
                if metrics_here {
                    routes::metrics::configure(cfg);
                }
            })
    })
    .listen(listener)?;
    if let Some(workers) = settings.workers {
        server = server.workers(workers.max(1));
    }
    Ok(server.run())
}
