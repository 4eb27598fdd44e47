//! The fake Stripe the test suite uses, runnable on its own: develop against the gateway on one
//! machine, with no Stripe account. Every `acct_...` is a connected account; any `sk_`/`rk_` key
//! is accepted; objects live in memory until the process ends.
//!
//! ```sh
//! cargo run --example fake-stripe -- --port 12111 \
//!     --webhook-url http://127.0.0.1:8080/webhooks/stripe --webhook-secret whsec_local
//! ```
//!
//! Besides the Stripe API it serves `POST /_fake/trigger` (change an object and deliver the
//! signed event, as `stripe trigger` does) and `POST /_fake/fail-next` (the next requests fail);
//! see `tests/support/fake_stripe/control.rs` and the README's "Local fake Stripe" section.

use std::net::TcpListener;

use clap::Parser;
use tokio::signal::unix::{signal, SignalKind};

// The suite's support code; the example uses the fake only.
#[allow(dead_code)]
#[path = "../tests/support/mod.rs"]
mod support;

use support::fake_stripe::{control::TRIGGERS, settle, FakeStripe, Options, PLATFORM_ACCOUNT};

/// A fake Stripe API for local development.
#[derive(Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "FAKE_STRIPE_HOST", default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0: any free port).
    #[arg(long, env = "FAKE_STRIPE_PORT", default_value_t = 12111)]
    port: u16,
    /// The gateway's webhook endpoint, where `POST /_fake/trigger` delivers events.
    #[arg(long, env = "FAKE_STRIPE_WEBHOOK_URL")]
    webhook_url: Option<String>,
    /// The secret events are signed with: one of the gateway's `STRIPE_WEBHOOK_SECRETS`.
    #[arg(
        long,
        env = "FAKE_STRIPE_WEBHOOK_SECRET",
        default_value = "whsec_local"
    )]
    webhook_secret: String,
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let listener = TcpListener::bind((args.host.as_str(), args.port))?;
    let address = listener.local_addr()?;
    let webhook = args.webhook_url.map(|url| (url, args.webhook_secret));
    let delivers = webhook.as_ref().map(|(url, _)| url.clone());
    let _fake = FakeStripe::start_with(Options {
        listener: Some(listener),
        any_account: true,
        webhook,
    })
    .await;
    println!("fake Stripe listening on http://{address}");
    println!("its platform account (STRIPE_PLATFORM_ACCOUNT_ID): {PLATFORM_ACCOUNT}");
    match delivers {
        Some(url) => println!(
            "POST /_fake/trigger delivers {}, {} to {url}",
            TRIGGERS.join(", "),
            settle::TRIGGERS.join(", ")
        ),
        None => println!("no --webhook-url: POST /_fake/trigger cannot deliver events"),
    }
    // Until Ctrl-C, or SIGTERM from a script that started it.
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        stopped = tokio::signal::ctrl_c() => stopped?,
        _ = terminate.recv() => {}
    }
    Ok(())
}
