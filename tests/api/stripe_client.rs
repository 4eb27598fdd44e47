//! The gateway's Stripe client against the fake Stripe, through the SDK's own request and
//! response types: per-account routing, idempotency, retries, and that the fake's responses
//! parse with the SDK.

use std::collections::HashMap;
use std::time::Duration;

use gateway::domain::StripeAccountId;
use gateway::stripe::{idempotency_key, Stripe, StripeError, StripeTransport};
use stripe_client_core::StripeRequest;
use stripe_core::customer::{
    CreateCustomer, DeleteCustomer, ListCustomer, RetrieveCustomer, RetrieveCustomerReturned,
    UpdateCustomer,
};

use crate::helpers::{test_stripe_settings, SHORT_STRIPE_TIMEOUT, STALL};
use crate::support::fake_stripe::{FakeStripe, Fault, PLATFORM_ACCOUNT};

const ACCOUNT_A: &str = "acct_1ClientTestsA";
const ACCOUNT_B: &str = "acct_1ClientTestsB";

async fn setup() -> (FakeStripe, Stripe) {
    let fake = FakeStripe::start().await;
    let stripe = Stripe::new(&test_stripe_settings(&fake.base_url)).unwrap();
    (fake, stripe)
}

/// For tests about attempts timing out: [`SHORT_STRIPE_TIMEOUT`], against stalls of [`STALL`].
async fn setup_with_short_timeout() -> (FakeStripe, Stripe) {
    let fake = FakeStripe::start().await;
    let mut settings = test_stripe_settings(&fake.base_url);
    settings.timeout = SHORT_STRIPE_TIMEOUT;
    let stripe = Stripe::new(&settings).unwrap();
    (fake, stripe)
}

/// The status, attempt count and transience of a Stripe API error; panics on anything else.
fn api_failure<T: std::fmt::Debug>(result: Result<T, StripeError>) -> (u16, u32, bool) {
    match result {
        Err(
            ref err @ StripeError::Api {
                status, attempts, ..
            },
        ) => (status, attempts, err.is_transient()),
        other => panic!("expected a Stripe API error, got {other:?}"),
    }
}

fn account(id: &str) -> StripeAccountId {
    StripeAccountId::parse(id).unwrap()
}

#[tokio::test]
async fn a_customer_lives_in_its_account_only() {
    let (fake, stripe) = setup().await;
    let key = idempotency_key("test.customer.create", &[ACCOUNT_A, "ada@example.com"]);
    let created = stripe
        .for_account(&account(ACCOUNT_A))
        .write(
            &CreateCustomer::new().email("ada@example.com").name("Ada"),
            key.clone(),
        )
        .await
        .unwrap();
    assert_eq!(created.email.as_deref(), Some("ada@example.com"));

    let sent = fake.requests_to("POST", "/v1/customers");
    assert_eq!(sent[0].stripe_account.as_deref(), Some(ACCOUNT_A));
    assert_eq!(sent[0].idempotency_key.as_deref(), Some(key.as_str()));
    assert!(
        sent[0]
            .params
            .contains(&("email".to_string(), "ada@example.com".to_string())),
        "{:?}",
        sent[0].params
    );
    assert_eq!(fake.customers(Some(ACCOUNT_A)).len(), 1);
    assert!(fake.customers(Some(ACCOUNT_B)).is_empty());
    assert!(fake.customers(None).is_empty());

    let elsewhere = stripe
        .for_account(&account(ACCOUNT_B))
        .read(&RetrieveCustomer::new(created.id.clone()))
        .await;
    match elsewhere {
        Err(StripeError::Api {
            status: 404,
            ref code,
            ..
        }) => assert_eq!(code.as_deref(), Some("resource_missing")),
        other => panic!("expected a 404, got {other:?}"),
    }
}

#[tokio::test]
async fn the_platform_account_sends_no_stripe_account_header() {
    let (fake, stripe) = setup().await;
    let key = idempotency_key("test.customer.create", &["platform"]);
    stripe
        .for_account(&account(PLATFORM_ACCOUNT))
        .write(&CreateCustomer::new().email("p@example.com"), key)
        .await
        .unwrap();
    assert_eq!(
        fake.requests_to("POST", "/v1/customers")[0].stripe_account,
        None
    );
    assert_eq!(fake.customers(None).len(), 1);
}

