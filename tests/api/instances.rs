//! Several gateway instances on one database: start-up migrations do not collide, and the
//! database, not an instance's memory, decides conflicts.

use serde_json::{json, Value};

use std::sync::{Arc, Barrier};
use std::time::Duration;

use gateway::db::{run_pending_migrations, DatabaseUrl, Db};

use crate::helpers::{backend_tests, create_database, spawn_two_instances, Backend};

backend_tests!(
    instances_started_together_share_one_database,
    one_account_registered_through_two_instances_at_once_is_one_organizer,
);

async fn instances_started_together_share_one_database(backend: Backend) {
    let (first, second) = spawn_two_instances(backend).await;
    for instance in [&first, &second] {
        let ready = instance
            .client
            .get(format!("{}/readyz", instance.address))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), 200);
    }
    let organizer = first.create_organizer("Shared", "acct_1SharedDb").await;
    let seen: Value = second
        .get_json(
            &format!("/v1/organizers/{}", organizer["id"].as_str().unwrap()),
            &second.admin_token(),
        )
        .await;
    assert_eq!(seen, organizer);
}

async fn one_account_registered_through_two_instances_at_once_is_one_organizer(backend: Backend) {
    let (first, second) = spawn_two_instances(backend).await;
    let body = json!({ "name": "Contested", "stripe_account_id": "acct_1Contested" });
    // Both account checks are held in Stripe until both have arrived, so both requests are
    // past the "already registered?" lookup before either inserts.
    let gates = [&first, &second].map(|instance| {
        instance.stripe.add_connected_account("acct_1Contested");
        instance
            .stripe
            .hold_next("GET", "/v1/accounts/acct_1Contested")
    });
    let token = first.admin_token();
    let release = async {
        for gate in &gates {
            gate.arrived().await;
        }
        for gate in &gates {
            gate.release();
        }
    };
    let (a, b, ()) = tokio::join!(
        first.post("/v1/organizers", &token, &body),
        second.post("/v1/organizers", &token, &body),
        release,
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409]);
    for instance in [&first, &second] {
        // Each request got past the lookup to Stripe: the unique index decided, not the lookup.
        assert_eq!(
            instance
                .stripe
                .requests_to("GET", "/v1/accounts/acct_1Contested")
                .len(),
            1
        );
    }
    let list: Value = second
        .get_json("/v1/organizers", &second.admin_token())
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}

backend_tests!(migrations_started_at_the_same_instant_apply_once,);

async fn migrations_started_at_the_same_instant_apply_once(backend: Backend) {
    // Several runners, many rounds: without the lock the race is lost only some of the time.
    let rounds = match backend {
        crate::helpers::Backend::Sqlite => 100,
        crate::helpers::Backend::Postgres => 5,
    };
    for round in 0..rounds {
        let (_database, url) = create_database(backend).await;
        let url = DatabaseUrl::parse(&url).unwrap();
        const RUNNERS: usize = 4;
        let barrier = Arc::new(Barrier::new(RUNNERS));
        let runners: Vec<_> = (0..RUNNERS)
            .map(|_| {
                let (url, barrier) = (url.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let db = Db::connect(&url, 1, Duration::from_secs(5)).unwrap();
                    let mut conn = db.get().unwrap();
                    barrier.wait();
                    run_pending_migrations(&mut conn).map_err(|e| e.to_string())
                })
            })
            .collect();
        let results: Vec<_> = runners.into_iter().map(|r| r.join().unwrap()).collect();
        let applied: Vec<usize> = results
            .iter()
            .map(|r| {
                r.as_ref()
                    .unwrap_or_else(|e| panic!("round {round}: {e}"))
                    .len()
            })
            .collect();
        assert_eq!(
            applied.iter().sum::<usize>(),
            applied.iter().copied().max().unwrap(),
            "round {round}: one runner applied everything: {applied:?}"
        );
    }
}
