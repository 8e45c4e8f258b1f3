//! The `_smtp._tls.<domain>` TLSRPT record (RFC 8460 §3).

use crate::rfc::abnf::{
    is_ext_name, is_record_ext_value, is_wsp, split_record_fields, starts_with_version,
};

/// A parsed TLSRPT record, e.g. `v=TLSRPTv1; rua=mailto:tlsrpt@example.com`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsRptRecord {
    /// The reporting URIs (`rua=`), `mailto:` or `https:`.
    pub rua: Vec<String>,
}

/// Why a TLSRPT record is invalid (RFC 8460 §3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsRptError {
    /// There is no `rua=` field.
    #[error("record has no rua field")]
    MissingRua,
    /// More than one `rua=` field.
    #[error("record has more than one rua field")]
    DuplicateRua,
    /// A reporting URI is not `mailto:` or `https:` with a non-empty rest.
    #[error("rua URI must be mailto: or https:")]
    BadUri,
    /// A field is neither `rua=` nor a well-formed extension.
    #[error("malformed field")]
    BadField,
}

/// `tlsrpt-version = %s"v=TLSRPTv1"`.
const TLSRPT_VERSION: &str = "v=TLSRPTv1";

/// Whether a TXT string is a TLSRPT record candidate: it starts with
/// `v=TLSRPTv1` followed by the end, white space or `;` (the ABNF's
/// `field-delim = *WSP ";" *WSP`, as for STS records).
pub fn is_tlsrpt_candidate(txt: &str) -> bool {
    starts_with_version(txt, TLSRPT_VERSION)
}

/// Parses a TLSRPT record by the RFC 8460 §3 ABNF:
/// `tlsrpt-record = tlsrpt-version 1*(field-delim tlsrpt-field) [field-delim]`,
/// `tlsrpt-rua = %s"rua=" tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri)`.
pub fn parse_tlsrpt(txt: &str) -> Result<TlsRptRecord, TlsRptError> {
    let fields = split_record_fields(txt);
    let mut fields = fields.into_iter();
    if fields.next() != Some(TLSRPT_VERSION) {
        return Err(TlsRptError::BadField);
    }
    let mut rua = None;
    for field in fields {
        let Some((key, value)) = field.split_once('=') else {
            return Err(TlsRptError::BadField);
        };
        if key == "rua" {
            if rua.is_some() {
                return Err(TlsRptError::DuplicateRua);
            }
            let uris: Vec<String> = value
                .split(',')
                .map(|u| u.trim_matches(is_wsp).to_string())
                .collect();
            if !uris.iter().all(|u| is_report_uri(u)) {
                return Err(TlsRptError::BadUri);
            }
            rua = Some(uris);
        } else if !(is_ext_name(key) && is_record_ext_value(value)) {
            return Err(TlsRptError::BadField);
        }
    }
    rua.map(|rua| TlsRptRecord { rua })
        .ok_or(TlsRptError::MissingRua)
}

/// A `tlsrpt-uri`: RFC 8460 §3 allows `mailto:` and `https:` only; `,` and `!`
/// must be percent-encoded, so neither (nor white space, nor `;`) may appear.
fn is_report_uri(uri: &str) -> bool {
    let rest = uri
        .strip_prefix("mailto:")
        .or_else(|| uri.strip_prefix("https://"));
    match rest {
        Some(rest) => {
            !rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'!' && b != b';' && b != b',')
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid() {
        let r = parse_tlsrpt("v=TLSRPTv1; rua=mailto:tlsrpt@example.com").unwrap();
        assert_eq!(r.rua, vec!["mailto:tlsrpt@example.com"]);
        let r =
            parse_tlsrpt("v=TLSRPTv1;rua=mailto:a@example.com , https://r.example.com/x;").unwrap();
        assert_eq!(r.rua.len(), 2);
        assert!(parse_tlsrpt("v=TLSRPTv1; ext=1; rua=https://x.example").is_ok());
    }

    #[test]
    fn invalid() {
        assert_eq!(parse_tlsrpt("v=TLSRPTv1"), Err(TlsRptError::MissingRua));
        assert_eq!(
            parse_tlsrpt("v=TLSRPTv1; rua=http://x"),
            Err(TlsRptError::BadUri)
        );
        assert_eq!(
            parse_tlsrpt("v=TLSRPTv1; rua=tlsrpt@example.com"),
            Err(TlsRptError::BadUri)
        );
        assert_eq!(
            parse_tlsrpt("v=TLSRPTv1; rua=mailto:"),
            Err(TlsRptError::BadUri)
        );
        assert_eq!(
            parse_tlsrpt("v=TLSRPTv1; rua=mailto:a@b; rua=mailto:c@d"),
            Err(TlsRptError::DuplicateRua)
        );
        assert_eq!(
            parse_tlsrpt("v=TLSRPTv1; rua=mailto:a@b; x"),
            Err(TlsRptError::BadField)
        );
        assert!(is_tlsrpt_candidate("v=TLSRPTv1;rua=mailto:a@b"));
        assert!(!is_tlsrpt_candidate("v=TLSRPTv10;rua=mailto:a@b"));
    }
}
