//! The HTTPS channel (RFC 8460 §5.3.2): a listener of its own, apart from
//! `/metrics` because it faces the Internet, that takes `POST <path>` of
//! one report (gzip or JSON, told apart by the gzip magic bytes, never by
//! `Content-Type`: RFC 8460 §5.2) and answers 200 only once the report is
//! stored durably.
//!
//! Every request is bounded: the header within `header_timeout` (hyper
//! closes the connection otherwise), the body within `body_timeout` and
//! `max_body_bytes` (refused from `Content-Length` before it is read, and
//! counted while a chunked body is read), at most
//! `max_concurrent_requests` at once (503 beyond), and a cap on open
//! connections (further clients wait in the listen backlog). Answers:
//! 200 stored (or stored before), 400 not a report or about no configured
//! domain, 401 without the basic-auth user `web_config_file` asks for,
//! 404 another path, 405 another method (`Allow: POST`), 408 a body too
//! slow, 413 too large, 503 busy or not stored (the sender retries).

use super::ingest::{Channel, IngestError, Ingested, Ingestor};
use crate::config::web::WebConfig;
use crate::config::ReportsConfig;
use crate::echo::capped;
use crate::rfc::rfc8460::report::ReportError;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

/// Ingest-error causes this channel finds before a report reaches the
/// [`Ingestor`] (besides `too-large`, which the decoder finds too):
/// `busy` (503, over `max_concurrent_requests`), `incomplete` (the client
/// closed before the whole body came), `timeout` (408, the body did not
/// come within `body_timeout`).
pub const HTTPS_CAUSES: [&str; 3] = ["busy", "incomplete", "timeout"];

/// Connections open at once per allowed concurrent request (idle
/// keep-alive connections and clients still sending their header).
const CONNECTIONS_PER_REQUEST: usize = 4;
/// Connections open at once at least.
const MIN_CONNECTIONS: usize = 64;

/// What a request is held to; replaced whole on reload, taken by each
/// connection when it starts.
pub struct HttpsSettings {
    /// The path reports are POSTed to.
    pub path: String,
    /// Bound on a body as received.
    pub max_body_bytes: usize,
    /// Time to send a request's header (and finish the TLS handshake).
    pub header_timeout: Duration,
    /// Time to send a request's body.
    pub body_timeout: Duration,
    /// TLS and basic authentication.
    pub web: WebConfig,
    tls: Option<TlsAcceptor>,
    /// One permit per request served at once.
    permits: Arc<Semaphore>,
    max_concurrent_requests: usize,
}

impl HttpsSettings {
    /// The settings `reports:` asks for.
    pub fn from_config(reports: &ReportsConfig) -> HttpsSettings {
        let web = reports
            .web_config_file
            .as_ref()
            .map(|file| file.web.clone())
            .unwrap_or_default();
        HttpsSettings {
            path: reports.path.clone(),
            max_body_bytes: reports.max_body_bytes,
            header_timeout: reports.header_timeout,
            body_timeout: reports.body_timeout,
            tls: web.tls.clone().map(TlsAcceptor::from),
            web,
            permits: Arc::new(Semaphore::new(reports.max_concurrent_requests)),
            max_concurrent_requests: reports.max_concurrent_requests,
        }
    }
}

/// The running listener.
pub struct HttpsChannel {
    settings: Arc<RwLock<Arc<HttpsSettings>>>,
    local_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
}

/// Binds `address` as `--web.listen-address` takes it (`:PORT`: every
/// address, IPv6 and IPv4, falling back to IPv4 alone). Must run inside a
/// tokio runtime.
pub fn bind(address: &str) -> std::io::Result<TcpListener> {
    let candidates = match address.strip_prefix(':') {
        Some(port) => vec![format!("[::]:{port}"), format!("0.0.0.0:{port}")],
        None => vec![address.to_string()],
    };
    let mut last_error = None;
    for candidate in candidates {
        match std::net::TcpListener::bind(&candidate) {
            Ok(listener) => {
                listener.set_nonblocking(true)?;
                return TcpListener::from_std(listener);
            }
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| std::io::Error::other("no address to listen on")))
}

