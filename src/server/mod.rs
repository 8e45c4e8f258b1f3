//! The HTTP side, served by hyper from a listener the caller binds (tests
//! bind 127.0.0.1:0): `/metrics` (the telemetry path), `/probe`,
//! `/-/reload`, `/-/healthy`, `/-/ready` and the landing page `/`.
//!
//! [`run`] accepts connections; `routes` is the routing table, one module
//! per endpoint behind it; `auth` checks basic authentication first.

mod auth;
mod health;
mod landing;
mod metrics;
mod probe;
mod reload;
mod response;
mod routes;

use crate::app::App;
use crate::web_config::WebConfig;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
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

/// Serves until `shutdown` completes, then stops accepting and gives open
/// connections up to 10 seconds to finish.
pub async fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    // HTTP/1 only (what Prometheus speaks here): the auto builder would
    // otherwise first wait, without any bound, for bytes that tell HTTP/1
    // from HTTP/2, and a silent client would hold its connection for ever.
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(state.client_timeouts.header_read);
    let tls_handshake_timeout = state.client_timeouts.tls_handshake;
    let tls = state.web.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(connection) => connection,
                    Err(error) => {
                        // Out of file descriptors and the like: wait, go on.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let state = state.clone();
                let service = hyper::service::service_fn(move |request| {
                    let state = state.clone();
                    async move { Ok::<_, std::convert::Infallible>(routes::handle(&state, request).await) }
                });
                match &tls {
                    None => {
                        let connection = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                        let connection = graceful.watch(connection);
                        tokio::spawn(async move {
                            if let Err(error) = connection.await {
                                tracing::debug!(%error, "connection ended with an error");
                            }
                        });
                    }
                    Some(acceptor) => {
                        let acceptor = acceptor.clone();
                        let builder = builder.clone();
                        let watcher = graceful.watcher();
                        tokio::spawn(async move {
                            // A client that does not speak TLS (or stalls) is dropped.
                            let stream = match tokio::time::timeout(tls_handshake_timeout, acceptor.accept(stream)).await {
                                Ok(Ok(stream)) => stream,
                                Ok(Err(error)) => {
                                    tracing::debug!(%error, "TLS handshake failed");
                                    return;
                                }
                                Err(_) => return,
                            };
                            let connection = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                            if let Err(error) = watcher.watch(connection).await {
                                tracing::debug!(%error, "connection ended with an error");
                            }
                        });
                    }
                }
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after 10s; closing them");
    }
    Ok(())
}
