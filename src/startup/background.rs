//! The process's background duties, all registered on the one jobs runner from here: `serve`
//! (with `RUN_WORKERS`) and `worker` start them the same way, and the CLI's runs take the
//! heartbeat that shares the Stripe budget.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::configuration::{OutboundSettings, SyncSettings, WorkerSettings};
use crate::db::models::gateway_event::{GatewayEvent, APPENDED};
use crate::db::models::webhook_delivery::WebhookDelivery;
use crate::db::models::WebhookEvent;
use crate::jobs::{Cadence, Ran, Runner};
use crate::notify::send::Sender;
use crate::services::webhooks::worker;
use crate::services::{outbound, rate_shares, retention, sync, AppState};
use crate::{idempotency, telemetry};

/// Which duties a process runs.
pub struct Background<'a> {
    /// The inbox's workers, woken by this process's stores (`None` where workers do not run).
    pub inbox: Option<(&'a WorkerSettings, Arc<Notify>)>,
    /// The reconciliation sweep, when an interval is set (where workers run).
    pub sweep: Option<&'a SyncSettings>,
    /// The purges of expired idempotency keys and of rows past their retention (where
    /// requests are served).
    pub purges: Option<Purges>,
    /// The senders of the gateway's webhooks (where workers run).
    pub deliveries: Option<&'a OutboundSettings>,
    /// Whether this process records metrics (their upkeep).
    pub metrics: bool,
}

/// How often the purges run, and how long what they delete is kept.
pub struct Purges {
    pub every: Duration,
    /// The gateway's own events (the feed) and finished outbound deliveries.
    pub events_retention: chrono::Duration,
    /// The inbox's settled events.
    pub inbox_retention: chrono::Duration,
}

/// Registers the duties `background` names, over `state`; every process also beats, so that
/// the instances on one database share the Stripe rate budget.
pub fn register(runner: &mut Runner, state: &AppState, background: Background<'_>) {
    runner.register(
        "stripe.heartbeat",
        Cadence::Every {
            every: rate_shares::BEAT,
            at_start: true,
        },
        rate_shares::heartbeat(state.db.clone(), state.stripe.limiter().clone()),
    );
    if let Some((settings, wake)) = background.inbox {
        runner.register(
            "webhooks.inbox",
            Cadence::Queue {
                workers: settings.worker_concurrency.max(1),
                poll: settings.poll(),
                wake: Some(wake),
            },
            worker::duty(state.background(), settings.clone()),
        );
    }
    if let Some((settings, every)) = background
        .sweep
        .and_then(|settings| Some((settings, settings.interval()?)))
    {
        runner.register(
            "sync.sweep",
            Cadence::Every {
                every,
                at_start: settings.reconcile_on_start,
            },
            sync::schedule::sweeps(
                state.clone(),
                every,
                settings.sync_concurrency,
                Duration::from_secs(settings.sync_cooldown_secs),
            ),
        );
    }
    if let Some(purges) = background.purges {
        let every = purges.every;
        runner.register(
            "idempotency.purge",
            Cadence::Every {
                every,
                at_start: false,
            },
            idempotency::purge(state.db.clone()),
        );
        runner.register(
            "events.purge",
            Cadence::Every {
                every,
                at_start: false,
            },
            retention::purge(
                state.db.clone(),
                purges.events_retention,
                "gateway events and finished deliveries",
                &[
                    GatewayEvent::purge_across_organizers_before,
                    WebhookDelivery::purge_across_endpoints_before,
                ],
            ),
        );
        runner.register(
            "inbox.purge",
            Cadence::Every {
                every,
                at_start: false,
            },
            retention::purge(
                state.db.clone(),
                purges.inbox_retention,
                "settled webhook events",
                &[WebhookEvent::purge_settled_across_accounts_before],
            ),
        );
    }
    if let Some(settings) = background.deliveries {
        let sender = Sender::new(state.targets.clone(), settings.timeout());
        runner.register(
            "webhooks.outbound",
            Cadence::Queue {
                workers: settings.outbound_webhook_workers.max(1),
                // Events appended here wake the senders; another instance's are found by this.
                poll: Duration::from_millis(500),
                wake: Some(APPENDED.clone()),
            },
            outbound::deliver::duty(state.db.clone(), sender, settings.clone()),
        );
    }
    if background.metrics {
        runner.register(
            "metrics.upkeep",
            Cadence::Every {
                every: Duration::from_secs(5),
                at_start: false,
            },
            || async {
                telemetry::metrics::recorder().run_upkeep();
                Ok(Ran::Worked)
            },
        );
    }
}