impl HttpsChannel {
    /// Serves `listener` until [`HttpsChannel::stop`], handing reports to
    /// `ingestor`.
    pub fn start(
        listener: TcpListener,
        settings: HttpsSettings,
        ingestor: Arc<Ingestor>,
    ) -> HttpsChannel {
        let local_addr = listener.local_addr().ok();
        let max_connections = settings
            .max_concurrent_requests
            .saturating_mul(CONNECTIONS_PER_REQUEST)
            .max(MIN_CONNECTIONS);
        let settings = Arc::new(RwLock::new(Arc::new(settings)));
        let stop = watch::channel(false).0;
        tokio::spawn(accept_loop(
            listener,
            settings.clone(),
            ingestor,
            stop.subscribe(),
            Arc::new(Semaphore::new(max_connections)),
        ));
        HttpsChannel {
            settings,
            local_addr,
            stop,
        }
    }

    /// Where it listens.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// Takes up new settings: connections accepted from now on use them,
    /// and requests from now on count against the new concurrency bound.
    pub fn apply(&self, settings: HttpsSettings) {
        *self
            .settings
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(settings);
    }

    /// Stops accepting; open connections finish their request and close.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }
}

impl Drop for HttpsChannel {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn accept_loop(
    listener: TcpListener,
    settings: Arc<RwLock<Arc<HttpsSettings>>>,
    ingestor: Arc<Ingestor>,
    mut stop: watch::Receiver<bool>,
    slots: Arc<Semaphore>,
) {
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            () = stopped(&mut stop) => return,
        };
        let Ok(slot) = slot else { return };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stopped(&mut stop) => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "reports listener: accept failed");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                    () = stopped(&mut stop) => return,
                }
            }
        };
        let settings = settings
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let ingestor = ingestor.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match settings.tls.clone() {
                None => serve(stream, peer, settings, ingestor, stop).await,
                Some(acceptor) => {
                    let shake =
                        tokio::time::timeout(settings.header_timeout, acceptor.accept(stream));
                    match shake.await {
                        Ok(Ok(stream)) => serve(stream, peer, settings, ingestor, stop).await,
                        Ok(Err(error)) => {
                            tracing::debug!(%error, %peer, "reports listener: TLS handshake failed")
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "reports listener: TLS handshake too slow")
                        }
                    }
                }
            }
        });
    }
}

/// Completes once the channel is asked to stop.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// HTTP/1 on `io` until the client closes, or the channel stops and the
/// request in progress is answered.
async fn serve<IO>(
    io: IO,
    peer: SocketAddr,
    settings: Arc<HttpsSettings>,
    ingestor: Arc<Ingestor>,
    mut stop: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout);
    let service = hyper::service::service_fn(move |request| {
        let settings = settings.clone();
        let ingestor = ingestor.clone();
        async move { Ok::<_, Infallible>(handle(request, peer, &settings, &ingestor).await) }
    });
    let connection = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stopped(&mut stop) => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, %peer, "reports listener: connection ended with an error");
    }
}

