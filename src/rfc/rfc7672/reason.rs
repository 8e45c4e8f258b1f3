//! The closed set of reasons a DANE check (RFC 7672) fails, each with the
//! RFC 8460 §4.3 result type a sender's TLSRPT report would carry.
//!
//! Not yet reasons of the taxonomy (`crate::taxonomy::Reason`): no probe
//! produces them until the DANE phase is wired; they are listed here so that
//! the phase, `check`, the README tables and the alerts take the same words.

use crate::rfc::rfc8460::ResultType;

/// Why a host fails DANE, as a label value: a closed set, never free text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DaneReason {
    /// Usable records exist and none matches the presented chain
    /// (RFC 7672 §3): `tlsa-invalid` / `tlsa-mismatch`.
    TlsaMismatch,
    /// Records exist and none is usable (RFC 7672 §2.2, §3.1.3): TLS is
    /// still required but not verified; `tlsa-invalid` /
    /// `all-unusable-records` (the reason senders such as mox report).
    AllUnusableRecords,
    /// A `DANE-TA` record matched a certificate of the chain but the leaf is
    /// valid for none of the reference identifiers (RFC 7672 §3.2.2,
    /// §3.2.3): `certificate-host-mismatch`, which RFC 8460 §4.3.1 uses for
    /// DANE policies too.
    DaneTaHostMismatch,
    /// A `DANE-TA` record matched, but the leaf or an intermediate is
    /// expired or not yet valid: `certificate-expired`.
    DaneTaCertExpired,
    /// A `DANE-TA` record matched, but the leaf does not chain to that trust
    /// anchor (a bad signature, a missing intermediate, a wrong key usage):
    /// `certificate-not-trusted`.
    DaneTaChainInvalid,
    /// The TLSA lookup failed (SERVFAIL, timeout): a DANE sender defers the
    /// mail rather than delivering without DANE (RFC 7672 §2.2):
    /// `dnssec-invalid`.
    TlsaLookupFailed,
    /// A DNSSEC validation failure (bogus) on the MX, address or TLSA
    /// answers: `dnssec-invalid`.
    DnssecBogus,
    /// The MX RRset is not DNSSEC-signed (insecure), so DANE cannot apply
    /// (RFC 7672 §2.2.1); a failure only for a domain configured to require
    /// DANE: `dane-required`.
    MxInsecure,
    /// The host's TLSA records are insecure (unsigned zone); a failure only
    /// for a domain configured to require DANE: `dane-required`.
    TlsaInsecure,
    /// A secure denial of TLSA records for the host; a failure only for a
    /// domain configured to require DANE: `dane-required`.
    NoTlsaRecords,
}

impl DaneReason {
    /// Every reason, for pre-registering series and documentation checks.
    pub const ALL: [DaneReason; 10] = [
        DaneReason::TlsaMismatch,
        DaneReason::AllUnusableRecords,
        DaneReason::DaneTaHostMismatch,
        DaneReason::DaneTaCertExpired,
        DaneReason::DaneTaChainInvalid,
        DaneReason::TlsaLookupFailed,
        DaneReason::DnssecBogus,
        DaneReason::MxInsecure,
        DaneReason::TlsaInsecure,
        DaneReason::NoTlsaRecords,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DaneReason::TlsaMismatch => "tlsa-mismatch",
            DaneReason::AllUnusableRecords => "all-unusable-records",
            DaneReason::DaneTaHostMismatch => "dane-ta-host-mismatch",
            DaneReason::DaneTaCertExpired => "dane-ta-certificate-expired",
            DaneReason::DaneTaChainInvalid => "dane-ta-chain-invalid",
            DaneReason::TlsaLookupFailed => "tlsa-lookup-failed",
            DaneReason::DnssecBogus => "dnssec-bogus",
            DaneReason::MxInsecure => "mx-insecure",
            DaneReason::TlsaInsecure => "tlsa-insecure",
            DaneReason::NoTlsaRecords => "no-tlsa-records",
        }
    }

    /// The RFC 8460 §4.3 result type a sender reports for it.
    pub fn result_type(self) -> ResultType {
        match self {
            DaneReason::TlsaMismatch | DaneReason::AllUnusableRecords => ResultType::TlsaInvalid,
            DaneReason::DaneTaHostMismatch => ResultType::CertificateHostMismatch,
            DaneReason::DaneTaCertExpired => ResultType::CertificateExpired,
            DaneReason::DaneTaChainInvalid => ResultType::CertificateNotTrusted,
            DaneReason::TlsaLookupFailed | DaneReason::DnssecBogus => ResultType::DnssecInvalid,
            DaneReason::MxInsecure | DaneReason::TlsaInsecure | DaneReason::NoTlsaRecords => {
                ResultType::DaneRequired
            }
        }
    }

    /// Whether it is a failure only for a domain configured to require DANE
    /// (otherwise the host is simply not protected by DANE, and MTA-STS or
    /// nothing applies, RFC 8461 §2).
    pub fn only_when_required(self) -> bool {
        self.result_type() == ResultType::DaneRequired
    }
}

impl serde::Serialize for DaneReason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn reasons_are_distinct_kebab_case_words() {
        let words: HashSet<&str> = DaneReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(words.len(), DaneReason::ALL.len());
        for word in words {
            assert!(
                word.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{word}"
            );
        }
    }

    #[test]
    fn reasons_map_to_rfc_8460_result_types() {
        assert_eq!(
            DaneReason::TlsaMismatch.result_type().as_str(),
            "tlsa-invalid"
        );
        assert_eq!(
            DaneReason::AllUnusableRecords.result_type().as_str(),
            "tlsa-invalid"
        );
        assert_eq!(
            DaneReason::DnssecBogus.result_type().as_str(),
            "dnssec-invalid"
        );
        assert_eq!(
            DaneReason::TlsaLookupFailed.result_type().as_str(),
            "dnssec-invalid"
        );
        assert_eq!(
            DaneReason::MxInsecure.result_type().as_str(),
            "dane-required"
        );
        assert!(DaneReason::NoTlsaRecords.only_when_required());
        assert!(!DaneReason::TlsaMismatch.only_when_required());
        assert_eq!(
            DaneReason::DaneTaHostMismatch.result_type().as_str(),
            "certificate-host-mismatch"
        );
    }
}
