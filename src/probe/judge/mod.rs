//! Judging: what the phases found ([`Outcomes`]) becomes a [`ProbeReport`]:
//! failures, warnings and the verdict, after
//! `shared/notes/failure-taxonomy.md`. Pure: one function per phase, then
//! [`verdict`]; nothing here reaches the network, so each is unit-tested with
//! hand-built outcomes.

mod certificates;
mod mx;
mod policy;
mod policy_addresses;
mod record;
mod starttls;
mod tlsrpt;

use super::outcome::Outcomes;
use crate::report::{CertThresholds, PhaseTiming, PolicyReport, ProbeReport, Warning};
use crate::rfc::rfc8461::mode::domain_passes;
use crate::rfc::rfc8461::policy::Mode;
use crate::taxonomy::{Failure, Judged, Phase};
use std::time::Duration;

/// What the per-phase judges add up, in the order the phases are judged.
#[derive(Debug, Default)]
struct Findings {
    failures: Vec<Failure>,
    warnings: Vec<Warning>,
    phases: Vec<PhaseTiming>,
}

impl Findings {
    /// Notes how long `phase` took and whether it produced what it was after.
    fn timing(&mut self, phase: Phase, time: Duration, ok: bool) {
        self.phases.push(PhaseTiming {
            phase,
            duration_seconds: time.as_secs_f64(),
            ok,
            local_error: None,
        });
    }

    /// Files a judged error of the phase timed last: a failure of the domain
    /// joins the failures (and is returned); a local error marks that
    /// phase's timing, and the probe becomes incomplete.
    fn file(&mut self, judged: Judged) -> Option<Failure> {
        match judged {
            Judged::Failure(failure) => {
                self.failures.push(failure.clone());
                Some(failure)
            }
            Judged::Local(local) => {
                if let Some(timing) = self.phases.last_mut() {
                    timing.local_error = Some(local);
                }
                None
            }
        }
    }

    /// Whether no phase was kept from running by a local error.
    fn complete(&self) -> bool {
        self.phases.iter().all(|p| p.local_error.is_none())
    }
}

/// When a probe ran: its start (Unix seconds) and how long it took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeClock {
    /// When the probe started, Unix seconds.
    pub started_at: f64,
    /// How long the whole probe took.
    pub duration: Duration,
}

/// Judges every phase of one probe of `domain` and forms the verdict;
/// certificates are weighed against `thresholds`.
pub fn judge(
    domain: &str,
    clock: ProbeClock,
    thresholds: &CertThresholds,
    outcomes: Outcomes,
) -> ProbeReport {
    let mut findings = Findings::default();
    let record = record::judge(
        outcomes.record,
        outcomes.record_time,
        outcomes.at_apex,
        &mut findings,
    );
    let mut policy_outcome = outcomes.policy;
    let by_address = policy_addresses::take(policy_outcome.as_mut().map(|(o, _)| o));
    let (fetched, policy_cert) = policy::judge(policy_outcome, &mut findings);
    let (policy_addresses, policy_addresses_pass) = policy_addresses::judge(
        &format!("mta-sts.{domain}"),
        by_address,
        fetched.as_ref(),
        &mut findings,
    );
    let policy = fetched.as_ref().map(|f| &f.policy);
    let mut mx = mx::judge(outcomes.mx, policy, &mut findings);
    let policy_mode = policy.map(|p| p.mode);
    let starttls_pass = starttls::judge(
        outcomes.starttls,
        mx.hosts.as_mut(),
        policy_mode,
        &mut findings,
    );
    let tlsrpt = tlsrpt::judge(outcomes.tlsrpt, &mut findings);
    certificates::judge(
        policy_cert.as_ref(),
        mx.hosts.as_deref(),
        clock.started_at,
        thresholds,
        &mut findings,
    );
    // Each address of the policy host may present another certificate
    // (the warning is deduplicated below).
    for address in &policy_addresses {
        let cert = address.cert.as_ref();
        certificates::judge(cert, None, clock.started_at, thresholds, &mut findings);
    }

    // A probe a local error cut short forms no verdict: what it did not
    // see might have failed the domain, and what it could not do is no
    // failure of the domain either.
    let success = findings.complete()
        && policy_addresses_pass
        && verdict(
            record.is_some(),
            policy_mode,
            mx.hosts_pass && starttls_pass,
        );
    let Findings {
        failures,
        mut warnings,
        phases,
    } = findings;
    warnings.sort();
    warnings.dedup();
    ProbeReport {
        domain: domain.to_string(),
        success,
        timestamp: clock.started_at,
        duration_seconds: clock.duration.as_secs_f64(),
        record,
        policy: fetched.map(|f| PolicyReport {
            mode: f.policy.mode,
            max_age: f.policy.max_age,
            mx: f.policy.mx.iter().map(|p| p.to_string()).collect(),
            text: f.text,
            content_type: f.content_type,
        }),
        policy_cert,
        mx_source: mx.source,
        mx_hosts: mx.hosts,
        unused_patterns: mx.unused_patterns,
        tlsrpt,
        warnings,
        failures,
        phases,
        policy_addresses,
    }
}

