//! MX host patterns and the two-way comparison of a policy with DNS
//! (RFC 8461 §4.1).

use crate::rfc::domain::normalize_host;
use std::fmt;

/// One `mx:` entry of a policy: a host name, or `*.` and a parent name
/// (RFC 8461 §3.2). Stored lower-case, without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MxPattern {
    /// Whether the pattern starts with `*.`.
    pub wildcard: bool,
    /// The name after `*.` (or the whole name), lower-case.
    pub domain: String,
}

impl fmt::Display for MxPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.wildcard {
            write!(f, "*.{}", self.domain)
        } else {
            f.write_str(&self.domain)
        }
    }
}

impl MxPattern {
    /// Whether `host` (any case, trailing dot allowed) matches this pattern.
    ///
    /// RFC 8461 §4.1: a wildcard matches exactly one left-most label, so
    /// `*.example.com` matches `mx.example.com` but neither `example.com` nor
    /// `a.mx.example.com`; comparison is case-insensitive.
    pub fn matches(&self, host: &str) -> bool {
        let host = normalize_host(host);
        if self.wildcard {
            match host.split_once('.') {
                Some((label, parent)) => !label.is_empty() && parent == self.domain,
                None => false,
            }
        } else {
            host == self.domain
        }
    }
}

/// The two-way comparison of the MX hosts in DNS with a policy's patterns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MxCoverage {
    /// Each DNS MX host (normalized) and whether a policy pattern covers it,
    /// in DNS preference order.
    pub hosts: Vec<(String, bool)>,
    /// Policy patterns no DNS MX host matches: stale entries, typically left
    /// over from a migration.
    pub unused_patterns: Vec<MxPattern>,
}

impl MxCoverage {
    /// Compares `hosts` (from DNS, or the implicit MX) with `patterns`.
    pub fn compare(hosts: &[String], patterns: &[MxPattern]) -> MxCoverage {
        let hosts: Vec<(String, bool)> = hosts
            .iter()
            .map(|host| {
                let host = normalize_host(host);
                let covered = patterns.iter().any(|p| p.matches(&host));
                (host, covered)
            })
            .collect();
        let unused_patterns = patterns
            .iter()
            .filter(|p| !hosts.iter().any(|(host, _)| p.matches(host)))
            .cloned()
            .collect();
        MxCoverage {
            hosts,
            unused_patterns,
        }
    }

    /// The hosts no pattern covers (senders in enforce mode refuse them).
    pub fn uncovered(&self) -> impl Iterator<Item = &str> {
        self.hosts
            .iter()
            .filter(|(_, covered)| !covered)
            .map(|(host, _)| host.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(text: &str) -> MxPattern {
        match text.strip_prefix("*.") {
            Some(rest) => MxPattern {
                wildcard: true,
                domain: rest.into(),
            },
            None => MxPattern {
                wildcard: false,
                domain: text.into(),
            },
        }
    }

    #[test]
    fn exact_and_wildcard() {
        let exact = pattern("mx.example.com");
        assert!(exact.matches("mx.example.com"));
        assert!(exact.matches("MX.Example.Com."));
        assert!(!exact.matches("mx2.example.com"));
        let wild = pattern("example.com");
        assert!(!wild.matches("mx.example.com"));
        let wild = pattern("*.example.com");
        assert!(wild.matches("mx.example.com"));
        assert!(wild.matches("MX.EXAMPLE.COM."));
        assert!(!wild.matches("example.com"));
        assert!(!wild.matches("a.mx.example.com"));
        assert!(!wild.matches(".example.com"));
        assert!(!wild.matches("mx.example.org"));
    }

    #[test]
    fn two_way() {
        let patterns = vec![pattern("*.example.com"), pattern("old.example.net")];
        let hosts = vec!["mx1.example.com.".to_string(), "mx.other.org.".to_string()];
        let c = MxCoverage::compare(&hosts, &patterns);
        assert_eq!(
            c.hosts,
            vec![
                ("mx1.example.com".into(), true),
                ("mx.other.org".into(), false)
            ]
        );
        assert_eq!(c.uncovered().collect::<Vec<_>>(), vec!["mx.other.org"]);
        assert_eq!(c.unused_patterns, vec![pattern("old.example.net")]);
    }
}
