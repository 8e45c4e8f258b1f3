//! Judges the policy fetch (RFC 8461 §3.2, §3.3) and warns of what strict
//! senders trip over ([`crate::rfc::rfc8461::advice`]).

use super::Findings;
use crate::probe::outcome::{FetchOutcome, FetchedPolicy};
use crate::report::{CertInfo, Warning};
use crate::rfc::rfc8461::advice::{is_text_plain, max_age_is_short, policy_is_large};
use crate::taxonomy::{Classified, Phase};
use std::time::Duration;

/// The fetched policy, when there is one, and the policy host's certificate
/// whenever one was seen (also an invalid one). `None` when the fetch did
/// not run (no valid record).
pub(super) fn judge(
    outcome: Option<(FetchOutcome, Duration)>,
    findings: &mut Findings,
) -> (Option<FetchedPolicy>, Option<CertInfo>) {
    let Some((outcome, time)) = outcome else {
        return (None, None);
    };
    findings.timing(Phase::PolicyFetch, time, outcome.result.is_ok());
    let fetched = match outcome.result {
        Ok(fetched) => fetched,
        Err(error) => {
            findings.file(error.judged_in(Phase::PolicyFetch));
            return (None, outcome.cert);
        }
    };
    if !is_text_plain(fetched.content_type.as_deref()) {
        findings.warnings.push(Warning::ContentTypeNotTextPlain);
    }
    if max_age_is_short(fetched.policy.mode, fetched.policy.max_age) {
        findings.warnings.push(Warning::MaxAgeShort);
    }
    if policy_is_large(fetched.text.len()) {
        findings.warnings.push(Warning::PolicyLarge);
    }
    if !fetched.policy.duplicate_fields.is_empty() {
        findings.warnings.push(Warning::DuplicateField);
    }
    (Some(fetched), outcome.cert)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::judge::fixtures::*;
    use crate::probe::outcome::PolicyFetchError;
    use crate::rfc::rfc8461::policy::Mode;
    use crate::taxonomy::{CertProblem, Reason, ResultType};

    #[test]
    fn not_run_without_a_record() {
        let mut findings = Findings::default();
        assert_eq!(judge(None, &mut findings), (None, None));
        assert!(findings.phases.is_empty());
    }

    #[test]
    fn a_clean_policy() {
        let mut findings = Findings::default();
        let outcome = fetched(Mode::Enforce, 1_209_600, &["mx.example.com"]);
        let (policy, cert) = judge(Some((outcome, ms(40))), &mut findings);
        assert_eq!(policy.unwrap().policy.mode, Mode::Enforce);
        assert!(cert.unwrap().valid);
        assert!(findings.warnings.is_empty(), "{:?}", findings.warnings);
    }

    #[test]
    fn hygiene_warnings() {
        let mut findings = Findings::default();
        let mut outcome = fetched(Mode::Enforce, 86_400, &["mx.example.com"]);
        if let Ok(policy) = &mut outcome.result {
            policy.content_type = Some("text/html".into());
            policy.text.push_str(&"#".repeat(5000));
        }
        judge(Some((outcome, ms(40))), &mut findings);
        assert_eq!(
            findings.warnings,
            [
                Warning::ContentTypeNotTextPlain,
                Warning::MaxAgeShort,
                Warning::PolicyLarge
            ]
        );
    }

    #[test]
    fn a_repeated_field_is_a_warning_not_a_failure() {
        let mut findings = Findings::default();
        let mut outcome = fetched(Mode::Enforce, 1_209_600, &["mx.example.com"]);
        if let Ok(fetched) = &mut outcome.result {
            fetched.text.push_str("mode: testing\n");
            fetched.policy = crate::rfc::rfc8461::policy::parse_policy(fetched.text.as_bytes())
                .expect("a repeated mode parses");
        }
        let (policy, _) = judge(Some((outcome, ms(40))), &mut findings);
        assert_eq!(policy.unwrap().policy.mode, Mode::Enforce);
        assert_eq!(findings.warnings, [Warning::DuplicateField]);
        assert!(findings.failures.is_empty());
    }

    #[test]
    fn a_refused_certificate_is_kept_and_classified() {
        let mut findings = Findings::default();
        let outcome = FetchOutcome {
            result: Err(PolicyFetchError::Certificate(CertProblem::Expired)),
            cert: Some(cert(false)),
            addresses: Vec::new(),
        };
        let (policy, cert) = judge(Some((outcome, ms(40))), &mut findings);
        assert!(policy.is_none());
        assert!(!cert.unwrap().valid);
        let failure = &findings.failures[0];
        assert_eq!(failure.phase, Phase::PolicyFetch);
        assert_eq!(failure.result_type, ResultType::StsWebpkiInvalid);
        assert_eq!(failure.reason, Reason::CertificateExpired);
        assert!(!findings.phases[0].ok);
    }
}
