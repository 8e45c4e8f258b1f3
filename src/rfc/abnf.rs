//! ABNF building blocks shared by the RFC 8461 and RFC 8460 record grammars.

/// `WSP = SP / HTAB` (RFC 5234 appendix B.1).
pub fn is_wsp(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// `ext-name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")`, shared by
/// RFC 8461 §3.1 (`sts-ext-name`), §3.2 (`sts-policy-ext-name`) and RFC 8460 §3
/// (`tlsrpt-ext-name`).
pub fn is_ext_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    name.len() <= 32 && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// `ext-value = 1*(%x21-3A / %x3C / %x3E-7E)`: printable ASCII except `;`, `=`
/// and space (RFC 8461 §3.1 `sts-ext-value`, RFC 8460 §3 `tlsrpt-ext-value`).
pub fn is_record_ext_value(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| matches!(b, 0x21..=0x3A | 0x3C | 0x3E..=0x7E))
}

/// Whether a TXT string starts with the version field `version` followed by
/// the end, white space or `;`: the record grammars' `version sep`, with
/// `sep = *WSP ";" *WSP` (RFC 8461 §3.1 `sts-sep`, RFC 8460 §3
/// `field-delim`). So `v=STSv1 ; id=1` starts with `v=STSv1` and
/// `v=STSv10` does not.
pub fn starts_with_version(txt: &str, version: &str) -> bool {
    match txt.strip_prefix(version) {
        Some(rest) => rest.is_empty() || rest.starts_with([';', ' ', '\t']),
        None => false,
    }
}

/// Splits a DNS TXT record of the form `field *WSP ";" *WSP field ... [sep]`
/// into its fields (RFC 8461 §3.1 `sts-sep`, RFC 8460 §3 `field-delim`).
/// A single trailing separator is allowed; an empty field anywhere else is
/// returned as `""` so the caller rejects it.
pub fn split_record_fields(text: &str) -> Vec<&str> {
    let mut fields: Vec<&str> = text.split(';').map(|f| f.trim_matches(is_wsp)).collect();
    // `[sts-sep]`: one trailing separator (with optional WSP) is allowed.
    if fields.len() > 1 && fields.last() == Some(&"") {
        fields.pop();
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ext_name_rules() {
        assert!(is_ext_name("a"));
        assert!(is_ext_name("a_b-c.d"));
        assert!(!is_ext_name("_a"));
        assert!(!is_ext_name(""));
        assert!(is_ext_name(&"a".repeat(32)));
        assert!(!is_ext_name(&"a".repeat(33)));
    }

    #[test]
    fn record_fields_split() {
        assert_eq!(split_record_fields("v=1; id=2;"), vec!["v=1", "id=2"]);
        assert_eq!(split_record_fields("v=1 ;id=2 ; "), vec!["v=1", "id=2"]);
        assert_eq!(split_record_fields("v=1;;id=2"), vec!["v=1", "", "id=2"]);
    }
}
