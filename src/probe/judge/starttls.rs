//! Judges the STARTTLS check of each MX host (RFC 8461 §4.2): every checked
//! host is reported whatever the mode; only in mode `enforce` or `testing`
//! does a failure fail the domain (senders apply nothing in mode `none`).
//! Hosts the policy does not cover already fail the domain as
//! `mtasts-policy-mx-mismatch` (see [`super::mx`]).

use super::Findings;
use crate::probe::outcome::{AddressStarttls, StarttlsCheck};
use crate::report::{AddressFamily, AddressReport, MxHostReport, StarttlsCheckSource};
use crate::rfc::rfc8461::mode::failures_apply;
use crate::rfc::rfc8461::policy::Mode;
use crate::taxonomy::{Classification, Classified, Phase, Reason, ResultType};
use std::time::Duration;

/// Fills each checked host's STARTTLS columns in `hosts` (the worst over
/// its addresses, and each address) and reports its failures; whether
/// every check passed that counts under `policy_mode` (`None`: no valid
/// policy, where nothing applies). A host none of whose addresses the
/// exporter could reach is no failure: its reason is
/// `local-no-ipv6-route` (or `-ipv4-`), and it is left out of the verdict.
pub(super) fn judge(
    checks: Vec<(StarttlsCheck, Duration)>,
    mut hosts: Option<&mut Vec<MxHostReport>>,
    policy_mode: Option<Mode>,
    findings: &mut Findings,
) -> bool {
    let applies = policy_mode.is_some_and(failures_apply);
    let mut pass = true;
    for (check, time) in checks {
        findings.timing(Phase::Starttls, time, check.result.is_ok());
        let unrouted = unrouted_reason(&check);
        let failure = match unrouted {
            Some(_) => None,
            None => file_failures(&check, findings),
        };
        let host = hosts
            .as_deref_mut()
            .and_then(|hosts| hosts.iter_mut().find(|h| h.host == check.host));
        if let Some(host) = host {
            host.starttls_offered = check.offered;
            host.tls_version = check
                .result
                .as_ref()
                .ok()
                .map(|s| s.tls_version.to_string());
            host.result_type = failure.map(|(result_type, _)| result_type);
            host.reason = failure.map(|(_, reason)| reason).or(unrouted);
            host.addresses = check.addresses.iter().map(address_report).collect();
            host.cert = check.cert;
            host.starttls_check = Some(if check.shared {
                StarttlsCheckSource::Shared
            } else {
                StarttlsCheckSource::Own
            });
        }
        if failure.is_some() {
            pass &= !applies;
        }
    }
    pass
}

/// The reason of a host whose every address is in a family the exporter
/// could not reach (that of the first), `None` when one was checked.
fn unrouted_reason(check: &StarttlsCheck) -> Option<Reason> {
    let first = check.addresses.first()?;
    check
        .addresses
        .iter()
        .all(AddressStarttls::unrouted)
        .then(|| AddressFamily::of(&first.address).no_route_reason())
}

/// Files the errors of one host: one failure per result type and reason
/// over its addresses (the first address's detail, with the count of the
/// others), a local error of the exporter's own, or the host's error when
/// no address was checked. Returns the host's failure, the worst.
fn file_failures(check: &StarttlsCheck, findings: &mut Findings) -> Option<(ResultType, Reason)> {
    let host_error = check.result.as_ref().err()?;
    if check.addresses.is_empty() {
        let detail = format!("{}: {host_error}", check.host);
        findings.file(host_error.judged(Phase::Starttls, detail));
    }
    let mut groups: Vec<(Classification, &AddressStarttls, usize)> = Vec::new();
    for address in check.addresses.iter().filter(|a| !a.unrouted()) {
        let Err(error) = &address.result else {
            continue;
        };
        let class = error.classification();
        match groups.iter_mut().find(|(c, _, _)| *c == class) {
            Some((_, _, count)) => *count += 1,
            None => groups.push((class, address, 1)),
        }
    }
    for (_, address, count) in groups {
        if let Err(error) = &address.result {
            let more = match count {
                1 => String::new(),
                n => format!(
                    " (and {} more address{})",
                    n - 1,
                    if n == 2 { "" } else { "es" }
                ),
            };
            let detail = format!("{} [{}]: {error}{more}", check.host, address.address);
            findings.file(error.judged(Phase::Starttls, detail));
        }
    }
    match host_error.classification() {
        Classification::Failure(result_type, reason) => Some((result_type, reason)),
        Classification::Local(_) => None,
    }
}

