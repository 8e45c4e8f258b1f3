//! Which TLSA records an SMTP client may use (RFC 7672 §3.1, §3.1.3), and
//! what a TLSA RRset as a whole asks of the client (RFC 7672 §2.2).

use super::tlsa::{CertUsage, MatchingType, Selector, Tlsa};

/// The two certificate usages RFC 7672 §3.1 allows for SMTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DaneUsage {
    /// 2 `DANE-TA` (RFC 7672 §3.1.2).
    DaneTa,
    /// 3 `DANE-EE` (RFC 7672 §3.1.1).
    DaneEe,
}

impl DaneUsage {
    /// The RFC 7218 name.
    pub fn as_str(self) -> &'static str {
        match self {
            DaneUsage::DaneTa => CertUsage::DaneTa.as_str(),
            DaneUsage::DaneEe => CertUsage::DaneEe.as_str(),
        }
    }
}

/// The parameters of a usable record (RFC 7672 §3.1), by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Usable {
    /// `DANE-TA` or `DANE-EE`.
    pub usage: DaneUsage,
    /// `Cert` or `SPKI`.
    pub selector: Selector,
    /// `Full`, `SHA2-256` or `SHA2-512`.
    pub matching: MatchingType,
}

/// Why a record is unusable for SMTP: an SMTP client ignores it
/// (RFC 7672 §3.1.3; RFC 6698 §4.1 for parameters it does not know).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Unusable {
    /// Usage 0 `PKIX-TA` or 1 `PKIX-EE`: SMTP clients cannot know which
    /// CAs a server's operator meant, so RFC 7672 §3.1.3 makes them
    /// unusable.
    #[error("usage {0} (PKIX-*) is unusable for SMTP (RFC 7672 §3.1.3)")]
    PkixUsage(u8),
    /// A usage number RFC 6698 does not define.
    #[error("unknown usage {0}")]
    UnknownUsage(u8),
    /// A selector number RFC 6698 does not define.
    #[error("unknown selector {0}")]
    UnknownSelector(u8),
    /// A matching type number RFC 6698 does not define.
    #[error("unknown matching type {0}")]
    UnknownMatching(u8),
    /// A digest whose length is not the digest's (RFC 7672 §3.1.3: such a
    /// record is unusable).
    #[error("{matching} digest must be {expected} bytes, has {got}", matching = .matching.as_str())]
    DigestLength {
        /// The matching type.
        matching: MatchingType,
        /// Its digest length.
        expected: usize,
        /// The data's length.
        got: usize,
    },
    /// Matching type `Full` with no data: nothing could match.
    #[error("Full matching with empty association data")]
    EmptyData,
}

impl Tlsa {
    /// Whether an SMTP client may use this record (RFC 7672 §3.1): usage 2
    /// `DANE-TA` or 3 `DANE-EE`, selector 0 `Cert` or 1 `SPKI`, matching
    /// type 0 `Full`, 1 `SHA2-256` or 2 `SHA2-512` with data of the digest's
    /// length (32 or 64 bytes). The first thing that disqualifies it is
    /// returned, in that order.
    pub fn usable(&self) -> Result<Usable, Unusable> {
        let usage = match self.cert_usage() {
            Some(CertUsage::DaneTa) => DaneUsage::DaneTa,
            Some(CertUsage::DaneEe) => DaneUsage::DaneEe,
            Some(CertUsage::PkixTa | CertUsage::PkixEe) => {
                return Err(Unusable::PkixUsage(self.usage))
            }
            None => return Err(Unusable::UnknownUsage(self.usage)),
        };
        let selector = self
            .selector_kind()
            .ok_or(Unusable::UnknownSelector(self.selector))?;
        let matching = self
            .matching_type()
            .ok_or(Unusable::UnknownMatching(self.matching))?;
        match matching.digest_len() {
            Some(expected) if self.data.len() != expected => {
                return Err(Unusable::DigestLength {
                    matching,
                    expected,
                    got: self.data.len(),
                })
            }
            None if self.data.is_empty() => return Err(Unusable::EmptyData),
            _ => {}
        }
        Ok(Usable {
            usage,
            selector,
            matching,
        })
    }
}

