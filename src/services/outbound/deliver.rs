//! The senders: a queue duty of the jobs runner. A unit claims one endpoint with due
//! deliveries (no other sender has it, on any instance), sends them at once, each signed with
//! every secret the endpoint has (Standard Webhooks), and records every attempt. A 2xx
//! delivers; anything else (another status, a timeout, a refused connection, an address that
//! is not allowed) is retried later, about three days in all (`OUTBOUND_WEBHOOK_RETRY_BASE_MS`)
//! before the delivery fails. An endpoint that has failed every attempt for
//! `OUTBOUND_WEBHOOK_DISABLE_AFTER_HOURS` is disabled, and its organizer hears
//! `endpoint.disabled`. A slow endpoint holds one sender; the others go on with other
//! endpoints.

use std::time::Duration;

use chrono::NaiveDateTime;
use tokio::task::JoinSet;

use super::WebhookEndpointResponse;
use crate::configuration::OutboundSettings;
use crate::db::models::gateway_event::{GatewayEvent, APPENDED};
use crate::db::models::webhook_delivery::{Claimed, DeliveryAttempt, Settled, WebhookDelivery};
use crate::db::models::webhook_endpoint::{EndpointChanges, WebhookEndpoint, DISABLED_FAILING};
use crate::db::{write_transaction, Db, DbError};
use crate::domain::{DeliveryState, GatewayEventType};
use crate::jobs::{Duty, Ran};
use crate::notify::send::{Answer, Sender};
use crate::notify::sign::{self, Secret};
use crate::services::events::GatewayEventResponse;

/// The most deliveries one unit claims of its endpoint.
const BATCH: i64 = 64;

/// Requests one unit has in flight to its endpoint at once: a backlog reaches a receiver as a
/// steady stream, not as a burst of connections (a burst of 200 at once made a receiver, and
/// the machine, thrash: 20 endpoints got 0.5-1.7k deliveries/s, 3.8k with this).
const IN_FLIGHT: usize = 32;

/// How many attempts, each within the timeout, a unit makes one after another at most.
const ROUNDS: u32 = (BATCH as u32).div_ceil(IN_FLIGHT as u32);

/// The senders' duty over `db`, sending with `sender`.
pub fn duty(db: Db, sender: Sender, settings: OutboundSettings) -> impl Duty {
    move || {
        let (db, sender, settings) = (db.clone(), sender.clone(), settings.clone());
        async move { Ok(unit(&db, &sender, &settings).await?) }
    }
}

/// Claims an endpoint, sends its due deliveries and records what came of them.
async fn unit(db: &Db, sender: &Sender, settings: &OutboundSettings) -> Result<Ran, DbError> {
    // Long enough for every attempt of the batch to end (`ROUNDS` of them one after another,
    // at most) and be recorded; a sender that died frees its endpoint when this ends.
    let lease = chrono::Duration::from_std(settings.timeout() * ROUNDS + Duration::from_secs(5))
        .unwrap_or(chrono::Duration::minutes(1));
    // The process's clock, as every due time and lease of a delivery is written with (a read of
    // the database's clock was one more round trip per claim, idle ones included).
    let now = crate::db::now();
    let claimed = db
        .run(move |conn| Ok::<_, DbError>(WebhookDelivery::claim(conn, now, now + lease, BATCH)?))
        .await?;
    let Some(claimed) = claimed else {
        return Ok(Ran::Idle);
    };
    let endpoint = claimed.endpoint.clone();
    if claimed.deliveries.is_empty() {
        // Every due delivery waits for an earlier one of its object (being retried), or their
        // events were gone (failed on the way): nothing to send. Freed, it goes to the back.
        let id = endpoint.id.clone();
        db.run(move |conn| {
            let now = crate::db::now();
            WebhookDelivery::settle(conn, &id, &[], &EndpointChanges::default(), now)?;
            Ok::<_, DbError>(())
        })
        .await?;
        return Ok(Ran::Idle);
    }
    let answers = send_all(sender, claimed).await;
    let now = crate::db::now();
    let settled: Vec<(String, Settled)> = answers
        .into_iter()
        .map(|(delivery, started, answer)| {
            (
                delivery.id.clone(),
                settle(settings, &delivery, started, &answer, now),
            )
        })
        .collect();
    let delivered = settled
        .iter()
        .any(|(_, s)| s.state == DeliveryState::Delivered);
    let failing_since = match (delivered, endpoint.failing_since) {
        (true, _) => None,
        (false, since) => Some(since.unwrap_or(now)),
    };
    let changes = EndpointChanges {
        failing_since: Some(failing_since),
        ..EndpointChanges::default()
    };
    let disable = failing_since.is_some_and(|since| now - since >= settings.disable_after());
    let id = endpoint.id.clone();
    db.run(move |conn| {
        WebhookDelivery::settle(conn, &id, &settled, &changes, now)?;
        Ok::<_, DbError>(())
    })
    .await?;
    if disable {
        disable_failing(db, endpoint).await?;
    }
    Ok(Ran::Worked)
}

