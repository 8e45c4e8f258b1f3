//! `POST /-/reload` (or `PUT`): re-reads the configuration file, as
//! SIGHUP does.

use super::response::{text, HttpResponse};
use super::AppState;
use hyper::StatusCode;

/// Reloads and says what changed, or why the file was refused (the
/// running configuration then stays); 503 while another reload runs.
pub(super) async fn reload(state: &AppState) -> HttpResponse {
    match state.app.reloader.reload().await {
        Ok(summary) => text(
            StatusCode::OK,
            format!(
                "reloaded: {} added, {} removed, {} changed\n",
                summary.added.len(),
                summary.removed.len(),
                summary.changed.len()
            ),
        ),
        Err(error) if error.is_busy() => text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("reload refused: {error}\n"),
        ),
        Err(error) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reload failed: {error}\n"),
        ),
    }
}
