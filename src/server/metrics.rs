//! The telemetry path (`--web.telemetry-path`, `/metrics` by default): the
//! exporter's registry, with the latest report of every watched domain.

use super::response::{exposition, HttpResponse};
use super::AppState;

/// Renders the exporter's registry.
pub(super) fn metrics(state: &AppState) -> HttpResponse {
    exposition(state.app.metrics.render())
}
