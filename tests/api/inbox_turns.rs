//! The workers take the accounts in turns: the next claim is of the account after the one the
//! last claim served (going round), so one account's backlog waits its turns instead of
//! delaying every event stored after it; an account holding its share of the workers waits
//! while others have events due.

use chrono::Duration;
use gateway::db::models::{ClaimTurns, NewWebhookEvent, WebhookEvent};
use gateway::db::{now, DatabaseUrl, Db, DbConnection};
use gateway::domain::EventStatus;

use crate::helpers::webhooks::event;
use crate::helpers::{backend_tests, spawn_app_with, Backend};
use crate::support::fake_stripe::billing::product_json;

backend_tests!(
    a_backlog_of_one_account_waits_its_turns,
    workers_serve_another_account_while_a_backlog_waits_at_stripe,
);

const BUSY: &str = "acct_1TurnsBusy0000001";
const QUIET: &str = "acct_1TurnsQuiet000001";
const OTHER: &str = "acct_1TurnsSoft0000001";

fn pending(id: &str, account: &str, due: chrono::NaiveDateTime) -> NewWebhookEvent {
    NewWebhookEvent {
        id: id.to_string(),
        stripe_account_id: account.to_string(),
        event_type: "product.updated".into(),
        object_type: "product".into(),
        object_id: Some(format!("prod_{id}")),
        livemode: false,
        created_at: due,
        received_at: due,
        status: EventStatus::Pending,
        next_attempt_at: due,
        payload: "{}".into(),
    }
}

/// A turn given as it stands, for claims made one at a time.
struct Turn {
    after: Option<String>,
    full: Vec<String>,
}

impl ClaimTurns for Turn {
    type Held = ();

    fn next(&self) -> (Option<String>, Vec<String>) {
        (self.after.clone(), self.full.clone())
    }

    fn take(&self, _account: &str, _full: &[String]) -> Option<()> {
        Some(())
    }
}

