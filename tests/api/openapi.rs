//! `openapi.yaml` is generated from the code. Routes can only be registered through
//! `utoipa_actix_web` (see `routes::configure`), which refuses a handler without
//! `#[utoipa::path]`; these tests check the rest: the committed file is current, the served
//! document is that file, every documented operation is served, and no other method is.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::webhooks::event;
use crate::helpers::{error_body, spawn_app, spawn_app_with, Backend};

fn committed() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml"))
        .expect("openapi.yaml at the repository root")
}

#[test]
fn the_committed_openapi_yaml_is_what_the_code_generates() {
    let generated = gateway::openapi::document_yaml();
    assert!(
        committed() == generated,
        "openapi.yaml is out of date; regenerate it with `cargo run -- openapi > openapi.yaml`"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_is_the_committed_one() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app
        .client
        .get(format!("{}/openapi.yaml", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/yaml");
    assert!(
        response.text().await.unwrap() == committed(),
        "GET /openapi.yaml differs from openapi.yaml"
    );
}

/// A gateway with another fee cap states it: the organizer bodies' `application_fee_bps` is at
/// most its `MAX_APPLICATION_FEE_BPS`, so a generated client sends what it takes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_states_the_gateways_fee_cap() {
    let app = spawn_app_with(Backend::Sqlite, |settings| {
        settings.stripe.max_application_fee_bps = 450;
    })
    .await;
    let text = app
        .client
        .get(format!("{}/openapi.yaml", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for schema in ["CreateOrganizer", "UpdateOrganizer"] {
        // The schema's block, its fee property, and that property's `maximum`.
        let block = &text[text.find(&format!("\n    {schema}:\n")).expect(schema)..];
        let fee = &block[block.find("application_fee_bps:").expect("the fee")..];
        let maximum = fee
            .lines()
            .find(|line| line.trim_start().starts_with("maximum:"));
        assert_eq!(maximum.map(str::trim), Some("maximum: 450"), "{schema}");
    }
    let create = json!({ "name": "Capped", "stripe_account_id": "acct_1OpenapiCap00001",
                         "application_fee_bps": 451 });
    app.stripe.add_connected_account("acct_1OpenapiCap00001");
    let response = app
        .post("/v1/organizers", &app.admin_token(), &create)
        .await;
    error_body(response, 422, "validation_failed").await;
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_is_served_and_no_other_method() {
    let app = spawn_app(Backend::Sqlite).await;
    let document = serde_json::to_value(gateway::openapi::document()).unwrap();
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() >= 6, "{:?}", paths.keys());
    let id = uuid::Uuid::now_v7().to_string();
    for (template, item) in paths {
        let path = template
            .replace("{org_id}", &id)
            .replace("{customer_id}", &id)
            .replace("{event_id}", "evt_unknown")
            .replace("{session_id}", "cs_unknown")
            .replace("{payment_id}", "pi_unknown")
            .replace("{subscription_id}", "sub_unknown")
            .replace("{run_id}", "run_unknown")
            .replace("{endpoint_id}", &id);
        assert!(
            !path.contains('{'),
            "a path parameter the test does not fill: {template}"
        );
        for method in METHODS {
            let documented = item.get(method).is_some();
            let response = app
                .request(
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    &path,
                    Some(&app.admin_token()),
                    None,
                )
                .await;
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let code = body["error"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if documented {
                assert!(
                    code != "route_not_found" && code != "method_not_allowed",
                    "{method} {template} is documented but not served: {status} {body}"
                );
            } else {
                assert_eq!(
                    code, "method_not_allowed",
                    "{method} {template} is served but not documented: {status} {body}"
                );
            }
        }
    }
}

#[test]
fn every_operation_documents_its_errors_with_the_error_shape() {
    let document = serde_json::to_value(gateway::openapi::document()).unwrap();
    for (template, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if !template.starts_with("/v1/") {
                continue;
            }
            let responses = operation["responses"].as_object().unwrap();
            assert!(
                responses.contains_key("401"),
                "{method} {template} lacks 401"
            );
            for (status, response) in responses
                .iter()
                .filter(|(status, _)| status.as_str() >= "400")
            {
                let schema = &response["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(
                    schema, "#/components/schemas/ErrorBody",
                    "{method} {template} {status}"
                );
            }
            assert_eq!(
                operation["security"][0]["bearer"],
                serde_json::json!([]),
                "{method} {template}"
            );
        }
    }
}

#[test]
fn operation_ids_are_unique() {
    // Client generators name methods after them; a duplicate breaks generation.
    let document = serde_json::to_value(gateway::openapi::document()).unwrap();
    let mut seen = std::collections::HashSet::new();
    for item in document["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            let id = operation["operationId"]
                .as_str()
                .expect("every operation has an operationId");
            assert!(
                seen.insert(id.to_string()),
                "operationId {id} is used twice"
            );
        }
    }
}

#[test]
fn every_post_under_v1_takes_an_idempotency_key() {
    let document = serde_json::to_value(gateway::openapi::document()).unwrap();
    let mut posts = 0;
    for (template, item) in document["paths"].as_object().unwrap() {
        let Some(operation) = item.get("post").filter(|_| template.starts_with("/v1/")) else {
            continue;
        };
        posts += 1;
        let header = operation["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "Idempotency-Key")
            .unwrap_or_else(|| panic!("POST {template} lacks Idempotency-Key"));
        assert_eq!(header["in"], "header");
        assert_eq!(header["required"], false);
        let responses = operation["responses"].as_object().unwrap();
        for (status, code) in [
            ("400", "invalid_idempotency_key"),
            ("409", "idempotency_key_in_flight"),
            ("422", "idempotency_key_reused"),
        ] {
            let description = responses[status]["description"].as_str().unwrap();
            assert!(
                description.contains(code),
                "POST {template} {status}: {description}"
            );
        }
        assert!(
            responses["409"]["headers"].get("Retry-After").is_some(),
            "POST {template}"
        );
        let success = responses
            .iter()
            .find(|(s, _)| s.starts_with('2'))
            .unwrap()
            .1;
        assert!(
            success["headers"].get("Idempotent-Replayed").is_some(),
            "POST {template}"
        );
    }
    assert!(posts >= 7, "{posts} POST operations");
}

/// The inbox's cursor is documented by its exact shape, so a well-shaped cursor naming an event
/// the inbox does not have is a position that is gone (404, as a path naming the event would
/// be), not malformed input (422).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbox_cursor_naming_an_unknown_event_is_not_found() {
    let app = spawn_app(Backend::Sqlite).await;
    let token = app.admin_token();
    for n in 0..2 {
        let sent = event(
            "product.created",
            None,
            &json!({"id": format!("prod_{n}"), "object": "product"}),
        );
        app.deliver(&sent).await;
    }
    let page: Value = app
        .get_json("/v1/admin/webhook-events?limit=1", &token)
        .await;
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let next = app
        .get(
            &format!("/v1/admin/webhook-events?limit=1&cursor={cursor}"),
            &token,
        )
        .await;
    assert_eq!(next.status(), 200);

    let unknown = URL_SAFE_NO_PAD.encode("e1:evt_neverDelivered");
    error_body(
        app.get(
            &format!("/v1/admin/webhook-events?cursor={unknown}"),
            &token,
        )
        .await,
        404,
        "webhook_event_not_found",
    )
    .await;
    for malformed in ["garbage!", &URL_SAFE_NO_PAD.encode("e1:evt 1"), ""] {
        error_body(
            app.get(
                &format!("/v1/admin/webhook-events?cursor={malformed}"),
                &token,
            )
            .await,
            422,
            "validation_failed",
        )
        .await;
    }
}
