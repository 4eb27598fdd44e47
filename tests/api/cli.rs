//! The binary itself: configuration errors, the `token` and `migrate` commands, and logs.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gateway::auth::JwtVerifier;
use gateway::configuration::AuthArgs;

fn gateway(dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stripe-gateway"));
    // A clean environment and a directory without a .env file: only what the test sets applies.
    command
        .env_clear()
        .current_dir(dir)
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

/// What `serve` would verify tokens with, given only this HS256 secret.
fn hs256_verifier(secret: &str) -> JwtVerifier {
    JwtVerifier::from_settings(&AuthArgs {
        jwt_secret: Some(secret.into()),
        jwt_public_key_file: None,
        jwt_issuer: None,
        jwt_audience: None,
    })
    .unwrap()
}

/// Runs a command that must fail, and returns what it printed on stderr.
fn stderr_of_failure(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(!output.status.success(), "the command succeeded");
    String::from_utf8(output.stderr).unwrap()
}

/// Start-up names every missing setting at once, one line each, and creates nothing.
#[test]
fn missing_settings_stop_start_up_naming_each_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = stderr_of_failure(gateway(dir.path()).args(["serve"]));
    assert!(
        stderr.starts_with("error: 3 settings must be fixed:"),
        "{stderr}"
    );
    for named in [
        "- JWT_SECRET is not set",
        "- STRIPE_SECRET_KEY is not set",
        "- AUDIT_HASH_KEY is not set",
    ] {
        assert!(
            stderr.lines().any(|line| line.starts_with(named)),
            "{named} in {stderr}"
        );
    }

    let stderr = stderr_of_failure(
        gateway(dir.path())
            .args(["serve"])
            .env("STRIPE_SECRET_KEY", "sk_test_...")
            .env("JWT_SECRET", "x"),
    );
    assert!(
        stderr.starts_with("error: 2 settings must be fixed:"),
        "{stderr}"
    );
    assert!(
        stderr.contains("STRIPE_SECRET_KEY is a placeholder"),
        "{stderr}"
    );
    assert!(stderr.contains("AUDIT_HASH_KEY is not set"), "{stderr}");

    let stderr = stderr_of_failure(
        gateway(dir.path())
            .args(["serve"])
            .env("STRIPE_SECRET_KEY", "sk_test_x")
            .env("JWT_SECRET", "x"),
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("AUDIT_HASH_KEY is not set"), "{stderr}");
    assert!(
        !dir.path().join("data").exists(),
        "nothing is created before the configuration is complete"
    );
}

#[test]
fn an_unknown_database_scheme_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = stderr_of_failure(
        gateway(dir.path())
            .args(["migrate"])
            .env("DATABASE_URL", "mysql://localhost/db"),
    );
    assert!(
        stderr.contains("postgres://") && stderr.contains("sqlite://"),
        "{stderr}"
    );
}

#[test]
fn token_mints_what_the_gateway_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let org = uuid::Uuid::now_v7().to_string();
    let output = gateway(dir.path())
        .args([
            "token",
            "--role",
            "organizer",
            "--org",
            &org,
            "--sub",
            "cli-user",
        ])
        .env("JWT_SECRET", "cli-secret")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap();
    let verifier = hs256_verifier("cli-secret");
    let principal = verifier
        .verify(token.trim())
        .expect("the minted token verifies");
    assert_eq!(principal.sub(), "cli-user");
    assert!(principal
        .require_organizer(gateway::domain::OrganizerId::parse(&org).unwrap())
        .is_ok());

    // An organizer token needs --org.
    let stderr = stderr_of_failure(
        gateway(dir.path())
            .args(["token", "--role", "organizer"])
            .env("JWT_SECRET", "s"),
    );
    assert!(stderr.contains("--org"), "{stderr}");
}

