//! HTTP basic authentication (`basic_auth_users` in `--web.config.file`),
//! checked before any route is looked at.

use super::response::{text, HttpResponse};
use crate::config::web::WebConfig;
use hyper::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use hyper::{HeaderMap, StatusCode};

/// Whether a request with these headers may go on. Without users,
/// every request may.
pub(super) async fn authorized(web: &WebConfig, headers: &HeaderMap) -> bool {
    if web.users.is_empty() {
        return true;
    }
    let authorization = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let web = web.clone();
    // bcrypt is slow on purpose: keep it off the async threads.
    tokio::task::spawn_blocking(move || web.authorized(authorization.as_deref()))
        .await
        .unwrap_or(false)
}

/// The answer to a request that is not [`authorized`]: 401 with a
/// challenge, so browsers ask for a user and password.
pub(super) fn challenge() -> HttpResponse {
    let mut response = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
    response.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"mtasts-exporter\""),
    );
    response
}
