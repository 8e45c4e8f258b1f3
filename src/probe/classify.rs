//! The one place where the phases' errors become RFC 8460 result types and
//! reason codes (the table in `shared/notes/failure-taxonomy.md`), or are
//! told apart as the exporter's own problem ([`LocalErrorKind`]): an
//! operating-system error that says the machine running the probe is short
//! of something is no failure of the domain.

use super::outcome::{DnsFailure, PolicyFetchError, RecordLookupError, StarttlsError};
use crate::rfc::rfc8461::record_set::RecordSetError;
use crate::taxonomy::{
    CertProblem, Classification, Classified, LocalError, LocalErrorKind, Reason, ResultType,
};
use std::error::Error as StdError;

/// The local error kind of an operating-system error, when it says the
/// exporter's machine is short of something rather than anything about the
/// remote side: out of descriptors (`EMFILE`, `ENFILE`), of memory or
/// buffers (`ENOMEM`, `ENOBUFS`), or unable to use the address's family
/// (`EAFNOSUPPORT`, `EADDRNOTAVAIL`, `ENETUNREACH`: the kernel has no
/// support, no source address or no route for it). Only the error number
/// decides: `io::ErrorKind` folds these into broader kinds.
///
/// `ENETUNREACH` can also come from an ICMP "network unreachable" sent by a
/// remote router, but only after the kernel's SYN retries (minutes), which
/// outlast every probe timeout: a probe sees that case as `timeout`.
pub fn local_error_kind(error: &std::io::Error) -> Option<LocalErrorKind> {
    match error.raw_os_error()? {
        libc::EMFILE | libc::ENFILE => Some(LocalErrorKind::DescriptorsExhausted),
        libc::ENOMEM | libc::ENOBUFS => Some(LocalErrorKind::MemoryExhausted),
        libc::EAFNOSUPPORT | libc::EADDRNOTAVAIL | libc::ENETUNREACH => {
            Some(LocalErrorKind::AddressFamilyUnsupported)
        }
        _ => None,
    }
}

/// The local error of `error`, when it is an operating-system error of a
/// local kind ([`local_error_kind`]).
pub fn local_error(error: &std::io::Error) -> Option<LocalError> {
    local_error_kind(error).map(|kind| LocalError::new(kind, error.to_string()))
}

/// The first local error in an error chain (reqwest and hyper wrap the
/// `io::Error` of a failed `socket()` or `connect()` several layers deep).
pub fn local_error_in_chain(error: &(dyn StdError + 'static)) -> Option<LocalError> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(local) = e.downcast_ref::<std::io::Error>().and_then(local_error) {
            return Some(local);
        }
        current = e.source();
    }
    None
}

/// The reason code of a certificate problem: RFC 8460 §4.3.2.1 tells the
/// same three problems apart for the policy host and the MX hosts.
fn certificate_reason(problem: &CertProblem) -> Reason {
    match problem {
        CertProblem::Expired | CertProblem::NotYetValid => Reason::CertificateExpired,
        CertProblem::HostMismatch => Reason::CertificateHostMismatch,
        CertProblem::NotTrusted(_) => Reason::CertificateNotTrusted,
    }
}

impl Classified for RecordLookupError {
    fn classification(&self) -> Classification {
        if let Some(local) = self.local() {
            return Classification::Local(local.kind);
        }
        let (result_type, reason) = match self {
            RecordLookupError::Rules { error, .. } => match error {
                RecordSetError::NoRecord => {
                    (ResultType::NoPolicyFound, Reason::NoMtaStsDnsTxtRecord)
                }
                RecordSetError::Multiple(_) => (
                    ResultType::StsPolicyFetchError,
                    Reason::MultipleMtaStsRecords,
                ),
                RecordSetError::Syntax { .. } => {
                    (ResultType::StsPolicyFetchError, Reason::RecordSyntaxError)
                }
            },
            RecordLookupError::Dns(_) => (ResultType::StsPolicyFetchError, Reason::DnsLookup),
        };
        Classification::Failure(result_type, reason)
    }
}

impl Classified for PolicyFetchError {
    fn classification(&self) -> Classification {
        if let Some(local) = self.local() {
            return Classification::Local(local.kind);
        }
        let (result_type, reason) = match self {
            PolicyFetchError::HostNotFound | PolicyFetchError::NotFound => {
                (ResultType::StsPolicyFetchError, Reason::NoPolicyServed)
            }
            PolicyFetchError::HostLookup(_)
            | PolicyFetchError::Local(_)
            | PolicyFetchError::Status(_)
            | PolicyFetchError::Redirect { .. }
            | PolicyFetchError::Timeout
            | PolicyFetchError::Connect(_)
            | PolicyFetchError::Transfer(_) => {
                (ResultType::StsPolicyFetchError, Reason::CannotFetchPolicy)
            }
            PolicyFetchError::Certificate(problem) => {
                (ResultType::StsWebpkiInvalid, certificate_reason(problem))
            }
            PolicyFetchError::TooLarge | PolicyFetchError::Syntax(_) => {
                (ResultType::StsPolicyInvalid, Reason::PolicySyntaxError)
            }
        };
        Classification::Failure(result_type, reason)
    }
}

impl Classified for StarttlsError {
    fn classification(&self) -> Classification {
        if let Some(local) = self.local() {
            return Classification::Local(local.kind);
        }
        let (result_type, reason) = starttls_failure(self);
        Classification::Failure(result_type, reason)
    }
}

