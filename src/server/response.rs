//! Response builders, one per media type the endpoints answer with.

use bytes::Bytes;
use futures_util::stream;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use std::convert::Infallible;

/// What every handler returns: a body in memory, or (expositions) one
/// written chunk by chunk as the client reads it.
pub(super) type HttpResponse = Response<UnsyncBoxBody<Bytes, Infallible>>;

/// A response with a body of the given media type.
fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> HttpResponse {
    let mut response = Response::new(Full::new(body.into()).boxed_unsync());
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

/// An exposition (`/metrics` and `/probe`) of the given media type, its
/// chunks made as the client reads them (chunked transfer encoding): the
/// server holds one chunk at a time, not the whole answer.
pub(super) fn exposition(
    chunks: impl Iterator<Item = Vec<u8>> + Send + 'static,
    content_type: &'static str,
) -> HttpResponse {
    let frames = stream::iter(chunks.map(|chunk| Ok(Frame::data(Bytes::from(chunk)))));
    let mut response = Response::new(StreamBody::new(frames).boxed_unsync());
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
