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
pub trait Classified {
    /// The result type and reason code.
    fn classification(&self) -> (ResultType, Reason);

    /// The failure this error is in `phase`.
    fn to_failure(&self, phase: Phase) -> Failure
    where
        Self: std::fmt::Display,
    {
        let (result_type, reason) = self.classification();
        Failure::new(phase, result_type, reason, self.to_string())
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
