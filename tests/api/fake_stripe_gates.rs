//! The fake Stripe's gates, which the interleaving tests order requests with: what is held
//! where, what `arrived` waits for, and that releasing (or dropping) a gate lets requests go.

use futures_util::FutureExt;
use serde_json::Value;

use crate::support::fake_stripe::{FakeStripe, Hold};

async fn create_customer(fake: &FakeStripe, email: &str) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/customers", fake.base_url))
        .bearer_auth("sk_test_gates")
        .header("idempotency-key", email)
        .form(&[("email", email)])
        .send()
        .await
        .expect("the fake answers");
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_held_request_is_not_processed_until_released() {
    let fake = FakeStripe::start().await;
    let gate = fake.hold_next("POST", "/v1/customers");
    let mut create = Box::pin(create_customer(&fake, "held@example.com"));
    tokio::select! {
        _ = &mut create => panic!("a held request was answered"),
        () = gate.arrived() => {}
    }
    assert_eq!(fake.created_customers(None), 0, "held before processing");
    assert_eq!(fake.requests()[0].held, Some(Hold::Request));
    // Other requests pass while one is held.
    let other = create_customer(&fake, "other@example.com").await;
    assert_eq!(fake.created_customers(None), 1);
    assert_eq!(fake.requests()[1].held, None);
    gate.release();
    let created = create.await;
    assert_ne!(created["id"], other["id"]);
    assert_eq!(fake.created_customers(None), 2);
}

#[tokio::test]
async fn a_held_answer_comes_after_the_request_was_processed() {
    let fake = FakeStripe::start().await;
    let gate = fake.hold_next_answer("POST", "/v1/customers");
    let mut create = Box::pin(create_customer(&fake, "applied@example.com"));
    tokio::select! {
        _ = &mut create => panic!("a held answer was sent"),
        () = gate.arrived() => {}
    }
    assert_eq!(fake.created_customers(None), 1, "processed, answer held");
    assert!(create.as_mut().now_or_never().is_none());
    gate.release();
    let created = create.await;
    assert_eq!(fake.customers(None)[0]["id"], created["id"]);
    assert_eq!(fake.requests()[0].held, Some(Hold::Answer));
}

#[tokio::test]
async fn a_gate_for_n_requests_arrives_once_all_are_held() {
    let fake = FakeStripe::start().await;
    let gate = fake.hold("POST", "/v1/customers", 3, Hold::Request);
    let emails: Vec<String> = (0..3).map(|i| format!("{i}@example.com")).collect();
    let creates = futures_util::future::join_all(emails.iter().map(|e| create_customer(&fake, e)));
    let mut creates = Box::pin(creates);
    tokio::select! {
        _ = &mut creates => panic!("held requests were answered"),
        () = gate.arrived() => {}
    }
    assert_eq!(fake.created_customers(None), 0);
    // The gate is spent: the fourth request is not held.
    create_customer(&fake, "fourth@x.co").await;
    gate.release();
    assert_eq!(creates.await.len(), 3);
    assert_eq!(fake.created_customers(None), 4);
}

#[tokio::test]
async fn dropping_a_gate_releases_what_it_holds() {
    let fake = FakeStripe::start().await;
    let gate = fake.hold_next("POST", "/v1/customers");
    let mut create = Box::pin(create_customer(&fake, "dropped@example.com"));
    tokio::select! {
        _ = &mut create => panic!("a held request was answered"),
        () = gate.arrived() => {}
    }
    drop(gate);
    create.await;
    assert_eq!(fake.created_customers(None), 1);
}

#[tokio::test]
async fn a_gate_catches_only_its_method_and_path_prefix() {
    let fake = FakeStripe::start().await;
    let gate = fake.hold_next("DELETE", "/v1/customers/");
    // A POST to a path under the prefix, and nothing else, goes through.
    let created = create_customer(&fake, "free@example.com").await;
    assert!(fake.requests().iter().all(|r| r.held.is_none()));
    let delete = reqwest::Client::new()
        .delete(format!(
            "{}/v1/customers/{}",
            fake.base_url,
            created["id"].as_str().unwrap()
        ))
        .bearer_auth("sk_test_gates")
        .send();
    let release = async {
        gate.arrived().await;
        assert_eq!(fake.customers(None).len(), 1, "not deleted while held");
        gate.release();
    };
    let (deleted, ()) = tokio::join!(delete, release);
    assert_eq!(deleted.unwrap().status(), 200);
    assert!(fake.customers(None).is_empty());
}