/// Sends every claimed delivery at once; each with when it started and what came of it.
async fn send_all(
    sender: &Sender,
    claimed: Claimed,
) -> Vec<(WebhookDelivery, NaiveDateTime, Answer)> {
    let secrets: Vec<Secret> = claimed
        .secrets
        .iter()
        .filter_map(|secret| Secret::parse(&secret.secret))
        .collect();
    let secrets = std::sync::Arc::new(secrets);
    let in_flight = std::sync::Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut sends = JoinSet::new();
    for (delivery, event) in claimed.deliveries {
        let (sender, secrets, url, in_flight) = (
            sender.clone(),
            secrets.clone(),
            claimed.endpoint.url.clone(),
            in_flight.clone(),
        );
        sends.spawn(async move {
            let _turn = in_flight.acquire_owned().await.expect("never closed");
            let id = event.id.clone();
            let body = serde_json::to_vec(&GatewayEventResponse::from(event))
                .expect("an event serializes");
            let started = crate::db::now();
            let headers = sign::headers(&id, started.and_utc().timestamp(), &body, &secrets);
            let answer = sender.send(&url, &headers, body).await;
            (delivery, started, answer)
        });
    }
    let mut answers = Vec::with_capacity(sends.len());
    while let Some(done) = sends.join_next().await {
        match done {
            Ok(answer) => answers.push(answer),
            // A send that panicked is not recorded: its delivery is tried again when the
            // endpoint's claim runs out.
            Err(err) => tracing::error!(error = %err, "a webhook send did not finish"),
        }
    }
    answers
}

/// What an answer makes of its delivery, and the attempt's log line.
fn settle(
    settings: &OutboundSettings,
    delivery: &WebhookDelivery,
    started: NaiveDateTime,
    answer: &Answer,
    now: NaiveDateTime,
) -> Settled {
    let attempt = delivery.attempts + 1;
    let (state, next_attempt_at, finished_at) = if answer.delivered() {
        (DeliveryState::Delivered, now, Some(now))
    } else {
        match settings.retry_after(attempt) {
            Some(wait) => {
                // Up to a tenth more or less, so retries of many deliveries spread out.
                let wait = wait.mul_f64(0.9 + fastrand::f64() / 5.0);
                let wait = chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::days(1));
                (DeliveryState::Pending, now + wait, None)
            }
            None => (DeliveryState::Failed, now, Some(now)),
        }
    };
    let outcome = match state {
        DeliveryState::Delivered => "delivered",
        DeliveryState::Pending => "retrying",
        DeliveryState::Failed => "failed",
    };
    ::metrics::counter!("gateway_outbound_webhooks_total", "outcome" => outcome).increment(1);
    ::metrics::histogram!("gateway_outbound_webhook_seconds").record(answer.latency);
    Settled {
        state,
        next_attempt_at,
        finished_at,
        attempt: DeliveryAttempt {
            delivery_id: delivery.id.clone(),
            attempt,
            started_at: started,
            latency_ms: i32::try_from(answer.latency.as_millis()).unwrap_or(i32::MAX),
            status_code: answer.status.map(i32::from),
            error: answer.error.clone(),
            response: answer.excerpt.clone(),
        },
    }
}

/// Disables an endpoint that has failed for too long; an organizer's hears of it.
async fn disable_failing(db: &Db, endpoint: WebhookEndpoint) -> Result<(), DbError> {
    tracing::warn!(endpoint_id = %endpoint.id, url = %endpoint.url, failing_since = ?endpoint.failing_since, "disabling a webhook endpoint that keeps failing");
    ::metrics::counter!("gateway_outbound_webhook_endpoints_disabled_total").increment(1);
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            if let Some(organizer) = &endpoint.organizer_id {
                GatewayEvent::lock_organizer(conn, organizer)?;
            }
            let changes = EndpointChanges {
                enabled: Some(false),
                disabled_reason: Some(Some(DISABLED_FAILING.to_string())),
                updated_at: Some(crate::db::now()),
                ..EndpointChanges::default()
            };
            let Some(disabled) = WebhookEndpoint::update(conn, &endpoint.id, &changes)? else {
                return Ok(());
            };
            if let Some(organizer) = &disabled.organizer_id {
                let served = WebhookEndpointResponse::from(disabled.clone());
                let told = GatewayEventType::EndpointDisabled;
                GatewayEvent::tell(conn, organizer, told, &disabled.id, &served)?;
            }
            Ok::<_, DbError>(())
        })
    })
    .await?;
    APPENDED.notify_waiters();
    Ok(())
}
