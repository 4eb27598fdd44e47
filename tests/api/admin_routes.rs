//! The HTTP contract around routing and roles: admin-only routes check the role before they
//! look at the input, and a 405 says which methods the path serves.

use std::collections::BTreeSet;

use reqwest::{Method, Response};
use serde_json::{json, Value};

use crate::helpers::{backend_tests, error_body, TestApp};

/// A request an admin-only route refuses for its input.
struct BadInput {
    method: Method,
    /// The route as the OpenAPI document names it.
    template: &'static str,
    /// With `{org_id}` filled in and the bad query string, if any.
    path: String,
    /// `(content type, body)`.
    body: Option<(&'static str, String)>,
    /// What an admin gets for it.
    status: u16,
    code: &'static str,
}

impl BadInput {
    fn query(template: &'static str, query: &str, status: u16, code: &'static str) -> Self {
        Self {
            method: Method::GET,
            template,
            path: format!("{template}?{query}"),
            body: None,
            status,
            code,
        }
    }

    fn body(
        method: Method,
        template: &'static str,
        path: String,
        body: (&'static str, &str),
        status: u16,
        code: &'static str,
    ) -> Self {
        Self {
            method,
            template,
            path,
            body: Some((body.0, body.1.to_string())),
            status,
            code,
        }
    }

    async fn send(&self, app: &TestApp, token: Option<&str>) -> Response {
        let mut request = app
            .client
            .request(self.method.clone(), format!("{}{}", app.address, self.path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some((content_type, body)) = &self.body {
            request = request
                .header("content-type", *content_type)
                .body(body.clone());
        }
        request.send().await.expect("the gateway answers")
    }
}

/// Every bad input of every kind, for every admin-only route.
fn bad_inputs(org_id: &str) -> Vec<BadInput> {
    const JSON: &str = "application/json";
    let organizer = format!("/v1/organizers/{org_id}");
    let mut cases = Vec::new();
    for (method, template, path) in [
        (Method::POST, "/v1/organizers", "/v1/organizers".to_string()),
        (Method::PATCH, "/v1/organizers/{org_id}", organizer.clone()),
        (Method::POST, "/v1/erasures", "/v1/erasures".to_string()),
    ] {
        for (body, status, code) in [
            ((JSON, "{\"name\": "), 400, "malformed_json"),
            (("text/plain", "{}"), 415, "unsupported_media_type"),
            ((JSON, "{\"unknown_field\": 1}"), 422, "validation_failed"),
            ((JSON, "[1, 2]"), 422, "validation_failed"),
        ] {
            cases.push(BadInput::body(
                method.clone(),
                template,
                path.clone(),
                body,
                status,
                code,
            ));
        }
    }
    // Fields of the right shape whose values are refused.
    cases.push(BadInput::body(
        Method::POST,
        "/v1/organizers",
        "/v1/organizers".to_string(),
        (JSON, r#"{"name": " ", "stripe_account_id": "cus_1"}"#),
        422,
        "validation_failed",
    ));
    cases.push(BadInput::body(
        Method::PATCH,
        "/v1/organizers/{org_id}",
        organizer,
        (JSON, r#"{"application_fee_bps": 10001}"#),
        422,
        "validation_failed",
    ));
    cases.push(BadInput::body(
        Method::POST,
        "/v1/erasures",
        "/v1/erasures".to_string(),
        (JSON, r#"{"email": "not an email"}"#),
        422,
        "validation_failed",
    ));
    for template in [
        "/v1/organizers",
        "/v1/admin/audit-log",
        "/v1/audit-events",
        "/v1/admin/webhook-events",
        "/v1/admin/sync-health",
    ] {
        cases.push(BadInput::query(template, "foo=1", 400, "invalid_query"));
        cases.push(BadInput::query(template, "limit=abc", 400, "invalid_query"));
        cases.push(BadInput::query(
            template,
            "limit=0",
            422,
            "validation_failed",
        ));
    }
    let events = "/v1/admin/webhook-events";
    cases.push(BadInput::query(
        events,
        "status=bogus",
        400,
        "invalid_query",
    ));
    cases.push(BadInput::query(
        events,
        "cursor=nope",
        422,
        "validation_failed",
    ));
    cases.push(BadInput::query(events, "type=", 422, "validation_failed"));
    cases.push(BadInput {
        method: Method::GET,
        template: "/v1/admin/webhook-events/{event_id}",
        path: "/v1/admin/webhook-events/evt_missing".to_string(),
        body: None,
        status: 404,
        code: "webhook_event_not_found",
    });
    cases.push(BadInput::body(
        Method::POST,
        "/v1/admin/webhook-events/{event_id}/replay",
        "/v1/admin/webhook-events/evt_missing/replay".to_string(),
        (JSON, "{}"),
        404,
        "webhook_event_not_found",
    ));
    cases.push(BadInput::query(
        "/v1/admin/audit-log",
        "email=nope",
        422,
        "validation_failed",
    ));
    cases
}

/// The operations the OpenAPI document marks admin-only (their 403 is "Not an admin token").
fn admin_only_operations() -> BTreeSet<(String, String)> {
    let document = serde_json::to_value(gateway::openapi::document()).unwrap();
    let mut operations = BTreeSet::new();
    for (template, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let forbidden = operation["responses"]["403"]["description"]
                .as_str()
                .unwrap_or_default();
            if forbidden.starts_with("Not an admin token") {
                operations.insert((method.to_uppercase(), template.clone()));
            }
        }
    }
    operations
}

/// The methods a 405 response's `Allow` header lists.
fn allowed(response: &Response) -> BTreeSet<String> {
    let allow = response
        .headers()
        .get("allow")
        .expect("a 405 carries Allow")
        .to_str()
        .unwrap();
    allow.split(',').map(|m| m.trim().to_string()).collect()
}

fn methods(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|m| m.to_string()).collect()
}

backend_tests!(
    admin_routes_refuse_an_organizer_token_before_reading_the_input,
    the_organizer_route_an_organizer_may_use_still_checks_its_role,
    a_405_lists_the_methods_the_path_serves,
    every_405_allows_exactly_the_documented_methods,
);

async fn admin_routes_refuse_an_organizer_token_before_reading_the_input(app: TestApp) {
    let org = app.create_organizer("Not Admin", "acct_1NotAdmin").await;
    let org_id = org["id"].as_str().unwrap();
    let organizer_token = app.organizer_token(org_id);
    let cases = bad_inputs(org_id);

    // The cases cover every admin-only route the app serves.
    let covered: BTreeSet<(String, String)> = cases
        .iter()
        .map(|case| (case.method.to_string(), case.template.to_string()))
        .collect();
    let expected: BTreeSet<(String, String)> = [
        ("POST", "/v1/organizers"),
        ("GET", "/v1/organizers"),
        ("PATCH", "/v1/organizers/{org_id}"),
        ("POST", "/v1/erasures"),
        ("GET", "/v1/admin/audit-log"),
        ("GET", "/v1/audit-events"),
        ("GET", "/v1/admin/webhook-events"),
        ("GET", "/v1/admin/webhook-events/{event_id}"),
        ("POST", "/v1/admin/webhook-events/{event_id}/replay"),
        ("GET", "/v1/admin/sync-health"),
    ]
    .into_iter()
    .map(|(m, t)| (m.to_string(), t.to_string()))
    .collect();
    assert_eq!(
        admin_only_operations(),
        expected,
        "the admin-only routes the app documents"
    );
    assert_eq!(covered, expected);

    for case in &cases {
        let what = format!("{} {} {:?}", case.method, case.path, case.body);
        // Without a token: 401, whatever the input.
        let anonymous = case.send(&app, None).await;
        assert_eq!(anonymous.status(), 401, "{what}");
        error_body(anonymous, 401, "unauthenticated").await;
        // An organizer token: 403, whatever the input.
        let refused = case.send(&app, Some(&organizer_token)).await;
        assert_eq!(refused.status(), 403, "{what}");
        let body = error_body(refused, 403, "forbidden").await;
        assert!(body["error"].get("fields").is_none(), "{what}: {body}");
        // An admin token gets the input's own error: the input is bad.
        let admin = case.send(&app, Some(&app.admin_token())).await;
        assert_eq!(admin.status(), case.status, "{what}");
        error_body(admin, case.status, case.code).await;
    }
    // Nothing was changed or sent to Stripe by any of them.
    let unchanged: Value = app
        .get_json(&format!("/v1/organizers/{org_id}"), &app.admin_token())
        .await;
    assert_eq!(unchanged, org);
    assert_eq!(
        app.stripe.requests().len(),
        1,
        "only the organizer's registration reached Stripe"
    );
    let log: Value = app.get_json("/v1/audit-events", &app.admin_token()).await;
    assert_eq!(log["data"].as_array().unwrap().len(), 1, "{log}");
}

async fn the_organizer_route_an_organizer_may_use_still_checks_its_role(app: TestApp) {
    // GET /v1/organizers/{id} is the only organizer route an organizer token reaches: its own.
    let own = app.create_organizer("Own", "acct_1OwnOrg").await;
    let other = app.create_organizer("Other", "acct_1OtherOrg").await;
    let token = app.organizer_token(own["id"].as_str().unwrap());
    let path = |org: &Value| format!("/v1/organizers/{}", org["id"].as_str().unwrap());
    assert_eq!(app.get(&path(&own), &token).await.status(), 200);
    error_body(app.get(&path(&other), &token).await, 403, "forbidden").await;
    // Its PATCH is admin-only even for its own organizer, with a valid body.
    let patch = app
        .patch(&path(&own), &token, &json!({ "name": "Renamed" }))
        .await;
    error_body(patch, 403, "forbidden").await;
}

async fn a_405_lists_the_methods_the_path_serves(app: TestApp) {
    let id = uuid::Uuid::now_v7();
    for (method, path, serves) in [
        (
            Method::DELETE,
            "/v1/organizers".to_string(),
            &["GET", "POST"][..],
        ),
        (Method::PUT, "/v1/organizers".to_string(), &["GET", "POST"]),
        (
            Method::PUT,
            format!("/v1/organizers/{id}"),
            &["GET", "PATCH"],
        ),
        (
            Method::DELETE,
            format!("/v1/organizers/{id}"),
            &["GET", "PATCH"],
        ),
        (
            Method::PUT,
            format!("/v1/organizers/{id}/customers"),
            &["GET", "POST"],
        ),
        (
            Method::POST,
            format!("/v1/organizers/{id}/customers/{id}"),
            &["GET", "PATCH", "DELETE"],
        ),
        (Method::GET, "/v1/erasures".to_string(), &["POST"]),
        (Method::POST, "/v1/admin/audit-log".to_string(), &["GET"]),
        (Method::DELETE, "/v1/audit-events".to_string(), &["GET"]),
        (Method::POST, "/healthz".to_string(), &["GET"]),
        (Method::PATCH, "/openapi.yaml".to_string(), &["GET"]),
    ] {
        let response = app
            .request(method.clone(), &path, Some(&app.admin_token()), None)
            .await;
        assert_eq!(response.status(), 405, "{method} {path}");
        assert_eq!(allowed(&response), methods(serves), "{method} {path}");
        let body = error_body(response, 405, "method_not_allowed").await;
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(serves[0]),
            "{body}"
        );
    }
    // Without a token too: routing comes before authentication.
    let response = app
        .request(Method::DELETE, "/v1/organizers", None, None)
        .await;
    assert_eq!(allowed(&response), methods(&["GET", "POST"]));
    error_body(response, 405, "method_not_allowed").await;
    // A path no route has is a 404 without Allow.
    let response = app
        .request(
            Method::DELETE,
            "/v1/organizers/x/y",
            Some(&app.admin_token()),
            None,
        )
        .await;
    assert!(response.headers().get("allow").is_none());
    error_body(response, 404, "route_not_found").await;
}

async fn every_405_allows_exactly_the_documented_methods(app: TestApp) {
    // HEAD is not served for GET routes: it gets a 405 like any other method.
    let head = app.request(Method::HEAD, "/healthz", None, None).await;
    assert_eq!(head.status(), 405);
    assert_eq!(allowed(&head), methods(&["GET"]));

    let document = serde_json::to_value(gateway::openapi::document()).unwrap();
    let id = uuid::Uuid::now_v7().to_string();
    let mut checked = 0;
    for (template, item) in document["paths"].as_object().unwrap() {
        let path = template
            .replace("{org_id}", &id)
            .replace("{customer_id}", &id);
        let documented: BTreeSet<String> = item
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_uppercase())
            .collect();
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if documented.contains(method) {
                continue;
            }
            let response = app
                .request(
                    Method::from_bytes(method.as_bytes()).unwrap(),
                    &path,
                    Some(&app.admin_token()),
                    None,
                )
                .await;
            assert_eq!(response.status(), 405, "{method} {template}");
            assert_eq!(allowed(&response), documented, "{method} {template}");
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked}");
}
