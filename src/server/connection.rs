//! One client connection, from accept to close: the bounds it is held to
//! ([`ClientTimeouts`](super::ClientTimeouts)), the TLS handshake when
//! `--web.config.file` asks for TLS, and HTTP/1 serving through the
//! routing table.

use super::{routes, AppState};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::Watcher;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How every accepted connection is served; built once per [`run`](super::run).
pub(super) struct Connections {
    builder: auto::Builder<TokioExecutor>,
    tls: Option<TlsAcceptor>,
    tls_handshake_timeout: Duration,
}

impl Connections {
    /// Takes the bounds and the TLS set-up from `state`.
    pub(super) fn new(state: &AppState) -> Connections {
        // HTTP/1 only (what Prometheus speaks here): the auto builder would
        // otherwise first wait, without any bound, for bytes that tell HTTP/1
        // from HTTP/2, and a silent client would hold its connection for ever.
        let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(state.client_timeouts.header_read);
        Connections {
            builder,
            tls: state.web.tls.clone().map(TlsAcceptor::from),
            tls_handshake_timeout: state.client_timeouts.tls_handshake,
        }
    }

    /// Serves `stream` on a task of its own. `watcher` is taken before the
    /// task starts, so a graceful shutdown also waits for connections still
    /// in their TLS handshake.
    pub(super) fn spawn(&self, stream: TcpStream, state: Arc<AppState>, watcher: Watcher) {
        let builder = self.builder.clone();
        match self.tls.clone() {
            None => {
                tokio::spawn(serve(builder, stream, state, watcher));
            }
            Some(acceptor) => {
                let timeout = self.tls_handshake_timeout;
                tokio::spawn(async move {
                    if let Some(stream) = handshake(&acceptor, stream, timeout).await {
                        serve(builder, stream, state, watcher).await;
                    }
                });
            }
        }
    }
}

/// The TLS handshake, within `timeout`: a client that does not speak TLS
/// (or stalls) is dropped.
async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    timeout: Duration,
) -> Option<TlsStream<TcpStream>> {
    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(error)) => {
            tracing::debug!(%error, "TLS handshake failed");
            None
        }
        Err(_) => None,
    }
}

/// HTTP/1 on `io` until the client closes or shutdown ends it.
async fn serve<IO>(
    builder: auto::Builder<TokioExecutor>,
    io: IO,
    state: Arc<AppState>,
    watcher: Watcher,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(routes::handle(&state, request).await) }
    });
    let connection = builder.serve_connection(TokioIo::new(io), service);
    if let Err(error) = watcher.watch(connection).await {
        tracing::debug!(%error, "connection ended with an error");
    }
}
