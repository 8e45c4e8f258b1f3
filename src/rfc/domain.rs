//! Host name syntax shared by the policy parser, MX matching and the config.

/// Whether `name` is an RFC 5321 §4.1.2 `Domain` (`sub-domain *("." sub-domain)`,
/// `sub-domain = Let-dig [Ldh-str]`), in ASCII, without a trailing dot, with the
/// RFC 1035 §2.3.4 limits (labels up to 63 octets, names up to 253).
pub fn is_ascii_domain(name: &str) -> bool {
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    name.split('.').all(is_ldh_label)
}

/// Whether `label` is one RFC 5321 `sub-domain`: letters, digits and inner hyphens,
/// 1 to 63 octets.
pub fn is_ldh_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            bytes.len() <= 63
                && first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        }
        _ => false,
    }
}

/// Lower-cases a DNS host name and drops one trailing dot, the form in which
/// names are compared (RFC 8461 §4.1: matching is case-insensitive; DNS answers
/// carry fully qualified names with a trailing dot).
pub fn normalize_host(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains() {
        assert!(is_ascii_domain("mx1.example.com"));
        assert!(is_ascii_domain("xn--bcher-kva.example"));
        assert!(is_ascii_domain("localhost"));
        assert!(!is_ascii_domain("mx1.example.com."));
        assert!(!is_ascii_domain("-mx.example.com"));
        assert!(!is_ascii_domain("mx-.example.com"));
        assert!(!is_ascii_domain("mx..example.com"));
        assert!(!is_ascii_domain("m_x.example.com"));
        assert!(!is_ascii_domain(&format!("{}.com", "a".repeat(64))));
        assert!(is_ascii_domain(&format!("{}.com", "a".repeat(63))));
        assert!(!is_ascii_domain(""));
    }

    #[test]
    fn normalizes() {
        assert_eq!(normalize_host("MX1.Example.COM."), "mx1.example.com");
        assert_eq!(normalize_host("mx1.example.com"), "mx1.example.com");
    }
}
