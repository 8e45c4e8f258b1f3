//! Judges the `_mta-sts` record lookup (RFC 8461 §3.1).

use super::Findings;
use crate::probe::outcome::RecordLookupError;
use crate::report::{RecordReport, Warning};
use crate::rfc::rfc8461::record_set::ValidRecordSet;
use crate::taxonomy::{Classified, Phase};
use std::time::Duration;

/// The record when exactly one valid record was found; a failure otherwise.
/// Warns of an STS record at the apex (`at_apex`) and of other TXT records
/// beside the STS record.
pub(super) fn judge(
    outcome: Result<ValidRecordSet, RecordLookupError>,
    time: Duration,
    at_apex: bool,
    findings: &mut Findings,
) -> Option<RecordReport> {
    findings.timing(Phase::RecordLookup, time, outcome.is_ok());
    if at_apex {
        findings.warnings.push(Warning::StsRecordAtApex);
    }
    match outcome {
        Ok(set) => {
            if set.other_txt_count > 0 {
                findings.warnings.push(Warning::NonStsTxtAtMtaSts);
            }
            Some(RecordReport {
                id: set.record.id,
                txt: set.txt,
            })
        }
        Err(error) => {
            findings.file(error.judged_in(Phase::RecordLookup));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::judge::fixtures::*;
    use crate::taxonomy::{Reason, ResultType};

    #[test]
    fn one_valid_record() {
        let mut findings = Findings::default();
        let set = record_lookup(&["v=STSv1; id=abc"]);
        let record = judge(set, ms(3), false, &mut findings).unwrap();
        assert_eq!(record.id, "abc");
        assert!(findings.failures.is_empty() && findings.warnings.is_empty());
        assert!(findings.phases[0].ok);
    }

    #[test]
    fn other_txt_beside_it_and_a_record_at_the_apex_warn() {
        let mut findings = Findings::default();
        let set = record_lookup(&["v=STSv1; id=abc", "v=spf1 -all"]);
        assert!(judge(set, ms(3), true, &mut findings).is_some());
        assert_eq!(
            findings.warnings,
            [Warning::StsRecordAtApex, Warning::NonStsTxtAtMtaSts]
        );
    }

    #[test]
    fn no_record_names_the_alias_target() {
        let mut findings = Findings::default();
        let error = RecordLookupError::Rules {
            error: crate::rfc::rfc8461::record_set::RecordSetError::NoRecord,
            alias_of: Some("_mta-sts.provider.example".into()),
        };
        assert!(judge(Err(error), ms(3), false, &mut findings).is_none());
        let failure = &findings.failures[0];
        assert_eq!(failure.result_type, ResultType::NoPolicyFound);
        assert_eq!(failure.reason, Reason::NoMtaStsDnsTxtRecord);
        assert!(
            failure
                .detail
                .ends_with("(it is a CNAME to _mta-sts.provider.example, which has none)"),
            "{}",
            failure.detail
        );
        assert!(!findings.phases[0].ok);
    }

    #[test]
    fn several_records_and_dns_failures_are_fetch_errors() {
        let mut findings = Findings::default();
        let two = record_lookup(&["v=STSv1; id=1", "v=STSv1; id=2"]);
        judge(two, ms(3), false, &mut findings);
        judge(
            Err(RecordLookupError::Dns(dns_timeout())),
            ms(3),
            false,
            &mut findings,
        );
        let reasons: Vec<_> = findings.failures.iter().map(|f| f.reason).collect();
        assert_eq!(reasons, [Reason::MultipleMtaStsRecords, Reason::DnsLookup]);
        assert!(findings
            .failures
            .iter()
            .all(|f| f.result_type == ResultType::StsPolicyFetchError));
    }
}