#[test]
fn migrate_applies_once_and_then_has_nothing_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let run = || gateway(dir.path()).args(["migrate"]).output().unwrap();
    let first = run();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).starts_with("applied "));
    assert!(
        dir.path().join("data/gateway.db").exists(),
        "the default SQLite file"
    );
    let second = run();
    assert!(String::from_utf8_lossy(&second.stdout).starts_with("no pending migrations"));
}

#[test]
fn a_database_password_never_reaches_the_error_output() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = stderr_of_failure(
        gateway(dir.path())
            .args(["migrate"])
            .env(
                "DATABASE_URL",
                "postgres://app:pw-never-shown@127.0.0.1:1/gw?password=pw-never-shown",
            )
            .env("DATABASE_CONNECT_TIMEOUT_SECS", "1"),
    );
    assert!(
        stderr.contains("postgres://app:***@127.0.0.1:1/gw?password=***"),
        "{stderr}"
    );
    assert!(!stderr.contains("pw-never-shown"), "{stderr}");
}

/// Starts `serve` with JSON logs and secrets everywhere they can be configured, makes requests
/// that succeed and fail (Stripe unreachable), and reads every log line.
#[test]
fn json_logs_never_contain_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = gateway(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "debug")
        .env("STRIPE_SECRET_KEY", "sk_test_never_logged_51")
        .env("STRIPE_API_BASE", "http://127.0.0.1:1")
        .env("STRIPE_MAX_RETRIES", "1")
        .env("JWT_SECRET", "jwt-never-logged-52")
        .env("AUDIT_HASH_KEY", "audit-never-logged-53")
        .env("DATABASE_URL", "sqlite://./gw.db")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let mut next_line = |timeout: Duration| {
        let line = receiver.recv_timeout(timeout).ok()?;
        lines.push(line.clone());
        Some(line)
    };

    let deadline = Instant::now() + Duration::from_secs(20);
    let mut address = None;
    while address.is_none() && Instant::now() < deadline {
        if let Some(line) = next_line(Duration::from_millis(100)) {
            let parsed: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if parsed["fields"]["message"] == "gateway listening"
                || parsed["message"] == "gateway listening"
            {
                address = parsed["address"]
                    .as_str()
                    .or(parsed["fields"]["address"].as_str())
                    .map(str::to_string);
            }
        }
    }
    let address = address.expect("the gateway logs the address it listens on");

    let token = gateway::auth::mint_hs256(
        &"jwt-never-logged-52".into(),
        &gateway::auth::Claims {
            sub: "ops".into(),
            exp: gateway::auth::unix_now() + 60,
            iat: None,
            role: gateway::auth::Role::Admin,
            org: None,
            iss: None,
            aud: None,
        },
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let statuses = runtime.block_on(async {
        let client = reqwest::Client::new();
        let listed = client
            .get(format!("http://{address}/v1/organizers"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let registered = client
            .post(format!("http://{address}/v1/organizers"))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "name": "A", "stripe_account_id": "acct_1LogTest" }))
            .send()
            .await
            .unwrap();
        (listed.status().as_u16(), registered.status().as_u16())
    });
    assert_eq!(statuses, (200, 503));
    // Log lines are written before the response they belong to is sent. Once the process is
    // gone its stderr ends, and the reader thread hands over every line before it stops.
    child.kill().unwrap();
    child.wait().unwrap();
    lines.extend(receiver.iter());

    assert!(
        lines.iter().any(|l| l.contains("retrying Stripe request")),
        "{lines:#?}"
    );
    for line in &lines {
        let parsed: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(parsed["level"].is_string(), "{line}");
        assert!(
            !line.contains("never_logged") && !line.contains("never-logged"),
            "{line}"
        );
        assert!(!line.contains(&token), "{line}");
    }
}

#[test]
fn a_dotenv_file_in_the_working_directory_is_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "JWT_SECRET=from-dotenv\n").unwrap();
    let output = gateway(dir.path())
        .args(["token", "--role", "admin"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap();
    let verifier = hs256_verifier("from-dotenv");
    assert!(verifier.verify(token.trim()).is_ok());
}
