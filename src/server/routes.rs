//! The routing table: which handler answers which method and path, once
//! basic authentication let the request through.

use super::response::{text, HttpResponse};
use super::{auth, domain_page, health, landing, metrics, probe, reload, AppState};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};

/// Answers one request.
///
/// Order matters: the first arm that fits wins. The telemetry path is
/// configurable, so it is a guard; it cannot shadow `/-/reload`, which is
/// matched first. A path known for another method answers 405, an unknown
/// path 404 for reads and 405 for anything else. A new endpoint is one arm
/// above the last (a POST intake: `("POST", "/path") => module::fn(..)`).
pub(super) async fn handle(state: &AppState, request: Request<Incoming>) -> HttpResponse {
    if !auth::authorized(&state.web, request.headers()).await {
        return auth::challenge();
    }
    match (request.method().as_str(), request.uri().path()) {
        ("POST" | "PUT", "/-/reload") => reload::reload(state).await,
        (_, "/-/reload") => text(StatusCode::METHOD_NOT_ALLOWED, "use POST to reload\n"),
        ("GET" | "HEAD", path) if path == state.telemetry_path => {
            metrics::metrics(state, request.headers())
        }
        ("GET" | "HEAD", "/probe") => probe::probe(state, &request).await,
        ("GET" | "HEAD", "/-/healthy") => health::healthy(),
        ("GET" | "HEAD", "/-/ready") => health::ready(state),
        ("GET" | "HEAD", "/") => landing::page(state, request.uri().query()),
        ("GET" | "HEAD", path) if path.starts_with("/domain/") => {
            domain_page::page(state, &path["/domain/".len()..])
        }
        ("GET" | "HEAD", _) => text(StatusCode::NOT_FOUND, "not found\n"),
        _ => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n"),
    }
}
