//! Judges the policy fetch over every address of `mta-sts.<domain>`: each
//! sender fetches over the one address it picks (RFC 8461 §3.3), so an
//! address that fails, or serves another policy than the first, fails the
//! domain for the senders that reach it. [`super::policy`] judges the
//! reference result ([`FetchOutcome::from_addresses`]); this judges the
//! addresses that differ from it.

use super::Findings;
use crate::probe::outcome::{AddressFetch, FetchOutcome, FetchedPolicy};
use crate::report::{AddressFamily, PolicyAddressReport, Warning};
use crate::rfc::rfc8461::policy::Policy;
use crate::taxonomy::{Classification, Classified, Failure, Phase, Reason, ResultType};
use std::collections::BTreeSet;

/// The addresses of a fetch, taken out of it before [`super::policy`]
/// judges the rest, and the classification of its reference error.
#[derive(Debug, Default)]
pub(super) struct ByAddress {
    addresses: Vec<AddressFetch>,
    reference_error: Option<Classification>,
}

/// Takes the addresses out of `outcome` (none when the fetch did not run).
pub(super) fn take(outcome: Option<&mut FetchOutcome>) -> ByAddress {
    match outcome {
        Some(outcome) => ByAddress {
            addresses: std::mem::take(&mut outcome.addresses),
            reference_error: outcome.result.as_ref().err().map(|e| e.classification()),
        },
        None => ByAddress::default(),
    }
}

/// Reports each address of `host` (the policy host), files the failures of
/// those that differ from the reference (`reference`: the policy fetched,
/// when one was) and the `policy-differs-by-address` warning when two
/// valid policies differ; whether no address failed. A failure already
/// filed for the reference is not filed again.
pub(super) fn judge(
    host: &str,
    by_address: ByAddress,
    reference: Option<&FetchedPolicy>,
    findings: &mut Findings,
) -> (Vec<PolicyAddressReport>, bool) {
    let ByAddress {
        addresses,
        reference_error,
    } = by_address;
    let mut filed: Vec<Classification> = reference_error.into_iter().collect();
    let mut pass = true;
    let mut rows = Vec::with_capacity(addresses.len());
    for address in &addresses {
        let family = AddressFamily::of(&address.address);
        let verdict = if address.unrouted() {
            (None, Some(family.no_route_reason()))
        } else {
            match &address.result {
                Ok(fetched) => match reference {
                    Some(first) if content(&fetched.policy) != content(&first.policy) => {
                        findings.warnings.push(Warning::PolicyDiffersByAddress);
                        let class = Classification::Failure(
                            ResultType::StsPolicyInvalid,
                            Reason::PolicyDiffersByAddress,
                        );
                        if !filed.contains(&class) {
                            filed.push(class);
                            findings.failures.push(Failure::new(
                                Phase::PolicyFetch,
                                ResultType::StsPolicyInvalid,
                                Reason::PolicyDiffersByAddress,
                                format!(
                                    "{host} [{}]: serves another policy than the first address: {}",
                                    address.address,
                                    summary(&fetched.policy)
                                ),
                            ));
                        }
                        pass = false;
                        (
                            Some(ResultType::StsPolicyInvalid),
                            Some(Reason::PolicyDiffersByAddress),
                        )
                    }
                    _ => (None, None),
                },
                Err(error) => {
                    let class = error.classification();
                    if !filed.contains(&class) {
                        filed.push(class);
                        let detail = format!("{host} [{}]: {error}", address.address);
                        findings.file(error.judged(Phase::PolicyFetch, detail));
                    }
                    match class {
                        Classification::Failure(result_type, reason) => {
                            pass = false;
                            (Some(result_type), Some(reason))
                        }
                        Classification::Local(_) => (None, None),
                    }
                }
            }
        };
        rows.push(PolicyAddressReport {
            address: address.address,
            family,
            cert: address.cert.clone(),
            result_type: verdict.0,
            reason: verdict.1,
        });
    }
    (rows, pass)
}

/// What senders act on: mode, `max_age` and the set of `mx` patterns.
fn content(policy: &Policy) -> (String, u64, BTreeSet<String>) {
    (
        policy.mode.as_str().to_string(),
        policy.max_age,
        policy.mx.iter().map(|p| p.to_string()).collect(),
    )
}

