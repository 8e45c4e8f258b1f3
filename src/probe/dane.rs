//! The DANE lookups of one domain (RFC 7672 §2.2): the DNSSEC status of
//! the MX RRset and, when it is secure, of each MX host's addresses, then
//! the TLSA records at `_25._tcp.<host>` (at the end of a secure CNAME
//! chain first, the TLSA base domain, RFC 7672 §2.2.3). Plain data out;
//! [`super::judge::dane`] judges it with the chains the STARTTLS phase saw.

use super::dnssec::{DnssecLookup, Validated, ValidatingDns};
use super::outcome::DnsFailure;
use crate::report::DnssecStatus;
use crate::rfc::rfc5321::MxSet;
use crate::rfc::rfc7672::Tlsa;
use hickory_resolver::proto::rr::{RData, RecordType};

/// Most TLSA records of one host looked at: the rest are ignored (no real
/// RRset is near it, and a hostile zone must not make the work grow).
pub const MAX_TLSA_RECORDS: usize = 32;

/// The status of a validated lookup whose records are not needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupStatus {
    /// An answer, secure or insecure (possibly empty).
    Answer(DnssecStatus),
    /// Validation failed.
    Bogus,
    /// No answer (SERVFAIL, timeout).
    Failed(DnsFailure),
}

/// What the TLSA lookup of one host found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsaOutcome {
    /// Records, with the status of their RRset (secure or insecure).
    Records(Vec<Tlsa>, DnssecStatus),
    /// No records: a signed proof (`true`) or an insecure denial.
    Denial {
        /// Whether the denial is signed.
        secure: bool,
    },
    /// Validation failed.
    Bogus,
    /// No answer.
    Failed(DnsFailure),
    /// Not looked up: the MX RRset or the host's addresses are not secure.
    NotLookedUp,
}

/// The DANE lookups of one MX host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDane {
    /// The MX host.
    pub host: String,
    /// Its address records (A, AAAA).
    pub addresses: LookupStatus,
    /// The TLSA base domain: the host, or the end of its secure CNAME
    /// chain when TLSA records were found there.
    pub base_domain: String,
    /// The TLSA lookup.
    pub tlsa: TlsaOutcome,
}

/// The DANE lookups of one domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaneOutcome {
    /// The MX RRset's validated lookup.
    pub mx: LookupStatus,
    /// Each MX host looked at (in MX order), empty unless the MX RRset is
    /// secure.
    pub hosts: Vec<HostDane>,
}

/// The validated MX lookup of `domain`, then each of the first
/// `max_hosts` hosts of `set` (the MX set the plain lookup found).
pub async fn lookup(
    dns: &ValidatingDns,
    domain: &str,
    set: &MxSet,
    max_hosts: usize,
) -> DaneOutcome {
    let mx = status(dns.lookup(domain, RecordType::MX).await);
    if mx != LookupStatus::Answer(DnssecStatus::Secure) {
        return DaneOutcome {
            mx,
            hosts: Vec::new(),
        };
    }
    let hosts = set
        .hosts
        .iter()
        .take(max_hosts)
        .map(|record| lookup_host(dns, &record.host));
    DaneOutcome {
        mx,
        hosts: futures_util::future::join_all(hosts).await,
    }
}

fn status(lookup: DnssecLookup) -> LookupStatus {
    match lookup {
        DnssecLookup::Answer(answer) => LookupStatus::Answer(answer.status),
        DnssecLookup::Bogus => LookupStatus::Bogus,
        DnssecLookup::Failed(failure) => LookupStatus::Failed(failure),
    }
}

/// The address and TLSA lookups of one host (RFC 7672 §2.2.2, §2.2.3).
async fn lookup_host(dns: &ValidatingDns, host: &str) -> HostDane {
    let (a, aaaa) = tokio::join!(
        dns.lookup(host, RecordType::A),
        dns.lookup(host, RecordType::AAAA)
    );
    let (addresses, final_name) = address_status(a, aaaa);
    let not_looked_up = |addresses: LookupStatus| HostDane {
        host: host.to_string(),
        addresses,
        base_domain: host.to_string(),
        tlsa: TlsaOutcome::NotLookedUp,
    };
    if addresses != LookupStatus::Answer(DnssecStatus::Secure) {
        return not_looked_up(addresses);
    }
    // A secure CNAME chain: the TLSA records at its end come first, then
    // the host's own (RFC 7672 §2.2.3).
    if let Some(target) = final_name.filter(|name| name != host) {
        let tlsa = tlsa_lookup(dns, &target).await;
        if matches!(
            tlsa,
            TlsaOutcome::Records(..) | TlsaOutcome::Bogus | TlsaOutcome::Failed(_)
        ) {
            return HostDane {
                host: host.to_string(),
                addresses,
                base_domain: target,
                tlsa,
            };
        }
    }
    HostDane {
        host: host.to_string(),
        addresses,
        base_domain: host.to_string(),
        tlsa: tlsa_lookup(dns, host).await,
    }
}

/// The status over the A and AAAA answers (the worst of those with
/// records; of both when neither has any) and the CNAME chain's end.
fn address_status(a: DnssecLookup, aaaa: DnssecLookup) -> (LookupStatus, Option<String>) {
    let answers = [a, aaaa];
    if answers.contains(&DnssecLookup::Bogus) {
        return (LookupStatus::Bogus, None);
    }
    let with_records: Vec<&Validated> = answers
        .iter()
        .filter_map(|l| match l {
            DnssecLookup::Answer(v) if !v.records.is_empty() => Some(v),
            _ => None,
        })
        .collect();
    if let Some(failure) = answers.iter().find_map(|l| match l {
        DnssecLookup::Failed(f) => Some(f.clone()),
        _ => None,
    }) {
        if with_records.is_empty() {
            return (LookupStatus::Failed(failure), None);
        }
    }
    let all: Vec<&Validated> = answers
        .iter()
        .filter_map(|l| match l {
            DnssecLookup::Answer(v) => Some(v),
            _ => None,
        })
        .collect();
    let judged = if with_records.is_empty() {
        &all
    } else {
        &with_records
    };
    let status = judged
        .iter()
        .map(|v| v.status)
        .max()
        .unwrap_or(DnssecStatus::Indeterminate);
    let final_name = with_records.first().map(|v| v.final_name.clone());
    (LookupStatus::Answer(status), final_name)
}

/// The TLSA records at `_25._tcp.<base>`.
async fn tlsa_lookup(dns: &ValidatingDns, base: &str) -> TlsaOutcome {
    match dns
        .lookup(&format!("_25._tcp.{base}"), RecordType::TLSA)
        .await
    {
        DnssecLookup::Bogus => TlsaOutcome::Bogus,
        DnssecLookup::Failed(failure) => TlsaOutcome::Failed(failure),
        DnssecLookup::Answer(answer) => {
            let records: Vec<Tlsa> = answer
                .records
                .iter()
                .filter_map(|r| match r {
                    RData::TLSA(tlsa) => Some(Tlsa {
                        usage: u8::from(tlsa.cert_usage),
                        selector: u8::from(tlsa.selector),
                        matching: u8::from(tlsa.matching),
                        data: tlsa.cert_data.clone(),
                    }),
                    _ => None,
                })
                .take(MAX_TLSA_RECORDS)
                .collect();
            if records.is_empty() {
                TlsaOutcome::Denial {
                    secure: answer.status == DnssecStatus::Secure,
                }
            } else {
                TlsaOutcome::Records(records, answer.status)
            }
        }
    }
}
