//! What the network phases return: plain data and typed errors, no I/O.
//! The phases in this module's siblings produce them; [`super::judge`]
//! judges them and [`super::classify`] maps the errors to the RFC 8460
//! taxonomy. Nothing here reaches the network.

use crate::report::CertInfo;
use crate::rfc::rfc5321::MxSet;
use crate::rfc::rfc8460::TlsRptStatus;
use crate::rfc::rfc8461::policy::{Policy, PolicyError, MAX_POLICY_BYTES};
use crate::rfc::rfc8461::record_set::{RecordSetError, ValidRecordSet};
use crate::taxonomy::{tls_alert_name, CertProblem, LocalError, LocalErrorKind};
use std::net::IpAddr;
use std::time::Duration;

/// A DNS query that got no usable answer. "The name exists but has no
/// records of that type" and "the name does not exist" are not failures:
/// queries return them as empty answers or [`DnsAnswer::NxDomain`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsFailure {
    /// No answer within the resolver timeout.
    #[error("DNS query for {name} {record_type} timed out")]
    Timeout {
        /// The queried name.
        name: String,
        /// The queried type.
        record_type: &'static str,
    },
    /// An error response code (SERVFAIL, REFUSED ...).
    #[error("DNS query for {name} {record_type} failed: {code}")]
    ResponseCode {
        /// The queried name.
        name: String,
        /// The queried type.
        record_type: &'static str,
        /// The response code, e.g. `SERVFAIL`.
        code: String,
    },
    /// Any other resolver error (network, malformed answer).
    #[error("DNS query for {name} {record_type} failed: {message}")]
    Other {
        /// The queried name.
        name: String,
        /// The queried type.
        record_type: &'static str,
        /// The resolver's message.
        message: String,
    },
    /// The exporter could not send the query: out of file descriptors,
    /// memory, or support for the name server's address family. Not a DNS
    /// failure of the domain.
    #[error("DNS query for {name} {record_type} not sent: {error}")]
    Local {
        /// The queried name.
        name: String,
        /// The queried type.
        record_type: &'static str,
        /// What the exporter is short of.
        error: LocalError,
    },
}

