//! Builds the running gateway from [`Settings`]: database pool and migrations, Stripe client,
//! token verifier, and the HTTP server bound to its listener (port 0 in tests).

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use utoipa_actix_web::AppExt;

use crate::auth::JwtVerifier;
use crate::configuration::{DatabaseSettings, ServerSettings, Settings, WorkerProcessSettings};
use crate::db::{run_pending_migrations, Db};
use crate::domain::SubjectHasher;
use crate::idempotency::{self, Idempotency};
use crate::routes::{self, OpenApiDocument, WebhookBodyLimit};
use crate::services::customers::GroupedReads;
use crate::services::webhooks::{worker, Ingest};
use crate::services::{shares, sync, AppState};
use crate::stripe::Stripe;
use crate::{extract, openapi, telemetry};

pub struct Application {
    port: u16,
    server: Server,
    /// `GET /metrics` on its own listener (`METRICS_BIND_ADDRESS`), and its port.
    metrics: Option<(Server, u16)>,
    state: AppState,
    workers: Vec<JoinHandle<()>>,
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
        let reads = GroupedReads::start(db.clone(), settings.database.database_read_runners)
            .context("cannot start the read runners")?;
        let state = AppState {
            db,
            stripe,
            subject_hasher: SubjectHasher::new(settings.audit_hash_key.clone()),
            create_wait: settings.server.create_wait(),
            backfill_on_register: settings.sync.backfill_on_register,
            reconcile_every: settings.sync.interval(),
            reads,
        };
        let stored = Arc::new(Notify::new());
        let ingest = Ingest::new(
            &settings.webhooks,
            settings.stripe.livemode(),
            settings.stripe.platform_account_id.clone(),
            &state.db,
            stored.clone(),
        )
        .context("cannot start the inbox's committers")?;
        let mut workers = if settings.worker.run_workers {
            worker::spawn(state.background(), settings.worker.clone(), stored)
        } else {
            Vec::new()
        };
        workers.push(tokio::spawn(shares::keep_share(
            state.db.clone(),
            state.stripe.limiter().clone(),
        )));
        workers.push(tokio::spawn(telemetry::metrics::upkeep_forever()));
        workers.push(tokio::spawn(idempotency::purge_forever(
            state.db.clone(),
            settings.server.idempotency_purge_every(),
        )));
        if let (true, Some(every)) = (settings.worker.run_workers, settings.sync.interval()) {
            workers.push(tokio::spawn(sync::schedule::sweep_forever(
                state.clone(),
                every,
                settings.sync.reconcile_on_start,
                settings.sync.sync_concurrency,
            )));
        }
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
            workers,
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

    /// Serves until stopped; the webhook workers stop with the server.
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
        for worker in self.workers {
            worker.abort();
        }
        result
    }
}

