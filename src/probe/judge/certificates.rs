//! Certificates that are still valid but expire soon: the policy host's and
//! each MX host's, against `certificates.warning_days`. An expired one is a
//! failure of its phase already (RFC 8460 §4.3.2.1), not a warning.

use super::Findings;
use crate::report::{CertInfo, CertThresholds, ExpiryLevel, MxHostReport, Warning};

/// Warns when any certificate seen is within the warning threshold at
/// `now` (Unix seconds).
pub(super) fn judge(
    policy_cert: Option<&CertInfo>,
    mx_hosts: Option<&[MxHostReport]>,
    now: f64,
    thresholds: &CertThresholds,
    findings: &mut Findings,
) {
    let mx_certs = mx_hosts.into_iter().flatten().flat_map(MxHostReport::certs);
    let expiring = policy_cert.into_iter().chain(mx_certs).any(|cert| {
        matches!(
            thresholds.level(cert.not_after, now),
            ExpiryLevel::Warning | ExpiryLevel::Critical
        )
    });
    if expiring {
        findings.warnings.push(Warning::CertificateExpiringSoon);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::judge::fixtures::*;

    /// `cert()` expires at `CERT_NOT_AFTER`.
    fn warns(now: f64, mx: bool) -> bool {
        let mut findings = Findings::default();
        let cert = cert(true);
        let mut host = mx_host("mx.example.com");
        host.cert = Some(cert.clone());
        let (policy, hosts) = if mx {
            (None, vec![host])
        } else {
            (Some(&cert), Vec::new())
        };
        judge(
            policy,
            Some(&hosts),
            now,
            &CertThresholds::default(),
            &mut findings,
        );
        findings.warnings == [Warning::CertificateExpiringSoon]
    }

    #[test]
    fn within_the_warning_threshold_warns() {
        let day = 86_400.0;
        let end = CERT_NOT_AFTER as f64;
        for mx in [false, true] {
            assert!(!warns(end - 22.0 * day, mx), "22 days left");
            assert!(warns(end - 21.0 * day, mx), "21 days left");
            assert!(warns(end - 5.0 * day, mx), "5 days left");
            assert!(!warns(end + 1.0, mx), "expired: a failure, not a warning");
        }
    }

    #[test]
    fn levels() {
        let t = CertThresholds::default();
        let day = 86_400.0;
        assert_eq!(t.level(0, -30.0 * day), ExpiryLevel::Fine);
        assert_eq!(t.level(0, -21.0 * day), ExpiryLevel::Warning);
        assert_eq!(t.level(0, -7.0 * day), ExpiryLevel::Critical);
        assert_eq!(t.level(0, 1.0), ExpiryLevel::Expired);
    }
}
