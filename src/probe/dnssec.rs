//! DNSSEC-validated DNS queries for the DANE check (RFC 7672 §2.1: DANE
//! needs the MX, address and TLSA answers validated; RFC 4035 §4.3 for the
//! four outcomes). A resolver of its own, validating in-process (hickory's
//! DNSSEC support) from the built-in root keys or from
//! `resolver.trust_anchor_file`; the MTA-STS lookups keep the plain one.
//!
//! With `resolver.trust_ad_bit`, nothing is validated here: the configured
//! name servers are asked with the DO and AD bits and an answer's AD flag
//! is its status (RFC 4035 §3.2.3, RFC 6840 §5.8): set, secure; clear,
//! insecure. A validating resolver answers a bogus name with SERVFAIL, so
//! from outside bogus and a broken or unreachable server look alike: both
//! are a failed lookup (never "no TLSA", never insecure). Nothing proves
//! the AD flag was set by the resolver: it is only as safe as the path to
//! it (RFC 4035 §4.9.3), a resolver on this host.
//!
//! Answers (DNSKEY and DS included) are kept for a while by
//! [`super::dnssec_transport`], below the validator.

use super::dnssec_transport::{DnssecTransport, TransportSettings};
use super::outcome::DnsFailure;
use crate::config::ResolverConfig;
use crate::report::DnssecStatus;
use hickory_resolver::config::ResolverOpts;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::dnssec::rdata::DNSSECRData;
use hickory_resolver::proto::dnssec::{Proof, TrustAnchors};
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use hickory_resolver::Resolver;
use std::net::IpAddr;
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
    resolver: Resolver<DnssecTransport>,
    /// The connections, with the cache below the validator.
    transport: DnssecTransport,
    /// Whether answers' AD flags are trusted instead of validating.
    trust_ad: bool,
}

impl ValidatingDns {
    /// Builds the resolver from the config: the configured name servers
    /// (or the system's); DNSSEC validation from `trust_anchor_file` or the
    /// built-in root keys, or, with `trust_ad_bit`, the name servers' AD
    /// flags (a warning is logged for each that is not on loopback); the
    /// answers kept up to `dnssec_cache_max_ttl` by the transport, none by
    /// hickory's cache above the validator.
    pub fn new(config: &ResolverConfig) -> Result<ValidatingDns, DnssecSetupError> {
        let transport = DnssecTransport::new(TransportSettings {
            cache_size: config.dnssec_cache_size,
            max_ttl: config.dnssec_cache_max_ttl,
            trust_ad: config.trust_ad_bit,
        });
        let mut builder = super::dns::resolver_builder_with(config, transport.clone())
            .map_err(DnssecSetupError::Resolver)?;
        if config.trust_ad_bit {
            warn_untrusted_ad_path(config);
        } else {
            let anchors = match &config.trust_anchor_file {
                Some(path) => {
                    TrustAnchors::from_file(path).map_err(|e| DnssecSetupError::TrustAnchor {
                        path: path.clone(),
                        message: e.to_string(),
                    })?
                }
                None => TrustAnchors::default(),
            };
            builder = builder.with_trust_anchor(Arc::new(anchors));
        }
        let options: &mut ResolverOpts = builder.options_mut();
        options.cache_size = 0;
        options.timeout = config.timeout;
        options.attempts = 1;
        options.ndots = 0;
        options.preserve_intermediates = true;
        options.validate = !config.trust_ad_bit;
        let resolver = builder
            .build()
            .map_err(|e| DnssecSetupError::Resolver(e.to_string()))?;
        Ok(ValidatingDns {
            resolver,
            transport,
            trust_ad: config.trust_ad_bit,
        })
    }

    /// Queries answered from the cache and queries sent to the name
    /// servers since start (validation's DNSKEY and DS queries included).
    pub fn cache_counts(&self) -> (u64, u64) {
        self.transport.counts()
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
            Err(error) => from_error(error, name, type_name, self.trust_ad),
        }
    }
}

/// Of `servers`, those whose AD flags are not safe to trust: those not on
/// loopback, whose answers cross a network where anyone on the path can
/// set the flag (RFC 4035 §4.9.3).
pub fn untrusted_ad_servers(servers: &[IpAddr]) -> Vec<IpAddr> {
    servers
        .iter()
        .copied()
        .filter(|ip| !ip.is_loopback())
        .collect()
}

/// Logs a warning for each name server whose AD flag is trusted across a
/// network (`resolver.trust_ad_bit` with a server not on loopback).
fn warn_untrusted_ad_path(config: &ResolverConfig) {
    let servers: Vec<IpAddr> = if config.nameservers.is_empty() {
        match hickory_resolver::system_conf::read_system_conf() {
            Ok((system, _)) => system.name_servers().iter().map(|s| s.ip).collect(),
            Err(_) => Vec::new(),
        }
    } else {
        config.nameservers.iter().map(|a| a.ip()).collect()
    };
    for server in untrusted_ad_servers(&servers) {
        tracing::warn!(
            nameserver = %server,
            "resolver.trust_ad_bit: the DNSSEC status of DANE lookups is taken from the AD flag of a name server that is not on loopback: anyone on the path to it can forge that flag; use a validating resolver on this host, or leave trust_ad_bit off so the exporter validates itself"
        );
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
/// With `trust_ad`, a denial is secure when the resolver set the AD flag
/// on it (its records are then marked secure by the transport).
fn from_error(
    error: NetError,
    name: &str,
    record_type: &'static str,
    trust_ad: bool,
) -> DnssecLookup {
    let denial = |authorities: Option<&[Record]>| {
        let proven = authorities.is_some_and(|records| {
            records.iter().any(|r| {
                r.proof == Proof::Secure
                    && (trust_ad
                        || matches!(
                            &r.data,
                            RData::DNSSEC(DNSSECRData::NSEC(_))
                                | RData::DNSSEC(DNSSECRData::NSEC3(_))
                        ))
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

#[cfg(test)]
mod tests {
    use super::untrusted_ad_servers;
    use std::net::IpAddr;

    #[test]
    fn only_loopback_resolvers_are_trusted_for_the_ad_flag() {
        let servers: Vec<IpAddr> = [
            "127.0.0.1",
            "::1",
            "127.0.0.53",
            "192.0.2.53",
            "2001:db8::53",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let untrusted: Vec<String> = untrusted_ad_servers(&servers)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(untrusted, ["192.0.2.53", "2001:db8::53"]);
    }
}
