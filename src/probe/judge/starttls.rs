//! Judges the STARTTLS check of each MX host (RFC 8461 §4.2): every checked
//! host is reported whatever the mode; only in mode `enforce` or `testing`
//! does a failure fail the domain (senders apply nothing in mode `none`).
//! Hosts the policy does not cover already fail the domain as
//! `mtasts-policy-mx-mismatch` (see [`super::mx`]).

use super::Findings;
use crate::probe::outcome::StarttlsCheck;
use crate::report::MxHostReport;
use crate::rfc::rfc8461::mode::failures_apply;
use crate::rfc::rfc8461::policy::Mode;
use crate::taxonomy::{Classified, Phase};
use std::time::Duration;

/// Fills each checked host's STARTTLS columns in `hosts` and reports its
/// failure; whether every check passed that counts under `policy_mode`
/// (`None`: no valid policy, where nothing applies).
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
        let failure = check.result.as_ref().err().and_then(|error| {
            findings.file(error.judged(Phase::Starttls, format!("{}: {error}", check.host)))
        });
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
            host.cert = check.cert;
            host.result_type = failure.as_ref().map(|f| f.result_type);
            host.reason = failure.as_ref().map(|f| f.reason);
        }
        if failure.is_some() {
            pass &= !applies;
        }
    }
    pass
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
