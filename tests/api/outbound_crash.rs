//! Crash safety of the gateway's webhooks: under a steady stream of changes, the process
//! sending them is killed (`kill -9`) mid-run and another takes over. Every committed event
//! reaches the receiver at least once, and only an event whose attempt's outcome the killed
//! process never recorded arrives twice.

use std::collections::{HashMap, HashSet};

use serde_json::json;

use crate::helpers::receiver::Receiver;
use crate::helpers::{backend_tests, spawn_app_with, Backend};
use crate::outbound_webhooks::{endpoint, id, Customer, ACCOUNT_A};

backend_tests!(every_committed_event_is_delivered_across_a_kill);

/// Changes made in all, over this many customers (so an endpoint has many objects in flight).
const CHANGES: usize = 240;
const CUSTOMERS: usize = 12;

async fn every_committed_event_is_delivered_across_a_kill(backend: Backend) {
    // This gateway takes the changes; the senders run in worker processes only.
    let app = spawn_app_with(backend, |settings| settings.worker.run_workers = false).await;
    let receiver = Receiver::start().await;
    let org = app.create_organizer("A", ACCOUNT_A).await;
    let admin = app.admin_token();
    endpoint(
        &app,
        &admin,
        json!({ "url": receiver.url("/a"), "organizer_id": id(&org), "event_types": ["customer.updated"] }),
    )
    .await;
    let sender_env = [
        ("OUTBOUND_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1"),
        ("OUTBOUND_WEBHOOK_TIMEOUT_SECS", "1"),
        ("OUTBOUND_WEBHOOK_WORKERS", "2"),
    ];
    let ready = "webhook workers running";
    let first = app.spawn_worker_process_with(5, &sender_env, ready).await;

    let mut customers = Vec::new();
    for n in 0..CUSTOMERS {
        customers.push(Customer::new(&app, &org, &format!("buyer{n}@example.com")).await);
    }
    let app = std::sync::Arc::new(app);
    let load = {
        let app = app.clone();
        tokio::spawn(async move {
            for n in 0..CHANGES {
                customers[n % CUSTOMERS]
                    .rename(&app, &format!("Name {n}"))
                    .await;
            }
        })
    };

    // Mid-run: the sender is killed while deliveries are being made.
    receiver.wait_for("/a", CHANGES / 4).await;
    drop(first);
    let recorded: HashSet<String> = app
        .select_texts("event_id AS value FROM webhook_deliveries WHERE state = 'delivered'")
        .await
        .into_iter()
        .collect();
    let received_before: HashSet<String> = receiver.received().into_iter().map(|r| r.id).collect();
    let unknown: HashSet<&String> = received_before.difference(&recorded).collect();
    assert!(
        received_before.len() < CHANGES,
        "the kill came after every change was delivered"
    );

    let _second = app.spawn_worker_process_with(5, &sender_env, ready).await;
    load.await.unwrap();
    let committed = app
        .select_texts("id AS value FROM gateway_events WHERE type = 'customer.updated'")
        .await;
    assert_eq!(committed.len(), CHANGES);
    let mut got = receiver.wait_for("/a", CHANGES).await;
    // Waits until every committed event is in, whatever the repeats.
    while committed
        .iter()
        .any(|event| !got.iter().any(|r| &r.id == event))
    {
        got = receiver.wait_for("/a", got.len() + 1).await;
    }
    let mut times: HashMap<&str, usize> = HashMap::new();
    for received in &got {
        *times.entry(received.id.as_str()).or_default() += 1;
    }
    let repeated: Vec<&str> = times
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| *id)
        .collect();
    for id in &repeated {
        assert!(
            unknown.iter().any(|u| u.as_str() == *id),
            "{id} arrived twice though its delivery was recorded before the kill"
        );
    }
    eprintln!(
        "{} events, {} received before the kill ({} not yet recorded), {} repeated",
        CHANGES,
        received_before.len(),
        unknown.len(),
        repeated.len()
    );
}
