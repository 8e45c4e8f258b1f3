//! Client connections, from accept to close: the accept loop and its cap
//! on connections open at once (`--web.max-connections`; at the cap the
//! connection idle the longest makes room), the bounds each
//! connection is held to ([`ClientTimeouts`](super::ClientTimeouts)), the
//! TLS handshake when `--web.config.file` asks for TLS, and HTTP/1 serving
//! through the routing table.

use super::{routes, AppState};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// The highest cap [`Connections`] takes.
const MAX_CAP: u32 = 100_000_000;

/// How every accepted connection is served, and the connections open now;
/// one per [`run_limited`](super::run_limited).
pub(super) struct Connections {
    builder: auto::Builder<TokioExecutor>,
    tls: Option<TlsAcceptor>,
    tls_handshake_timeout: Duration,
    /// The cap.
    max: u32,
    /// One permit per connection that may be open.
    slots: Arc<Semaphore>,
    open: Arc<Registry>,
    /// Set once: every connection finishes what it is doing and closes.
    stop: watch::Sender<bool>,
}

impl Connections {
    /// Takes the bounds and the TLS set-up from `state`; at most `max`
    /// connections open at once (beyond 100 million: 100 million, which no
    /// descriptor limit reaches anyway; tokio's semaphore has a ceiling).
    pub(super) fn new(state: &AppState, max: NonZeroUsize) -> Connections {
        let max = u32::try_from(max.get()).map_or(MAX_CAP, |max| max.min(MAX_CAP));
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
            max,
            slots: Arc::new(Semaphore::new(max as usize)),
            open: Arc::new(Registry::default()),
            stop: watch::channel(false).0,
        }
    }

    /// Asks every connection to close once its request in progress is
    /// answered, and waits up to `grace` for them; false if some are
    /// still open then.
    pub(super) async fn shut_down(&self, grace: Duration) -> bool {
        self.stop.send_replace(true);
        tokio::time::timeout(grace, self.slots.acquire_many(self.max))
            .await
            .is_ok()
    }

    /// A place under the cap for a connection just accepted. At the cap,
    /// the connection idle the longest (no request in progress) is asked
    /// to close; if every one is busy, this waits for one to finish.
    async fn slot(&self) -> Option<OwnedSemaphorePermit> {
        if let Ok(slot) = self.slots.clone().try_acquire_owned() {
            return Some(slot);
        }
        self.open.close_longest_idle();
        self.slots.clone().acquire_owned().await.ok()
    }

    /// Serves `stream` on a task of its own, which holds `slot` (its place
    /// under the cap) until the connection closes.
    fn spawn(&self, stream: TcpStream, state: Arc<AppState>, slot: OwnedSemaphorePermit) {
        let builder = self.builder.clone();
        let tls = self.tls.clone();
        let timeout = self.tls_handshake_timeout;
        let entry = self.open.register(Instant::now());
        let mut stop = self.stop.subscribe();
        tokio::spawn(async move {
            let _slot = slot;
            let close = async {
                tokio::select! {
                    () = entry.close.notified() => {}
                    _ = stop.wait_for(|stop| *stop) => {}
                }
            };
            match tls {
                None => serve(builder, stream, state, &entry, close).await,
                Some(acceptor) => {
                    let shake = handshake(&acceptor, stream, timeout);
                    tokio::pin!(close);
                    let stream = tokio::select! {
                        stream = shake => stream,
                        () = &mut close => None,
                    };
                    if let Some(stream) = stream {
                        serve(builder, stream, state, &entry, close).await;
                    }
                }
            }
        });
    }
}

/// Accepts connections until `shutdown` completes, at most the cap of
/// `connections` open at once. At the cap, a new client takes the place
/// of the connection idle the longest: idle clients cannot lock the
/// scrapes out, and the descriptors they hold stay bounded. When every
/// connection is busy, accepting waits (new clients wait in the kernel's
/// listen backlog, which costs no descriptor of ours). Accept errors (out
/// of descriptors) are logged at most once a second and retried after a
/// growing pause.
pub(super) async fn accept_loop(
    listeners: &[TcpListener],
    state: &Arc<AppState>,
    connections: &Connections,
    shutdown: impl Future<Output = ()>,
) {
    let mut errors = AcceptErrors::default();
    let mut next = 0;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = accept_any(listeners, &mut next) => accepted,
            () = &mut shutdown => return,
        };
        match accepted {
            Ok((stream, _)) => {
                errors.succeeded();
                let slot = tokio::select! {
                    slot = connections.slot() => slot,
                    () = &mut shutdown => return,
                };
                let Some(slot) = slot else { return };
                connections.spawn(stream, state.clone(), slot);
            }
            Err(error) => {
                let pause = errors.failed(Instant::now(), &error);
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = &mut shutdown => return,
                }
            }
        }
    }
}

