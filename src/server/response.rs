//! Response builders, one per media type the endpoints answer with.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};

/// What every handler returns: the whole body in memory.
pub(super) type HttpResponse = Response<Full<Bytes>>;

/// A response with a body of the given media type.
fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> HttpResponse {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Plain UTF-8 text: answers for people and scripts, errors included.
pub(super) fn text(status: StatusCode, body: impl Into<Bytes>) -> HttpResponse {
    respond(status, "text/plain; charset=utf-8", body)
}

/// An HTML page.
pub(super) fn html(status: StatusCode, body: impl Into<Bytes>) -> HttpResponse {
    respond(status, "text/html; charset=utf-8", body)
}

/// An exposition (`/metrics` and `/probe`) of the given media type.
pub(super) fn exposition(body: Vec<u8>, content_type: &'static str) -> HttpResponse {
    respond(StatusCode::OK, content_type, body)
}