/// A plain-text answer; `close` asks the client to open a new connection
/// (the body was not read, or not wholly).
fn answer(status: StatusCode, body: &'static str, close: bool) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if close {
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Whether the request carries the basic-auth user `web_config_file`
/// asks for (always, without users); bcrypt runs off the async threads.
async fn authorized(web: &WebConfig, request: &Request<Incoming>) -> bool {
    if web.users.is_empty() {
        return true;
    }
    let authorization = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let web = web.clone();
    tokio::task::spawn_blocking(move || web.authorized(authorization.as_deref()))
        .await
        .unwrap_or(false)
}

/// Why a body was not read whole.
enum BodyProblem {
    TooLarge,
    Incomplete(hyper::Error),
}

/// Bytes of a too-large body read and dropped before the answer, so that
/// the client, still sending, reads the 413 instead of a reset connection
/// (closing a socket with unread data resets it).
const DRAIN_BYTES: usize = 1024 * 1024;

/// Reads a body of at most `limit` bytes, counting as it reads. Past the
/// limit, up to [`DRAIN_BYTES`] more are read and dropped.
async fn read_bounded(mut body: Incoming, limit: usize) -> Result<Vec<u8>, BodyProblem> {
    let mut bytes = Vec::new();
    let mut over: Option<usize> = None;
    while let Some(frame) = body.frame().await {
        let frame = match (frame, over) {
            (Ok(frame), _) => frame,
            (Err(_), Some(_)) => return Err(BodyProblem::TooLarge),
            (Err(error), None) => return Err(BodyProblem::Incomplete(error)),
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if let Some(dropped) = &mut over {
            *dropped = dropped.saturating_add(data.len());
            if *dropped > DRAIN_BYTES {
                break;
            }
        } else if bytes.len().saturating_add(data.len()) > limit {
            over = Some(0);
            bytes = Vec::new();
        } else {
            bytes.extend_from_slice(&data);
        }
    }
    match over {
        Some(_) => Err(BodyProblem::TooLarge),
        None => Ok(bytes),
    }
}

/// Answers one request.
async fn handle(
    request: Request<Incoming>,
    peer: SocketAddr,
    settings: &HttpsSettings,
    ingestor: &Arc<Ingestor>,
) -> Response<Full<Bytes>> {
    if !authorized(&settings.web, &request).await {
        let mut response = answer(StatusCode::UNAUTHORIZED, "Unauthorized\n", true);
        response.headers_mut().insert(
            hyper::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"mtasts-exporter reports\""),
        );
        return response;
    }
    if request.uri().path() != settings.path {
        return answer(StatusCode::NOT_FOUND, "not found\n", true);
    }
    if request.method() != hyper::Method::POST {
        let mut response = answer(
            StatusCode::METHOD_NOT_ALLOWED,
            "POST a TLSRPT report here (RFC 8460 §5.3.2)\n",
            true,
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let Ok(_permit) = settings.permits.clone().try_acquire_owned() else {
        ingestor.count_error(Channel::Https, "busy");
        let mut response = answer(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many reports at once; try again later\n",
            true,
        );
        response
            .headers_mut()
            .insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("60"));
        return response;
    };
    let too_large = || {
        ingestor.count_error(Channel::Https, "too-large");
        tracing::info!(
            error = %format_args!("body over reports.max_body_bytes ({} bytes)", settings.max_body_bytes),
            cause = "too-large",
            %peer,
            "TLSRPT report refused"
        );
        answer(StatusCode::PAYLOAD_TOO_LARGE, "report too large\n", true)
    };
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > settings.max_body_bytes as u64) {
        return too_large();
    }
    let body = tokio::time::timeout(
        settings.body_timeout,
        read_bounded(request.into_body(), settings.max_body_bytes),
    )
    .await;
    let body = match body {
        Ok(Ok(body)) => body,
        Ok(Err(BodyProblem::TooLarge)) => return too_large(),
        Ok(Err(BodyProblem::Incomplete(error))) => {
            ingestor.count_error(Channel::Https, "incomplete");
            tracing::info!(%error, cause = "incomplete", %peer, "TLSRPT report refused");
            return answer(StatusCode::BAD_REQUEST, "body cut short\n", true);
        }
        Err(_) => {
            ingestor.count_error(Channel::Https, "timeout");
            tracing::info!(
                error = %format_args!("body not received within reports.body_timeout ({:?})", settings.body_timeout),
                cause = "timeout",
                %peer,
                "TLSRPT report refused"
            );
            return answer(StatusCode::REQUEST_TIMEOUT, "body too slow\n", true);
        }
    };
    let taker = ingestor.clone();
    let taken = tokio::task::spawn_blocking(move || taker.ingest(&body, Channel::Https)).await;
    match taken {
        Ok(Ok(Ingested::New { report, file })) => {
            tracing::info!(
                organization = %capped(&report.organization_name),
                report_id = %capped(&report.report_id),
                %file,
                %peer,
                "TLSRPT report stored"
            );
            answer(StatusCode::OK, "stored\n", false)
        }
        Ok(Ok(Ingested::Duplicate { report, file })) => {
            tracing::info!(
                organization = %capped(&report.organization_name),
                report_id = %capped(&report.report_id),
                %file,
                %peer,
                "TLSRPT report received again; counted once"
            );
            answer(StatusCode::OK, "stored before\n", false)
        }
        Ok(Err(error)) => refused(&error, peer),
        Err(error) => {
            tracing::error!(%error, "reports listener: ingest task failed");
            answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                "not stored; try again later\n",
                true,
            )
        }
    }
}