/// The policy in one line, for a failure's detail.
fn summary(policy: &Policy) -> String {
    let mx: Vec<String> = policy.mx.iter().map(|p| p.to_string()).collect();
    format!(
        "mode {}, max_age {}, mx {}",
        policy.mode.as_str(),
        policy.max_age,
        mx.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::judge::fixtures::*;
    use crate::probe::outcome::PolicyFetchError;
    use crate::rfc::rfc8461::policy::Mode;

    fn over(address: &str, outcome: FetchOutcome) -> AddressFetch {
        AddressFetch {
            address: address.parse().unwrap(),
            result: outcome.result,
            cert: outcome.cert,
        }
    }

    fn run(addresses: Vec<AddressFetch>) -> (Findings, Vec<PolicyAddressReport>, bool) {
        let mut findings = Findings::default();
        let mut outcome = FetchOutcome::from_addresses(addresses);
        let by_address = take(Some(&mut outcome));
        let reference = outcome.result.as_ref().ok();
        let (rows, pass) = judge("mta-sts.example.com", by_address, reference, &mut findings);
        (findings, rows, pass)
    }

    #[test]
    fn the_same_policy_everywhere_passes() {
        let ok = || fetched(Mode::Enforce, 1_209_600, &["mx.example.com"]);
        let (findings, rows, pass) = run(vec![over("127.0.0.1", ok()), over("::1", ok())]);
        assert!(pass);
        assert!(findings.failures.is_empty() && findings.warnings.is_empty());
        assert!(rows.iter().all(|r| r.reason.is_none()));
    }

    #[test]
    fn another_valid_policy_fails_that_address_and_warns() {
        let (findings, rows, pass) = run(vec![
            over(
                "127.0.0.1",
                fetched(Mode::Enforce, 1_209_600, &["mx.example.com"]),
            ),
            over(
                "::1",
                fetched(Mode::Testing, 1_209_600, &["mx.example.com"]),
            ),
        ]);
        assert!(!pass);
        assert_eq!(findings.warnings, [Warning::PolicyDiffersByAddress]);
        assert_eq!(findings.failures.len(), 1);
        let failure = &findings.failures[0];
        assert_eq!(failure.reason, Reason::PolicyDiffersByAddress);
        assert_eq!(failure.result_type, ResultType::StsPolicyInvalid);
        assert!(
            failure
                .detail
                .starts_with("mta-sts.example.com [::1]: serves another policy"),
            "{}",
            failure.detail
        );
        assert_eq!(rows[0].reason, None);
        assert_eq!(rows[1].reason, Some(Reason::PolicyDiffersByAddress));
    }

    #[test]
    fn a_failing_address_is_its_own_failure_once() {
        let failing = || FetchOutcome::failed(PolicyFetchError::NotFound);
        let (findings, rows, pass) = run(vec![
            over(
                "127.0.0.1",
                fetched(Mode::Enforce, 1_209_600, &["mx.example.com"]),
            ),
            over("127.0.0.2", failing()),
            over("::1", failing()),
        ]);
        assert!(!pass);
        assert!(
            findings.warnings.is_empty(),
            "a failure, not a second policy"
        );
        let reasons: Vec<_> = findings.failures.iter().map(|f| f.reason).collect();
        assert_eq!(reasons, [Reason::NoPolicyServed]);
        assert_eq!(rows[2].reason, Some(Reason::NoPolicyServed));
    }

    #[test]
    fn the_reference_failure_is_not_filed_twice_and_unreachable_is_no_failure() {
        let unreachable =
            FetchOutcome::failed(PolicyFetchError::Local(crate::taxonomy::LocalError::new(
                crate::taxonomy::LocalErrorKind::AddressFamilyUnsupported,
                "Network is unreachable",
            )));
        let (findings, rows, _) = run(vec![
            over(
                "127.0.0.1",
                FetchOutcome::failed(PolicyFetchError::Status(500)),
            ),
            over("::1", unreachable),
        ]);
        assert!(findings.failures.is_empty(), "{:?}", findings.failures);
        assert!(findings.complete());
        assert_eq!(rows[0].reason, Some(Reason::CannotFetchPolicy));
        assert_eq!(rows[1].reason, Some(Reason::LocalNoIpv6Route));
        assert_eq!(rows[1].result_type, None);
    }
}
