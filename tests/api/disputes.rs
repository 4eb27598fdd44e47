//! Disputes: mirrored read-only from their events and from reconciliation, listed newest first
//! with their evidence deadline.

use serde_json::{json, Value};

use crate::helpers::{backend_tests, ids, TestApp};
use crate::sync::{drift, run_once};

backend_tests!(
    disputes_follow_their_events_and_are_listed_with_their_deadline,
    reconciliation_finds_a_dispute_no_event_announced,
);

const ACCOUNT: &str = "acct_1Disputes000001";
/// 2026-11-01 00:00 UTC.
const T0: i64 = 1_793_491_200;

/// A dispute as Stripe answers it, evidence due a week after `created`.
fn dispute_json(id: &str, status: &str, created: i64) -> Value {
    json!({
        "id": id, "object": "dispute", "amount": 4900, "currency": "eur",
        "charge": format!("ch_{id}"), "payment_intent": format!("pi_{id}"),
        "status": status, "reason": "fraudulent", "created": created,
        "evidence_details": { "due_by": created + 7 * 86_400, "has_evidence": false },
        "livemode": false,
    })
}

async fn disputes_follow_their_events_and_are_listed_with_their_deadline(app: TestApp) {
    let org = app.create_organizer("Disputes", ACCOUNT).await;
    let path = format!("/v1/organizers/{}/disputes", org["id"].as_str().unwrap());
    let token = app.organizer_token(org["id"].as_str().unwrap());
    app.put_and_settle(
        ACCOUNT,
        "charge.dispute.created",
        dispute_json("dp_old", "needs_response", T0),
    )
    .await;
    app.put_and_settle(
        ACCOUNT,
        "charge.dispute.created",
        dispute_json("dp_new", "warning_needs_response", T0 + 86_400),
    )
    .await;

    let page = app.get_json(&format!("{path}?limit=1"), &token).await;
    assert_eq!(ids(&page), ["dp_new"], "{page}");
    let newest = &page["data"][0];
    assert_eq!(newest["payment_id"], "pi_dp_new");
    assert_eq!(newest["charge"], "ch_dp_new");
    assert_eq!(newest["amount"], 4900);
    assert_eq!(newest["reason"], "fraudulent");
    assert_eq!(newest["evidence_due_by"], "2026-11-09T00:00:00Z");
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let next = app
        .get_json(&format!("{path}?limit=1&cursor={cursor}"), &token)
        .await;
    assert_eq!(ids(&next), ["dp_old"], "{next}");

    // Lost in Stripe: the event's fetch brings the new status.
    app.put_and_settle(
        ACCOUNT,
        "charge.dispute.closed",
        dispute_json("dp_old", "lost", T0),
    )
    .await;
    let lost = app.get_json(&format!("{path}?status=lost"), &token).await;
    assert_eq!(ids(&lost), ["dp_old"], "{lost}");
    let open = app
        .get_json(&format!("{path}?status=needs_response"), &token)
        .await;
    assert_eq!(open, json!({ "data": [], "next_cursor": null }));

    // Another organizer sees none of them; a bad status is named.
    let stranger = app
        .create_organizer("Stranger", "acct_1Disputes000002")
        .await;
    let theirs = app.organizer_token(stranger["id"].as_str().unwrap());
    assert_eq!(app.get(&path, &theirs).await.status(), 403);
    let their_path = format!(
        "/v1/organizers/{}/disputes",
        stranger["id"].as_str().unwrap()
    );
    let empty = app.get_json(&their_path, &theirs).await;
    assert_eq!(empty, json!({ "data": [], "next_cursor": null }));
    let response = app.get(&format!("{path}?status=open"), &token).await;
    assert_eq!(response.status(), 422);
}

async fn reconciliation_finds_a_dispute_no_event_announced(app: TestApp) {
    let org = app.create_organizer("Disputes", ACCOUNT).await;
    app.stripe.put_object(
        Some(ACCOUNT),
        dispute_json("dp_quiet", "needs_response", T0),
    );
    let run = run_once(&app, &org, json!({ "kinds": ["disputes"] })).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let found = drift(&run, "disputes");
    assert_eq!(
        (&found["missing"], &found["repaired"]),
        (&json!(1), &json!(1)),
        "{run}"
    );
    let path = format!("/v1/organizers/{}/disputes", org["id"].as_str().unwrap());
    let page = app.get_json(&path, &app.admin_token()).await;
    assert_eq!(ids(&page), ["dp_quiet"], "{page}");
}
