//! DNSSEC-validated DNS queries for the DANE check (RFC 7672 §2.1: DANE
//! needs the MX, address and TLSA answers validated; RFC 4035 §4.3 for the
//! four outcomes). A resolver of its own, validating in-process (hickory's
//! DNSSEC support) from the built-in root keys or from
//! `resolver.trust_anchor_file`; the MTA-STS lookups keep the plain one.

use super::outcome::DnsFailure;
use crate::config::ResolverConfig;
use crate::report::DnssecStatus;
use hickory_resolver::config::ResolverOpts;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::dnssec::rdata::DNSSECRData;
use hickory_resolver::proto::dnssec::{Proof, TrustAnchors};
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use hickory_resolver::TokioResolver;
use std::path::PathBuf;
use std::sync::Arc;

/// Why the validating resolver could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DnssecSetupError {
    /// The trust anchor file could not be read or parsed.
    #[error("resolver.trust_anchor_file {path}: {message}")]
    TrustAnchor {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The resolver itself.
    #[error("cannot set up the validating DNS resolver: {0}")]
    Resolver(String),
}

/// A validated answer: the records of the type asked (after any CNAMEs,
/// which the resolver follows), the names the CNAME chain went through,
/// and the DNSSEC status of the whole (RFC 4035 §4.3). An empty answer is a
/// denial: `Secure` when proven by signed NSEC/NSEC3 records (RFC 4035
/// §5.4), `Insecure` otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated {
    /// The records' data.
    pub records: Vec<RData>,
    /// The owner name of the records (the CNAME chain's end), lower-case,
    /// no trailing dot; the queried name when there were no CNAMEs or no
    /// records.
    pub final_name: String,
    /// Whether the answer (records and every CNAME on the way) is secure.
    pub status: DnssecStatus,
}

/// What one validated lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnssecLookup {
    /// An answer (possibly empty), secure or insecure.
    Answer(Validated),
    /// Validation failed: the answer is bogus (RFC 4035 §5.5).
    Bogus,
    /// No answer: SERVFAIL, timeout, a network error.
    Failed(DnsFailure),
}

/// The validating resolver.
#[derive(Clone)]
pub struct ValidatingDns {
    resolver: TokioResolver,
}

impl ValidatingDns {
    /// Builds the resolver from the config: the configured name servers
    /// (or the system's), no cache, DNSSEC validation from
    /// `trust_anchor_file` or the built-in root keys.
    pub fn new(config: &ResolverConfig) -> Result<ValidatingDns, DnssecSetupError> {
        let anchors = match &config.trust_anchor_file {
            Some(path) => {
                TrustAnchors::from_file(path).map_err(|e| DnssecSetupError::TrustAnchor {
                    path: path.clone(),
                    message: e.to_string(),
                })?
            }
            None => TrustAnchors::default(),
        };
        let mut builder = super::dns::resolver_builder(config)
            .map_err(DnssecSetupError::Resolver)?
            .with_trust_anchor(Arc::new(anchors));
        let options: &mut ResolverOpts = builder.options_mut();
        options.cache_size = 0;
        options.timeout = config.timeout;
        options.attempts = 1;
        options.ndots = 0;
        options.preserve_intermediates = true;
        options.validate = true;
        let resolver = builder
            .build()
            .map_err(|e| DnssecSetupError::Resolver(e.to_string()))?;
        Ok(ValidatingDns { resolver })
    }

    /// Looks up `name` `record_type`, validated.
    pub async fn lookup(&self, name: &str, record_type: RecordType) -> DnssecLookup {
        let fqdn = if name.ends_with('.') {
            name.to_string()
        } else {
            format!("{name}.")
        };
        let type_name = type_name(record_type);
        match self.resolver.lookup(fqdn.as_str(), record_type).await {
            Ok(lookup) => DnssecLookup::Answer(answer(name, record_type, lookup.answers())),
            Err(error) => from_error(error, name, type_name),
        }
    }
}

fn type_name(record_type: RecordType) -> &'static str {
    match record_type {
        RecordType::MX => "MX",
        RecordType::A => "A",
        RecordType::AAAA => "AAAA",
        RecordType::TLSA => "TLSA",
        RecordType::CNAME => "CNAME",
        _ => "other",
    }
}

/// The status of a set of records: secure only when every one is.
fn status_of<'a>(records: impl Iterator<Item = &'a Record>) -> DnssecStatus {
    let mut status = DnssecStatus::Secure;
    for record in records {
        let this = match record.proof {
            Proof::Secure => DnssecStatus::Secure,
            Proof::Insecure => DnssecStatus::Insecure,
            Proof::Bogus => DnssecStatus::Bogus,
            Proof::Indeterminate => DnssecStatus::Indeterminate,
        };
        status = status.max(this);
    }
    status
}

/// A positive answer: the records of `record_type`, the CNAME chain's end,
/// the status over the records and the CNAMEs.
fn answer(name: &str, record_type: RecordType, answers: &[Record]) -> Validated {
    let relevant = || {
        answers
            .iter()
            .filter(|r| r.record_type() == record_type || r.record_type() == RecordType::CNAME)
    };
    let records: Vec<&Record> = answers
        .iter()
        .filter(|r| r.record_type() == record_type)
        .collect();
    let final_name = records
        .first()
        .map(|r| crate::rfc::domain::normalize_host(&r.name.to_ascii()))
        .unwrap_or_else(|| crate::rfc::domain::normalize_host(name));
    Validated {
        records: records.iter().map(|r| r.data.clone()).collect(),
        final_name,
        status: if relevant().next().is_none() {
            DnssecStatus::Insecure
        } else {
            status_of(relevant())
        },
    }
}

/// What an error means: a bogus answer, a denial (secure when a signed
/// NSEC/NSEC3 record proves it), or a failure.
fn from_error(error: NetError, name: &str, record_type: &'static str) -> DnssecLookup {
    let denial = |authorities: Option<&[Record]>| {
        let proven = authorities.is_some_and(|records| {
            records.iter().any(|r| {
                r.proof == Proof::Secure
                    && matches!(
                        &r.data,
                        RData::DNSSEC(DNSSECRData::NSEC(_)) | RData::DNSSEC(DNSSECRData::NSEC3(_))
                    )
            })
        });
        DnssecLookup::Answer(Validated {
            records: Vec::new(),
            final_name: crate::rfc::domain::normalize_host(name),
            status: if proven {
                DnssecStatus::Secure
            } else {
                DnssecStatus::Insecure
            },
        })
    };
    let name = name.to_string();
    match error {
        NetError::Dns(DnsError::DnssecBogus) => DnssecLookup::Bogus,
        NetError::Dns(DnsError::NoRecordsFound(no_records)) => {
            denial(no_records.authorities.as_deref())
        }
        NetError::Dns(DnsError::Nsec {
            proof, response, ..
        }) => match proof {
            Proof::Bogus => DnssecLookup::Bogus,
            _ => denial(Some(&response.authorities)),
        },
        NetError::Timeout => DnssecLookup::Failed(DnsFailure::Timeout { name, record_type }),
        NetError::Dns(DnsError::ResponseCode(code)) => {
            DnssecLookup::Failed(DnsFailure::ResponseCode {
                name,
                record_type,
                code: code.to_string(),
            })
        }
        other => {
            let message = crate::echo::capped(&other.to_string()).into_owned();
            if message.contains("timed out") {
                DnssecLookup::Failed(DnsFailure::Timeout { name, record_type })
            } else {
                DnssecLookup::Failed(DnsFailure::Other {
                    name,
                    record_type,
                    message,
                })
            }
        }
    }
}
