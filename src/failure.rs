//! The one place where errors become RFC 8460 result types and reason codes.
//!
//! Words follow `shared/notes/failure-taxonomy.md`: result types are RFC 8460
//! §4.3 strings exactly; reason codes follow the reference client's
//! `TLSReportFailureReason` and extend it. Both are closed enums, so a metric
//! label never carries free text from the network.

use crate::probe::cert::CertProblem;
use crate::probe::dns::DnsFailure;
use crate::probe::policy_fetch::PolicyFetchError;
use crate::probe::record_lookup::RecordLookupError;
use crate::probe::starttls::StarttlsError;
use serde::{Serialize, Serializer};
use std::borrow::Cow;

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
    /// SMTP STARTTLS and certificate check of one MX host (RFC 8461 §4.2).
    Starttls,
}

impl Phase {
    /// Every phase, for pre-registering series.
    pub const ALL: [Phase; 5] = [
        Phase::RecordLookup,
        Phase::PolicyFetch,
        Phase::MxLookup,
        Phase::TlsrptLookup,
        Phase::Starttls,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::RecordLookup => "record_lookup",
            Phase::PolicyFetch => "policy_fetch",
            Phase::MxLookup => "mx_lookup",
            Phase::TlsrptLookup => "tlsrpt_lookup",
            Phase::Starttls => "starttls",
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
    /// §4.3.2.1 `starttls-not-supported`.
    StarttlsNotSupported,
    /// §4.3.2.1 `certificate-host-mismatch`.
    CertificateHostMismatch,
    /// §4.3.2.1 `certificate-expired`.
    CertificateExpired,
    /// §4.3.2.1 `certificate-not-trusted`.
    CertificateNotTrusted,
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
        }
    }
}

/// Reason codes (the `reason` label): a closed set. The two parameterised
/// codes stay bounded: reply codes are 3 digits from 200 to 599, alerts are
/// TLS's 256 alert values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
    /// The MX host name has no address.
    NoAddress,
    /// The MX host refused the connection.
    ConnectionRefused,
    /// The connection to the MX host failed otherwise.
    ConnectionFailed,
    /// No complete exchange within the timeout.
    Timeout,
    /// No 220 greeting from the MX host.
    SmtpGreeting,
    /// EHLO was not accepted.
    SmtpEhloFailed,
    /// The MX host broke the SMTP protocol (over-long lines, data sent
    /// ahead of TLS).
    SmtpProtocolError,
    /// STARTTLS is not in the EHLO reply.
    StarttlsNotOffered,
    /// STARTTLS answered with this reply code.
    SmtpStarttlsReplyCode(u16),
    /// The server sent this TLS alert (its wire value) during the handshake.
    TlsRemoteAlert(u8),
    /// The TLS handshake failed without an alert or a certificate verdict.
    TlsHandshakeFailure,
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.as_str())
    }
}

impl Reason {
    /// The label value.
    pub fn as_str(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
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
            Reason::NoAddress => "no-address",
            Reason::ConnectionRefused => "connection-refused",
            Reason::ConnectionFailed => "connection-failed",
            Reason::Timeout => "timeout",
            Reason::SmtpGreeting => "smtp-greeting",
            Reason::SmtpEhloFailed => "smtp-ehlo-failed",
            Reason::SmtpProtocolError => "smtp-protocol-error",
            Reason::StarttlsNotOffered => "starttls-not-offered",
            Reason::TlsHandshakeFailure => "tls-handshake-failure",
            Reason::SmtpStarttlsReplyCode(code) => {
                return Cow::Owned(format!("smtp-starttls-reply-code-{code}"));
            }
            Reason::TlsRemoteAlert(alert) => {
                return Cow::Owned(format!(
                    "tls-remote-{}",
                    crate::probe::starttls::alert_name(rustls::AlertDescription::from(*alert))
                ));
            }
        })
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
            RecordLookupError::NoRecord { .. } => {
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

impl Classify for StarttlsError {
    fn classify(&self) -> (ResultType, Reason) {
        use ResultType::{StarttlsNotSupported, ValidationFailure};
        match self {
            StarttlsError::NoAddress | StarttlsError::NotAHostName => {
                (ValidationFailure, Reason::NoAddress)
            }
            StarttlsError::AddressLookup(_) => (ValidationFailure, Reason::DnsLookup),
            StarttlsError::ConnectionRefused => (ValidationFailure, Reason::ConnectionRefused),
            StarttlsError::Connect(_) => (ValidationFailure, Reason::ConnectionFailed),
            StarttlsError::Timeout(_) => (ValidationFailure, Reason::Timeout),
            StarttlsError::Greeting(_) => (ValidationFailure, Reason::SmtpGreeting),
            StarttlsError::Ehlo(_) => (ValidationFailure, Reason::SmtpEhloFailed),
            StarttlsError::Protocol(_) => (ValidationFailure, Reason::SmtpProtocolError),
            StarttlsError::NotOffered => (StarttlsNotSupported, Reason::StarttlsNotOffered),
            StarttlsError::Refused { code, .. } => {
                (StarttlsNotSupported, Reason::SmtpStarttlsReplyCode(*code))
            }
            StarttlsError::TlsAlert(alert) => {
                (ValidationFailure, Reason::TlsRemoteAlert(u8::from(*alert)))
            }
            StarttlsError::Tls(_) => (ValidationFailure, Reason::TlsHandshakeFailure),
            StarttlsError::Certificate(problem) => match problem {
                CertProblem::Expired | CertProblem::NotYetValid => {
                    (ResultType::CertificateExpired, Reason::CertificateExpired)
                }
                CertProblem::HostMismatch => (
                    ResultType::CertificateHostMismatch,
                    Reason::CertificateHostMismatch,
                ),
                CertProblem::NotTrusted(_) => (
                    ResultType::CertificateNotTrusted,
                    Reason::CertificateNotTrusted,
                ),
            },
        }
    }
}

/// An MX lookup that failed in DNS (not "no MX": that is the implicit MX).
impl Classify for DnsFailure {
    fn classify(&self) -> (ResultType, Reason) {
        (ResultType::ValidationFailure, Reason::DnsLookup)
    }
}
