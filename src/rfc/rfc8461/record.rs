//! The `_mta-sts.<domain>` TXT record (RFC 8461 §3.1).

use crate::rfc::abnf::{
    is_ext_name, is_record_ext_value, split_record_fields, starts_with_version,
};

/// A parsed MTA-STS TXT record, e.g. `v=STSv1; id=20160831085700Z`
/// (RFC 8461 §3.1).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StsRecord {
    /// The `id=` value: 1 to 32 letters and digits; senders refetch the
    /// policy when it changes.
    pub id: String,
    /// Extension fields (`sts-extension`), in record order.
    pub extensions: Vec<(String, String)>,
}

/// Why a TXT record that claims to be an STS record does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The record has no `id=` field, which RFC 8461 §3.1 requires.
    #[error("record has no id field")]
    MissingId,
    /// The record has more than one `id=` field.
    #[error("record has more than one id field")]
    DuplicateId,
    /// The `id=` value is not 1 to 32 letters and digits.
    #[error("id must be 1 to 32 letters and digits, got {0:?}")]
    BadId(String),
    /// A field is neither `id=` nor a well-formed extension.
    #[error("malformed field {0:?}")]
    BadField(String),
    /// An empty field (two separators in a row, or nothing after `v=STSv1`).
    #[error("empty field")]
    EmptyField,
}

/// The version field every STS record starts with (`sts-version = %s"v=STSv1"`).
const STS_VERSION: &str = "v=STSv1";

/// Whether a TXT string is an MTA-STS record candidate.
///
/// RFC 8461 §3.1's prose says records that do not begin with `v=STSv1;` are
/// discarded, but its ABNF (`sts-version sts-sep`, `sts-sep = *WSP ";" *WSP`)
/// allows white space before the `;`. We follow the ABNF: a string is a
/// candidate when it starts with `v=STSv1` followed by the end, white space or
/// `;`. So `v=STSv1 ; id=1` is an STS record and `v=STSv10` is not. A
/// candidate that then fails to parse is a syntax error, not "no record",
/// since it is plainly meant as one (as the reference client does too).
pub fn is_sts_candidate(txt: &str) -> bool {
    starts_with_version(txt, STS_VERSION)
}

/// Parses an STS record candidate strictly by the RFC 8461 §3.1 ABNF:
/// `sts-text-record = sts-version 1*(sts-sep sts-field) [sts-sep]`.
pub fn parse_record(txt: &str) -> Result<StsRecord, RecordError> {
    let fields = split_record_fields(txt);
    let mut fields = fields.into_iter();
    // The first field is exactly the version (checked by is_sts_candidate for
    // well-formed input; checked again here so the parser stands alone).
    if fields.next() != Some(STS_VERSION) {
        return Err(RecordError::BadField(txt.chars().take(64).collect()));
    }
    let mut id = None;
    let mut extensions = Vec::new();
    let mut saw_field = false;
    for field in fields {
        saw_field = true;
        if field.is_empty() {
            return Err(RecordError::EmptyField);
        }
        let Some((key, value)) = field.split_once('=') else {
            return Err(RecordError::BadField(field.to_string()));
        };
        // `sts-id = %s"id=" 1*32(ALPHA / DIGIT)`: a field named `id` is the id;
        // a malformed value is a bad id, not an extension that happens to be
        // named "id".
        if key == "id" {
            if id.is_some() {
                return Err(RecordError::DuplicateId);
            }
            if value.is_empty()
                || value.len() > 32
                || !value.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                return Err(RecordError::BadId(value.chars().take(64).collect()));
            }
            id = Some(value.to_string());
        } else if is_ext_name(key) && is_record_ext_value(value) {
            extensions.push((key.to_string(), value.to_string()));
        } else {
            return Err(RecordError::BadField(field.chars().take(64).collect()));
        }
    }
    if !saw_field {
        return Err(RecordError::MissingId);
    }
    match id {
        Some(id) => Ok(StsRecord { id, extensions }),
        None => Err(RecordError::MissingId),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates() {
        assert!(is_sts_candidate("v=STSv1; id=1"));
        assert!(is_sts_candidate("v=STSv1 ; id=1"));
        assert!(is_sts_candidate("v=STSv1"));
        assert!(!is_sts_candidate("v=STSv10; id=1"));
        assert!(!is_sts_candidate("v=stsv1; id=1"));
        assert!(!is_sts_candidate(" v=STSv1; id=1"));
        assert!(!is_sts_candidate("v=spf1 -all"));
    }

    #[test]
    fn valid_records() {
        let r = parse_record("v=STSv1; id=20160831085700Z;").unwrap();
        assert_eq!(r.id, "20160831085700Z");
        let r = parse_record("v=STSv1;id=abc\t;\text=va:l").unwrap();
        assert_eq!(r.id, "abc");
        assert_eq!(r.extensions, vec![("ext".into(), "va:l".into())]);
        let r = parse_record("v=STSv1; ext=1; id=x").unwrap();
        assert_eq!(r.id, "x");
        assert!(parse_record(&format!("v=STSv1; id={}", "a".repeat(32))).is_ok());
    }

    #[test]
    fn invalid_records() {
        assert_eq!(parse_record("v=STSv1"), Err(RecordError::MissingId));
        assert_eq!(parse_record("v=STSv1;"), Err(RecordError::MissingId));
        assert_eq!(parse_record("v=STSv1; ext=1"), Err(RecordError::MissingId));
        assert_eq!(
            parse_record("v=STSv1; id=1; id=2"),
            Err(RecordError::DuplicateId)
        );
        assert!(matches!(
            parse_record(&format!("v=STSv1; id={}", "a".repeat(33))),
            Err(RecordError::BadId(_))
        ));
        assert!(matches!(
            parse_record("v=STSv1; id=2016-08-31"),
            Err(RecordError::BadId(_))
        ));
        assert!(matches!(
            parse_record("v=STSv1; id="),
            Err(RecordError::BadId(_))
        ));
        assert_eq!(parse_record("v=STSv1;; id=1"), Err(RecordError::EmptyField));
        assert!(matches!(
            parse_record("v=STSv1; id=1; bad"),
            Err(RecordError::BadField(_))
        ));
        assert!(matches!(
            parse_record("v=STSv1; id=1; e=a b"),
            Err(RecordError::BadField(_))
        ));
        assert!(matches!(
            parse_record("v=STSv1; id=1; _e=a"),
            Err(RecordError::BadField(_))
        ));
        // `%s` in the ABNF: field names are case-sensitive.
        assert_eq!(parse_record("v=STSv1; ID=1"), Err(RecordError::MissingId));
    }
}
