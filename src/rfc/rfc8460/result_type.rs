//! The result types of an RFC 8460 §4.3 report: why a sending MTA could not
//! deliver over a secure channel. The exact strings senders put in reports.

use serde::Serialize;

/// RFC 8460 §4.3 result types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResultType {
    /// RFC 8460 policy type `no-policy-found` (§4.4, `policy-type`), used
    /// here as a result: the domain publishes no MTA-STS record.
    NoPolicyFound,
    /// §4.3.2.2 `sts-policy-fetch-error`.
    StsPolicyFetchError,
    /// §4.3.2.2 `sts-policy-invalid`.
    StsPolicyInvalid,
    /// §4.3.2.2 `sts-webpki-invalid`.
    StsWebpkiInvalid,
    /// §4.3.2.3 `validation-failure`.
    ValidationFailure,
    /// §4.3.1 (negotiation failures) `starttls-not-supported`.
    StarttlsNotSupported,
    /// §4.3.1 (negotiation failures) `certificate-host-mismatch`.
    CertificateHostMismatch,
    /// §4.3.1 (negotiation failures) `certificate-expired`.
    CertificateExpired,
    /// §4.3.1 (negotiation failures) `certificate-not-trusted`.
    CertificateNotTrusted,
    /// RFC 8460 §4.3.2.1 (DANE-specific policy failures) `tlsa-invalid`: no
    /// record of the TLSA RRset was found valid (RFC 7672).
    TlsaInvalid,
    /// RFC 8460 §4.3.2.1 `dnssec-invalid`: no valid records were returned
    /// by the resolver (DNSSEC bogus, or the lookup failed).
    DnssecInvalid,
    /// RFC 8460 §4.3.2.1 `dane-required`: DANE is required for the domain
    /// but the host has no secure, usable TLSA records.
    DaneRequired,
}

impl ResultType {
    /// The RFC 8460 string.
    pub fn as_str(self) -> &'static str {
        match self {
            ResultType::NoPolicyFound => "no-policy-found",
            ResultType::StsPolicyFetchError => "sts-policy-fetch-error",
            ResultType::StsPolicyInvalid => "sts-policy-invalid",
            ResultType::StsWebpkiInvalid => "sts-webpki-invalid",
            ResultType::ValidationFailure => "validation-failure",
            ResultType::StarttlsNotSupported => "starttls-not-supported",
            ResultType::CertificateHostMismatch => "certificate-host-mismatch",
            ResultType::CertificateExpired => "certificate-expired",
            ResultType::CertificateNotTrusted => "certificate-not-trusted",
            ResultType::TlsaInvalid => "tlsa-invalid",
            ResultType::DnssecInvalid => "dnssec-invalid",
            ResultType::DaneRequired => "dane-required",
        }
    }
}
