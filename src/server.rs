//! The HTTP side: `/metrics`, `/-/healthy`, `/-/ready` and the landing page
//! `/`, served by hyper from a listener the caller binds (tests bind
//! 127.0.0.1:0).

use crate::metrics::Metrics;
use crate::scheduler::{LatestReports, Readiness};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// What the handlers read.
pub struct AppState {
    /// The exporter's registry.
    pub metrics: Arc<Metrics>,
    /// First-round progress.
    pub readiness: Arc<Readiness>,
    /// Latest report per domain.
    pub latest: Arc<LatestReports>,
    /// Where metrics are served (`--web.telemetry-path`).
    pub telemetry_path: String,
}

/// Serves until `shutdown` completes, then stops accepting and gives open
/// connections up to 10 seconds to finish.
pub async fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
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
                    async move { Ok::<_, std::convert::Infallible>(handle(&state, request)) }
                });
                let connection = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                });
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

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn handle(state: &AppState, request: Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    let path = request.uri().path();
    if path == state.telemetry_path {
        let mut response = Response::new(Full::new(Bytes::from(state.metrics.render())));
        if let Ok(value) = hyper::header::HeaderValue::from_str(prometheus::TEXT_FORMAT) {
            response
                .headers_mut()
                .insert(hyper::header::CONTENT_TYPE, value);
        }
        return response;
    }
    match path {
        "/-/healthy" => text(StatusCode::OK, "Healthy\n"),
        "/-/ready" => {
            let (pending, total) = state.readiness.progress();
            if pending == 0 {
                text(StatusCode::OK, "Ready\n")
            } else {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("Not ready: {pending} of {total} domains not probed yet\n"),
                )
            }
        }
        "/" => {
            let mut response = Response::new(Full::new(Bytes::from(landing_page(state))));
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/html; charset=utf-8"),
            );
            response
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
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
        .latest
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .cloned()
        .collect();
    reports.sort_by(|a, b| a.domain.cmp(&b.domain));
    let (pending, total) = state.readiness.progress();
    let mut html = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>MTA-STS Exporter</title>\
         <style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}.fail{color:#b00}.ok{color:#070}</style>\
         </head><body>\n<h1>MTA-STS Exporter</h1>\n",
    );
    let _ = writeln!(
        html,
        "<p>Version {}. <a href=\"{}\">Metrics</a> · <a href=\"/-/ready\">Readiness</a> · {} domains, {} not probed yet.</p>",
        env!("CARGO_PKG_VERSION"),
        escape(&state.telemetry_path),
        total,
        pending
    );
    html.push_str("<table>\n<tr><th>Domain</th><th>Status</th><th>Mode</th><th>Failures</th><th>Warnings</th><th>Probe duration (s)</th></tr>\n");
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
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td></tr>",
            escape(&report.domain),
            status,
            mode,
            escape(&failures.join(", ")),
            escape(&warnings.join(", ")),
            report.duration_seconds
        );
    }
    html.push_str("</table>\n</body></html>\n");
    html
}
