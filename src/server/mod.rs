//! The HTTP side, served by hyper from a listener the caller binds (tests
//! bind 127.0.0.1:0): `/metrics` (the telemetry path), `/probe`,
//! `/-/reload`, `/-/healthy`, `/-/ready`, the status page `/` and a page per
//! domain, `/domain/<name>`.
//!
//! [`run`] serves until shutdown; `connection` accepts connections (at
//! most `--web.max-connections` at once) and serves each within its
//! bounds, `auth` checks basic authentication, and `routes`, the routing
//! table, hands the request to the module of its endpoint.

mod auth;
mod connection;
mod domain_page;
mod health;
mod html;
mod landing;
pub mod listen;
mod metrics;
mod probe;
mod reload;
pub mod reports_section;
mod response;
mod routes;
mod status;

use crate::app::App;
use crate::config::web::WebConfig;
use connection::Connections;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// What the handlers read.
pub struct AppState {
    /// The running exporter.
    pub app: App,
    /// Where metrics are served (`--web.telemetry-path`).
    pub telemetry_path: String,
    /// TLS and basic authentication (`--web.config.file`).
    pub web: WebConfig,
    /// How long a client may hold a connection without a request.
    pub client_timeouts: ClientTimeouts,
}

/// Bounds on a client that connects and does not get to a request: without
/// them, idle or trickling connections (slowloris) would each hold a file
/// descriptor for ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientTimeouts {
    /// To complete the TLS handshake (with `--web.config.file` TLS).
    pub tls_handshake: Duration,
    /// To send a request's whole header, counted from when the connection
    /// starts waiting for it: an idle keep-alive connection is closed after
    /// this long, and Prometheus opens a new one for its next scrape.
    pub header_read: Duration,
}

impl Default for ClientTimeouts {
    fn default() -> Self {
        ClientTimeouts {
            tls_handshake: Duration::from_secs(10),
            header_read: Duration::from_secs(30),
        }
    }
}

/// Connections served at once unless `--web.max-connections` says
/// otherwise: well under the usual descriptor limits (1,024 soft before
/// it is raised), so the probes keep descriptors of their own.
pub const DEFAULT_MAX_CONNECTIONS: NonZeroUsize = match NonZeroUsize::new(512) {
    Some(n) => n,
    None => NonZeroUsize::MIN,
};

/// [`run_limited`] with [`DEFAULT_MAX_CONNECTIONS`].
pub async fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    run_limited(listener, state, shutdown, DEFAULT_MAX_CONNECTIONS).await
}

/// Serves until `shutdown` completes, with at most `max_connections`
/// client connections open at once (see `connection::accept_loop` for what
/// happens at the cap), then stops accepting and gives open connections up
/// to 10 seconds to finish.
pub async fn run_limited(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
    max_connections: NonZeroUsize,
) -> std::io::Result<()> {
    run_listeners(vec![listener], state, shutdown, max_connections).await
}

/// [`run_limited`] on several listeners at once (`--web.listen-address`
/// given more than once): one connection cap and one shutdown for all.
pub async fn run_listeners(
    listeners: Vec<TcpListener>,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
    max_connections: NonZeroUsize,
) -> std::io::Result<()> {
    let connections = Connections::new(&state, max_connections);
    connection::accept_loop(&listeners, &state, &connections, shutdown).await;
    drop(listeners);
    if !connections.shut_down(Duration::from_secs(10)).await {
        tracing::warn!("connections still open after 10s; closing them");
    }
    Ok(())
}