/// The next connection on any of `listeners` (`--web.listen-address`
/// given more than once), asking them in turn from `next` so that a busy
/// one cannot starve the others; pending for ever without listeners.
async fn accept_any(
    listeners: &[TcpListener],
    next: &mut usize,
) -> std::io::Result<(tokio::net::TcpStream, std::net::SocketAddr)> {
    std::future::poll_fn(|cx| {
        let count = listeners.len();
        for step in 0..count {
            let index = (*next + step) % count;
            if let std::task::Poll::Ready(accepted) = listeners[index].poll_accept(cx) {
                *next = (index + 1) % count;
                return std::task::Poll::Ready(accepted);
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// The open connections and whether each waits for a request (and since
/// when), so that the one idle the longest can be asked to close.
#[derive(Default)]
struct Registry {
    entries: Mutex<RegistryEntries>,
}

#[derive(Default)]
struct RegistryEntries {
    next: u64,
    open: HashMap<u64, State>,
}

/// One connection's state in the [`Registry`].
struct State {
    /// Since when it waits for a request; `None` while one is served.
    idle_since: Option<Instant>,
    /// Asked to close already: not a candidate again.
    closing: bool,
    close: Arc<Notify>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, RegistryEntries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new connection, idle since `now`; removed when the entry drops.
    fn register(self: &Arc<Self>, now: Instant) -> Entry {
        let close = Arc::new(Notify::new());
        let mut entries = self.lock();
        let id = entries.next;
        entries.next += 1;
        let state = State {
            idle_since: Some(now),
            closing: false,
            close: close.clone(),
        };
        entries.open.insert(id, state);
        Entry {
            id,
            registry: self.clone(),
            close,
        }
    }

    /// Asks the connection idle the longest to close; false when none is
    /// idle (every one is serving a request, or closing already).
    fn close_longest_idle(&self) -> bool {
        let mut entries = self.lock();
        let longest = entries
            .open
            .values_mut()
            .filter(|state| !state.closing)
            .filter_map(|state| state.idle_since.map(|since| (since, state)))
            .min_by_key(|(since, _)| *since);
        match longest {
            Some((_, state)) => {
                state.closing = true;
                state.close.notify_one();
                true
            }
            None => false,
        }
    }

    /// Marks connection `id` busy until the guard drops (its request is
    /// answered, or abandoned).
    fn busy(self: &Arc<Self>, id: u64) -> Busy {
        self.set_idle_since(id, None);
        Busy {
            id,
            registry: self.clone(),
        }
    }

    /// Marks connection `id` busy (`None`) or idle since a time.
    fn set_idle_since(&self, id: u64, idle_since: Option<Instant>) {
        if let Some(state) = self.lock().open.get_mut(&id) {
            state.idle_since = idle_since;
        }
    }
}

/// A connection's place in the [`Registry`], held by its task.
struct Entry {
    id: u64,
    registry: Arc<Registry>,
    /// Notified when the connection is to close.
    close: Arc<Notify>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.registry.lock().open.remove(&self.id);
    }
}

/// A request in progress on a connection; see [`Registry::busy`].
struct Busy {
    id: u64,
    registry: Arc<Registry>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.registry.set_idle_since(self.id, Some(Instant::now()));
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

/// HTTP/1 on `io` until the client closes, or `close` completes and the
/// request in progress (if any) is answered.
async fn serve<IO>(
    builder: auto::Builder<TokioExecutor>,
    io: IO,
    state: Arc<AppState>,
    entry: &Entry,
    close: impl Future<Output = ()>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let registry = entry.registry.clone();
    let id = entry.id;
    let service = hyper::service::service_fn(move |request| {
        let state = state.clone();
        let busy = registry.busy(id);
        async move {
            let answer = routes::handle(&state, request).await;
            drop(busy);
            Ok::<_, Infallible>(answer)
        }
    });
    let connection = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    tokio::pin!(close);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = &mut close => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, "connection ended with an error");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_idle_the_longest_is_closed_never_a_busy_one() {
        let registry = Arc::new(Registry::default());
        let start = Instant::now();
        let oldest = registry.register(start);
        let middle = registry.register(start + Duration::from_secs(1));
        let newest = registry.register(start + Duration::from_secs(2));
        // The oldest is serving a request: the middle one goes first.
        let busy = registry.busy(oldest.id);
        assert!(registry.close_longest_idle());
        let closing = |entry: &Entry| registry.lock().open[&entry.id].closing;
        assert!(!closing(&oldest) && closing(&middle) && !closing(&newest));
        // Not asked twice: the newest is next, then none is left.
        assert!(registry.close_longest_idle());
        assert!(closing(&newest));
        assert!(!registry.close_longest_idle());
        // Its request answered, the oldest is idle again, and a candidate.
        drop(busy);
        assert!(registry.close_longest_idle());
        assert!(closing(&oldest));
        drop((oldest, middle, newest));
        assert!(registry.lock().open.is_empty());
    }

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