/// One address's row: its failure, or the no-route reason of its family
/// when the exporter could not reach it.
fn address_report(address: &AddressStarttls) -> AddressReport {
    let family = AddressFamily::of(&address.address);
    let (result_type, reason) = if address.unrouted() {
        (None, Some(family.no_route_reason()))
    } else {
        match address
            .result
            .as_ref()
            .err()
            .map(Classified::classification)
        {
            Some(Classification::Failure(result_type, reason)) => (Some(result_type), Some(reason)),
            _ => (None, None),
        }
    };
    AddressReport {
        address: address.address,
        family,
        starttls_offered: address.offered,
        tls_version: address
            .result
            .as_ref()
            .ok()
            .map(|s| s.tls_version.to_string()),
        cert: address.cert.clone(),
        result_type,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::judge::fixtures::*;
    use crate::probe::outcome::StarttlsError;
    use crate::taxonomy::{CertProblem, Reason, ResultType};

    fn hosts(names: &[&str]) -> Vec<MxHostReport> {
        names.iter().map(|name| mx_host(name)).collect()
    }

    #[test]
    fn a_pass_fills_the_host() {
        let mut findings = Findings::default();
        let mut reported = hosts(&["mx.example.com"]);
        let checks = vec![starttls_ok("mx.example.com")];
        assert!(judge(
            checks,
            Some(&mut reported),
            Some(Mode::Enforce),
            &mut findings
        ));
        assert_eq!(reported[0].starttls_offered, Some(true));
        assert_eq!(reported[0].tls_version.as_deref(), Some("TLSv1.3"));
        assert!(reported[0].cert.as_ref().unwrap().valid);
        assert_eq!(reported[0].reason, None);
    }

    #[test]
    fn a_certificate_problem_has_its_own_result_type() {
        let mut findings = Findings::default();
        let mut reported = hosts(&["mx.example.com"]);
        let check = StarttlsCheck {
            host: "mx.example.com".into(),
            result: Err(StarttlsError::Certificate(CertProblem::HostMismatch)),
            offered: Some(true),
            cert: Some(cert(false)),
            addresses: Vec::new(),
            shared: false,
        };
        let pass = judge(
            vec![(check, ms(5))],
            Some(&mut reported),
            Some(Mode::Testing),
            &mut findings,
        );
        assert!(!pass);
        assert_eq!(
            reported[0].result_type,
            Some(ResultType::CertificateHostMismatch)
        );
        assert_eq!(reported[0].reason, Some(Reason::CertificateHostMismatch));
        assert!(findings.failures[0].detail.starts_with("mx.example.com: "));
    }

    #[test]
    fn a_local_error_fails_neither_the_host_nor_the_domain() {
        let mut findings = Findings::default();
        let mut reported = hosts(&["mx.example.com"]);
        let check = StarttlsCheck {
            host: "mx.example.com".into(),
            result: Err(StarttlsError::AddressLookup(dns_local())),
            offered: None,
            cert: None,
            addresses: Vec::new(),
            shared: false,
        };
        let pass = judge(
            vec![(check, ms(1))],
            Some(&mut reported),
            Some(Mode::Enforce),
            &mut findings,
        );
        assert!(pass);
        assert!(findings.failures.is_empty());
        assert_eq!(reported[0].result_type, None);
        assert_eq!(reported[0].reason, None);
        let local = findings.phases[0].local_error.as_ref().unwrap();
        assert!(
            local.detail.starts_with("mx.example.com: "),
            "{}",
            local.detail
        );
        assert!(!findings.complete());
    }

    #[test]
    fn a_host_is_the_worst_of_its_addresses_and_shows_each() {
        let mut findings = Findings::default();
        let mut reported = hosts(&["mx.example.com"]);
        let check = StarttlsCheck::from_addresses(
            "mx.example.com",
            vec![
                address_check("127.0.0.1", None),
                address_check(
                    "127.0.0.2",
                    Some(StarttlsError::Certificate(CertProblem::Expired)),
                ),
                address_check("::1", Some(StarttlsError::ConnectionRefused)),
                address_check("::2", Some(StarttlsError::ConnectionRefused)),
            ],
        );
        let pass = judge(
            vec![(check, ms(5))],
            Some(&mut reported),
            Some(Mode::Enforce),
            &mut findings,
        );
        assert!(!pass);
        let host = &reported[0];
        assert_eq!(host.result_type, Some(ResultType::CertificateExpired));
        assert_eq!(host.tls_version, None);
        assert!(!host.cert.as_ref().unwrap().valid, "the worst certificate");
        let rows: Vec<_> = host
            .addresses
            .iter()
            .map(|a| (a.address.to_string(), a.family.as_str(), a.reason))
            .collect();
        assert_eq!(
            rows,
            [
                ("127.0.0.1".to_string(), "ipv4", None),
                (
                    "127.0.0.2".to_string(),
                    "ipv4",
                    Some(Reason::CertificateExpired)
                ),
                ("::1".to_string(), "ipv6", Some(Reason::ConnectionRefused)),
                ("::2".to_string(), "ipv6", Some(Reason::ConnectionRefused)),
            ]
        );
        assert_eq!(host.addresses[0].tls_version.as_deref(), Some("TLSv1.3"));
        let details: Vec<_> = findings
            .failures
            .iter()
            .map(|f| f.detail.as_str())
            .collect();
        assert_eq!(
            details,
            [
                "mx.example.com [127.0.0.2]: certificate expired",
                "mx.example.com [::1]: connection refused (and 1 more address)"
            ]
        );
    }

    #[test]
    fn an_address_the_exporter_cannot_reach_is_no_failure() {
        let mut findings = Findings::default();
        let mut reported = hosts(&["mx.example.com", "v6only.example.com"]);
        let checks = vec![
            (
                StarttlsCheck::from_addresses(
                    "mx.example.com",
                    vec![
                        address_check("127.0.0.1", None),
                        address_check("::1", Some(unreachable())),
                    ],
                ),
                ms(5),
            ),
            (
                StarttlsCheck::from_addresses(
                    "v6only.example.com",
                    vec![address_check("::1", Some(unreachable()))],
                ),
                ms(5),
            ),
        ];
        let pass = judge(
            checks,
            Some(&mut reported),
            Some(Mode::Enforce),
            &mut findings,
        );
        assert!(pass);
        assert!(findings.failures.is_empty(), "{:?}", findings.failures);
        assert!(findings.complete(), "no local error: the probe is complete");
        assert_eq!(reported[0].reason, None);
        assert_eq!(reported[0].tls_version.as_deref(), Some("TLSv1.3"));
        assert_eq!(
            reported[0].addresses[1].reason,
            Some(Reason::LocalNoIpv6Route)
        );
        assert_eq!(reported[0].addresses[1].result_type, None);
        assert_eq!(reported[1].reason, Some(Reason::LocalNoIpv6Route));
        assert_eq!(reported[1].result_type, None);
    }

    #[test]
    fn the_exporters_own_shortage_on_one_address_leaves_the_probe_incomplete() {
        let mut findings = Findings::default();
        let mut reported = hosts(&["mx.example.com"]);
        let emfile = StarttlsError::Local(crate::taxonomy::LocalError::new(
            crate::taxonomy::LocalErrorKind::DescriptorsExhausted,
            "Too many open files",
        ));
        let check = StarttlsCheck::from_addresses(
            "mx.example.com",
            vec![
                address_check("127.0.0.1", None),
                address_check("127.0.0.2", Some(emfile)),
            ],
        );
        assert!(judge(
            vec![(check, ms(5))],
            Some(&mut reported),
            Some(Mode::Enforce),
            &mut findings,
        ));
        assert!(findings.failures.is_empty());
        assert!(!findings.complete());
        assert_eq!(reported[0].reason, None);
    }

    #[test]
    fn failures_count_only_where_the_mode_applies() {
        for (mode, expected) in [
            (Some(Mode::Enforce), false),
            (Some(Mode::Testing), false),
            (Some(Mode::None), true),
            (None, true),
        ] {
            let mut findings = Findings::default();
            let checks = vec![starttls_not_offered("mx.example.com")];
            let mut reported = hosts(&["mx.example.com"]);
            assert_eq!(
                judge(checks, Some(&mut reported), mode, &mut findings),
                expected,
                "{mode:?}"
            );
            assert_eq!(findings.failures.len(), 1, "{mode:?}");
            assert_eq!(reported[0].starttls_offered, Some(false));
        }
    }
}
