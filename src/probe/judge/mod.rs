//! Judging: what the phases found ([`Outcomes`]) becomes a [`ProbeReport`]:
//! failures, warnings and the verdict, after
//! `shared/notes/failure-taxonomy.md`. Pure: one function per phase, then
//! [`verdict`]; nothing here reaches the network, so each is unit-tested with
//! hand-built outcomes.

mod certificates;
mod dane;
mod mx;
mod policy;
mod policy_addresses;
mod record;
mod starttls;
mod tlsrpt;

use super::outcome::Outcomes;
use crate::report::{
    CachedPolicy, CertThresholds, DuplicateFieldReport, PhaseTiming, PolicyReport, PolicySource,
    ProbeReport, Warning,
};
use crate::rfc::rfc8461::mode::domain_passes;
use crate::rfc::rfc8461::policy::{parse_mx_pattern, Mode, Policy};
use crate::taxonomy::{Failure, Judged, Phase, MAX_DETAIL_LEN};
use std::collections::BTreeSet;
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
/// certificates are weighed against `thresholds`. A probe without policy
/// history (`check`, `/probe`): see [`judge_with_cache`].
pub fn judge(
    domain: &str,
    clock: ProbeClock,
    thresholds: &CertThresholds,
    outcomes: Outcomes,
) -> ProbeReport {
    judge_with_cache(domain, clock, thresholds, outcomes, None)
}

/// [`judge`] for a domain whose last valid policy is `cached` (from its
/// policy history): when this probe found no fresh policy (the record or
/// the fetch failed), or one whose content changed under the same record
/// id, and `cached` has not reached its `max_age`, the MX hosts and their
/// certificates are judged against it, as senders that cached it apply it
/// (RFC 8461 §3.3, §5.1). Without a fresh policy the verdict still fails.
pub fn judge_with_cache(
    domain: &str,
    clock: ProbeClock,
    thresholds: &CertThresholds,
    outcomes: Outcomes,
    cached: Option<&CachedPolicy>,
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
    let fresh = record
        .as_ref()
        .zip(fetched.as_ref())
        .map(|(record, fetched)| (record.id.as_str(), &fetched.policy));
    let (policy_source, cached) = policy_source(fresh, cached, clock.started_at);
    let cached_rules = cached.map(cached_as_policy);
    let policy = match policy_source {
        PolicySource::Fresh => fetched.as_ref().map(|f| &f.policy),
        PolicySource::Cached => cached_rules.as_ref(),
        PolicySource::None => None,
    };
    let mx_failures_from = findings.failures.len();
    let mut mx = mx::judge(outcomes.mx, policy, &mut findings);
    let policy_mode = policy.map(|p| p.mode);
    let dane_chains = outcomes
        .dane
        .as_ref()
        .map(|_| dane_chains(&outcomes.starttls));
    let starttls_pass = starttls::judge(
        outcomes.starttls,
        mx.hosts.as_mut(),
        policy_mode,
        &mut findings,
    );
    if let Some(cached) = cached {
        against_cached(&mut findings.failures[mx_failures_from..], cached);
    }
    let dane_chains = dane_chains.unwrap_or_default();
    let dane_judged = outcomes.dane.map(|(outcome, time)| {
        let context = dane::DaneContext {
            chains: &dane_chains,
            sts_mode: policy_mode,
            required: outcomes.dane_required,
            now: clock.started_at.max(0.0) as u64,
        };
        dane::judge((outcome, time), mx.hosts.as_mut(), &context, &mut findings)
    });
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
    // failure of the domain either. Without a fresh policy the domain
    // fails, whatever the cached one says of the MX hosts; with one, the
    // MX hosts pass or fail under the policy senders apply.
    let sts_success = policy_addresses_pass
        && verdict(
            record.is_some() && fetched.is_some(),
            policy_mode,
            mx.hosts_pass && starttls_pass,
        );
    // A sender that validates DNSSEC applies DANE first (RFC 8461 §2).
    let success = findings.complete()
        && match &dane_judged {
            None => sts_success,
            Some((report, dane_pass)) => dane::verdict(report, *dane_pass, sts_success),
        };
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
            duplicate_fields: f
                .policy
                .duplicate_fields
                .iter()
                .map(|d| DuplicateFieldReport {
                    field: d.field.to_string(),
                    values: d.values.clone(),
                })
                .collect(),
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
        policy_source,
        cached_policy: cached.cloned(),
        dane: dane_judged.map(|(report, _)| report),
    }
}