/// What a secure TLSA RRset asks of an SMTP client (RFC 7672 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsaSetStatus {
    /// No records (a secure denial): DANE does not apply to the host.
    NoRecords,
    /// Records, none usable: the client must still use TLS, but does not
    /// authenticate the server (RFC 7672 §2.2: "TLS required, not
    /// verified"); reported as `all-unusable-records`.
    TlsRequiredNotVerified,
    /// At least one usable record: TLS is required and the server's chain
    /// must match one of the usable records (RFC 7672 §2.2, §3).
    TlsRequiredVerified,
}

/// The status of a secure TLSA RRset (RFC 7672 §2.2).
pub fn set_status(records: &[Tlsa]) -> TlsaSetStatus {
    if records.is_empty() {
        TlsaSetStatus::NoRecords
    } else if records.iter().any(|r| r.usable().is_ok()) {
        TlsaSetStatus::TlsRequiredVerified
    } else {
        TlsaSetStatus::TlsRequiredNotVerified
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(text: &str) -> Tlsa {
        Tlsa::parse(text).unwrap()
    }

    #[test]
    fn dane_usages_with_known_parameters_are_usable() {
        let sha256 = "00".repeat(32);
        let sha512 = "00".repeat(64);
        for text in [
            format!("3 1 1 {sha256}"),
            format!("3 0 1 {sha256}"),
            format!("2 1 2 {sha512}"),
            "3 1 0 3059".to_string(),
            "2 0 0 3082".to_string(),
        ] {
            assert!(record(&text).usable().is_ok(), "{text}");
        }
        let usable = record(&format!("2 1 1 {sha256}")).usable().unwrap();
        assert_eq!(
            usable,
            Usable {
                usage: DaneUsage::DaneTa,
                selector: Selector::Spki,
                matching: MatchingType::Sha256
            }
        );
    }

    #[test]
    fn everything_else_is_unusable() {
        let sha256 = "00".repeat(32);
        let cases = [
            (format!("1 1 1 {sha256}"), Unusable::PkixUsage(1)),
            (format!("0 0 1 {sha256}"), Unusable::PkixUsage(0)),
            (format!("4 1 1 {sha256}"), Unusable::UnknownUsage(4)),
            (format!("3 2 1 {sha256}"), Unusable::UnknownSelector(2)),
            (format!("3 1 3 {sha256}"), Unusable::UnknownMatching(3)),
            (
                format!("3 1 2 {sha256}"),
                Unusable::DigestLength {
                    matching: MatchingType::Sha512,
                    expected: 64,
                    got: 32,
                },
            ),
            (
                "3 1 1 00".to_string(),
                Unusable::DigestLength {
                    matching: MatchingType::Sha256,
                    expected: 32,
                    got: 1,
                },
            ),
        ];
        for (text, why) in cases {
            assert_eq!(record(&text).usable(), Err(why), "{text}");
        }
        let empty = Tlsa {
            usage: 3,
            selector: 0,
            matching: 0,
            data: vec![],
        };
        assert_eq!(empty.usable(), Err(Unusable::EmptyData));
    }

    #[test]
    fn a_set_without_usable_records_requires_tls_without_verification() {
        let sha256 = "00".repeat(32);
        assert_eq!(set_status(&[]), TlsaSetStatus::NoRecords);
        let unusable = [
            record(&format!("1 1 1 {sha256}")),
            record(&format!("3 2 1 {sha256}")),
            record("3 1 1 00"),
        ];
        assert_eq!(set_status(&unusable), TlsaSetStatus::TlsRequiredNotVerified);
        let mut mixed = unusable.to_vec();
        mixed.push(record(&format!("3 1 1 {sha256}")));
        assert_eq!(set_status(&mixed), TlsaSetStatus::TlsRequiredVerified);
    }
}
