//! `/-/healthy` and `/-/ready`, as Prometheus and blackbox_exporter have
//! them.

use super::response::{text, HttpResponse};
use super::AppState;
use hyper::StatusCode;

/// `/-/healthy`: the process serves HTTP.
pub(super) fn healthy() -> HttpResponse {
    text(StatusCode::OK, "Healthy\n")
}

/// `/-/ready`: every configured domain has been probed at least once, so
/// a scrape sees all of them.
pub(super) fn ready(state: &AppState) -> HttpResponse {
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