impl DnsFailure {
    /// The exporter's own problem that stopped the query, if that is what
    /// failed.
    pub fn local(&self) -> Option<&LocalError> {
        match self {
            DnsFailure::Local { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Why the `_mta-sts` lookup did not yield one valid record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordLookupError {
    /// The record set broke an RFC 8461 §3.1 rule.
    #[error("{error}{}", alias_note(alias_of.as_deref()))]
    Rules {
        /// The rule broken.
        error: RecordSetError,
        /// Where `_mta-sts.<domain>` points when it is a CNAME and no record
        /// was found: the record is missing at that target (a provider that
        /// dropped it, a dangling or looping alias), which is where to look.
        alias_of: Option<String>,
    },
    /// The DNS query failed.
    #[error("{0}")]
    Dns(DnsFailure),
}

impl RecordLookupError {
    /// The exporter's own problem that stopped the lookup, if that is what
    /// failed.
    pub fn local(&self) -> Option<&LocalError> {
        match self {
            RecordLookupError::Dns(failure) => failure.local(),
            RecordLookupError::Rules { .. } => None,
        }
    }
}

fn alias_note(target: Option<&str>) -> String {
    target
        .map(|target| format!(" (it is a CNAME to {target}, which has none)"))
        .unwrap_or_default()
}

/// A successfully fetched and parsed policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedPolicy {
    /// The parsed policy.
    pub policy: Policy,
    /// The body as served.
    pub text: String,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
}

/// Why no valid policy was fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyFetchError {
    /// `mta-sts.<domain>` has no address in DNS (NXDOMAIN or no A/AAAA).
    #[error("policy host does not exist in DNS")]
    HostNotFound,
    /// The address lookup of the policy host failed.
    #[error("policy host lookup failed: {0}")]
    HostLookup(DnsFailure),
    /// HTTP 404.
    #[error("HTTP 404: no policy served")]
    NotFound,
    /// A 3xx answer: RFC 8461 §3.3 forbids following redirects.
    #[error("HTTP {status} redirect{}, not followed (RFC 8461 §3.3)", location.as_ref().map(|l| format!(" to {l}")).unwrap_or_default())]
    Redirect {
        /// The status code.
        status: u16,
        /// The `Location` header (capped), if any.
        location: Option<String>,
    },
    /// Any other status than 200.
    #[error("HTTP {0}, only 200 is accepted")]
    Status(u16),
    /// No complete answer within the time left.
    #[error("timed out")]
    Timeout,
    /// TCP connection or TLS handshake failed for another reason than the
    /// certificate.
    #[error("connection failed: {0}")]
    Connect(String),
    /// The transfer broke off.
    #[error("transfer failed: {0}")]
    Transfer(String),
    /// The certificate is invalid.
    #[error("{0}")]
    Certificate(CertProblem),
    /// The body is larger than 64 KiB.
    #[error("policy larger than {MAX_POLICY_BYTES} bytes")]
    TooLarge,
    /// The body does not parse.
    #[error("policy syntax error: {0}")]
    Syntax(PolicyError),
    /// The exporter could not open the connection (out of file
    /// descriptors, memory, or support for the address family): not the
    /// policy host's failure.
    #[error("{0}")]
    Local(LocalError),
}

impl PolicyFetchError {
    /// The exporter's own problem that stopped the fetch, if that is what
    /// failed (also in the policy host's address lookup).
    pub fn local(&self) -> Option<&LocalError> {
        match self {
            PolicyFetchError::Local(error) => Some(error),
            PolicyFetchError::HostLookup(failure) => failure.local(),
            _ => None,
        }
    }
}

/// The result of a fetch and the policy host's certificate, when the TLS
/// handshake got that far (also when the certificate was refused).
#[derive(Debug, Clone)]
pub struct FetchOutcome {
    /// The policy, or why there is none: the reference over the addresses
    /// ([`FetchOutcome::from_addresses`]).
    pub result: Result<FetchedPolicy, PolicyFetchError>,
    /// The leaf certificate presented by `mta-sts.<domain>` (the worst
    /// over its addresses).
    pub cert: Option<CertInfo>,
    /// The fetch over each address of the policy host, IPv4 first, in the
    /// order DNS gave them; empty when none was looked up.
    pub addresses: Vec<AddressFetch>,
}

/// What the fetch over one address of the policy host found.
#[derive(Debug, Clone)]
pub struct AddressFetch {
    /// The address connected to.
    pub address: IpAddr,
    /// The policy served over it, or why there is none.
    pub result: Result<FetchedPolicy, PolicyFetchError>,
    /// The leaf certificate presented over it.
    pub cert: Option<CertInfo>,
}

impl AddressFetch {
    /// Whether the exporter's machine could not reach the address's family:
    /// not fetched, no failure of the policy host.
    pub fn unrouted(&self) -> bool {
        self.result
            .as_ref()
            .err()
            .and_then(PolicyFetchError::local)
            .is_some_and(|l| l.kind == LocalErrorKind::AddressFamilyUnsupported)
    }
}

impl FetchOutcome {
    /// A fetch that reached no address, because of `error`.
    pub fn failed(error: PolicyFetchError) -> FetchOutcome {
        FetchOutcome {
            result: Err(error),
            cert: None,
            addresses: Vec::new(),
        }
    }

    /// The fetch as seen over every address (each sender sees only one):
    /// the reference result is the first policy fetched over an address the
    /// exporter could reach, else the first failure of the host's (else of
    /// the exporter's own); the certificate is an invalid one if any, else
    /// the one expiring first. Addresses that differ from the reference are
    /// judged on their own (`judge::policy_addresses`). With no reachable
    /// address, the result is the first address's (a local error).
    pub fn from_addresses(addresses: Vec<AddressFetch>) -> FetchOutcome {
        let reachable: Vec<&AddressFetch> = addresses.iter().filter(|a| !a.unrouted()).collect();
        let errors = || reachable.iter().filter_map(|a| a.result.as_ref().err());
        let result = match reachable.iter().find_map(|a| a.result.as_ref().ok()) {
            Some(fetched) => Ok(fetched.clone()),
            None => match errors()
                .find(|e| e.local().is_none())
                .or_else(|| errors().next())
            {
                Some(error) => Err(error.clone()),
                None => match addresses.first() {
                    Some(address) => address.result.clone(),
                    None => Err(PolicyFetchError::HostNotFound),
                },
            },
        };
        let cert = reachable
            .iter()
            .filter_map(|a| a.cert.as_ref())
            .min_by_key(|c| (c.valid, c.not_after))
            .cloned();
        FetchOutcome {
            result,
            cert,
            addresses,
        }
    }
}

/// Why an MX host fails the STARTTLS check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StarttlsError {
    /// The host name has no address.
    #[error("MX host has no address")]
    NoAddress,
    /// The MX name is not a host name (RFC 5321 §2.3.5: letters, digits
    /// and hyphens), so senders cannot look up an address for it.
    #[error("MX name is not a valid host name (RFC 5321 §2.3.5): no address can be looked up")]
    NotAHostName,
    /// The address lookup failed.
    #[error("address lookup failed: {0}")]
    AddressLookup(DnsFailure),
    /// Every address refused the connection.
    #[error("connection refused")]
    ConnectionRefused,
    /// The connection failed otherwise (unreachable network ...).
    #[error("connection failed: {0}")]
    Connect(String),
    /// No complete exchange within the timeout.
    #[error("timed out {0}")]
    Timeout(&'static str),
    /// No 220 greeting.
    #[error("bad greeting: {0}")]
    Greeting(String),
    /// EHLO was not accepted.
    #[error("EHLO rejected: {0}")]
    Ehlo(String),
    /// STARTTLS is not in the EHLO reply.
    #[error("STARTTLS not offered in the EHLO reply")]
    NotOffered,
    /// STARTTLS was answered with another code than 220.
    #[error("STARTTLS refused with reply code {code}: {text}")]
    Refused {
        /// The 3-digit reply code.
        code: u16,
        /// The reply text (capped).
        text: String,
    },
    /// The server broke the protocol: over-long or malformed lines, data
    /// sent ahead of the TLS handshake.
    #[error("SMTP protocol error: {0}")]
    Protocol(String),
    /// The server sent a TLS alert during the handshake.
    #[error("TLS alert from the server: {}", tls_alert_name(u8::from(*.0)))]
    TlsAlert(rustls::AlertDescription),
    /// The certificate is not valid for the host.
    #[error("{0}")]
    Certificate(CertProblem),
    /// The TLS handshake failed otherwise.
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    /// The exporter could not connect for a reason of its own (out of file
    /// descriptors or memory, or every address of a family it cannot use):
    /// not the MX host's failure.
    #[error("{0}")]
    Local(LocalError),
}

impl StarttlsError {
    /// The exporter's own problem that stopped the check, if that is what
    /// failed (also in the MX host's address lookup).
    pub fn local(&self) -> Option<&LocalError> {
        match self {
            StarttlsError::Local(error) => Some(error),
            StarttlsError::AddressLookup(failure) => failure.local(),
            _ => None,
        }
    }
}

/// A successful check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StarttlsSuccess {
    /// The negotiated protocol, e.g. `TLSv1.3`.
    pub tls_version: &'static str,
}

/// What the check of one MX host found: the worst over its addresses
/// ([`StarttlsCheck::from_addresses`]), or why no address was checked.
#[derive(Debug, Clone)]
pub struct StarttlsCheck {
    /// The host checked.
    pub host: String,
    /// The outcome.
    pub result: Result<StarttlsSuccess, StarttlsError>,
    /// Whether the server offered STARTTLS (`None` when the exchange did not
    /// get that far).
    pub offered: Option<bool>,
    /// The leaf certificate it presented, also when it was refused.
    pub cert: Option<CertInfo>,
    /// The check of each address, IPv4 first, in the order DNS gave them;
    /// empty when none was looked up (no address, not a host name, the
    /// lookup failed).
    pub addresses: Vec<AddressStarttls>,
    /// Whether this is another probe's recent check of the host, shared
    /// with this one (`smtp.share_checks_for`; also a timeout waiting for
    /// it), rather than its own.
    pub shared: bool,
}

/// What the STARTTLS check over one address of an MX host found.
#[derive(Debug, Clone)]
pub struct AddressStarttls {
    /// The address connected to.
    pub address: IpAddr,
    /// The outcome.
    pub result: Result<StarttlsSuccess, StarttlsError>,
    /// Whether the server offered STARTTLS (`None` when the exchange did not
    /// get that far).
    pub offered: Option<bool>,
    /// The leaf certificate presented over this address.
    pub cert: Option<CertInfo>,
    /// The chain presented (DER, leaf first, at most
    /// [`crate::rfc::rfc7672::matching::MAX_CHAIN_LEN`]), kept for the DANE
    /// check (RFC 7672 §3); empty when no certificate was seen or DANE is
    /// not checked.
    pub chain: Vec<Vec<u8>>,
}

impl AddressStarttls {
    /// Whether the exporter's machine could not reach the address's family
    /// ("network unreachable", no source address, no support): the address
    /// is not checked, and it is no failure of the host.
    pub fn unrouted(&self) -> bool {
        self.result
            .as_ref()
            .err()
            .and_then(StarttlsError::local)
            .is_some_and(|l| l.kind == LocalErrorKind::AddressFamilyUnsupported)
    }
}

impl StarttlsCheck {
    /// A host none of whose addresses was checked, because of `error`.
    pub fn failed(host: &str, error: StarttlsError) -> StarttlsCheck {
        StarttlsCheck {
            host: host.to_string(),
            result: Err(error),
            offered: None,
            cert: None,
            addresses: Vec::new(),
            shared: false,
        }
    }