#[tokio::test]
async fn update_list_and_delete_round_trip_through_the_sdk() {
    let (fake, stripe) = setup().await;
    let client = stripe.for_account(&account(ACCOUNT_A));
    let mut ids = Vec::new();
    for i in 0..3 {
        let email = if i == 1 {
            "other@example.com"
        } else {
            "same@example.com"
        };
        let key = idempotency_key("test.customer.create", &[&i.to_string()]);
        let metadata = HashMap::from([("n".to_string(), i.to_string())]);
        ids.push(
            client
                .write(&CreateCustomer::new().email(email).metadata(metadata), key)
                .await
                .unwrap()
                .id,
        );
    }

    let updated = client
        .write(
            &UpdateCustomer::new(ids[0].clone()).name("Renamed"),
            idempotency_key("test.customer.update", &[ids[0].as_str()]),
        )
        .await
        .unwrap();
    assert_eq!(updated.name.as_deref(), Some("Renamed"));
    assert_eq!(
        updated
            .metadata
            .as_ref()
            .and_then(|m| m.get("n"))
            .map(String::as_str),
        Some("0")
    );

    // Newest first, filtered by email, paged with starting_after.
    let first = client
        .read(&ListCustomer::new().email("same@example.com").limit(1))
        .await
        .unwrap();
    assert_eq!(
        first.data.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        [ids[2].clone()]
    );
    assert!(first.has_more);
    let second = client
        .read(
            &ListCustomer::new()
                .email("same@example.com")
                .limit(1)
                .starting_after(ids[2].as_str()),
        )
        .await
        .unwrap();
    assert_eq!(
        second.data.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        [ids[0].clone()]
    );
    assert!(!second.has_more);

    let deleted = client
        .write(
            &DeleteCustomer::new(ids[0].clone()),
            idempotency_key("test.customer.delete", &[ids[0].as_str()]),
        )
        .await
        .unwrap();
    assert_eq!(deleted.id, ids[0]);
    match client
        .read(&RetrieveCustomer::new(ids[0].clone()))
        .await
        .unwrap()
    {
        RetrieveCustomerReturned::DeletedCustomer(gone) => assert_eq!(gone.id, ids[0]),
        RetrieveCustomerReturned::Customer(customer) => panic!("still a customer: {customer:?}"),
    }
    assert_eq!(fake.customers(Some(ACCOUNT_A)).len(), 2);
}

#[tokio::test]
async fn the_same_idempotency_key_never_creates_twice() {
    let (fake, stripe) = setup().await;
    let client = stripe.for_account(&account(ACCOUNT_A));
    let key = idempotency_key("test.customer.create", &["once"]);
    let request = CreateCustomer::new().email("once@example.com");
    let first = client.write(&request, key.clone()).await.unwrap();
    let second = client.write(&request, key.clone()).await.unwrap();
    assert_eq!(first.id, second.id);
    assert_eq!(fake.customers(Some(ACCOUNT_A)).len(), 1);
    assert!(fake.requests_to("POST", "/v1/customers")[1].replayed);

    // Keys are per account: the same key on another account is a new request there.
    let elsewhere = stripe
        .for_account(&account(ACCOUNT_B))
        .write(&request, key.clone())
        .await
        .unwrap();
    assert_ne!(elsewhere.id, first.id);

    // The same key with other parameters is refused, not silently applied.
    let conflicting = client
        .write(&CreateCustomer::new().email("twice@example.com"), key)
        .await;
    match conflicting {
        Err(StripeError::Api {
            status: 400,
            kind,
            attempts: 1,
            ..
        }) => assert_eq!(kind, "idempotency_error"),
        other => panic!("expected an idempotency error, got {other:?}"),
    }
    assert_eq!(fake.customers(Some(ACCOUNT_A)).len(), 1);
}

#[tokio::test]
async fn server_errors_and_rate_limits_are_retried_with_the_same_key() {
    let (fake, stripe) = setup().await;
    fake.fail_next(1, Fault::Status(500));
    fake.fail_next(1, Fault::Status(429));
    let key = idempotency_key("test.customer.create", &["retried"]);
    let created = stripe
        .for_account(&account(ACCOUNT_A))
        .write(
            &CreateCustomer::new().email("retried@example.com"),
            key.clone(),
        )
        .await
        .unwrap();
    let attempts = fake.requests_to("POST", "/v1/customers");
    assert_eq!(attempts.len(), 3);
    assert!(attempts
        .iter()
        .all(|a| a.idempotency_key.as_deref() == Some(key.as_str())));
    assert_eq!(attempts[0].fault, Some(Fault::Status(500)));
    assert_eq!(attempts[1].fault, Some(Fault::Status(429)));
    assert_eq!(fake.customers(Some(ACCOUNT_A)).len(), 1);
    assert_eq!(
        fake.customers(Some(ACCOUNT_A))[0]["id"],
        created.id.as_str()
    );
}

