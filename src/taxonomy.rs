//! The failure taxonomy: the one closed vocabulary in which the exporter
//! says what went wrong (metrics labels, `check`, alerts, docs), after
//! `shared/notes/failure-taxonomy.md`.
//!
//! Plain data: result types are RFC 8460 §4.3 strings exactly
//! ([`ResultType`], defined with the RFC's rules); reason codes follow the
//! reference client's `TLSReportFailureReason` and extend it. Both are closed
//! enums, so a metric label never carries free text from the network. Which
//! error becomes which pair is decided in one place, `probe::classify`.

pub use crate::rfc::rfc8460::ResultType;
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
    /// DNSSEC-validated MX, address and TLSA lookups and the DANE check of
    /// each MX host (RFC 7672 §2.2, §3).
    Dane,
}

impl Phase {
    /// Every phase, for pre-registering series.
    pub const ALL: [Phase; 6] = [
        Phase::RecordLookup,
        Phase::PolicyFetch,
        Phase::MxLookup,
        Phase::TlsrptLookup,
        Phase::Starttls,
        Phase::Dane,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::RecordLookup => "record_lookup",
            Phase::PolicyFetch => "policy_fetch",
            Phase::MxLookup => "mx_lookup",
            Phase::TlsrptLookup => "tlsrpt_lookup",
            Phase::Starttls => "starttls",
            Phase::Dane => "dane",
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
    /// Not a failure: this address of a host is IPv4 and the machine
    /// running the exporter has no route for IPv4, so it was not checked
    /// (the host is judged on its other addresses).
    LocalNoIpv4Route,
    /// Not a failure: this address of a host is IPv6 and the machine
    /// running the exporter has no route for IPv6 (`network unreachable`),
    /// so it was not checked (the host is judged on its other addresses).
    LocalNoIpv6Route,
    /// An address of the policy host serves another policy (mode,
    /// `max_age` or `mx` patterns) than the first: the senders that reach
    /// it apply another policy.
    PolicyDiffersByAddress,
    /// A DANE failure (RFC 7672), from the closed set of
    /// [`crate::rfc::rfc7672::DaneReason`].
    Dane(crate::rfc::rfc7672::DaneReason),
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
            Reason::LocalNoIpv4Route => "local-no-ipv4-route",
            Reason::LocalNoIpv6Route => "local-no-ipv6-route",
            Reason::PolicyDiffersByAddress => "policy-differs-by-address",
            Reason::Dane(reason) => reason.as_str(),
            Reason::SmtpStarttlsReplyCode(code) => {
                return Cow::Owned(format!("smtp-starttls-reply-code-{code}"));
            }
            Reason::TlsRemoteAlert(alert) => {
                return Cow::Owned(format!("tls-remote-{}", tls_alert_name(*alert)));
            }
        })
    }
}

/// A TLS alert's name (from its wire value, RFC 8446 §6) in kebab case (`handshake-failure`), or
/// `unknown-<n>`: a closed set of at most 256 values.
pub fn tls_alert_name(alert: u8) -> String {
    let debug = format!("{:?}", rustls::AlertDescription::from(alert));
    // rustls prints unknown values as `Unknown(200)` or
    // `AlertDescription(0xc8)` depending on the version: both become
    // `unknown-<decimal>`.
    if debug.starts_with("Unknown") || debug.starts_with("AlertDescription") {
        return format!("unknown-{alert}");
    }
    let mut name = String::new();
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                name.push('-');
            }
            name.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            name.push(c);
        }
    }
    name
}

/// What is wrong with a certificate (the RFC 8460 §4.3.2.1 distinctions).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CertProblem {
    /// Past its notAfter.
    #[error("certificate expired")]
    Expired,
    /// Before its notBefore.
    #[error("certificate not yet valid")]
    NotYetValid,
    /// Not valid for the host name.
    #[error("certificate not valid for the host name")]
    HostMismatch,
    /// Chain does not lead to a trusted root, or is otherwise unusable.
    #[error("certificate not trusted: {0}")]
    NotTrusted(String),
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
        let detail = sanitize_detail(detail.into());
        Failure {
            phase,
            result_type,
            reason,
            detail,
        }
    }
}

/// `detail` without control characters, capped at [`MAX_DETAIL_LEN`]
/// characters.
fn sanitize_detail(detail: String) -> String {
    detail
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_DETAIL_LEN)
        .collect()
}