async fn a_backlog_of_one_account_waits_its_turns(backend: Backend) {
    let app = spawn_app_with(backend, |settings| settings.worker.run_workers = false).await;
    for (name, account) in [("Busy", BUSY), ("Quiet", QUIET), ("Other", OTHER)] {
        app.create_organizer(name, account).await;
    }
    let db = Db::connect(
        &DatabaseUrl::parse(app.database_url()).unwrap(),
        1,
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    let mut conn = db.get().unwrap();
    // The busy account's five events are all older than the two others' one each; one more
    // of the busy account is not due yet.
    let start = now() - Duration::seconds(60);
    let at = |second: i64| start + Duration::seconds(second);
    let mut rows: Vec<NewWebhookEvent> = (0..5)
        .map(|n| pending(&format!("evt_busy{n}"), BUSY, at(n)))
        .collect();
    rows.push(pending("evt_quiet", QUIET, at(10)));
    rows.push(pending("evt_other", OTHER, at(11)));
    rows.push(pending(
        "evt_busy_later",
        BUSY,
        now() + Duration::seconds(600),
    ));
    let refs: Vec<&NewWebhookEvent> = rows.iter().collect();
    assert_eq!(
        WebhookEvent::insert_batch(&mut conn, &refs).unwrap().len(),
        8
    );

    let until = now() + Duration::seconds(30);
    // One claim: `full` accounts are passed over while others have events due.
    let claim = |conn: &mut DbConnection, after: Option<&str>, full: &[String]| {
        let turn = Turn {
            after: after.map(str::to_owned),
            full: full.to_vec(),
        };
        let claimed =
            WebhookEvent::claim_next_across_accounts(conn, "worker", &turn, now(), until).unwrap();
        if let Some((event, ())) = &claimed {
            assert_eq!(event.lease_owner.as_deref(), Some("worker"));
        }
        claimed.map(|(event, ())| (event.stripe_account_id, event.id))
    };
    let mut after: Option<String> = None;
    let mut order = Vec::new();
    while let Some((account, id)) = claim(&mut conn, after.as_deref(), &[]) {
        after = Some(account);
        order.push(id);
    }
    // Accounts in id order (Busy < Quiet < Soft), each its oldest due event, then round again:
    // oldest-first would have taken the five busy events before the two others. The event not
    // due yet stays unclaimed.
    assert_eq!(
        order,
        [
            "evt_busy0",
            "evt_quiet",
            "evt_other",
            "evt_busy1",
            "evt_busy2",
            "evt_busy3",
            "evt_busy4"
        ]
    );

    // An account holding its share of the workers is passed over while another account has
    // an event due, even an account after it in the turn; with nothing else due, it is served.
    let more = [
        pending("evt_busy5", BUSY, at(20)),
        pending("evt_quiet2", QUIET, at(21)),
    ];
    let refs: Vec<&NewWebhookEvent> = more.iter().collect();
    assert_eq!(
        WebhookEvent::insert_batch(&mut conn, &refs).unwrap().len(),
        2
    );
    let busy = [BUSY.to_string()];
    let id = |claimed: Option<(String, String)>| claimed.map(|(_, id)| id);
    assert_eq!(
        id(claim(&mut conn, None, &busy)).as_deref(),
        Some("evt_quiet2")
    );
    assert_eq!(
        id(claim(&mut conn, Some(QUIET), &busy)).as_deref(),
        Some("evt_busy5")
    );
    assert_eq!(id(claim(&mut conn, None, &busy)), None);
}

/// End to end, through a worker process: one account's backlog, stored first, whose every fetch
/// Stripe holds, and one event of another account stored after it. Taking events oldest first,
/// the four workers would all wait on the backlog's fetches and the other account's event with
/// them; in the accounts' turns it is processed while every fetch of the backlog still waits.
async fn workers_serve_another_account_while_a_backlog_waits_at_stripe(backend: Backend) {
    let app = spawn_app_with(backend, |settings| settings.worker.run_workers = false).await;
    app.create_organizer("Busy", BUSY).await;
    app.create_organizer("Quiet", QUIET).await;
    let backlog: Vec<String> = (0..8).map(|n| format!("prod_busy{n}")).collect();
    let mut gates = Vec::new();
    for id in &backlog {
        app.stripe
            .put_object(Some(BUSY), product_json(id, "Backlog", true));
        gates.push(app.stripe.hold_next("GET", &format!("/v1/products/{id}")));
    }
    app.stripe
        .put_object(Some(QUIET), product_json("prod_quiet", "Quiet", true));
    let product_event = |account: &str, id: &str| {
        event(
            "product.updated",
            Some(account),
            &serde_json::json!({"id": id, "object": "product"}),
        )
    };
    let mut stored = Vec::new();
    for id in &backlog {
        let sent = product_event(BUSY, id);
        app.deliver(&sent).await;
        stored.push(sent["id"].as_str().unwrap().to_string());
    }
    let quiet = product_event(QUIET, "prod_quiet");
    app.deliver(&quiet).await;

    let _worker = app
        .spawn_worker_process_with(
            30,
            &[("WORKER_CONCURRENCY", "4")],
            "webhook workers running",
        )
        .await;
    let settled = app.settled(quiet["id"].as_str().unwrap()).await;
    assert_eq!(settled["status"], "processed", "{settled}");
    // Meanwhile the backlog's fetches that reached Stripe are all held (no gate is released
    // before this point), each holding its worker.
    let waiting = app
        .stripe
        .requests()
        .iter()
        .filter(|request| request.path.starts_with("/v1/products/prod_busy"))
        .count();
    assert!(
        (1..=4).contains(&waiting),
        "the backlog holds some of the four workers, at Stripe: {waiting}"
    );
    for gate in &gates {
        gate.release();
    }
    for id in &stored {
        let settled = app.settled(id).await;
        assert_eq!(settled["status"], "processed", "{settled}");
    }
}
