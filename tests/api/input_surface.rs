//! Every path, query and header value that reaches the database, and the text fields of the
//! bodies, sent with what a database refuses or a client should never send: a NUL, a lone
//! surrogate (as invalid UTF-8 in a URL or a header, as an escape in JSON) and 10 KB of text.
//! Each is answered 4xx with a JSON error, never 5xx.

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{backend_tests, TestApp};

backend_tests!(hostile_values_in_paths_queries_headers_and_bodies_are_refused_with_4xx);

const ACCOUNT: &str = "acct_1InputSurface01";

/// The hostile values, as they go in a URL (percent-encoded) and as JSON escapes.
fn url_values() -> Vec<(&'static str, String)> {
    vec![
        ("nul", "x%00y".to_string()),
        ("lone surrogate", "x%ED%A0%80y".to_string()),
        ("10 KB", "a".repeat(10 * 1024)),
    ]
}

fn json_values() -> Vec<(&'static str, Value)> {
    vec![
        ("nul", json!("x\u{0}y")),
        ("10 KB", json!("a".repeat(10 * 1024))),
    ]
}

/// A body with a lone surrogate escape, which no JSON parser may turn into a string.
fn with_lone_surrogate(body: &Value, field: &str) -> Vec<u8> {
    let marker = "LONE_SURROGATE_MARKER";
    let mut body = body.clone();
    body[field] = json!(marker);
    serde_json::to_string(&body)
        .unwrap()
        .replace(marker, "x\\ud800y")
        .into_bytes()
}

struct Probe {
    what: String,
    method: Method,
    path: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Option<Vec<u8>>,
}

async fn send(app: &TestApp, probe: &Probe) -> (u16, String) {
    let mut request = app
        .client
        .request(
            probe.method.clone(),
            format!("{}{}", app.address, probe.path),
        )
        .bearer_auth(app.admin_token());
    for (name, value) in &probe.headers {
        request = request.header(name, value);
    }
    if let Some(body) = &probe.body {
        request = request
            .header("content-type", "application/json")
            .body(body.clone());
    }
    let response = request.send().await.expect("the gateway answers");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or("").to_string())
        .unwrap_or_default();
    let text = response.text().await.unwrap_or_default();
    (status, format!("{content_type} {text}"))
}