/// The result type and reason of a STARTTLS error that is not local.
fn starttls_failure(error: &StarttlsError) -> (ResultType, Reason) {
    use ResultType::{StarttlsNotSupported, ValidationFailure};
    match error {
        StarttlsError::NoAddress | StarttlsError::NotAHostName => {
            (ValidationFailure, Reason::NoAddress)
        }
        StarttlsError::AddressLookup(_) => (ValidationFailure, Reason::DnsLookup),
        StarttlsError::ConnectionRefused => (ValidationFailure, Reason::ConnectionRefused),
        StarttlsError::Connect(_) | StarttlsError::Local(_) => {
            (ValidationFailure, Reason::ConnectionFailed)
        }
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
        // For an MX host, RFC 8460 §4.3.2.1 has a result type per
        // certificate problem, named like the reason.
        StarttlsError::Certificate(problem) => {
            let result_type = match problem {
                CertProblem::Expired | CertProblem::NotYetValid => ResultType::CertificateExpired,
                CertProblem::HostMismatch => ResultType::CertificateHostMismatch,
                CertProblem::NotTrusted(_) => ResultType::CertificateNotTrusted,
            };
            (result_type, certificate_reason(problem))
        }
    }
}

/// An MX lookup that failed in DNS (not "no MX": that is the implicit MX).
impl Classified for DnsFailure {
    fn classification(&self) -> Classification {
        match self.local() {
            Some(local) => Classification::Local(local.kind),
            None => Classification::Failure(ResultType::ValidationFailure, Reason::DnsLookup),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    fn os_error(code: i32) -> io::Error {
        io::Error::from_raw_os_error(code)
    }

    #[test]
    fn local_os_errors_map_to_their_kind() {
        for (code, kind) in [
            (libc::EMFILE, LocalErrorKind::DescriptorsExhausted),
            (libc::ENFILE, LocalErrorKind::DescriptorsExhausted),
            (libc::ENOMEM, LocalErrorKind::MemoryExhausted),
            (libc::ENOBUFS, LocalErrorKind::MemoryExhausted),
            (libc::EAFNOSUPPORT, LocalErrorKind::AddressFamilyUnsupported),
            (
                libc::EADDRNOTAVAIL,
                LocalErrorKind::AddressFamilyUnsupported,
            ),
            (libc::ENETUNREACH, LocalErrorKind::AddressFamilyUnsupported),
        ] {
            assert_eq!(local_error_kind(&os_error(code)), Some(kind), "{code}");
        }
    }

    #[test]
    fn remote_and_synthetic_errors_are_not_local() {
        for code in [
            libc::ECONNREFUSED,
            libc::ETIMEDOUT,
            libc::EHOSTUNREACH,
            libc::ECONNRESET,
        ] {
            assert_eq!(local_error_kind(&os_error(code)), None, "{code}");
        }
        // Same message, no error number: not local (only the number decides).
        let synthetic = io::Error::other("Too many open files (os error 24)");
        assert_eq!(local_error_kind(&synthetic), None);
    }

    /// An error that wraps another, like hyper's connect error wraps the
    /// `io::Error` of `socket()`.
    #[derive(Debug, thiserror::Error)]
    #[error("client error (Connect)")]
    struct Wrapper(#[source] io::Error);

    #[test]
    fn a_local_error_is_found_deep_in_a_chain() {
        let chain = Wrapper(os_error(libc::EMFILE));
        let local = local_error_in_chain(&chain).unwrap();
        assert_eq!(local.kind, LocalErrorKind::DescriptorsExhausted);
        assert!(local.detail.contains("os error"), "{}", local.detail);
        assert!(local_error_in_chain(&Wrapper(os_error(libc::ECONNREFUSED))).is_none());
    }

    fn local_dns(code: i32) -> DnsFailure {
        DnsFailure::Local {
            name: "example.com".into(),
            record_type: "TXT",
            error: local_error(&os_error(code)).unwrap(),
        }
    }

    #[test]
    fn local_errors_are_no_rfc_8460_failure_in_any_phase() {
        let kind = LocalErrorKind::DescriptorsExhausted;
        let local = || local_error(&os_error(libc::EMFILE)).unwrap();
        let expected = Classification::Local(kind);
        assert_eq!(local_dns(libc::EMFILE).classification(), expected);
        assert_eq!(
            RecordLookupError::Dns(local_dns(libc::EMFILE)).classification(),
            expected
        );
        assert_eq!(PolicyFetchError::Local(local()).classification(), expected);
        assert_eq!(
            PolicyFetchError::HostLookup(local_dns(libc::EMFILE)).classification(),
            expected
        );
        assert_eq!(StarttlsError::Local(local()).classification(), expected);
        assert_eq!(
            StarttlsError::AddressLookup(local_dns(libc::EMFILE)).classification(),
            expected
        );
    }

    #[test]
    fn real_dns_and_connection_failures_keep_their_classification() {
        let servfail = DnsFailure::ResponseCode {
            name: "example.com".into(),
            record_type: "TXT",
            code: "SERVFAIL".into(),
        };
        assert_eq!(
            RecordLookupError::Dns(servfail.clone()).classification(),
            Classification::Failure(ResultType::StsPolicyFetchError, Reason::DnsLookup)
        );
        assert_eq!(
            servfail.classification(),
            Classification::Failure(ResultType::ValidationFailure, Reason::DnsLookup)
        );
        assert_eq!(
            StarttlsError::ConnectionRefused.classification(),
            Classification::Failure(ResultType::ValidationFailure, Reason::ConnectionRefused)
        );
        assert_eq!(
            PolicyFetchError::Connect("refused".into()).classification(),
            Classification::Failure(ResultType::StsPolicyFetchError, Reason::CannotFetchPolicy)
        );
    }
}
