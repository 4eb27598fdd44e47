//! The runner's behaviour: backoff, drain, shutdown.

use super::runner::{Backoff, Cadence, Ran, Runner};
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

#[test]
fn backoff_doubles_up_to_its_cap_with_some_jitter() {
    let backoff = Backoff {
        base: Duration::from_millis(100),
        cap: Duration::from_secs(1),
    };
    for (failures, base) in [
        (1, 100),
        (2, 200),
        (3, 400),
        (4, 800),
        (5, 1000),
        (40, 1000),
    ] {
        let delay = backoff.delay(failures).as_millis();
        assert!(
            (base..=base * 5 / 4).contains(&delay),
            "{failures}: {delay}"
        );
    }
}

#[tokio::test]
async fn drain_returns_once_every_queue_is_idle() {
    let left = Arc::new(AtomicU32::new(5));
    let mut runner = Runner::new();
    let queue = left.clone();
    runner.register(
        "countdown",
        Cadence::Queue {
            workers: 2,
            poll: Duration::from_secs(3600),
            wake: None,
        },
        move || {
            let left = queue.clone();
            async move {
                let took =
                    left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
                Ok(if took.is_ok() { Ran::Worked } else { Ran::Idle })
            }
        },
    );
    let jobs = runner.start();
    jobs.drain().await;
    assert_eq!(left.load(Ordering::SeqCst), 0);
    // A loop waiting an hour for work stops at once.
    tokio::time::timeout(
        Duration::from_secs(5),
        jobs.shutdown(Duration::from_secs(5)),
    )
    .await
    .expect("shutdown does not wait for an idle loop's poll");
}

#[tokio::test]
async fn a_failing_unit_backs_off_instead_of_spinning() {
    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    let mut runner = Runner::new();
    runner.register(
        "failing",
        Cadence::Queue {
            workers: 1,
            poll: Duration::from_millis(1),
            wake: None,
        },
        move || {
            let calls = counted.clone();
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<Ran, _>("down".into())
            }
        },
    );
    let jobs = runner.start();
    tokio::time::sleep(Duration::from_millis(600)).await;
    jobs.shutdown(Duration::from_secs(5)).await;
    // At once, after 250 ms, then after 500 ms more: at most two calls in 600 ms, not
    // hundreds.
    let calls = calls.load(Ordering::SeqCst);
    assert!(calls <= 2, "{calls}");
}