async fn hostile_values_in_paths_queries_headers_and_bodies_are_refused_with_4xx(app: TestApp) {
    let organizer = app.create_organizer("Surface", ACCOUNT).await;
    let org = organizer["id"].as_str().unwrap().to_string();
    let customer: Value = app
        .post(
            &format!("/v1/organizers/{org}/customers"),
            &app.admin_token(),
            &json!({"email": "ana@example.com"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let customer = customer["id"].as_str().unwrap().to_string();

    let mut probes = Vec::new();
    for (name, value) in url_values() {
        let paths = [
            (Method::GET, format!("/v1/organizers/{value}")),
            (Method::PATCH, format!("/v1/organizers/{value}")),
            (Method::GET, format!("/v1/organizers/{value}/customers")),
            (
                Method::GET,
                format!("/v1/organizers/{org}/customers/{value}"),
            ),
            (
                Method::PATCH,
                format!("/v1/organizers/{org}/customers/{value}"),
            ),
            (
                Method::DELETE,
                format!("/v1/organizers/{org}/customers/{value}"),
            ),
            (
                Method::GET,
                format!("/v1/organizers/{org}/customers/{value}/entitlements"),
            ),
            (
                Method::GET,
                format!("/v1/organizers/{org}/customers/{value}/subscriptions"),
            ),
            (
                Method::POST,
                format!("/v1/organizers/{org}/customers/{value}/portal-sessions"),
            ),
            (
                Method::GET,
                format!("/v1/organizers/{org}/checkout-sessions/{value}"),
            ),
            (
                Method::GET,
                format!("/v1/organizers/{org}/sync-runs/{value}"),
            ),
            (Method::GET, format!("/v1/admin/webhook-events/{value}")),
            (
                Method::POST,
                format!("/v1/admin/webhook-events/{value}/replay"),
            ),
            (
                Method::GET,
                format!("/v1/organizers/{org}/customers?email={value}"),
            ),
            (
                Method::GET,
                format!("/v1/organizers/{org}/customers?cursor={value}"),
            ),
            (Method::GET, format!("/v1/organizers?cursor={value}")),
            (
                Method::GET,
                format!("/v1/organizers/{org}/sync-runs?cursor={value}"),
            ),
            (Method::GET, format!("/v1/admin/sync-health?cursor={value}")),
            (
                Method::GET,
                format!("/v1/admin/webhook-events?type={value}"),
            ),
            (
                Method::GET,
                format!("/v1/admin/webhook-events?account={value}"),
            ),
            (
                Method::GET,
                format!("/v1/admin/webhook-events?cursor={value}"),
            ),
            (Method::GET, format!("/v1/admin/audit-log?org_id={value}")),
            (Method::GET, format!("/v1/admin/audit-log?action={value}")),
            (Method::GET, format!("/v1/admin/audit-log?email={value}")),
            (Method::GET, format!("/v1/admin/audit-log?cursor={value}")),
            (
                Method::GET,
                format!("/v1/audit-events?organizer_id={value}"),
            ),
            (Method::GET, format!("/v1/audit-events?cursor={value}")),
        ];
        for (method, path) in paths {
            let body = matches!(method, Method::POST | Method::PATCH).then(|| b"{}".to_vec());
            probes.push(Probe {
                what: format!("{name} in {method} {}", &path[..path.len().min(90)]),
                method,
                path,
                headers: vec![],
                body,
            });
        }
    }

    // Header values: HTTP carries no NUL, so the bytes of a lone surrogate and 10 KB.
    let surrogate = HeaderValue::from_bytes(b"key-\xed\xa0\x80").unwrap();
    let long = HeaderValue::from_str(&"k".repeat(10 * 1024)).unwrap();
    for (name, value) in [("lone surrogate", surrogate), ("10 KB", long)] {
        probes.push(Probe {
            what: format!("{name} in Idempotency-Key"),
            method: Method::POST,
            path: format!("/v1/organizers/{org}/customers"),
            headers: vec![(HeaderName::from_static("idempotency-key"), value)],
            body: Some(br#"{"email": "bo@example.com"}"#.to_vec()),
        });
    }

    // Body text fields.
    let bodies = [
        (
            Method::POST,
            format!("/v1/organizers/{org}/customers"),
            json!({"email": "cy@example.com", "name": "Cy"}),
            &["email", "name", "phone"][..],
        ),
        (
            Method::PATCH,
            format!("/v1/organizers/{org}/customers/{customer}"),
            json!({"name": "Ana"}),
            &["name", "email", "phone"][..],
        ),
        (
            Method::POST,
            "/v1/organizers".to_string(),
            json!({"name": "Other", "stripe_account_id": "acct_1InputSurface02"}),
            &["name", "stripe_account_id"][..],
        ),
        (
            Method::PATCH,
            format!("/v1/organizers/{org}"),
            json!({"name": "Renamed"}),
            &["name"][..],
        ),
        (
            Method::POST,
            format!("/v1/organizers/{org}/checkout-sessions"),
            json!({"email": "ana@example.com", "mode": "payment",
                   "line_items": [{"price": "price_1", "quantity": 1}],
                   "success_url": "https://example.com/ok", "cancel_url": "https://example.com/no"}),
            &["email", "success_url", "cancel_url", "mode"][..],
        ),
        (
            Method::POST,
            "/v1/erasures".to_string(),
            json!({"email": "ana@example.com"}),
            &["email"][..],
        ),
    ];
    for (method, path, valid, fields) in bodies {
        for field in fields {
            for (name, value) in json_values() {
                let mut body = valid.clone();
                body[field] = value;
                probes.push(Probe {
                    what: format!("{name} in {field} of {method} {path}"),
                    method: method.clone(),
                    path: path.clone(),
                    headers: vec![],
                    body: Some(serde_json::to_vec(&body).unwrap()),
                });
            }
            probes.push(Probe {
                what: format!("lone surrogate in {field} of {method} {path}"),
                method: method.clone(),
                path: path.clone(),
                headers: vec![],
                body: Some(with_lone_surrogate(&valid, field)),
            });
        }
    }

    let mut failures = Vec::new();
    for probe in &probes {
        let (status, answer) = send(&app, probe).await;
        let json_error = answer.starts_with("application/json") && answer.contains(r#""code""#);
        if !(400..500).contains(&status) || !json_error {
            failures.push(format!(
                "{}: {status} {}",
                probe.what,
                &answer[..answer.len().min(200)]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} probes not refused with a 4xx JSON error:\n{}",
        failures.len(),
        probes.len(),
        failures.join("\n")
    );
}