    /// The host's check as the worst over its addresses: a sender may use
    /// any of them (RFC 5321 §5.1). Addresses the exporter could not reach
    /// ([`AddressStarttls::unrouted`]) do not count unless no other was
    /// checked. The result is the first failure of the domain's, else the
    /// first of the exporter's own, else a pass with the lowest TLS
    /// version; STARTTLS counts as offered when every address that got to
    /// the EHLO reply offered it; the certificate is an invalid one if any,
    /// else the one expiring first.
    pub fn from_addresses(host: &str, addresses: Vec<AddressStarttls>) -> StarttlsCheck {
        let reachable: Vec<&AddressStarttls> = addresses.iter().filter(|a| !a.unrouted()).collect();
        let Some(first) = reachable.first() else {
            let result = match addresses.first() {
                Some(address) => address.result.clone(),
                None => Err(StarttlsError::NoAddress),
            };
            return StarttlsCheck {
                result,
                addresses,
                ..StarttlsCheck::failed(host, StarttlsError::NoAddress)
            };
        };
        let errors = || reachable.iter().filter_map(|a| a.result.as_ref().err());
        let result = match errors()
            .find(|e| e.local().is_none())
            .or_else(|| errors().next())
        {
            Some(error) => Err(error.clone()),
            None => Ok(reachable
                .iter()
                .filter_map(|a| a.result.as_ref().ok())
                .min_by_key(|s| s.tls_version)
                .cloned()
                .unwrap_or(StarttlsSuccess {
                    tls_version: "other",
                })),
        };
        let offered = reachable
            .iter()
            .filter_map(|a| a.offered)
            .min()
            .or(first.offered);
        let cert = reachable
            .iter()
            .filter_map(|a| a.cert.as_ref())
            .min_by_key(|c| (c.valid, c.not_after))
            .cloned();
        StarttlsCheck {
            host: host.to_string(),
            result,
            offered,
            cert,
            addresses,
            shared: false,
        }
    }
}

/// What every phase of one probe returned, before it is judged.
pub struct Outcomes {
    /// The record lookup.
    pub record: Result<ValidRecordSet, RecordLookupError>,
    /// Its duration.
    pub record_time: Duration,
    /// Whether an STS record sits at the apex too.
    pub at_apex: bool,
    /// The policy fetch and its duration; `None` when it did not run.
    pub policy: Option<(FetchOutcome, Duration)>,
    /// The MX lookup and its duration; `None` when MX checking is off.
    pub mx: Option<(Result<MxSet, DnsFailure>, Duration)>,
    /// The STARTTLS check of each MX host checked, in MX order.
    pub starttls: Vec<(StarttlsCheck, Duration)>,
    /// The TLSRPT lookup and its duration.
    pub tlsrpt: (Result<TlsRptStatus, DnsFailure>, Duration),
    /// The DANE lookups (RFC 7672) and their duration; `None` when DANE
    /// is not checked for the domain.
    pub dane: Option<(super::dane::DaneOutcome, Duration)>,
    /// Whether the domain requires DANE (`dane: require`).
    pub dane_required: bool,
}
