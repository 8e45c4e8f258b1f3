//! `/-/healthy` and `/-/ready`, as Prometheus and blackbox_exporter have
//! them.

use super::response::{text, HttpResponse};
use super::AppState;
use crate::tlsrpt::component::ReadingState;
use hyper::StatusCode;

/// `/-/healthy`: the process serves HTTP (also while the TLSRPT spool is
/// still being read at start-up).
pub(super) fn healthy() -> HttpResponse {
    text(StatusCode::OK, "Healthy\n")
}

/// `/-/ready`: every configured domain has been probed at least once, so
/// a scrape sees all of them, and, with a reports channel, the TLSRPT
/// spool has been read at start-up, so the `mtasts_tlsrpt_*` families
/// count every stored report (RFC 8460 §5.6). Says what it waits for.
pub(super) fn ready(state: &AppState) -> HttpResponse {
    let (pending, total) = state.app.readiness.progress();
    let mut waiting = Vec::new();
    if pending > 0 {
        waiting.push(format!("{pending} of {total} domains not probed yet"));
    }
    match state.app.reports_reading.as_ref().map(|r| r.state()) {
        Some(ReadingState::Reading) => {
            waiting.push("the stored TLSRPT reports are still being read".to_string())
        }
        Some(ReadingState::Failed(error)) => waiting.push(format!(
            "the stored TLSRPT reports could not be read ({error}); restart once the spool is readable"
        )),
        Some(ReadingState::Done { .. }) | None => {}
    }
    if waiting.is_empty() {
        text(StatusCode::OK, "Ready\n")
    } else {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Not ready: {}\n", waiting.join("; ")),
        )
    }
}
