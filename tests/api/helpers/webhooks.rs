//! Stripe events for tests: built like Stripe's, signed with the test gateway's secret, and
//! delivered to `POST /webhooks/stripe`; and waiting for the worker to settle them.

use std::time::{Duration, Instant};

use reqwest::Response;
use serde_json::Value;

use super::{TestApp, WEBHOOK_SECRET};
use crate::support::fake_stripe::control::event_json;

/// A snapshot event about `object`, for `account` (`None`: the platform's own).
pub fn event(event_type: &str, account: Option<&str>, object: &Value) -> Value {
    let id = format!("evt_test{}", uuid::Uuid::new_v4().simple());
    event_json(&id, event_type, account, object)
}

/// `Stripe-Signature` for `body`, signed now with each secret.
pub fn signature(secrets: &[&str], body: &[u8]) -> String {
    gateway::stripe::sign(secrets, chrono::Utc::now().timestamp(), body)
}

/// How long a test waits for the workers to settle an event: far more than they need.
const SETTLE_DEADLINE: Duration = Duration::from_secs(30);

impl TestApp {
    /// Delivers `body` with this `Stripe-Signature` (or none).
    pub async fn deliver_raw(&self, body: Vec<u8>, signature: Option<String>) -> Response {
        let mut request = self
            .client
            .post(format!("{}/webhooks/stripe", self.address))
            .header("content-type", "application/json; charset=utf-8")
            .body(body);
        if let Some(signature) = signature {
            request = request.header("stripe-signature", signature);
        }
        request.send().await.expect("the gateway answers")
    }

    /// Delivers `event` signed as Stripe would, pretty-printed as Stripe sends it; asserts 200.
    pub async fn deliver(&self, event: &Value) -> Value {
        let body = serde_json::to_vec_pretty(event).unwrap();
        let signature = signature(&[WEBHOOK_SECRET], &body);
        let response = self.deliver_raw(body, Some(signature)).await;
        assert_eq!(response.status(), 200, "delivering {}", event["id"]);
        response.json().await.unwrap()
    }

    /// The inbox's view of an event (admin API).
    pub async fn webhook_event(&self, id: &str) -> Value {
        self.get_json(
            &format!("/v1/admin/webhook-events/{id}"),
            &self.admin_token(),
        )
        .await
    }

    /// Delivers the event `event_type` of `account` about `object` and returns it settled.
    pub async fn deliver_settled(
        &self,
        event_type: &str,
        account: Option<&str>,
        object: &Value,
    ) -> Value {
        let sent = event(event_type, account, object);
        self.deliver(&sent).await;
        self.settled(sent["id"].as_str().unwrap()).await
    }

    /// Puts `object` in the fake's `account` (as Stripe has it now), delivers its event and
    /// checks the gateway processed it.
    pub async fn put_and_settle(&self, account: &str, event_type: &str, object: Value) {
        self.stripe.put_object(Some(account), object.clone());
        let settled = self
            .deliver_settled(event_type, Some(account), &object)
            .await;
        assert_eq!(settled["status"], "processed", "{settled}");
    }

    /// The event once it has left `pending`: the instance's workers are drained, and an event
    /// left pending (a retry not yet due, or held by another worker) is looked at again when
    /// it is due. Fails after a generous deadline.
    pub async fn settled(&self, id: &str) -> Value {
        let deadline = Instant::now() + SETTLE_DEADLINE;
        loop {
            self.jobs.drain().await;
            let event = self.webhook_event(id).await;
            if event["status"] != "pending" {
                return event;
            }
            assert!(
                Instant::now() < deadline,
                "event {id} still pending: {event}"
            );
            tokio::time::sleep(until_due(&event)).await;
        }
    }

    /// Has the fake Stripe do what `trigger` says (`POST /_fake/trigger`; its events go to the
    /// webhook endpoint the fake delivers to). Returns the fake's answer.
    pub async fn trigger(&self, trigger: &Value) -> Value {
        let response = self
            .client
            .post(format!("{}/_fake/trigger", self.stripe.base_url))
            .json(trigger)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "triggering {trigger}");
        response.json().await.unwrap()
    }

    /// [`TestApp::trigger`], then waits until each of its events is settled.
    pub async fn trigger_settled(&self, trigger: &Value) -> Value {
        let triggered = self.trigger(trigger).await;
        for sent in triggered["events"].as_array().unwrap() {
            self.settled(sent["id"].as_str().unwrap()).await;
        }
        triggered
    }
}

/// How long until a pending event is due again: its `next_attempt_at`, within 5 ms and 1 s (an
/// event another worker holds has no retry time of its own).
fn until_due(event: &Value) -> Duration {
    let due = event["next_attempt_at"]
        .as_str()
        .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
        .map(|at| {
            (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
                .to_std()
                .unwrap_or_default()
        });
    due.unwrap_or(Duration::from_millis(20))
        .clamp(Duration::from_millis(5), Duration::from_secs(1))
}
