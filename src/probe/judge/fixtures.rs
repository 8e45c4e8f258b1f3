//! Hand-built phase outcomes for the judges' unit tests.

use crate::probe::outcome::{
    AddressStarttls, DnsFailure, FetchOutcome, FetchedPolicy, Outcomes, RecordLookupError,
    StarttlsCheck, StarttlsError, StarttlsSuccess,
};
use crate::report::{CertInfo, MxHostReport};
use crate::rfc::rfc5321::{MxRecord, MxSet, MxSource};
use crate::rfc::rfc8460::record_set::evaluate_tlsrpt;
use crate::rfc::rfc8461::policy::{parse_policy, Mode, Policy};
use crate::rfc::rfc8461::record_set::{evaluate_txt, RecordSetError, ValidRecordSet};
use std::time::Duration;

use super::ProbeClock;

/// `n` milliseconds.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A probe that started at Unix second 1000 and took two seconds.
pub fn clock() -> ProbeClock {
    ProbeClock {
        started_at: 1_000.0,
        duration: Duration::from_secs(2),
    }
}

/// A DNS timeout.
pub fn dns_timeout() -> DnsFailure {
    DnsFailure::Timeout {
        name: "example.com".into(),
        record_type: "TXT",
    }
}

/// A DNS query the exporter could not send: out of file descriptors.
pub fn dns_local() -> DnsFailure {
    DnsFailure::Local {
        name: "example.com".into(),
        record_type: "TXT",
        error: crate::taxonomy::LocalError::new(
            crate::taxonomy::LocalErrorKind::DescriptorsExhausted,
            "Too many open files (os error 24)",
        ),
    }
}

/// What the `_mta-sts` lookup makes of `txts` (no alias).
pub fn record_lookup(txts: &[&str]) -> Result<ValidRecordSet, RecordLookupError> {
    let txts: Vec<String> = txts.iter().map(|t| t.to_string()).collect();
    evaluate_txt(&txts).map_err(|error| RecordLookupError::Rules {
        error,
        alias_of: None,
    })
}

/// No STS record at `_mta-sts`.
pub fn no_record() -> RecordLookupError {
    RecordLookupError::Rules {
        error: RecordSetError::NoRecord,
        alias_of: None,
    }
}

/// When [`cert`] expires: years after [`clock`]'s probe.
pub const CERT_NOT_AFTER: i64 = 100_000_000;

/// A certificate, valid or not, expiring at [`CERT_NOT_AFTER`].
pub fn cert(valid: bool) -> CertInfo {
    CertInfo {
        valid,
        not_before: 0,
        not_after: CERT_NOT_AFTER,
        names: vec!["mx.example.com".into()],
        issuer: "CN=test".into(),
        problem: None,
    }
}

/// A policy in `mode` listing `mx`, with a max_age of two weeks.
pub fn policy(mode: Mode, mx: &[&str]) -> Policy {
    let mut text = format!(
        "version: STSv1\nmode: {}\nmax_age: 1209600\n",
        mode.as_str()
    );
    for pattern in mx {
        text.push_str(&format!("mx: {pattern}\n"));
    }
    parse_policy(text.as_bytes()).unwrap()
}

/// A fetch that returned a text/plain policy and a valid certificate.
pub fn fetched(mode: Mode, max_age: u64, mx: &[&str]) -> FetchOutcome {
    let mut policy = policy(mode, mx);
    policy.max_age = max_age;
    FetchOutcome {
        result: Ok(FetchedPolicy {
            text: policy.render(),
            policy,
            content_type: Some("text/plain".into()),
        }),
        cert: Some(cert(true)),
        addresses: Vec::new(),
    }
}

/// Explicit MX hosts, preference 10, 20, ...
pub fn mx_set(hosts: &[&str]) -> MxSet {
    MxSet {
        hosts: hosts
            .iter()
            .zip(1..)
            .map(|(host, i)| MxRecord {
                preference: i * 10,
                host: host.to_string(),
            })
            .collect(),
        source: MxSource::Explicit,
    }
}

/// A reported MX host before its STARTTLS check.
pub fn mx_host(host: &str) -> MxHostReport {
    MxHostReport {
        host: host.into(),
        preference: 10,
        matches_policy: Some(true),
        starttls_offered: None,
        tls_version: None,
        cert: None,
        result_type: None,
        reason: None,
        addresses: Vec::new(),
        dane: None,
        starttls_check: None,
    }
}

/// A passing STARTTLS check over TLS 1.3.
pub fn starttls_ok(host: &str) -> (StarttlsCheck, Duration) {
    let check = StarttlsCheck {
        host: host.into(),
        result: Ok(StarttlsSuccess {
            tls_version: "TLSv1.3",
        }),
        offered: Some(true),
        cert: Some(cert(true)),
        addresses: Vec::new(),
        shared: false,
    };
    (check, ms(20))
}

/// A host that does not offer STARTTLS.
pub fn starttls_not_offered(host: &str) -> (StarttlsCheck, Duration) {
    let check = StarttlsCheck {
        host: host.into(),
        result: Err(StarttlsError::NotOffered),
        offered: Some(false),
        cert: None,
        addresses: Vec::new(),
        shared: false,
    };
    (check, ms(20))
}

/// The check over one address: a pass over TLS 1.3 with a valid
/// certificate, or `error` (with STARTTLS offered and a certificate seen
/// when the error is the certificate's).
pub fn address_check(address: &str, error: Option<StarttlsError>) -> AddressStarttls {
    let address = address.parse().unwrap();
    match error {
        None => AddressStarttls {
            address,
            result: Ok(StarttlsSuccess {
                tls_version: "TLSv1.3",
            }),
            offered: Some(true),
            cert: Some(cert(true)),
            chain: Vec::new(),
        },
        Some(error) => {
            let cert_seen = matches!(error, StarttlsError::Certificate(_));
            AddressStarttls {
                address,
                offered: cert_seen.then_some(true),
                cert: cert_seen.then(|| cert(false)),
                result: Err(error),
                chain: Vec::new(),
            }
        }
    }
}

/// "Network unreachable": the exporter has no route for the address's
/// family.
pub fn unreachable() -> StarttlsError {
    StarttlsError::Local(crate::taxonomy::LocalError::new(
        crate::taxonomy::LocalErrorKind::AddressFamilyUnsupported,
        "Network is unreachable (os error 101)",
    ))
}

/// Everything fine: one record, an enforce policy covering the one MX host,
/// STARTTLS passing, a valid TLSRPT record.
pub fn healthy_outcomes() -> Outcomes {
    Outcomes {
        record: record_lookup(&["v=STSv1; id=1"]),
        record_time: ms(3),
        at_apex: false,
        policy: Some((
            fetched(Mode::Enforce, 1_209_600, &["mx.example.com"]),
            ms(40),
        )),
        mx: Some((Ok(mx_set(&["mx.example.com"])), ms(3))),
        starttls: vec![starttls_ok("mx.example.com")],
        tlsrpt: (
            Ok(evaluate_tlsrpt(&[
                "v=TLSRPTv1; rua=mailto:r@example.com".into()
            ])),
            ms(3),
        ),
        dane: None,
        dane_required: false,
    }
}

/// Sets the mode of the fetched policy in `outcomes`.
pub fn set_mode(outcomes: &mut Outcomes, mode: Mode) {
    if let Some((
        FetchOutcome {
            result: Ok(fetched),
            ..
        },
        _,
    )) = &mut outcomes.policy
    {
        fetched.policy.mode = mode;
    }
}
