//! The MX host list senders use (RFC 5321 §5.1): the MX records by
//! preference, the domain itself when there are none (the implicit MX), and
//! nothing for a null MX (RFC 7505 §3).

/// One MX record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxRecord {
    /// The preference (lower is tried first).
    pub preference: u16,
    /// The exchange host, lower-case, without trailing dot.
    pub host: String,
}

/// Where the MX host list came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MxSource {
    /// MX records in DNS.
    Explicit,
    /// No MX records: the domain itself is the implicit MX (RFC 5321 §5.1).
    Implicit,
    /// A null MX (`MX 0 .`, RFC 7505): the domain accepts no mail.
    NullMx,
}

/// The MX hosts of a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxSet {
    /// The hosts in preference order (empty for a null MX).
    pub hosts: Vec<MxRecord>,
    /// Where they came from.
    pub source: MxSource,
}

/// Turns an MX answer into the host list senders use.
pub fn evaluate_mx(domain: &str, records: Vec<MxRecord>) -> MxSet {
    if records.is_empty() {
        return MxSet {
            hosts: vec![MxRecord {
                preference: 0,
                host: domain.to_string(),
            }],
            source: MxSource::Implicit,
        };
    }
    // RFC 7505 §3: a single MX with an empty (root) exchange.
    if records.len() == 1 && records[0].host.is_empty() {
        return MxSet {
            hosts: Vec::new(),
            source: MxSource::NullMx,
        };
    }
    MxSet {
        hosts: records.into_iter().filter(|r| !r.host.is_empty()).collect(),
        source: MxSource::Explicit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mx(preference: u16, host: &str) -> MxRecord {
        MxRecord {
            preference,
            host: host.into(),
        }
    }

    #[test]
    fn sources() {
        let implicit = evaluate_mx("example.com", vec![]);
        assert_eq!(implicit.source, MxSource::Implicit);
        assert_eq!(implicit.hosts, vec![mx(0, "example.com")]);
        let null = evaluate_mx("example.com", vec![mx(0, "")]);
        assert_eq!(null.source, MxSource::NullMx);
        assert!(null.hosts.is_empty());
        let explicit = evaluate_mx("example.com", vec![mx(10, "mx1.example.com")]);
        assert_eq!(explicit.source, MxSource::Explicit);
    }
}
