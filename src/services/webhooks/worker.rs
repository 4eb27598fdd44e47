//! Webhook workers: each claims one due inbox event at a time, takes the lease of the object
//! it names (so no two workers, in any process, fetch one object at once), settles every
//! pending event about that object with one fetch, and on failure retries with exponential
//! backoff until the event is dead-lettered. A worker that dies holding an event loses
//! nothing: its claim expires and another worker takes the event.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;

use super::process::{self, EventRef, ProcessError};
use super::turns::{Held, Turns};
use crate::configuration::WorkerSettings;
use crate::db::lease::expiry;
use crate::db::models::{EventAttempt, WebhookEvent};
use crate::db::{now, DbConnection, DbError, Lease};
use crate::domain::StripeAccountId;
use crate::jobs::{Duty, Ran, UnitResult};
use crate::services::AppState;
use crate::telemetry::metrics;

/// The lease that keeps one object's fetch to one worker at a time.
pub const OBJECT_LEASE: &str = "webhook.object";

/// How soon an event whose object another worker holds is tried again; that worker's fetch
/// usually settles it first.
const HELD_RETRY: Duration = Duration::from_millis(500);

/// The inbox as a queue duty of the jobs runner (`WORKER_CONCURRENCY` loops): each unit claims
/// one due event under a claim token of its own and handles it. The loops share the accounts'
/// turns (`turns.rs`).
pub fn duty(state: AppState, settings: WorkerSettings) -> impl Duty {
    let turns = Turns::new(settings.worker_concurrency);
    let settings = Arc::new(settings);
    move || {
        let worker = Worker {
            state: state.clone(),
            settings: settings.clone(),
            owner: uuid::Uuid::new_v4().simple().to_string(),
            turns: turns.clone(),
        };
        async move { worker.work_once().await }
    }
}

struct Worker {
    state: AppState,
    settings: Arc<WorkerSettings>,
    /// The claim token of the unit this worker is.
    owner: String,
    /// The accounts' turns at this process's workers.
    turns: Turns,
}

/// How one claimed event ended.
enum Outcome {
    Settled(usize),
    Failed {
        error: String,
        dead: bool,
    },
    /// Another worker holds the object; the event was given back.
    Held,
}

impl Worker {
    async fn work_once(self) -> UnitResult {
        match self.claim().await? {
            Some((event, _held)) => {
                self.handle(event).await;
                Ok(Ran::Worked)
            }
            None => Ok(Ran::Idle),
        }
    }

    async fn claim(&self) -> Result<Option<(WebhookEvent, Held)>, DbError> {
        let owner = self.owner.clone();
        let ttl = self.settings.lease();
        let turns = self.turns.clone();
        let claimed = self
            .state
            .db
            .run(move |conn| {
                let now = now();
                let claimed = WebhookEvent::claim_next_across_accounts(
                    conn,
                    &owner,
                    &turns,
                    now,
                    expiry(now, ttl),
                )?;
                Ok::<_, DbError>(claimed)
            })
            .await?;
        if claimed.is_none() {
            self.turns.idle();
        }
        Ok(claimed)
    }

    async fn handle(&self, event: WebhookEvent) {
        let started = now();
        let outcome = match self.process(&event, started).await {
            Ok(outcome) => outcome,
            Err(err) => self.fail(&event, &[], started, err.to_string()).await,
        };
        match outcome {
            Outcome::Settled(count) => {
                metrics::webhook_event("processed");
                tracing::info!(event_id = %event.id, event_type = %event.event_type, settled = count, "webhook event processed")
            }
            Outcome::Failed { error, dead } => {
                if dead {
                    metrics::webhook_event("dead");
                    tracing::error!(event_id = %event.id, attempts = event.attempts, %error, "webhook event dead-lettered");
                } else {
                    metrics::webhook_event("failed");
                    tracing::warn!(event_id = %event.id, attempts = event.attempts, %error, "webhook event failed; it will be retried");
                }
            }
            Outcome::Held => {}
        }
    }

