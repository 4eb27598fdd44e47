//! A gateway as its own OS process on a test app's database and fake Stripe.

use std::time::Duration;

use serde_json::Value;

use super::{TestApp, AUDIT_HASH_KEY, WEBHOOK_SECRET};
use crate::support::fake_stripe::PLATFORM_ACCOUNT;

impl TestApp {
    /// Another gateway, as its own OS process, on this app's database and fake Stripe: what
    /// two replicas behind a load balancer are. It calls Stripe with this app's timeout and
    /// retry settings.
    pub async fn spawn_process(&self) -> GatewayProcess {
        self.spawn_process_with(&[]).await
    }

    /// [`TestApp::spawn_process`] with more environment variables (settings of its own).
    pub async fn spawn_process_with(&self, env: &[(&str, &str)]) -> GatewayProcess {
        use secrecy::ExposeSecret;
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_stripe-gateway"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .current_dir(std::env::temp_dir())
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .env("HTTP_WORKERS", "2")
            .env("DATABASE_URL", &self.database_url)
            .env("DATABASE_POOL_SIZE", "4")
            .env("STRIPE_SECRET_KEY", "sk_test_gateway")
            .env("STRIPE_API_BASE", &self.stripe.base_url)
            .env("STRIPE_PLATFORM_ACCOUNT_ID", PLATFORM_ACCOUNT)
            .env("STRIPE_TIMEOUT_MS", millis(self.stripe_settings.timeout))
            .env(
                "STRIPE_MAX_RETRIES",
                self.stripe_settings.max_retries.to_string(),
            )
            .env(
                "STRIPE_RETRY_BASE_MS",
                millis(self.stripe_settings.retry_base),
            )
            .env("JWT_SECRET", self.jwt_secret.expose_secret())
            .env("AUDIT_HASH_KEY", AUDIT_HASH_KEY)
            .env("STRIPE_WEBHOOK_SECRETS", WEBHOOK_SECRET)
            .env("RECONCILE_INTERVAL_SECS", "0")
            .env("BACKFILL_ON_REGISTER", "false")
            .env("STRIPE_RATE_LIMIT", "10000")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        tokio::task::spawn_blocking(move || GatewayProcess::start(command, "gateway listening"))
            .await
            .unwrap()
    }

    /// Starts `stripe-gateway worker` on this app's database and fake Stripe: webhook workers
    /// in a process of their own, whose claims last `lease_secs`. Returns once they run.
    pub async fn spawn_worker_process(&self, lease_secs: u64) -> GatewayProcess {
        self.spawn_worker_process_with(lease_secs, &[], "webhook workers running")
            .await
    }

    /// [`TestApp::spawn_worker_process`] with more environment variables, returning once the
    /// process logs `ready` (with the address of that line, if it has one).
    pub async fn spawn_worker_process_with(
        &self,
        lease_secs: u64,
        env: &[(&str, &str)],
        ready: &'static str,
    ) -> GatewayProcess {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_stripe-gateway"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .current_dir(std::env::temp_dir())
            .arg("worker")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .env("DATABASE_URL", &self.database_url)
            .env("DATABASE_POOL_SIZE", "2")
            .env("STRIPE_SECRET_KEY", "sk_test_gateway")
            .env("STRIPE_API_BASE", &self.stripe.base_url)
            .env("STRIPE_PLATFORM_ACCOUNT_ID", PLATFORM_ACCOUNT)
            .env("STRIPE_TIMEOUT_MS", millis(self.stripe_settings.timeout))
            .env("AUDIT_HASH_KEY", AUDIT_HASH_KEY)
            .env("WORKER_CONCURRENCY", "1")
            .env("WORKER_LEASE_SECS", lease_secs.to_string())
            .env("WORKER_POLL_MS", "50")
            .env("RECONCILE_INTERVAL_SECS", "0")
            .env("STRIPE_RATE_LIMIT", "10000")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        tokio::task::spawn_blocking(move || GatewayProcess::start(command, ready))
            .await
            .unwrap()
    }
}

fn millis(duration: Duration) -> String {
    duration.as_millis().to_string()
}

/// A gateway running as a child process; killed when dropped.
pub struct GatewayProcess {
    pub address: String,
    child: std::process::Child,
}

impl GatewayProcess {
    /// Starts the command and waits for the log line `ready` (with the listening address, if
    /// the line has one).
    fn start(mut command: std::process::Command, ready: &str) -> Self {
        use std::io::{BufRead, BufReader};
        let mut child = command.spawn().expect("the gateway binary starts");
        let stderr = child.stderr.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        // Keeps draining the log after start-up, so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            let Ok(line) = receiver.recv_timeout(Duration::from_millis(100)) else {
                continue;
            };
            let parsed: Value = serde_json::from_str(&line).unwrap_or_default();
            if parsed["message"] == ready {
                let address = parsed["address"].as_str().unwrap_or_default();
                return Self {
                    address: format!("http://{address}"),
                    child,
                };
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the gateway process did not log `{ready}`");
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
