//! The one place where errors become RFC 8460 result types and reason codes.
//!
//! Words follow `shared/notes/failure-taxonomy.md`: result types are RFC 8460
//! §4.3 strings exactly; reason codes follow the reference client's
//! `TLSReportFailureReason` and extend it. Both are closed enums, so a metric
//! label never carries free text from the network.

use crate::probe::dns::DnsFailure;
use crate::probe::policy_fetch::{CertProblem, PolicyFetchError};
use crate::probe::record_lookup::RecordLookupError;
use serde::Serialize;

/// A probe phase, as exported in the `phase` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// `_mta-sts.<domain>` TXT lookup (RFC 8461 §3.1).
    RecordLookup,
    /// HTTPS fetch of the policy (RFC 8461 §3.3).
    PolicyFetch,
    /// MX lookup and comparison with the policy (RFC 8461 §4.1).
    MxLookup,
    /// `_smtp._tls.<domain>` TXT lookup (RFC 8460 §3).
    TlsrptLookup,
}

impl Phase {
    /// Every phase, for pre-registering series.
    pub const ALL: [Phase; 4] = [
        Phase::RecordLookup,
        Phase::PolicyFetch,
        Phase::MxLookup,
        Phase::TlsrptLookup,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::RecordLookup => "record_lookup",
            Phase::PolicyFetch => "policy_fetch",
            Phase::MxLookup => "mx_lookup",
            Phase::TlsrptLookup => "tlsrpt_lookup",
        }
    }
}

/// RFC 8460 §4.3 result types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResultType {
    /// RFC 8460 §4.3.1 policy type `no-policy-found`: the domain publishes no
    /// MTA-STS record.
    NoPolicyFound,
    /// §4.3.2.2 `sts-policy-fetch-error`.
    StsPolicyFetchError,
    /// §4.3.2.2 `sts-policy-invalid`.
    StsPolicyInvalid,
    /// §4.3.2.2 `sts-webpki-invalid`.
    StsWebpkiInvalid,
    /// §4.3.2.3 `validation-failure`.
    ValidationFailure,
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
        }
    }
}

/// Reason codes (the `reason` label): a closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// No `v=STSv1` TXT record at `_mta-sts.<domain>`.
    NoMtaStsDnsTxtRecord,
    /// Two or more STS records (RFC 8461 §3.1: senders treat that as no
    /// record).
    MultipleMtaStsRecords,
    /// A DNS failure: SERVFAIL, REFUSED, timeout.
    DnsLookup,
    /// The STS record does not parse.
    RecordSyntaxError,
    /// The policy host does not exist in DNS, or HTTP 404.
    NoPolicyServed,
    /// Any other fetch failure: non-200 status, redirect, connection refused,
    /// timeout, TLS failure that is not a certificate verdict.
    CannotFetchPolicy,
    /// The policy does not parse, or is larger than 64 KiB.
    PolicySyntaxError,
    /// The policy host's certificate is expired or not yet valid.
    CertificateExpired,
    /// The policy host's certificate is not valid for `mta-sts.<domain>`.
    CertificateHostMismatch,
    /// The policy host's certificate chain is not trusted.
    CertificateNotTrusted,
    /// An MX host is not covered by any policy `mx:` pattern.
    MtastsPolicyMxMismatch,
}

impl Reason {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NoMtaStsDnsTxtRecord => "no-mta-sts-dns-txt-record",
            Reason::MultipleMtaStsRecords => "multiple-mta-sts-records",
            Reason::DnsLookup => "dns-lookup",
            Reason::RecordSyntaxError => "record-syntax-error",
            Reason::NoPolicyServed => "no-policy-served",
            Reason::CannotFetchPolicy => "cannot-fetch-policy",
            Reason::PolicySyntaxError => "policy-syntax-error",
            Reason::CertificateExpired => "certificate-expired",
            Reason::CertificateHostMismatch => "certificate-host-mismatch",
            Reason::CertificateNotTrusted => "certificate-not-trusted",
            Reason::MtastsPolicyMxMismatch => "mtasts-policy-mx-mismatch",
        }
    }
}

/// Longest `detail` kept: it is free text for people (logs, `check`), never a
/// label, but a hostile server must not grow it without bound.
pub const MAX_DETAIL_LEN: usize = 300;

/// One classified failure of a probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The phase it happened in.
    pub phase: Phase,
    /// The RFC 8460 result type.
    pub result_type: ResultType,
    /// The reason code.
    pub reason: Reason,
    /// Human-readable detail (capped at [`MAX_DETAIL_LEN`] characters).
    pub detail: String,
}

impl Failure {
    /// Builds a failure, capping and sanitizing the detail text (control
    /// characters from the network would otherwise reach logs and terminals).
    pub fn new(
        phase: Phase,
        result_type: ResultType,
        reason: Reason,
        detail: impl Into<String>,
    ) -> Failure {
        let detail: String = detail
            .into()
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(MAX_DETAIL_LEN)
            .collect();
        Failure {
            phase,
            result_type,
            reason,
            detail,
        }
    }
}

/// A classification: what RFC 8460 and the taxonomy call an error.
pub trait Classify {
    /// The result type and reason code.
    fn classify(&self) -> (ResultType, Reason);

    /// The failure this error is in `phase`.
    fn to_failure(&self, phase: Phase) -> Failure
    where
        Self: std::fmt::Display,
    {
        let (result_type, reason) = self.classify();
        Failure::new(phase, result_type, reason, self.to_string())
    }
}

impl Classify for RecordLookupError {
    fn classify(&self) -> (ResultType, Reason) {
        match self {
            RecordLookupError::NoRecord => {
                (ResultType::NoPolicyFound, Reason::NoMtaStsDnsTxtRecord)
            }
            RecordLookupError::Multiple(_) => (
                ResultType::StsPolicyFetchError,
                Reason::MultipleMtaStsRecords,
            ),
            RecordLookupError::Syntax { .. } => {
                (ResultType::StsPolicyFetchError, Reason::RecordSyntaxError)
            }
            RecordLookupError::Dns(_) => (ResultType::StsPolicyFetchError, Reason::DnsLookup),
        }
    }
}

impl Classify for PolicyFetchError {
    fn classify(&self) -> (ResultType, Reason) {
        match self {
            PolicyFetchError::HostNotFound | PolicyFetchError::NotFound => {
                (ResultType::StsPolicyFetchError, Reason::NoPolicyServed)
            }
            PolicyFetchError::HostLookup(_)
            | PolicyFetchError::Status(_)
            | PolicyFetchError::Redirect { .. }
            | PolicyFetchError::Timeout
            | PolicyFetchError::Connect(_)
            | PolicyFetchError::Transfer(_) => {
                (ResultType::StsPolicyFetchError, Reason::CannotFetchPolicy)
            }
            PolicyFetchError::Certificate(problem) => (
                ResultType::StsWebpkiInvalid,
                match problem {
                    CertProblem::Expired | CertProblem::NotYetValid => Reason::CertificateExpired,
                    CertProblem::HostMismatch => Reason::CertificateHostMismatch,
                    CertProblem::NotTrusted(_) => Reason::CertificateNotTrusted,
                },
            ),
            PolicyFetchError::TooLarge | PolicyFetchError::Syntax(_) => {
                (ResultType::StsPolicyInvalid, Reason::PolicySyntaxError)
            }
        }
    }
}

/// An MX lookup that failed in DNS (not "no MX": that is the implicit MX).
impl Classify for DnsFailure {
    fn classify(&self) -> (ResultType, Reason) {
        (ResultType::ValidationFailure, Reason::DnsLookup)
    }
}