/// The answer to a report the ingestor refused: its status and
/// [`refusal_text`], so a sender reads the cause that is counted.
fn refused(error: &IngestError, peer: SocketAddr) -> Response<Full<Bytes>> {
    let cause = error.cause();
    if error.is_temporary() {
        tracing::error!(%error, cause, "TLSRPT report not stored");
        return answer_text(StatusCode::SERVICE_UNAVAILABLE, refusal_text(error), true);
    }
    let message = capped(&error.to_string()).into_owned();
    tracing::info!(error = %message, cause, %peer, "TLSRPT report refused");
    let status = match error {
        IngestError::Report(ReportError::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::BAD_REQUEST,
    };
    answer_text(status, refusal_text(error), false)
}

/// What a sender is told of a refused report, one line named after its
/// cause ([`IngestError::cause`], the label it is counted under): `gzip`
/// "the body is not valid gzip", `json` "not a TLSRPT report" with the
/// parser's words, `too-large`, `unknown-domain`, `out-of-range` with what
/// is out of range, `storage` "not stored; try again later". Every value
/// from the error is cut ([`capped`]); written from the error itself, so
/// text and counted cause cannot part.
pub fn refusal_text(error: &IngestError) -> String {
    match error {
        IngestError::Report(ReportError::Gzip(problem)) => format!(
            "the body is not valid gzip (RFC 8460 §5.2): {}\n",
            capped(problem)
        ),
        IngestError::Report(ReportError::TooLarge { limit }) => {
            format!("report too large: over {limit} bytes of JSON\n")
        }
        IngestError::Report(other) => format!(
            "not a TLSRPT report (RFC 8460 §4.4): {}\n",
            capped(&other.to_string())
        ),
        IngestError::UnknownDomain { .. } => {
            "the report is about no domain watched here\n".to_string()
        }
        IngestError::OutOfRange { problem, .. } => {
            format!("the report is out of range: {}\n", capped(problem))
        }
        IngestError::Storage(_) => "not stored; try again later\n".to_string(),
    }
}

/// [`answer`] with a text built at run time.
fn answer_text(status: StatusCode, body: String, close: bool) -> Response<Full<Bytes>> {
    let mut response = answer(status, "", close);
    *response.body_mut() = Full::new(Bytes::from(body));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each refusal's text names the cause it is counted under, with the
    /// error's detail cut.
    #[test]
    fn each_refusal_says_its_cause() {
        let long = "x".repeat(5_000);
        let cases = [
            (
                IngestError::Report(ReportError::Gzip("corrupt deflate stream".into())),
                "gzip",
                "the body is not valid gzip (RFC 8460 §5.2): corrupt deflate stream\n",
            ),
            (
                IngestError::Report(ReportError::Json(long.clone())),
                "json",
                "not a TLSRPT report (RFC 8460 §4.4): not a JSON report: ",
            ),
            (
                IngestError::Report(ReportError::DateRangeReversed),
                "json",
                "not a TLSRPT report (RFC 8460 §4.4): date-range ends before it starts\n",
            ),
            (
                IngestError::Report(ReportError::TooLarge { limit: 1024 }),
                "too-large",
                "report too large: over 1024 bytes of JSON\n",
            ),
            (
                IngestError::UnknownDomain {
                    organization: long.clone(),
                    report_id: "r".into(),
                },
                "unknown-domain",
                "the report is about no domain watched here\n",
            ),
            (
                IngestError::OutOfRange {
                    organization: "Org".into(),
                    report_id: "r".into(),
                    problem: "its period ends in the future (90000 s from now)".into(),
                },
                "out-of-range",
                "the report is out of range: its period ends in the future (90000 s from now)\n",
            ),
        ];
        for (error, cause, text) in cases {
            assert_eq!(error.cause(), cause);
            let answer = refusal_text(&error);
            assert!(answer.starts_with(text), "{cause}: {answer}");
            assert!(answer.len() < 400, "capped: {answer}");
            assert!(!answer.contains(&long[..200]), "capped: {answer}");
        }
    }
}
