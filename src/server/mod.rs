//! The HTTP side: `/metrics`, `/-/healthy`, `/-/ready` and the landing page
//! `/`, served by hyper from a listener the caller binds (tests bind
//! 127.0.0.1:0).

use crate::app::App;
use crate::config::{normalize_domain, DomainConfig};
use crate::metrics::{Metrics, RegistryKind};
use crate::web_config::WebConfig;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::fmt::Write as _;
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

/// Seconds taken off Prometheus's scrape timeout so the answer arrives in
/// time (as blackbox_exporter's `timeout_offset`).
const SCRAPE_TIMEOUT_OFFSET: Duration = Duration::from_millis(500);

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
                    async move { Ok::<_, std::convert::Infallible>(handle(&state, request).await) }
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

/// A response with a body of the given media type.
fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    respond(status, "text/plain; charset=utf-8", body)
}

async fn handle(state: &AppState, request: Request<Incoming>) -> Response<Full<Bytes>> {
    if !state.web.users.is_empty() {
        let authorization = request
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let web = state.web.clone();
        // bcrypt is slow on purpose: keep it off the async threads.
        let allowed = tokio::task::spawn_blocking(move || web.authorized(authorization.as_deref()))
            .await
            .unwrap_or(false);
        if !allowed {
            let mut response = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
            response.headers_mut().insert(
                hyper::header::WWW_AUTHENTICATE,
                hyper::header::HeaderValue::from_static("Basic realm=\"mtasts-exporter\""),
            );
            return response;
        }
    }
    let path = request.uri().path().to_string();
    if path == "/-/reload" {
        if request.method() != Method::POST && request.method() != Method::PUT {
            return text(StatusCode::METHOD_NOT_ALLOWED, "use POST to reload\n");
        }
        return match state.app.reloader.reload().await {
            Ok(summary) => text(
                StatusCode::OK,
                format!(
                    "reloaded: {} added, {} removed, {} changed\n",
                    summary.added.len(),
                    summary.removed.len(),
                    summary.changed.len()
                ),
            ),
            Err(error) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("reload failed: {error}\n"),
            ),
        };
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    if path == state.telemetry_path {
        return metrics_response(state.app.metrics.render());
    }
    match path.as_str() {
        "/probe" => probe(state, &request).await,
        "/-/healthy" => text(StatusCode::OK, "Healthy\n"),
        "/-/ready" => {
            let (pending, total) = state.app.readiness.progress();
            if pending == 0 {
                text(StatusCode::OK, "Ready\n")
            } else {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("Not ready: {pending} of {total} domains not probed yet\n"),
                )
            }
        }
        "/" => respond(
            StatusCode::OK,
            "text/html; charset=utf-8",
            landing_page(state),
        ),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn metrics_response(body: Vec<u8>) -> Response<Full<Bytes>> {
    respond(StatusCode::OK, prometheus::TEXT_FORMAT, body)
}

/// `GET /probe?target=DOMAIN[&module=NAME]`: one fresh probe, answered with
/// only its own metrics (blackbox_exporter style, for Prometheus-driven
/// and sharded set-ups).
async fn probe(state: &AppState, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let query = request.uri().query().unwrap_or("");
    let pairs: Vec<(String, String)> = reqwest::Url::parse(&format!("http://query/?{query}"))
        .map(|url| url.query_pairs().into_owned().collect())
        .unwrap_or_default();
    let param = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let Some(target) = param("target").filter(|t| !t.is_empty()) else {
        return text(StatusCode::BAD_REQUEST, "target parameter is missing\n");
    };
    let domain = match normalize_domain(target) {
        Ok(domain) => domain,
        Err(error) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("invalid target: {error}\n"),
            )
        }
    };
    let runtime = state.app.reloader.current();
    if !runtime.config.probe_allowed(&domain) {
        return text(
            StatusCode::FORBIDDEN,
            format!("target {domain:?} is not allowed (probe.allowed_targets)\n"),
        );
    }
    let module = param("module");
    let Some(mut settings) = runtime.config.module(module) else {
        return text(
            StatusCode::BAD_REQUEST,
            format!("unknown module {:?}\n", module.unwrap_or_default()),
        );
    };
    let scrape_timeout = request
        .headers()
        .get("x-prometheus-scrape-timeout-seconds")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v > 0.0);
    if let Some(seconds) = scrape_timeout {
        let budget =
            Duration::from_secs_f64(seconds.min(3600.0)).saturating_sub(SCRAPE_TIMEOUT_OFFSET);
        settings.timeout = settings.timeout.min(budget.max(Duration::from_millis(100)));
    }
    let Ok(_permit) = runtime.probe_permits.clone().try_acquire_owned() else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many concurrent probes (probe.max_concurrent)\n",
        );
    };
    let report = runtime
        .prober
        .probe(&DomainConfig {
            name: domain,
            settings,
        })
        .await;
    let metrics = match Metrics::new(runtime.config.max_mx_hosts, false, RegistryKind::Probe) {
        Ok(metrics) => metrics,
        Err(error) => return text(StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n")),
    };
    metrics.observe(&report);
    metrics_response(metrics.render())
}

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn landing_page(state: &AppState) -> String {
    let mut reports: Vec<_> = state
        .app
        .latest
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .cloned()
        .collect();
    reports.sort_by(|a, b| a.domain.cmp(&b.domain));
    let (pending, total) = state.app.readiness.progress();
    let example = state
        .app
        .reloader
        .current()
        .config
        .domains
        .first()
        .map(|d| d.name.clone())
        .unwrap_or_else(|| "example.com".into());
    let mut html = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>MTA-STS Exporter</title>\
         <style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}.fail{color:#b00}.ok{color:#070}</style>\
         </head><body>\n<h1>MTA-STS Exporter</h1>\n",
    );
    let _ = writeln!(
        html,
        "<p>Version {}. <a href=\"{}\">Metrics</a> · <a href=\"/-/ready\">Readiness</a> · \
         <a href=\"/probe?target={}\">Probe {}</a> (<code>/probe?target=DOMAIN[&amp;module=NAME]</code>) · \
         {} domains, {} not probed yet.</p>",
        env!("CARGO_PKG_VERSION"),
        escape(&state.telemetry_path),
        escape(&example),
        escape(&example),
        total,
        pending
    );
    html.push_str("<table>\n<tr><th>Domain</th><th>Status</th><th>Mode</th><th>Failures</th><th>Warnings</th><th>Earliest certificate expiry</th><th>Probe duration (s)</th></tr>\n");
    for report in reports {
        let status = if report.success {
            "<span class=\"ok\">ok</span>"
        } else {
            "<span class=\"fail\">failing</span>"
        };
        let mode = report
            .policy
            .as_ref()
            .map(|p| p.mode.as_str())
            .unwrap_or("-");
        let failures: Vec<String> = report
            .failures
            .iter()
            .map(|f| format!("{} ({})", f.reason.as_str(), f.result_type.as_str()))
            .collect();
        let warnings: Vec<&str> = report.warnings.iter().map(|w| w.as_str()).collect();
        let expiry = report
            .earliest_cert_expiry()
            .map(|t| {
                let days = (t as f64 - report.timestamp) / 86400.0;
                if days >= 0.0 {
                    format!("{days:.0} days")
                } else {
                    format!("<span class=\"fail\">expired {:.0} days ago</span>", -days)
                }
            })
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td></tr>",
            escape(&report.domain),
            status,
            mode,
            escape(&failures.join(", ")),
            escape(&warnings.join(", ")),
            expiry,
            report.duration_seconds
        );
    }
    html.push_str("</table>\n</body></html>\n");
    html
}
