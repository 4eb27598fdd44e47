//! The lease the customer create uses, and the coming workers will: against the real database,
//! one holder at a time, and a holder whose lease ended and was taken over can neither renew
//! nor release its successor's.

use std::time::Duration;

use gateway::db::{run_pending_migrations, DatabaseUrl, Db, Lease};

use crate::helpers::{backend_tests, create_database, Backend};

backend_tests!(a_lease_has_one_holder_and_only_its_holder_renews_or_releases_it,);

const KIND: &str = "test.work";

async fn a_lease_has_one_holder_and_only_its_holder_renews_or_releases_it(backend: Backend) {
    let (_database, url) = create_database(backend).await;
    tokio::task::spawn_blocking(move || {
        let db = Db::connect(
            &DatabaseUrl::parse(&url).unwrap(),
            1,
            Duration::from_secs(5),
        )
        .unwrap();
        let mut conn = db.get().unwrap();
        run_pending_migrations(&mut conn).unwrap();
        let minute = Duration::from_secs(60);

        let mut first = Lease::claim(&mut conn, KIND, "a", minute)
            .unwrap()
            .expect("free");
        assert!(
            Lease::claim(&mut conn, KIND, "a", minute)
                .unwrap()
                .is_none(),
            "held"
        );
        assert!(Lease::live_until(&mut conn, KIND, "a").unwrap().is_some());
        assert!(
            Lease::claim(&mut conn, KIND, "b", minute)
                .unwrap()
                .is_some(),
            "other keys are free"
        );
        assert!(first.renew(&mut conn, minute).unwrap());

        // Its time runs out: the next claimant takes it over.
        assert!(first.renew(&mut conn, Duration::ZERO).unwrap());
        assert!(
            Lease::live_until(&mut conn, KIND, "a").unwrap().is_none(),
            "expired"
        );
        let second = Lease::claim(&mut conn, KIND, "a", minute)
            .unwrap()
            .expect("taken over");
        assert!(
            !first.renew(&mut conn, minute).unwrap(),
            "the old holder cannot renew"
        );
        assert!(
            !first.release(&mut conn).unwrap(),
            "nor release the new holder's lease"
        );
        assert!(Lease::live_until(&mut conn, KIND, "a").unwrap().is_some());

        assert!(second.release(&mut conn).unwrap());
        assert!(Lease::live_until(&mut conn, KIND, "a").unwrap().is_none());
        assert!(
            Lease::claim(&mut conn, KIND, "a", minute)
                .unwrap()
                .is_some(),
            "free again"
        );
    })
    .await
    .unwrap();
}
