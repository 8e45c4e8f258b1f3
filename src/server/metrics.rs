//! The telemetry path (`--web.telemetry-path`, `/metrics` by default): the
//! exporter's registry, with the latest report of every watched domain, in
//! the format and encoding the scraper asks for (Prometheus asks for
//! OpenMetrics and gzip by default).

use super::response::{exposition as exposition_response, HttpResponse};
use super::AppState;
use crate::metrics::exposition::{Exposition, Format};
use crate::metrics::openmetrics;
use flate2::write::GzEncoder;
use flate2::Compression;
use hyper::header::{HeaderMap, HeaderValue, ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, VARY};
use std::io::Write as _;

/// Renders the exporter's registry for the request's `Accept` and
/// `Accept-Encoding`.
pub(super) fn metrics(state: &AppState, headers: &HeaderMap) -> HttpResponse {
    negotiated(state.app.metrics.exposition(), headers)
}

/// An exposition answered as the request asks: OpenMetrics 1.0 when
/// `Accept` prefers it to the text format, gzip when `Accept-Encoding`
/// allows it; streamed in chunks either way.
pub(super) fn negotiated(exposition: Exposition, headers: &HeaderMap) -> HttpResponse {
    let (format, content_type) = if prefers_openmetrics(header(headers, ACCEPT)) {
        (Format::OpenMetrics, openmetrics::CONTENT_TYPE)
    } else {
        (Format::Text, prometheus::TEXT_FORMAT)
    };
    let chunks = exposition.chunks(format);
    let gzip = accepts_gzip(header(headers, ACCEPT_ENCODING));
    let mut response = if gzip {
        exposition_response(Gzipped::new(chunks), content_type)
    } else {
        exposition_response(chunks, content_type)
    };
    let headers = response.headers_mut();
    headers.insert(VARY, HeaderValue::from_static("Accept, Accept-Encoding"));
    if gzip {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

fn header(headers: &HeaderMap, name: hyper::header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The items of an `Accept`-style header: each value, lower-case, with its
/// `q` weight (1 when not given; RFC 9110 §12.4.2).
fn weighted(header: &str) -> impl Iterator<Item = (String, f32)> + '_ {
    header.split(',').map(|item| {
        let mut parts = item.split(';');
        let value = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        (value, q)
    })
}

/// Whether `Accept` weighs `application/openmetrics-text` above the text
/// format (`text/plain`, or `*/*` standing for it).
fn prefers_openmetrics(accept: Option<&str>) -> bool {
    let Some(accept) = accept else {
        return false;
    };
    let (mut openmetrics, mut text) = (0.0_f32, 0.0_f32);
    for (media_type, q) in weighted(accept) {
        match media_type.as_str() {
            "application/openmetrics-text" => openmetrics = openmetrics.max(q),
            "text/plain" | "text/*" | "*/*" => text = text.max(q),
            _ => {}
        }
    }
    openmetrics > 0.0 && openmetrics > text
}

/// Whether `Accept-Encoding` allows gzip (by name or `*`, with a weight
/// above zero).
fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    let Some(accept_encoding) = accept_encoding else {
        return false;
    };
    let mut gzip = None;
    let mut any = None;
    for (coding, q) in weighted(accept_encoding) {
        match coding.as_str() {
            "gzip" | "x-gzip" => gzip = Some(q),
            "*" => any = Some(q),
            _ => {}
        }
    }
    gzip.or(any).is_some_and(|q| q > 0.0)
}

/// Chunks gzipped as they pass, at the fastest level: an exposition
/// compresses about tenfold even so, and a scrape must not wait on the
/// compressor. Each input chunk yields what the compressor has ready.
struct Gzipped<I> {
    chunks: I,
    encoder: Option<GzEncoder<Vec<u8>>>,
}

impl<I> Gzipped<I> {
    fn new(chunks: I) -> Gzipped<I> {
        Gzipped {
            chunks,
            encoder: Some(GzEncoder::new(Vec::new(), Compression::fast())),
        }
    }
}

impl<I: Iterator<Item = Vec<u8>>> Iterator for Gzipped<I> {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        loop {
            let encoder = self.encoder.as_mut()?;
            let Some(chunk) = self.chunks.next() else {
                // Writing into a Vec cannot fail; the trailer is all that is left.
                return self.encoder.take()?.finish().ok();
            };
            if encoder.write_all(&chunk).is_err() {
                self.encoder = None;
                return None;
            }
            let ready = std::mem::take(encoder.get_mut());
            if !ready.is_empty() {
                return Some(ready);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Prometheus 2.x and 3.x send.
    const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    #[test]
    fn formats_by_preference() {
        assert!(prefers_openmetrics(Some(PROMETHEUS_ACCEPT)));
        assert!(!prefers_openmetrics(None));
        assert!(!prefers_openmetrics(Some("*/*")));
        assert!(!prefers_openmetrics(Some("text/plain;version=0.0.4")));
        assert!(!prefers_openmetrics(Some(
            "text/plain,application/openmetrics-text;q=0.5"
        )));
        assert!(!prefers_openmetrics(Some(
            "application/openmetrics-text;q=0"
        )));
    }

    #[test]
    fn gzip_when_allowed() {
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("br, gzip;q=0.8")));
        assert!(accepts_gzip(Some("*")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("*, gzip;q=0")));
        assert!(!accepts_gzip(Some("identity")));
        assert!(!accepts_gzip(None));
    }

    /// Many domains' series, so the answer takes many chunks.
    fn exposition() -> Exposition {
        use crate::metrics::exposition::FamilyLines;
        use crate::metrics::probe::ProbeFamily;
        let subjects = (0..20_000)
            .map(|i| {
                let mut lines = FamilyLines::default();
                let domain = format!("d{i}.example");
                lines.sample(ProbeFamily::ProbesTotal, &[("domain", &domain)], 2.0);
                lines.sample(ProbeFamily::ProbeSuccess, &[("domain", &domain)], 1.0);
                lines
            })
            .collect();
        let head = b"# HELP a_total A.\n# TYPE a_total counter\na_total 1\n".to_vec();
        Exposition::new(head).with_section(subjects)
    }

    #[test]
    fn an_answer_decompresses_to_the_exposition() {
        let text = exposition().into_bytes(Format::Text);
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        headers.insert(ACCEPT, HeaderValue::from_static(PROMETHEUS_ACCEPT));
        let response = negotiated(exposition(), &headers);
        assert_eq!(response.headers()[CONTENT_ENCODING], "gzip");
        assert_eq!(
            response.headers()[hyper::header::CONTENT_TYPE],
            openmetrics::CONTENT_TYPE
        );
        let body = futures_util::FutureExt::now_or_never(http_body_util::BodyExt::collect(
            response.into_body(),
        ))
        .unwrap()
        .unwrap()
        .to_bytes();
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut plain)
            .unwrap();
        assert_eq!(plain, openmetrics::from_text_format(&text));
        assert!(
            body.len() * 5 < plain.len(),
            "{} of {}",
            body.len(),
            plain.len()
        );
    }

    #[test]
    fn gzip_streams_chunk_by_chunk() {
        let chunks: Vec<Vec<u8>> = Gzipped::new(exposition().chunks(Format::Text)).collect();
        assert!(chunks.len() > 2, "{} chunks", chunks.len());
        let mut plain = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(&chunks.concat()[..]),
            &mut plain,
        )
        .unwrap();
        assert_eq!(plain, exposition().into_bytes(Format::Text));
    }
}
