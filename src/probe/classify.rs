//! The one place where the phases' errors become RFC 8460 result types and
//! reason codes (the table in `shared/notes/failure-taxonomy.md`).

use super::outcome::{DnsFailure, PolicyFetchError, RecordLookupError, StarttlsError};
use crate::rfc::rfc8461::record_set::RecordSetError;
use crate::taxonomy::{CertProblem, Classified, Reason, ResultType};

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
    fn classification(&self) -> (ResultType, Reason) {
        match self {
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
        }
    }
}

impl Classified for PolicyFetchError {
    fn classification(&self) -> (ResultType, Reason) {
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
            PolicyFetchError::Certificate(problem) => {
                (ResultType::StsWebpkiInvalid, certificate_reason(problem))
            }
            PolicyFetchError::TooLarge | PolicyFetchError::Syntax(_) => {
                (ResultType::StsPolicyInvalid, Reason::PolicySyntaxError)
            }
        }
    }
}

impl Classified for StarttlsError {
    fn classification(&self) -> (ResultType, Reason) {
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
            // For an MX host, RFC 8460 §4.3.2.1 has a result type per
            // certificate problem, named like the reason.
            StarttlsError::Certificate(problem) => {
                let result_type = match problem {
                    CertProblem::Expired | CertProblem::NotYetValid => {
                        ResultType::CertificateExpired
                    }
                    CertProblem::HostMismatch => ResultType::CertificateHostMismatch,
                    CertProblem::NotTrusted(_) => ResultType::CertificateNotTrusted,
                };
                (result_type, certificate_reason(problem))
            }
        }
    }
}

/// An MX lookup that failed in DNS (not "no MX": that is the implicit MX).
impl Classified for DnsFailure {
    fn classification(&self) -> (ResultType, Reason) {
        (ResultType::ValidationFailure, Reason::DnsLookup)
    }
}