/// The chains each MX host presented, per address checked (the DANE
/// check needs them after the STARTTLS judge took the checks).
fn dane_chains(checks: &[(super::outcome::StarttlsCheck, Duration)]) -> dane::HostChains {
    checks
        .iter()
        .map(|(check, _)| {
            let chains = check
                .addresses
                .iter()
                .filter(|a| !a.unrouted())
                .map(|a| a.chain.clone())
                .collect();
            (check.host.clone(), chains)
        })
        .collect()
}

/// Which policy senders apply now (RFC 8461 §3.3, §5.1): the fresh one
/// when a valid record led to a valid policy; else a cached one that has
/// not reached its `max_age` at `now` (also when the record shows a new
/// id: senders that cannot fetch the new policy keep the cached one); else
/// none. Returns the cached policy only when it is the one applied.
///
/// A fresh policy whose content differs from the cached one under the same
/// record id does not replace it either: senders refetch only for a new id
/// (RFC 8461 §3.1, §3.3), so those that cached it keep applying their copy
/// until it expires (the stale id).
fn policy_source<'a>(
    fresh: Option<(&str, &Policy)>,
    cached: Option<&'a CachedPolicy>,
    now: f64,
) -> (PolicySource, Option<&'a CachedPolicy>) {
    match (fresh, cached.filter(|c| c.is_valid_at(now))) {
        (Some((id, policy)), Some(cached)) if cached.id == id && !same_content(cached, policy) => {
            (PolicySource::Cached, Some(cached))
        }
        (Some(_), _) => (PolicySource::Fresh, None),
        (None, Some(cached)) => (PolicySource::Cached, Some(cached)),
        (None, None) => (PolicySource::None, None),
    }
}

/// Whether `policy` says what `cached` says: mode, `max_age` and the set of
/// `mx` patterns (their order, comments and line ends mean nothing).
fn same_content(cached: &CachedPolicy, policy: &Policy) -> bool {
    let cached_mx: BTreeSet<&str> = cached.mx.iter().map(String::as_str).collect();
    let fresh_mx: Vec<String> = policy.mx.iter().map(ToString::to_string).collect();
    let fresh_mx: BTreeSet<&str> = fresh_mx.iter().map(String::as_str).collect();
    cached.mode == policy.mode && cached.max_age == policy.max_age && cached_mx == fresh_mx
}

/// The cached policy as RFC rules to judge the MX hosts by. Its patterns
/// were valid when fetched; one that no longer parses (a hand-edited
/// state file) is left out.
fn cached_as_policy(cached: &CachedPolicy) -> Policy {
    Policy {
        mode: cached.mode,
        max_age: cached.max_age,
        mx: cached
            .mx
            .iter()
            .filter_map(|p| parse_mx_pattern(p))
            .collect(),
        extensions: Vec::new(),
        duplicate_fields: Vec::new(),
    }
}

/// Says in each MX failure's detail that it was judged against the cached
/// policy, and which one (RFC 8461 §5.1: the policy senders still apply).
/// The note is kept whole; the original detail is shortened to make room.
fn against_cached(failures: &mut [Failure], cached: &CachedPolicy) {
    let note = format!(
        ", against the cached policy fetched at {} (id {})",
        cached.fetched_at_text(),
        crate::echo::capped(&cached.id)
    );
    let room = MAX_DETAIL_LEN.saturating_sub(note.chars().count());
    for failure in failures
        .iter_mut()
        .filter(|f| matches!(f.phase, Phase::MxLookup | Phase::Starttls))
    {
        let detail: String = failure.detail.chars().take(room).collect();
        *failure = Failure::new(
            failure.phase,
            failure.result_type,
            failure.reason,
            format!("{detail}{note}"),
        );
    }
}

