//! Judges the `_smtp._tls` TLSRPT lookup (RFC 8460 §3): never a failure
//! (reports are optional), a warning when failures would go unreported.

use super::Findings;
use crate::probe::outcome::DnsFailure;
use crate::report::Warning;
use crate::rfc::rfc8460::TlsRptStatus;
use crate::taxonomy::{Judged, Phase};
use std::time::Duration;

/// The record set's status; `None` when the lookup failed.
pub(super) fn judge(
    (outcome, time): (Result<TlsRptStatus, DnsFailure>, Duration),
    findings: &mut Findings,
) -> Option<TlsRptStatus> {
    findings.timing(Phase::TlsrptLookup, time, outcome.is_ok());
    // A failed lookup is no failure of the domain (reports are optional),
    // but one the exporter could not send leaves the probe incomplete.
    if let Some(local) = outcome.as_ref().err().and_then(DnsFailure::local) {
        findings.file(Judged::Local(local.clone()));
    }
    let status = outcome.ok()?;
    if !status.present {
        findings.warnings.push(Warning::TlsrptRecordMissing);
    } else if !status.valid {
        findings.warnings.push(Warning::TlsrptRecordInvalid);
    }
    Some(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::judge::fixtures::*;
    use crate::rfc::rfc8460::record_set::evaluate_tlsrpt;

    #[test]
    fn missing_invalid_and_failed() {
        let mut findings = Findings::default();
        assert!(judge((Ok(evaluate_tlsrpt(&[])), ms(1)), &mut findings).is_some());
        let bad = evaluate_tlsrpt(&["v=TLSRPTv1; rua=http://x".into()]);
        assert!(judge((Ok(bad), ms(1)), &mut findings).is_some());
        assert!(judge((Err(dns_timeout()), ms(1)), &mut findings).is_none());
        assert_eq!(
            findings.warnings,
            [Warning::TlsrptRecordMissing, Warning::TlsrptRecordInvalid]
        );
        assert!(findings.failures.is_empty());
        let ok: Vec<_> = findings.phases.iter().map(|p| p.ok).collect();
        assert_eq!(ok, [true, true, false]);
    }

    #[test]
    fn a_valid_record_is_quiet() {
        let mut findings = Findings::default();
        let good = evaluate_tlsrpt(&["v=TLSRPTv1; rua=mailto:r@example.com".into()]);
        assert!(judge((Ok(good), ms(1)), &mut findings).unwrap().valid);
        assert!(findings.warnings.is_empty());
    }
}
