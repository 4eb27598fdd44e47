//! A minimal actix-web server, `GET /` -> `hello`: the ceiling the gateway's benchmark
//! (`benches/customers.sh`) measures in the same run, with the same number of workers.
//!
//! ```sh
//! cargo build --release --example hello
//! target/release/examples/hello 127.0.0.1:8090            # address from argv
//! BIND_ADDRESS=127.0.0.1:8090 HTTP_WORKERS=2 target/release/examples/hello
//! ```
//!
//! The address is the first argument, else `BIND_ADDRESS`, else `127.0.0.1:8090`. The worker count
//! is `HTTP_WORKERS`, else the number of CPUs (actix-web's default, as for the gateway).

use actix_web::{get, App, HttpServer};

#[get("/")]
async fn hello() -> &'static str {
    "hello"
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("BIND_ADDRESS").ok())
        .unwrap_or_else(|| "127.0.0.1:8090".to_string());
    let mut server = HttpServer::new(|| App::new().service(hello));
    if let Some(workers) = std::env::var("HTTP_WORKERS")
        .ok()
        .and_then(|w| w.parse::<usize>().ok())
        .filter(|&w| w > 0)
    {
        server = server.workers(workers);
    }
    server.bind(&bind)?.run().await
}
