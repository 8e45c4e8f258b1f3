//! Client connections, from accept to close: the accept loop and its cap
//! on connections open at once (`--web.max-connections`), the bounds each
//! connection is held to ([`ClientTimeouts`](super::ClientTimeouts)), the
//! TLS handshake when `--web.config.file` asks for TLS, and HTTP/1 serving
//! through the routing table.

use super::{routes, AppState};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use std::convert::Infallible;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How every accepted connection is served; built once per [`accept_loop`].
struct Connections {
    builder: auto::Builder<TokioExecutor>,
    tls: Option<TlsAcceptor>,
    tls_handshake_timeout: Duration,
}

impl Connections {
    /// Takes the bounds and the TLS set-up from `state`.
    fn new(state: &AppState) -> Connections {
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

    /// Serves `stream` on a task of its own, which holds `slot` (its place
    /// under the connection cap) until the connection closes. `watcher` is
    /// taken before the task starts, so a graceful shutdown also waits for
    /// connections still in their TLS handshake.
    fn spawn(
        &self,
        stream: TcpStream,
        state: Arc<AppState>,
        watcher: Watcher,
        slot: OwnedSemaphorePermit,
    ) {
        let builder = self.builder.clone();
        match self.tls.clone() {
            None => {
                tokio::spawn(async move {
                    serve(builder, stream, state, watcher).await;
                    drop(slot);
                });
            }
            Some(acceptor) => {
                let timeout = self.tls_handshake_timeout;
                tokio::spawn(async move {
                    if let Some(stream) = handshake(&acceptor, stream, timeout).await {
                        serve(builder, stream, state, watcher).await;
                    }
                    drop(slot);
                });
            }
        }
    }
}

/// Accepts connections until `shutdown` completes, at most
/// `max_connections` open at once. At the cap it stops accepting: new
/// clients wait in the kernel's listen backlog, which costs this process no
/// descriptor, and are accepted as soon as a connection closes (idle ones
/// are closed after the header timeout). Accept errors (out of descriptors)
/// are logged at most once a second and retried after a growing pause.
pub(super) async fn accept_loop(
    listener: &TcpListener,
    state: &Arc<AppState>,
    graceful: &GracefulShutdown,
    max_connections: NonZeroUsize,
    shutdown: impl Future<Output = ()>,
) {
    let connections = Connections::new(state);
    let slots = Arc::new(Semaphore::new(max_connections.get()));
    let mut errors = AcceptErrors::default();
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => return,
            },
            () = &mut shutdown => return,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => return,
        };
        match accepted {
            Ok((stream, _)) => {
                errors.succeeded();
                connections.spawn(stream, state.clone(), graceful.watcher(), slot);
            }
            Err(error) => {
                let pause = errors.failed(Instant::now(), &error);
                drop(slot);
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = &mut shutdown => return,
                }
            }
        }
    }
}

/// First pause after a failed accept; it doubles up to [`MAX_ACCEPT_PAUSE`]
/// (as Go's net/http does).
const FIRST_ACCEPT_PAUSE: Duration = Duration::from_millis(5);
/// Longest pause after failed accepts.
const MAX_ACCEPT_PAUSE: Duration = Duration::from_secs(1);
/// At most one "accept failed" log line per this long.
const ACCEPT_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// Failed accepts in a row: how long to pause, and when the log last
/// said so.
#[derive(Debug, Default)]
struct AcceptErrors {
    pause: Option<Duration>,
    last_logged: Option<Instant>,
    suppressed: u64,
}

impl AcceptErrors {
    /// A connection was accepted: the next failure pauses briefly again.
    fn succeeded(&mut self) {
        self.pause = None;
    }

    /// An accept failed at `now`: logs it unless the log said so less than
    /// a second ago (then counts it, for the next line), and returns how
    /// long to pause before accepting again.
    fn failed(&mut self, now: Instant, error: &std::io::Error) -> Duration {
        if self.should_log(now) {
            tracing::warn!(%error, suppressed = self.suppressed, "accept failed");
            self.suppressed = 0;
        }
        self.next_pause()
    }

    /// Whether a failure at `now` is logged; counts it as suppressed if not.
    fn should_log(&mut self, now: Instant) -> bool {
        match self.last_logged {
            Some(last) if now.saturating_duration_since(last) < ACCEPT_LOG_INTERVAL => {
                self.suppressed += 1;
                false
            }
            _ => {
                self.last_logged = Some(now);
                true
            }
        }
    }

    /// The pause after this failure: doubled from the last, capped.
    fn next_pause(&mut self) -> Duration {
        let pause = self
            .pause
            .map_or(FIRST_ACCEPT_PAUSE, |p| (p * 2).min(MAX_ACCEPT_PAUSE));
        self.pause = Some(pause);
        pause
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_errors_are_logged_once_a_second_with_a_count() {
        let mut errors = AcceptErrors::default();
        let start = Instant::now();
        // 1,000 failures within one second: only the first is logged.
        let logged = (0..1000)
            .filter(|i| errors.should_log(start + Duration::from_micros(i * 900)))
            .count();
        assert_eq!(logged, 1);
        assert_eq!(errors.suppressed, 999);
        // A second after the first line, the next one is logged (and the
        // caller reports and resets the count).
        assert!(errors.should_log(start + Duration::from_secs(1)));
        assert!(!errors.should_log(start + Duration::from_millis(1500)));
    }

    #[test]
    fn accept_errors_back_off_up_to_a_second_and_reset_on_success() {
        let mut errors = AcceptErrors::default();
        let pauses: Vec<Duration> = (0..10).map(|_| errors.next_pause()).collect();
        assert_eq!(pauses[0], Duration::from_millis(5));
        assert_eq!(pauses[1], Duration::from_millis(10));
        assert_eq!(pauses[7], Duration::from_millis(640));
        assert_eq!(pauses[8], MAX_ACCEPT_PAUSE);
        assert_eq!(pauses[9], MAX_ACCEPT_PAUSE);
        // A spin would be 1,000s of accepts a second; this is at most ~200
        // in the first second and one a second after.
        let first_second: Duration = pauses.iter().take(8).sum();
        assert!(
            first_second > Duration::from_millis(1200),
            "{first_second:?}"
        );
        errors.succeeded();
        assert_eq!(errors.next_pause(), FIRST_ACCEPT_PAUSE);
    }
}