/// The `worker` subcommand: webhook workers only, until Ctrl-C or SIGTERM. The database must
/// be migrated already (by `serve` or `migrate`).
pub async fn run_workers(settings: WorkerProcessSettings) -> anyhow::Result<()> {
    let db = open_database(&settings.database)?;
    let reads = GroupedReads::start(db.clone(), settings.database.database_read_runners)
        .context("cannot start the read runners")?;
    let state = AppState {
        db,
        stripe: Stripe::new(&settings.stripe)?,
        subject_hasher: SubjectHasher::new(settings.audit_hash_key.clone()),
        create_wait: std::time::Duration::ZERO,
        backfill_on_register: false,
        reconcile_every: settings.sync.interval(),
        reads,
    };
    let concurrency = settings.worker.worker_concurrency;
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
    let mut workers = worker::spawn(state.background(), settings.worker, Arc::new(Notify::new()));
    if metrics.is_some() {
        workers.push(tokio::spawn(telemetry::metrics::upkeep_forever()));
    }
    workers.push(tokio::spawn(shares::keep_share(
        state.db.clone(),
        state.stripe.limiter().clone(),
    )));
    if let Some(every) = settings.sync.interval() {
        workers.push(tokio::spawn(sync::schedule::sweep_forever(
            state,
            every,
            settings.sync.reconcile_on_start,
            settings.sync.sync_concurrency,
        )));
    }
    tracing::info!(concurrency, "webhook workers running");
    tokio::signal::ctrl_c().await?;
    for worker in workers {
        worker.abort();
    }
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
            .configure(telemetry::metrics::configure)
    })
    .workers(1)
    .listen(listener)?
    .run();
    tracing::info!(address = %listener_address_of(address, port), "metrics listening");
    Ok((server, port))
}

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
    let document = web::Data::new(OpenApiDocument(
        openapi::document_yaml_with_fee_cap(state.stripe.max_fee_bps()).into(),
    ));
    let max_body_bytes = settings.max_body_bytes;
    let keys = Idempotency(settings.idempotency_times());
    let metrics_here = settings.metrics_bind_address.is_none();
    let mut server = HttpServer::new(move || {
        let (payload_config, body_limit) = extract::body_limit(max_body_bytes);
        App::new()
            // The last wrapped runs first: request context, then idempotency, then the route.
            .wrap(from_fn(idempotency::middleware))
            .wrap(from_fn(telemetry::request_context))
            .app_data(keys)
            .app_data(state.clone())
            .app_data(verifier.clone())
            .app_data(document.clone())
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
                    telemetry::metrics::configure(cfg);
                }
            })
    })
    .listen(listener)?;
    if let Some(workers) = settings.workers {
        server = server.workers(workers.max(1));
    }
    Ok(server.run())
}

/// The `sync` and `reconcile` subcommands: runs now, in this process, one per organizer (`org`,
/// or every active, connected one), each under its account's lease like any run. Returns the
/// finished runs. While a run goes, its progress is shown on stderr when that is a terminal.
pub async fn reconcile_now(
    args: crate::configuration::SyncArgs,
    only: Option<crate::domain::OrganizerId>,
) -> anyhow::Result<Vec<crate::db::models::sync::SyncRun>> {
    use crate::db::models::sync::RunTrigger;
    use crate::db::models::Organizer;
    use crate::db::DbError;

    let db = open_database(&args.database)?;
    let reads = GroupedReads::start(db.clone(), args.database.database_read_runners)
        .context("cannot start the read runners")?;
    let state = AppState {
        db,
        stripe: Stripe::new(&crate::configuration::StripeSettings::from_args(
            args.stripe,
        )?)?,
        subject_hasher: SubjectHasher::new(crate::configuration::audit_hash_key(args.audit)?),
        create_wait: std::time::Duration::ZERO,
        backfill_on_register: false,
        reconcile_every: None,
        reads,
    };
    let organizers = match only {
        Some(id) => {
            let key = id.to_string();
            let organizer = state
                .db
                .run(move |conn| Ok::<_, DbError>(Organizer::find_by_id(conn, &key)?))
                .await?
                .ok_or_else(|| anyhow::anyhow!("no organizer {id}"))?;
            vec![organizer]
        }
        None => {
            state
                .db
                .run(|conn| Ok::<_, DbError>(crate::db::models::Organizer::list_connected(conn)?))
                .await?
        }
    };
    // This process calls Stripe too: it takes its share of the budget like any instance.
    let share = tokio::spawn(shares::keep_share(
        state.db.clone(),
        state.stripe.limiter().clone(),
    ));
    let progress = match &organizers[..] {
        [only] => Some(tokio::spawn(sync::show_progress(
            state.clone(),
            only.stripe_account_id.clone(),
        ))),
        _ => None,
    };
    let finished = sync::schedule::run_all(
        &state,
        organizers,
        RunTrigger::Cli,
        args.dry_run,
        args.concurrency,
    )
    .await;
    if let Some(progress) = progress {
        progress.abort();
    }
    share.abort();
    let finished = finished?;
    Ok(finished)
}
