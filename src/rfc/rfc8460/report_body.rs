//! A received report's bytes (RFC 8460 §5.2, §5.3, §5.4): gzip
//! (`application/tlsrpt+gzip`) or plain JSON (`application/tlsrpt+json`),
//! told apart by the gzip magic bytes, not by what a header claims, and
//! decompressed in bounded memory: a decompression bomb stops at the limit.

use super::report::{parse_report, Report, ReportError};
use std::borrow::Cow;
use std::io::Read;

/// The default limit on a report's decompressed size: 20 MiB.
pub const DEFAULT_DECOMPRESSED_LIMIT: usize = 20 * 1024 * 1024;

/// The first two bytes of every gzip member (RFC 1952 §2.3.1: ID1, ID2).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Whether `raw` is gzip, by its magic bytes (RFC 1952 §2.3.1).
pub fn is_gzip(raw: &[u8]) -> bool {
    raw.starts_with(&GZIP_MAGIC)
}

/// The report's JSON bytes: `raw` itself when it is not gzip, else its
/// decompression (RFC 8460 §5.2; concatenated gzip members are read as one
/// stream, as gzip(1) does). Refused with [`ReportError::TooLarge`] when the
/// JSON is over `limit` bytes, without ever holding more than `limit`
/// decompressed bytes (and, while the buffer grows, the smaller buffer
/// before it: under twice the limit in all); with [`ReportError::Gzip`] when the gzip stream is
/// corrupt or cut short.
pub fn report_json(raw: &[u8], limit: usize) -> Result<Cow<'_, [u8]>, ReportError> {
    if !is_gzip(raw) {
        if raw.len() > limit {
            return Err(ReportError::TooLarge { limit });
        }
        return Ok(Cow::Borrowed(raw));
    }
    let mut decoder = flate2::read::MultiGzDecoder::new(raw);
    let mut json = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        let read = match decoder.read(&mut chunk) {
            Ok(0) => return Ok(Cow::Owned(json)),
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(ReportError::Gzip(error.to_string())),
        };
        if json.len() + read > limit {
            return Err(ReportError::TooLarge { limit });
        }
        if json.capacity() - json.len() < read {
            // Doubling, but never past the limit.
            let wanted = (json.capacity() * 2).max(json.len() + read).min(limit);
            json.reserve_exact(wanted - json.len());
        }
        json.extend_from_slice(&chunk[..read]);
    }
}

/// A report from its received bytes: [`report_json`] then
/// [`parse_report`].
pub fn decode_report(raw: &[u8], limit: usize) -> Result<Report, ReportError> {
    parse_report(&report_json(raw, limit)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        let _ = encoder.write_all(bytes);
        encoder.finish().unwrap_or_default()
    }

    #[test]
    fn plain_and_gzip_bodies_give_the_same_json() {
        let json = br#"{"a":1}"#;
        assert_eq!(report_json(json, 100).as_deref().ok(), Some(&json[..]));
        let packed = gzip(json);
        assert!(is_gzip(&packed) && !is_gzip(json));
        assert_eq!(report_json(&packed, 100).as_deref().ok(), Some(&json[..]));
        // Two members read as one stream.
        let mut two = gzip(b"{\"a\":");
        two.extend(gzip(b"1}"));
        assert_eq!(report_json(&two, 100).as_deref().ok(), Some(&json[..]));
    }

    #[test]
    fn limits_apply_to_plain_and_decompressed_bytes() {
        let json = vec![b' '; 101];
        assert_eq!(
            report_json(&json, 100),
            Err(ReportError::TooLarge { limit: 100 })
        );
        assert!(report_json(&json, 101).is_ok());
        let packed = gzip(&json);
        assert_eq!(
            report_json(&packed, 100),
            Err(ReportError::TooLarge { limit: 100 })
        );
        assert!(report_json(&packed, 101).is_ok());
    }

    #[test]
    fn corrupt_or_truncated_gzip_is_a_gzip_error() {
        let packed = gzip(br#"{"organization-name":"x"}"#);
        let cut = &packed[..packed.len() - 6];
        let garbled = [&GZIP_MAGIC[..], b"not deflate at all"].concat();
        for body in [cut, &garbled[..], &GZIP_MAGIC[..]] {
            let error = report_json(body, 1000).err();
            assert_eq!(
                error.as_ref().map(ReportError::cause),
                Some("gzip"),
                "{error:?}"
            );
        }
    }
}