/// The verdict (failure-taxonomy.md, "How the verdict of a domain is
/// formed"): a valid record and policy and, in mode `enforce` or `testing`,
/// every MX host covered and passing STARTTLS. A domain without MTA-STS is
/// no success: it is configured to be watched.
pub fn verdict(record_valid: bool, policy_mode: Option<Mode>, mx_hosts_pass: bool) -> bool {
    domain_passes(record_valid, policy_mode, mx_hosts_pass)
}

#[cfg(test)]
pub(crate) mod fixtures;

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use crate::taxonomy::Reason;

    #[test]
    fn a_healthy_domain_passes_with_every_phase_timed_in_order() {
        let report = judge(
            "example.com",
            clock(),
            &CertThresholds::default(),
            healthy_outcomes(),
        );
        assert!(report.success, "{:?}", report.failures);
        assert_eq!(report.timestamp, 1_000.0);
        assert_eq!(report.duration_seconds, 2.0);
        let phases: Vec<_> = report.phases.iter().map(|p| p.phase).collect();
        assert_eq!(
            phases,
            [
                Phase::RecordLookup,
                Phase::PolicyFetch,
                Phase::MxLookup,
                Phase::Starttls,
                Phase::TlsrptLookup
            ]
        );
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        let host = &report.mx_hosts.as_ref().unwrap()[0];
        assert_eq!(host.starttls_offered, Some(true));
        assert_eq!(host.tls_version.as_deref(), Some("TLSv1.3"));
    }

    #[test]
    fn a_failed_starttls_fails_enforce_and_testing_but_not_none() {
        for (mode, passes) in [
            (Mode::Enforce, false),
            (Mode::Testing, false),
            (Mode::None, true),
        ] {
            let mut outcomes = healthy_outcomes();
            set_mode(&mut outcomes, mode);
            outcomes.starttls = vec![starttls_not_offered("mx.example.com")];
            let report = judge("example.com", clock(), &CertThresholds::default(), outcomes);
            assert_eq!(report.success, passes, "{mode:?}");
            // Seen in every mode.
            assert_eq!(report.failures.len(), 1, "{mode:?}");
            assert_eq!(report.failures[0].reason, Reason::StarttlsNotOffered);
        }
    }

    #[test]
    fn an_uncovered_mx_host_fails_enforce_but_not_none() {
        for (mode, passes, failures) in [(Mode::Enforce, false, 1), (Mode::None, true, 0)] {
            let mut outcomes = healthy_outcomes();
            set_mode(&mut outcomes, mode);
            outcomes.mx = Some((Ok(mx_set(&["other.example.net"])), ms(1)));
            outcomes.starttls = Vec::new();
            let report = judge("example.com", clock(), &CertThresholds::default(), outcomes);
            assert_eq!(report.success, passes, "{mode:?}");
            assert_eq!(report.failures.len(), failures, "{mode:?}");
        }
    }

    #[test]
    fn no_record_is_no_success_and_hides_no_other_phase() {
        let mut outcomes = healthy_outcomes();
        outcomes.record = Err(no_record());
        outcomes.policy = None;
        let report = judge("example.com", clock(), &CertThresholds::default(), outcomes);
        assert!(!report.success);
        assert_eq!(report.failures[0].reason, Reason::NoMtaStsDnsTxtRecord);
        // The MX and TLSRPT phases are still reported.
        assert!(report.mx_hosts.is_some());
        assert!(report.tlsrpt.is_some());
        assert!(report.policy.is_none());
    }

    #[test]
    fn a_local_error_in_any_phase_fails_nothing_and_forms_no_verdict() {
        use crate::probe::outcome::{PolicyFetchError, RecordLookupError, StarttlsError};
        use crate::taxonomy::LocalErrorKind;
        let local = || dns_local().local().cloned().unwrap();
        type Breaks = Box<dyn Fn(&mut Outcomes)>;
        let cases: Vec<(Phase, Breaks)> = vec![
            (
                Phase::RecordLookup,
                Box::new(|o| {
                    o.record = Err(RecordLookupError::Dns(dns_local()));
                    o.policy = None;
                }),
            ),
            (
                Phase::PolicyFetch,
                Box::new(move |o| {
                    if let Some((fetch, _)) = &mut o.policy {
                        fetch.result = Err(PolicyFetchError::Local(local()));
                    }
                }),
            ),
            (
                Phase::MxLookup,
                Box::new(|o| {
                    o.mx = Some((Err(dns_local()), ms(1)));
                    o.starttls = Vec::new();
                }),
            ),
            (
                Phase::Starttls,
                Box::new(|o| {
                    o.starttls[0].0.result = Err(StarttlsError::AddressLookup(dns_local()));
                }),
            ),
            (
                Phase::TlsrptLookup,
                Box::new(|o| o.tlsrpt.0 = Err(dns_local())),
            ),
        ];
        for (phase, break_it) in cases {
            let mut outcomes = healthy_outcomes();
            break_it(&mut outcomes);
            let report = judge("example.com", clock(), &CertThresholds::default(), outcomes);
            assert!(
                report.failures.is_empty(),
                "{phase:?}: {:?}",
                report.failures
            );
            assert!(!report.is_complete(), "{phase:?}");
            assert!(!report.success, "{phase:?}: no verdict, so no pass");
            let marked: Vec<_> = report
                .phases
                .iter()
                .filter_map(|p| p.local_error.as_ref().map(|l| (p.phase, l.kind)))
                .collect();
            assert_eq!(
                marked,
                [(phase, LocalErrorKind::DescriptorsExhausted)],
                "{phase:?}"
            );
        }
    }

    #[test]
    fn a_real_failure_beside_a_local_error_is_still_reported() {
        let mut outcomes = healthy_outcomes();
        outcomes.tlsrpt.0 = Err(dns_local());
        outcomes.starttls = vec![starttls_not_offered("mx.example.com")];
        let report = judge("example.com", clock(), &CertThresholds::default(), outcomes);
        assert_eq!(report.failures.len(), 1);
        assert_eq!(report.failures[0].reason, Reason::StarttlsNotOffered);
        assert!(!report.is_complete());
    }

    #[test]
    fn a_real_dns_failure_is_still_a_failure_and_complete() {
        let mut outcomes = healthy_outcomes();
        outcomes.mx = Some((Err(dns_timeout()), ms(1)));
        outcomes.starttls = Vec::new();
        let report = judge("example.com", clock(), &CertThresholds::default(), outcomes);
        assert!(report.is_complete());
        assert!(!report.success);
        assert_eq!(report.failures[0].reason, Reason::DnsLookup);
    }

    #[test]
    fn a_policy_certificate_expiring_soon_on_any_address_warns() {
        use crate::probe::outcome::{AddressFetch, FetchOutcome, PolicyFetchError};
        use crate::report::CertInfo;
        use crate::taxonomy::CertProblem;
        let mut outcomes = healthy_outcomes();
        outcomes.starttls = Vec::new(); // no MX certificate to warn of
        let good = outcomes.policy.take().unwrap().0;
        let refused = AddressFetch {
            address: "::1".parse().unwrap(),
            result: Err(PolicyFetchError::Certificate(CertProblem::HostMismatch)),
            cert: Some(CertInfo {
                not_after: CERT_NOT_AFTER + 365 * 86_400,
                ..cert(false)
            }),
        };
        let soon = AddressFetch {
            address: "127.0.0.1".parse().unwrap(),
            result: good.result,
            cert: good.cert,
        };
        outcomes.policy = Some((FetchOutcome::from_addresses(vec![soon, refused]), ms(5)));
        let day = 86_400.0;
        let soon_clock = ProbeClock {
            started_at: CERT_NOT_AFTER as f64 - 10.0 * day,
            ..clock()
        };
        let report = judge(
            "example.com",
            soon_clock,
            &CertThresholds::default(),
            outcomes,
        );
        assert!(!report.policy_cert.as_ref().unwrap().valid, "the worst");
        assert!(report.warnings.contains(&Warning::CertificateExpiringSoon));
        assert_eq!(report.policy_addresses.len(), 2);
        assert!(!report.success);
    }

    #[test]
    fn warnings_are_sorted_and_unique() {
        let mut outcomes = healthy_outcomes();
        outcomes.at_apex = true;
        outcomes.tlsrpt.0 = Ok(crate::rfc::rfc8460::record_set::evaluate_tlsrpt(&[]));
        let report = judge("example.com", clock(), &CertThresholds::default(), outcomes);
        assert_eq!(
            report.warnings,
            [Warning::StsRecordAtApex, Warning::TlsrptRecordMissing]
        );
    }
}