/// Why the exporter itself could not run a step of a probe: its own
/// shortage, not the domain's failure, so it has no RFC 8460 result type
/// (RFC 8460 §4.3 result types describe what a sending MTA found at the
/// recipient domain). A closed set: exported as
/// `mtasts_probe_local_errors_total{kind}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LocalErrorKind {
    /// The process or the system is out of file descriptors (`EMFILE`,
    /// `ENFILE`).
    DescriptorsExhausted,
    /// The kernel is out of memory or socket buffers (`ENOMEM`, `ENOBUFS`).
    MemoryExhausted,
    /// The machine cannot use the address's family: no support, no source
    /// address or no route for it (`EAFNOSUPPORT`, `EADDRNOTAVAIL`,
    /// `ENETUNREACH`), e.g. an IPv6-only MX host seen from an IPv4-only
    /// exporter.
    AddressFamilyUnsupported,
}

impl LocalErrorKind {
    /// Every kind, for pre-registering one series per kind.
    pub const ALL: [LocalErrorKind; 3] = [
        LocalErrorKind::DescriptorsExhausted,
        LocalErrorKind::MemoryExhausted,
        LocalErrorKind::AddressFamilyUnsupported,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            LocalErrorKind::DescriptorsExhausted => "descriptors-exhausted",
            LocalErrorKind::MemoryExhausted => "memory-exhausted",
            LocalErrorKind::AddressFamilyUnsupported => "address-family-unsupported",
        }
    }

    /// What the exporter is short of, for people (logs, the status page).
    pub fn shortage(self) -> &'static str {
        match self {
            LocalErrorKind::DescriptorsExhausted => "file descriptors",
            LocalErrorKind::MemoryExhausted => "memory or socket buffers",
            LocalErrorKind::AddressFamilyUnsupported => "network support for an address family",
        }
    }
}

/// A step of a probe the exporter could not run for a reason of its own
/// ([`LocalErrorKind`]). It is not a [`Failure`] of the domain: a probe with
/// one forms no verdict (see `probe::judge`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocalError {
    /// What the exporter is short of.
    pub kind: LocalErrorKind,
    /// The operating system's message (capped at [`MAX_DETAIL_LEN`]
    /// characters).
    pub detail: String,
}

impl LocalError {
    /// Builds a local error, capping and sanitizing the detail like
    /// [`Failure::new`].
    pub fn new(kind: LocalErrorKind, detail: impl Into<String>) -> LocalError {
        LocalError {
            kind,
            detail: sanitize_detail(detail.into()),
        }
    }
}

impl std::fmt::Display for LocalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the exporter is short of {} ({}): {}",
            self.kind.shortage(),
            self.kind.as_str(),
            self.detail
        )
    }
}

/// What the taxonomy calls an error: a failure of the domain (an RFC 8460
/// §4.3 result type and a reason code), or the exporter's own problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Classification {
    /// The domain fails: RFC 8460 result type and reason code.
    Failure(ResultType, Reason),
    /// The exporter could not do its part; the domain is not judged on it.
    Local(LocalErrorKind),
}

/// An error of a phase, judged: a failure of the domain, or a local error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judged {
    /// A failure of the domain.
    Failure(Failure),
    /// A step the exporter could not run.
    Local(LocalError),
}

/// A classification: what RFC 8460 and the taxonomy call an error.
pub trait Classified {
    /// The result type and reason code, or the local error kind.
    fn classification(&self) -> Classification;

    /// This error in `phase`, with `detail` as its text.
    fn judged(&self, phase: Phase, detail: String) -> Judged {
        match self.classification() {
            Classification::Failure(result_type, reason) => {
                Judged::Failure(Failure::new(phase, result_type, reason, detail))
            }
            Classification::Local(kind) => Judged::Local(LocalError::new(kind, detail)),
        }
    }

    /// This error in `phase`, with its own text as detail.
    fn judged_in(&self, phase: Phase) -> Judged
    where
        Self: std::fmt::Display,
    {
        self.judged(phase, self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_names() {
        let name = |alert: rustls::AlertDescription| tls_alert_name(u8::from(alert));
        assert_eq!(
            name(rustls::AlertDescription::HandshakeFailure),
            "handshake-failure"
        );
        assert_eq!(
            name(rustls::AlertDescription::InternalError),
            "internal-error"
        );
        assert_eq!(name(rustls::AlertDescription::Unknown(200)), "unknown-200");
    }
}