#[tokio::test]
async fn retries_stop_after_the_configured_number() {
    let (fake, stripe) = setup().await;
    fake.fail_next(10, Fault::Status(503));
    let result = stripe
        .platform()
        .read(&RetrieveCustomer::new("cus_x"))
        .await;
    assert_eq!(api_failure(result), (503, 3, true));
    assert_eq!(fake.requests().len(), 3, "one attempt and two retries");
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let (fake, stripe) = setup().await;
    let result = stripe
        .for_account(&account(ACCOUNT_A))
        .read(&RetrieveCustomer::new("cus_missing"))
        .await;
    assert_eq!(api_failure(result), (404, 1, false));
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn a_stalled_attempt_times_out_and_is_retried() {
    let (fake, stripe) = setup_with_short_timeout().await;
    fake.fail_next(1, Fault::Stall(STALL));
    let started = std::time::Instant::now();
    let key = idempotency_key("test.customer.create", &["stalled"]);
    stripe
        .for_account(&account(ACCOUNT_A))
        .write(&CreateCustomer::new().email("stalled@example.com"), key)
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the 1 s timeout cut the stall short"
    );
    let attempts = fake.requests();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].fault, Some(Fault::Stall(STALL)));
    assert_eq!(attempts[1].fault, None);
}

#[tokio::test]
async fn a_write_whose_answer_was_lost_is_replayed_not_repeated() {
    let (fake, stripe) = setup_with_short_timeout().await;
    // Stripe creates the customer, but the answer arrives after the client gave up.
    fake.fail_next(1, Fault::StallAfterApply(STALL));
    let key = idempotency_key("test.customer.create", &["lost answer"]);
    let created = stripe
        .for_account(&account(ACCOUNT_A))
        .write(&CreateCustomer::new().email("lost@example.com"), key)
        .await
        .unwrap();
    let attempts = fake.requests_to("POST", "/v1/customers");
    assert_eq!(attempts.len(), 2);
    assert!(attempts[1].replayed, "the retry got the saved response");
    let stored = fake.customers(Some(ACCOUNT_A));
    assert_eq!(stored.len(), 1, "exactly one customer");
    assert_eq!(stored[0]["id"], created.id.as_str());
}

#[tokio::test]
async fn read_refuses_writes() {
    // A POST sent as a read would go without an idempotency key.
    let (fake, stripe) = setup().await;
    let result = stripe
        .for_account(&account(ACCOUNT_A))
        .read(&CreateCustomer::new().email("x@example.com"))
        .await;
    assert!(matches!(result, Err(StripeError::Config(_))), "{result:?}");
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn the_transport_never_retries_a_post_without_a_key() {
    let (fake, _) = setup().await;
    let transport = StripeTransport::new(&test_stripe_settings(&fake.base_url)).unwrap();
    fake.fail_next(1, Fault::Status(500));
    let result = CreateCustomer::new()
        .email("x@example.com")
        .customize()
        .send(&transport)
        .await;
    // Transient, as a 500 is; the transport still sent it only once.
    assert_eq!(api_failure(result), (500, 1, true));
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn stripe_should_retry_false_is_obeyed() {
    let (fake, stripe) = setup().await;
    fake.fail_next(1, Fault::StatusNoRetry(500));
    let result = stripe
        .platform()
        .read(&RetrieveCustomer::new("cus_x"))
        .await;
    assert_eq!(api_failure(result), (500, 1, false));
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn an_unreachable_stripe_is_a_transient_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let stripe = Stripe::new(&test_stripe_settings(&dead)).unwrap();
    let result = stripe
        .platform()
        .read(&RetrieveCustomer::new("cus_x"))
        .await;
    match result {
        Err(
            ref err @ StripeError::Transport {
                attempts: 3,
                timed_out: false,
                ..
            },
        ) => assert!(err.is_transient()),
        other => panic!("expected a transport error after 3 attempts, got {other:?}"),
    }
    // The error is logged: it must not carry the request's URL, whose query can hold an email.
    let err = stripe
        .platform()
        .read(&ListCustomer::new().email("ana.lima@example.com"))
        .await
        .expect_err("nothing listens");
    let text = format!("{err} {err:?}");
    assert!(matches!(err, StripeError::Transport { .. }), "{text}");
    assert!(
        !text.contains("ana.lima") && !text.contains("example.com"),
        "{text}"
    );
}

#[tokio::test]
async fn requests_without_a_valid_key_are_refused_by_the_fake() {
    let fake = FakeStripe::start().await;
    let mut settings = test_stripe_settings(&fake.base_url);
    settings.secret_key = secrecy::SecretString::from("pk_test_publishable");
    let stripe = Stripe::new(&settings).unwrap();
    let result = stripe
        .platform()
        .read(&RetrieveCustomer::new("cus_x"))
        .await;
    assert!(
        matches!(result, Err(StripeError::Api { status: 401, .. })),
        "{result:?}"
    );
}