/// The verdict (failure-taxonomy.md, "How the verdict of a domain is
/// formed"): a valid record and policy (`record_valid`: both fresh, not a
/// cached policy) and, in mode `enforce` or `testing`, every MX host
/// covered and passing STARTTLS. A domain without MTA-STS is
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

    /// A policy in `mode` listing `mx.example.com`, fetched under id 1 at
    /// Unix second 500 with a max_age of `max_age`.
    fn cached(mode: Mode, max_age: u64) -> CachedPolicy {
        CachedPolicy {
            id: "1".into(),
            mode,
            max_age,
            mx: vec!["mx.example.com".into()],
            text: None,
            fetched_at: 500.0,
            expires_at: 500.0 + max_age as f64,
        }
    }

    /// The policy host is down and the MX hosts moved to `new.example.net`.
    fn outage_and_migration() -> Outcomes {
        use crate::probe::outcome::{FetchOutcome, PolicyFetchError};
        let mut outcomes = healthy_outcomes();
        outcomes.policy = Some((
            FetchOutcome {
                result: Err(PolicyFetchError::Status(503)),
                cert: Some(cert(true)),
                addresses: Vec::new(),
            },
            ms(40),
        ));
        outcomes.mx = Some((Ok(mx_set(&["new.example.net"])), ms(1)));
        outcomes.starttls = vec![starttls_ok("new.example.net")];
        outcomes
    }

    fn reasons(report: &ProbeReport) -> Vec<Reason> {
        report.failures.iter().map(|f| f.reason).collect()
    }

    #[test]
    fn without_a_fresh_policy_the_mx_hosts_are_judged_against_the_cached_one() {
        let thresholds = CertThresholds::default();
        let cache = cached(Mode::Enforce, 86_400);
        let report = judge_with_cache(
            "example.com",
            clock(),
            &thresholds,
            outage_and_migration(),
            Some(&cache),
        );
        assert_eq!(report.policy_source, PolicySource::Cached);
        assert_eq!(report.cached_policy.as_ref(), Some(&cache));
        assert_eq!(report.judged_mode(), Some(Mode::Enforce));
        assert!(!report.success);
        assert_eq!(
            reasons(&report),
            [Reason::CannotFetchPolicy, Reason::MtastsPolicyMxMismatch]
        );
        let mismatch = &report.failures[1];
        assert_eq!(
            mismatch.detail,
            "MX host new.example.net is not covered by any policy mx pattern, \
             against the cached policy fetched at 1970-01-01T00:08:20Z (id 1)"
        );
        let host = &report.mx_hosts.as_ref().unwrap()[0];
        assert_eq!(host.matches_policy, Some(false));
        assert_eq!(report.unused_patterns, ["mx.example.com"]);
        // The fetch failure itself is told as always.
        assert!(!report.failures[0].detail.contains("cached"));
    }

    #[test]
    fn the_same_probe_without_history_has_no_policy_to_judge_by() {
        let report = judge(
            "example.com",
            clock(),
            &CertThresholds::default(),
            outage_and_migration(),
        );
        assert_eq!(report.policy_source, PolicySource::None);
        assert_eq!(report.cached_policy, None);
        assert_eq!(reasons(&report), [Reason::CannotFetchPolicy]);
        assert_eq!(report.mx_hosts.as_ref().unwrap()[0].matches_policy, None);
    }

    #[test]
    fn an_expired_cache_is_not_applied() {
        // Fetched at 500 with max_age 500: expired at 1000, the probe's start.
        let cache = cached(Mode::Enforce, 500);
        let report = judge_with_cache(
            "example.com",
            clock(),
            &CertThresholds::default(),
            outage_and_migration(),
            Some(&cache),
        );
        assert_eq!(report.policy_source, PolicySource::None);
        assert_eq!(reasons(&report), [Reason::CannotFetchPolicy]);
    }

    #[test]
    fn a_fresh_policy_under_a_new_id_wins_over_the_cache() {
        let mut cache = cached(Mode::Enforce, 86_400);
        cache.id = "0".into();
        cache.mx = vec!["old.example.com".into()];
        let report = judge_with_cache(
            "example.com",
            clock(),
            &CertThresholds::default(),
            healthy_outcomes(),
            Some(&cache),
        );
        assert_eq!(report.policy_source, PolicySource::Fresh);
        assert_eq!(report.cached_policy, None);
        assert!(report.success, "{:?}", report.failures);
    }

    #[test]
    fn the_cached_mode_decides_what_counts() {
        for (mode, failures) in [(Mode::Enforce, 2), (Mode::Testing, 2), (Mode::None, 1)] {
            let mut outcomes = outage_and_migration();
            outcomes.starttls = vec![starttls_not_offered("new.example.net")];
            let cache = cached(mode, 86_400);
            let report = judge_with_cache(
                "example.com",
                clock(),
                &CertThresholds::default(),
                outcomes,
                Some(&cache),
            );
            let mx_failures: Vec<_> = report
                .failures
                .iter()
                .filter(|f| f.phase != Phase::PolicyFetch)
                .collect();
            // STARTTLS failures are reported in every mode, the mismatch
            // only where the mode applies; both say which policy.
            assert_eq!(mx_failures.len(), failures, "{mode:?}");
            assert!(
                mx_failures.iter().all(|f| f
                    .detail
                    .ends_with("against the cached policy fetched at 1970-01-01T00:08:20Z (id 1)")),
                "{mode:?}: {mx_failures:?}"
            );
            assert!(!report.success);
        }
    }

    #[test]
    fn the_cached_note_survives_a_long_detail() {
        let mut failures = vec![Failure::new(
            Phase::Starttls,
            crate::taxonomy::ResultType::ValidationFailure,
            Reason::SmtpGreeting,
            "x".repeat(400),
        )];
        against_cached(&mut failures, &cached(Mode::Enforce, 86_400));
        let detail = &failures[0].detail;
        assert_eq!(detail.chars().count(), MAX_DETAIL_LEN);
        assert!(detail.ends_with("(id 1)"), "{detail}");
    }

    #[test]
    fn the_policy_is_fetched_and_told_when_the_record_fails_but_not_applied() {
        for (cache, source) in [
            (None, PolicySource::None),
            (Some(cached(Mode::Enforce, 86_400)), PolicySource::Cached),
        ] {
            let mut outcomes = healthy_outcomes();
            outcomes.record = Err(no_record());
            outcomes.mx = Some((Ok(mx_set(&["new.example.net"])), ms(1)));
            outcomes.starttls = vec![starttls_ok("new.example.net")];
            let report = judge_with_cache(
                "example.com",
                clock(),
                &CertThresholds::default(),
                outcomes,
                cache.as_ref(),
            );
            assert_eq!(report.policy_source, source);
            // Reported, with its certificate: what senders get once the
            // record is back.
            assert_eq!(report.policy.as_ref().unwrap().mode, Mode::Enforce);
            assert!(report.policy_cert.as_ref().unwrap().valid);
            assert!(!report.success);
            let expected: &[Reason] = match source {
                PolicySource::Cached => {
                    &[Reason::NoMtaStsDnsTxtRecord, Reason::MtastsPolicyMxMismatch]
                }
                _ => &[Reason::NoMtaStsDnsTxtRecord],
            };
            assert_eq!(reasons(&report), expected, "{source:?}");
        }
    }

    #[test]
    fn a_new_record_id_with_a_failing_fetch_keeps_the_cached_policy() {
        let mut outcomes = outage_and_migration();
        outcomes.record = record_lookup(&["v=STSv1; id=2"]);
        let cache = cached(Mode::Enforce, 86_400);
        let report = judge_with_cache(
            "example.com",
            clock(),
            &CertThresholds::default(),
            outcomes,
            Some(&cache),
        );
        assert_eq!(report.policy_source, PolicySource::Cached);
        assert_eq!(report.record.as_ref().unwrap().id, "2");
        assert!(!report.success);
    }

    #[test]
    fn a_change_under_the_same_id_is_judged_by_the_copy_senders_keep() {
        // The MX moved and the policy served lists the new host, but the
        // record id stayed 1: senders keep their copy, which does not.
        let mut outcomes = healthy_outcomes();
        outcomes.policy = Some((
            fetched(Mode::Enforce, 1_209_600, &["new.example.net"]),
            ms(40),
        ));
        outcomes.mx = Some((Ok(mx_set(&["new.example.net"])), ms(1)));
        outcomes.starttls = vec![starttls_ok("new.example.net")];
        let cache = cached(Mode::Enforce, 86_400);
        let report = judge_with_cache(
            "example.com",
            clock(),
            &CertThresholds::default(),
            outcomes,
            Some(&cache),
        );
        assert_eq!(report.policy_source, PolicySource::Cached);
        assert_eq!(report.policy.as_ref().unwrap().mx, ["new.example.net"]);
        assert_eq!(reasons(&report), [Reason::MtastsPolicyMxMismatch]);
        assert!(report.failures[0].detail.ends_with("(id 1)"));
        assert!(!report.success);

        // The same content under the same id (reordered, other line ends
        // in the text): a refresh, judged fresh, and it passes.
        let mut same = cached(Mode::Enforce, 1_209_600);
        same.mx = vec!["mx.example.com".into()];
        let report = judge_with_cache(
            "example.com",
            clock(),
            &CertThresholds::default(),
            healthy_outcomes(),
            Some(&same),
        );
        assert_eq!(report.policy_source, PolicySource::Fresh);
        assert!(report.success, "{:?}", report.failures);
    }

    #[test]
    fn a_stale_id_with_a_cached_copy_still_covering_every_host_passes() {
        // Only max_age changed under the same id: senders keep their copy,
        // which covers the MX host; the stale id is a warning elsewhere.
        let cache = cached(Mode::Enforce, 86_400);
        let report = judge_with_cache(
            "example.com",
            clock(),
            &CertThresholds::default(),
            healthy_outcomes(),
            Some(&cache),
        );
        assert_eq!(report.policy_source, PolicySource::Cached);
        assert!(report.success, "{:?}", report.failures);
        assert_eq!(report.judged_mode(), Some(Mode::Enforce));
    }
}
