//! Several gateway instances on one database: start-up migrations do not collide, and the
//! database, not an instance's memory, decides conflicts.

use serde_json::{json, Value};

use crate::helpers::{backend_tests, spawn_two_instances};

backend_tests! {
    async fn instances_started_together_share_one_database(backend: backend) {
        let (first, second) = spawn_two_instances(backend).await;
        for instance in [&first, &second] {
            let ready = instance.client.get(format!("{}/readyz", instance.address)).send().await.unwrap();
            assert_eq!(ready.status(), 200);
        }
        let organizer = first.create_organizer("Shared", "acct_1SharedDb").await;
        let seen: Value = second
            .get(&format!("/v1/organizers/{}", organizer["id"].as_str().unwrap()), &second.admin_token())
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(seen, organizer);
    }

    async fn one_account_registered_through_two_instances_at_once_is_one_organizer(backend: backend) {
        let (first, second) = spawn_two_instances(backend).await;
        let body = json!({ "name": "Contested", "stripe_account_id": "acct_1Contested" });
        for instance in [&first, &second] {
            instance.stripe.add_connected_account("acct_1Contested");
            // Both account checks are slow, so both requests pass the "already registered?" lookup.
            instance.stripe.fail_next(1, crate::support::fake_stripe::Fault::Delay(std::time::Duration::from_millis(150)));
        }
        let token = first.admin_token();
        let (a, b) = tokio::join!(
            first.post("/v1/organizers", &token, &body),
            second.post("/v1/organizers", &token, &body),
        );
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 409]);
        let list: Value = second.get("/v1/organizers", &second.admin_token()).await.json().await.unwrap();
        assert_eq!(list["data"].as_array().unwrap().len(), 1);
    }
}