    async fn process(
        &self,
        event: &WebhookEvent,
        started: NaiveDateTime,
    ) -> Result<Outcome, ProcessError> {
        let (Some(account), Some(object_id)) = (event.account(), &event.object_id) else {
            return self.settle(event, vec![event.id.clone()], started).await;
        };
        let account = StripeAccountId::parse(account)
            .map_err(|_| ProcessError::Event(format!("`{account}` is not a Stripe account id")))?;
        let key = format!("{account}/{object_id}");
        let ttl = self.settings.lease();
        let (event_id, owner, account_key, object_type, object) = (
            event.id.clone(),
            self.owner.clone(),
            account.to_string(),
            event.object_type.clone(),
            object_id.clone(),
        );
        let claimed = self
            .state
            .db
            .run(move |conn| {
                // One transaction: if a read fails, the object's lease is not left behind.
                crate::db::write_transaction(conn, |conn| {
                    let Some(lease) = Lease::claim(conn, OBJECT_LEASE, &key, ttl)? else {
                        WebhookEvent::give_back(
                            conn,
                            &account_key,
                            &event_id,
                            &owner,
                            expiry(now(), HELD_RETRY),
                        )?;
                        return Ok(None);
                    };
                    // Every event about the object stored before the fetch begins is settled
                    // by it.
                    let pending = WebhookEvent::pending_for_object(
                        conn,
                        &account_key,
                        &object_type,
                        &object,
                    )?;
                    let payload = WebhookEvent::payload(conn, &account_key, &event_id)?;
                    // When the fetch began, by the database's clock: the one clock every
                    // instance shares, which the mirror's no-stale-overwrite guard compares.
                    let fetch_started = database_now(conn)?;
                    Ok::<_, ProcessError>(Some((lease, pending, payload, fetch_started)))
                })
            })
            .await?;
        let Some((lease, pending, payload, fetch_started)) = claimed else {
            return Ok(Outcome::Held);
        };
        if !pending.contains(&event.id) {
            // Settled meanwhile by another worker's fetch, which began after this event was
            // stored: nothing is left for a fetch of our own.
            let _ = self
                .state
                .db
                .run(move |conn| lease.release(conn).map_err(DbError::from))
                .await;
            return Ok(Outcome::Settled(0));
        }
        // The claim and the object's lease last `ttl`; work that outlives them could overlap a
        // successor's, so it is cut off well before and retried.
        let budget = ttl.mul_f64(0.75);
        let event_ref = EventRef {
            event: crate::mirror::EventRef {
                id: &event.id,
                event_type: &event.event_type,
                object_type: &event.object_type,
                object_id,
                payload: payload.as_deref(),
            },
            account: &account,
        };
        let work = process::apply(&self.state, &event_ref, fetch_started);
        let result = match tokio::time::timeout(budget, work).await {
            Ok(result) => result,
            Err(_) => Err(ProcessError::Event(format!(
                "processing took longer than {budget:?}, three quarters of WORKER_LEASE_SECS"
            ))),
        };
        let outcome = match result {
            Ok(()) => self.settle(event, pending, started).await,
            Err(err) => Ok(self.fail(event, &pending, started, err.to_string()).await),
        };
        let _ = self
            .state
            .db
            .run(move |conn| lease.release(conn).map_err(DbError::from))
            .await;
        outcome
    }

    async fn settle(
        &self,
        event: &WebhookEvent,
        ids: Vec<String>,
        started: NaiveDateTime,
    ) -> Result<Outcome, ProcessError> {
        let attempt = attempt_row(event, started, None);
        let (account, settled_by) = (event.stripe_account_id.clone(), event.id.clone());
        let count = self
            .state
            .db
            .run(move |conn| {
                crate::db::write_transaction(conn, |conn| {
                    EventAttempt::record(conn, &attempt)?;
                    WebhookEvent::settle(conn, &account, &ids, &settled_by, now())
                })
                .map_err(ProcessError::from)
            })
            .await?;
        Ok(Outcome::Settled(count))
    }

    /// Records the failed attempt and schedules the retry of `event` (or dead-letters it), and
    /// holds back the other pending events about its object (`others`) until then.
    async fn fail(
        &self,
        event: &WebhookEvent,
        others: &[String],
        started: NaiveDateTime,
        error: String,
    ) -> Outcome {
        let dead = event.attempts >= self.settings.webhook_max_attempts;
        let retry_at = expiry(now(), self.settings.backoff(event.attempts));
        let (account, id) = (event.stripe_account_id.clone(), event.id.clone());
        let (owner, others) = (self.owner.clone(), others.to_vec());
        let attempt = attempt_row(event, started, Some(error.clone()));
        let stored = self
            .state
            .db
            .run(move |conn| {
                crate::db::write_transaction(conn, |conn| {
                    EventAttempt::record(conn, &attempt)?;
                    WebhookEvent::fail(conn, &account, &id, &owner, &others, retry_at, dead)
                })
                .map_err(DbError::from)
            })
            .await;
        if let Err(err) = stored {
            // The claim runs out and the event is tried again: nothing is lost.
            tracing::error!(event_id = %event.id, error = %err, "could not record a failed webhook attempt");
        }
        Outcome::Failed { error, dead }
    }
}

fn attempt_row(
    event: &WebhookEvent,
    started: NaiveDateTime,
    error: Option<String>,
) -> EventAttempt {
    EventAttempt {
        stripe_account_id: event.stripe_account_id.clone(),
        id: uuid::Uuid::now_v7().to_string(),
        event_id: event.id.clone(),
        started_at: started,
        finished_at: now(),
        error,
    }
}

fn database_now(conn: &mut DbConnection) -> Result<NaiveDateTime, ProcessError> {
    Ok(crate::db::database_now(conn)?)
}
