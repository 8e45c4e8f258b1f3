//! Judges the MX lookup and the two-way comparison of the MX hosts with the
//! policy's `mx:` patterns (RFC 8461 §4.1).

use super::Findings;
use crate::probe::outcome::DnsFailure;
use crate::report::{MxHostReport, Warning};
use crate::rfc::rfc5321::{MxSet, MxSource};
use crate::rfc::rfc8461::mode::failures_apply;
use crate::rfc::rfc8461::{MxCoverage, Policy};
use crate::taxonomy::{Classified, Failure, Phase, Reason, ResultType};
use std::time::Duration;

/// The MX part of a report.
#[derive(Debug, Default)]
pub(super) struct MxJudgement {
    /// Where the hosts came from; `None` when not looked up or failed.
    pub source: Option<MxSource>,
    /// The hosts; `None` when not looked up or failed.
    pub hosts: Option<Vec<MxHostReport>>,
    /// Policy patterns no MX host uses.
    pub unused_patterns: Vec<String>,
    /// Whether the lookup succeeded and, when the policy's mode applies,
    /// every host is covered.
    pub hosts_pass: bool,
}

/// Judges the lookup (`None`: MX checking is off) against `policy` (`None`:
/// no valid policy, so nothing to compare with).
pub(super) fn judge(
    outcome: Option<(Result<MxSet, DnsFailure>, Duration)>,
    policy: Option<&Policy>,
    findings: &mut Findings,
) -> MxJudgement {
    let Some((result, time)) = outcome else {
        return MxJudgement {
            hosts_pass: true,
            ..MxJudgement::default()
        };
    };
    findings.timing(Phase::MxLookup, time, result.is_ok());
    let set = match result {
        Ok(set) => set,
        Err(error) => {
            findings.file(error.judged_in(Phase::MxLookup));
            return MxJudgement::default();
        }
    };
    let names: Vec<String> = set.hosts.iter().map(|r| r.host.clone()).collect();
    let coverage = policy.map(|p| MxCoverage::compare(&names, &p.mx));
    let hosts = set
        .hosts
        .iter()
        .enumerate()
        .map(|(i, record)| MxHostReport {
            host: record.host.clone(),
            preference: record.preference,
            matches_policy: coverage.as_ref().map(|c| c.hosts[i].1),
            starttls_offered: None,
            tls_version: None,
            cert: None,
            result_type: None,
            reason: None,
            addresses: Vec::new(),
            dane: None,
            starttls_check: None,
        })
        .collect();
    let mut judgement = MxJudgement {
        source: Some(set.source),
        hosts: Some(hosts),
        unused_patterns: Vec::new(),
        hosts_pass: true,
    };
    if let (Some(coverage), Some(policy)) = (coverage, policy) {
        judgement.unused_patterns = coverage
            .unused_patterns
            .iter()
            .map(|p| p.to_string())
            .collect();
        if !judgement.unused_patterns.is_empty() {
            findings.warnings.push(Warning::PolicyPatternUnused);
        }
        // RFC 8461 §4.1 / §5: in enforce mode senders refuse an MX the
        // policy does not list; testing mode reports it. In mode none
        // nothing is applied: shown, not failed.
        if failures_apply(policy.mode) {
            for host in coverage.uncovered() {
                judgement.hosts_pass = false;
                findings.failures.push(Failure::new(
                    Phase::MxLookup,
                    ResultType::ValidationFailure,
                    Reason::MtastsPolicyMxMismatch,
                    format!("MX host {host} is not covered by any policy mx pattern"),
                ));
            }
        }
    }
    judgement
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::judge::fixtures::*;
    use crate::rfc::rfc8461::policy::Mode;

    #[test]
    fn off_is_a_pass_with_nothing_reported() {
        let mut findings = Findings::default();
        let judgement = judge(None, None, &mut findings);
        assert!(judgement.hosts_pass && judgement.hosts.is_none());
        assert!(findings.phases.is_empty());
    }

    #[test]
    fn two_way_comparison() {
        let mut findings = Findings::default();
        let policy = policy(Mode::Testing, &["mx.example.com", "old.example.com"]);
        let set = mx_set(&["mx.example.com", "new.example.net"]);
        let judgement = judge(Some((Ok(set), ms(2))), Some(&policy), &mut findings);
        let hosts = judgement.hosts.unwrap();
        assert_eq!(hosts[0].matches_policy, Some(true));
        assert_eq!(hosts[1].matches_policy, Some(false));
        assert_eq!(judgement.unused_patterns, ["old.example.com"]);
        assert!(!judgement.hosts_pass);
        assert_eq!(findings.warnings, [Warning::PolicyPatternUnused]);
        assert_eq!(findings.failures.len(), 1);
        assert_eq!(findings.failures[0].reason, Reason::MtastsPolicyMxMismatch);
        assert!(findings.failures[0].detail.contains("new.example.net"));
    }

    #[test]
    fn mode_none_shows_but_does_not_fail() {
        let mut findings = Findings::default();
        let policy = policy(Mode::None, &["mx.example.com"]);
        let set = mx_set(&["other.example.net"]);
        let judgement = judge(Some((Ok(set), ms(2))), Some(&policy), &mut findings);
        assert!(judgement.hosts_pass);
        assert_eq!(judgement.hosts.unwrap()[0].matches_policy, Some(false));
        assert!(findings.failures.is_empty());
    }

    #[test]
    fn without_a_policy_nothing_is_compared() {
        let mut findings = Findings::default();
        let judgement = judge(
            Some((Ok(mx_set(&["mx.example.com"])), ms(2))),
            None,
            &mut findings,
        );
        assert_eq!(judgement.hosts.unwrap()[0].matches_policy, None);
        assert!(judgement.hosts_pass);
    }

    #[test]
    fn a_failed_lookup_fails() {
        let mut findings = Findings::default();
        let judgement = judge(Some((Err(dns_timeout()), ms(2))), None, &mut findings);
        assert!(!judgement.hosts_pass && judgement.hosts.is_none());
        assert_eq!(
            findings.failures[0].result_type,
            ResultType::ValidationFailure
        );
        assert_eq!(findings.failures[0].reason, Reason::DnsLookup);
    }
}
