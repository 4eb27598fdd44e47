//! One attempt of a delivery over HTTP, made safe by default: the URL is judged again
//! ([`Targets::check_url`]), and every address its host resolves to is judged after DNS, in
//! the resolver the connection itself uses (so a name cannot resolve to a public address for
//! the check and a private one for the connection); no redirect is followed, an attempt ends
//! after the timeout, and at most [`EXCERPT_BYTES`] of the answer are read.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderValue, CONTENT_TYPE, USER_AGENT};
use url::Url;

use super::target::Targets;

/// How much of an answer's body is read and kept in the delivery log.
pub const EXCERPT_BYTES: usize = 1024;

/// What an attempt came to.
#[derive(Debug)]
pub struct Answer {
    /// The answer's status; `None` when none came.
    pub status: Option<u16>,
    /// Why no answer came, or why it was not tried.
    pub error: Option<String>,
    pub latency: Duration,
    /// The start of the answer's body (UTF-8, lossy).
    pub excerpt: Option<String>,
}

impl Answer {
    /// Whether the endpoint took the delivery (2xx).
    pub fn delivered(&self) -> bool {
        self.status
            .is_some_and(|status| (200..300).contains(&status))
    }
}

/// Resolves names as the system does, then refuses the host unless every address is allowed.
struct CheckedResolver {
    targets: Targets,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let targets = self.targets.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            for address in &addresses {
                targets.check_address(&host, address.ip())?;
            }
            let addrs: Addrs = Box::new(addresses.into_iter());
            Ok(addrs)
        })
    }
}

/// The HTTP client of the deliveries.
#[derive(Clone)]
pub struct Sender {
    http: reqwest::Client,
    targets: Targets,
}

impl Sender {
    pub fn new(targets: Targets, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(CheckedResolver {
                targets: targets.clone(),
            }))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .expect("the delivery client builds");
        Self { http, targets }
    }

    pub fn targets(&self) -> &Targets {
        &self.targets
    }

    /// POSTs `body` to `url` with `headers` (the signature's) and says what came of it.
    pub async fn send(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: Vec<u8>,
    ) -> Answer {
        let started = Instant::now();
        let refused = |error: String| Answer {
            status: None,
            error: Some(error),
            latency: started.elapsed(),
            excerpt: None,
        };
        let url = match Url::parse(url) {
            Ok(url) => url,
            Err(err) => return refused(format!("the URL does not parse: {err}")),
        };
        if let Err(err) = self.targets.check_url(&url) {
            return refused(format!("not delivered: the URL {err}"));
        }
        let mut request = self
            .http
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(
                USER_AGENT,
                HeaderValue::from_static(concat!("stripe-gateway/", env!("CARGO_PKG_VERSION"))),
            )
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(err) => return refused(describe(&err)),
        };
        let status = response.status().as_u16();
        let mut excerpt = Vec::new();
        let mut error = None;
        while excerpt.len() < EXCERPT_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = EXCERPT_BYTES - excerpt.len();
                    excerpt.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                Ok(None) => break,
                Err(err) => {
                    error = Some(describe(&err));
                    break;
                }
            }
        }
        Answer {
            status: Some(status),
            error,
            latency: started.elapsed(),
            excerpt: Some(String::from_utf8_lossy(&excerpt).into_owned()),
        }
    }
}

/// An HTTP failure in words: timed out, refused, not allowed (the resolver's refusal), ...
fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return "timed out".to_string();
    }
    let chain = crate::domain::chain(err);
    if err.is_connect() {
        format!("could not connect: {chain}")
    } else {
        chain
    }
}
