//! What the stored TLSRPT reports add up to, per policy domain and
//! reporting organization (RFC 8460 §4.4): plain data, built report by
//! report, the same way at ingest and when the spool is read at start-up.

use crate::rfc::rfc8460::report::{PolicyType, Report, ReportResultType};
use litemap::LiteMap;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

/// The next [`Tally::stamp`]: one counter for the process, so that a
/// tally built anew (a rebuild from the spool) stamps every domain with a
/// value no earlier tally gave.
static NEXT_STAMP: AtomicU64 = AtomicU64::new(1);

/// How a reported session ended (RFC 8460 §4.2, §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SessionResult {
    /// Counted in `total-successful-session-count` (§4.2.1).
    Success,
    /// A failure of this result type (§4.3).
    Failure(ReportResultType),
}

impl SessionResult {
    /// `success`, or the result type's RFC 8460 string (`other` beyond
    /// the RFC's).
    pub fn as_str(self) -> &'static str {
        match self {
            SessionResult::Success => "success",
            SessionResult::Failure(result_type) => result_type.as_str(),
        }
    }
}

/// The counts of one organization's reports about one domain.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SenderCounts {
    /// Reports counted.
    pub reports: u64,
    /// The latest `end-datetime` of them, Unix seconds (RFC 8460 §4.1).
    pub last_report_end: i64,
    /// Sessions by policy type and result (a sorted vector: a few entries).
    pub sessions: LiteMap<(PolicyType, SessionResult), u64>,
    /// Failed sessions by `receiving-mx-hostname` (as reported: the reader
    /// keeps only the domain's MX hosts) and result type.
    pub mx_failed_sessions: LiteMap<(String, ReportResultType), u64>,
}

/// Counts per policy domain, then per reporting organization.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Policy domain → organization name → counts (per domain a sorted
    /// vector: a few senders each).
    pub domains: BTreeMap<String, LiteMap<String, SenderCounts>>,
    /// When each domain's counts last changed, as a stamp unique in the
    /// process (see [`Tally::stamp`]).
    stamps: HashMap<String, u64>,
}

/// Two tallies are equal when they count the same: when they were built
/// (their stamps) does not matter.
impl PartialEq for Tally {
    fn eq(&self, other: &Tally) -> bool {
        self.domains == other.domains
    }
}

impl Eq for Tally {}

impl Tally {
    /// A value that changes whenever `domain`'s counts change, and differs
    /// between tallies built apart: what was derived from the counts (the
    /// metrics' rendered lines) is still right while the stamp is the same.
    /// 0 for a domain not counted.
    pub fn stamp(&self, domain: &str) -> u64 {
        self.stamps.get(domain).copied().unwrap_or(0)
    }

    /// Adds a report's policies whose `policy-domain` `include` accepts
    /// (e.g. the configured domains). Successful sessions count as
    /// `success`; failed sessions by the result type of their failure
    /// details, and those the details do not account for (details beyond
    /// the cap, or a summary count above the details' sum) as `other`.
    /// Returns whether any policy was counted.
    pub fn add(&mut self, report: &Report, include: impl Fn(&str) -> bool) -> bool {
        let mut domains: Vec<&str> = Vec::new();
        for policy in &report.policies {
            if !include(&policy.policy_domain) {
                continue;
            }
            domains.push(&policy.policy_domain);
            let counts = self.sender(&policy.policy_domain, &report.organization_name);
            let mut add = |result: SessionResult, sessions: u64| {
                if sessions > 0 {
                    let slot = counts
                        .sessions
                        .entry((policy.policy_type, result))
                        .or_default();
                    *slot = slot.saturating_add(sessions);
                }
            };
            add(SessionResult::Success, policy.successful_sessions);
            let mut detailed: u64 = 0;
            for detail in &policy.failure_details {
                add(
                    SessionResult::Failure(detail.result_type),
                    detail.failed_session_count,
                );
                detailed = detailed.saturating_add(detail.failed_session_count);
            }
            let unexplained = policy
                .failed_sessions
                .saturating_sub(detailed)
                .max(policy.failed_sessions_dropped);
            add(SessionResult::Failure(ReportResultType::Other), unexplained);
            for detail in &policy.failure_details {
                if let (Some(host), 1..) =
                    (&detail.receiving_mx_hostname, detail.failed_session_count)
                {
                    let slot = counts
                        .mx_failed_sessions
                        .entry((host.clone(), detail.result_type))
                        .or_default();
                    *slot = slot.saturating_add(detail.failed_session_count);
                }
            }
        }
        // A report counts once per domain it is about, also with several
        // policies (`sts` and `tlsa`) for it.
        domains.sort_unstable();
        domains.dedup();
        for domain in &domains {
            let counts = self.sender(domain, &report.organization_name);
            counts.reports += 1;
            counts.last_report_end = counts.last_report_end.max(report.date_range.end);
            let stamp = NEXT_STAMP.fetch_add(1, Ordering::Relaxed);
            match self.stamps.get_mut(*domain) {
                Some(slot) => *slot = stamp,
                None => {
                    self.stamps.insert(domain.to_string(), stamp);
                }
            }
        }
        !domains.is_empty()
    }

    /// The counts of `organization` about `domain`, made on first use.
    fn sender(&mut self, domain: &str, organization: &str) -> &mut SenderCounts {
        self.domains
            .entry(domain.to_string())
            .or_default()
            .entry(organization.to_string())
            .or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rfc::rfc8460::report::parse_report;

    const REPORT: &str = r#"{"organization-name":"Org","report-id":"r1",
      "date-range":{"start-datetime":"2026-11-30T00:00:00Z","end-datetime":"2026-11-30T23:59:59Z"},
      "policies":[
        {"policy":{"policy-type":"sts","policy-domain":"example.com"},
         "summary":{"total-successful-session-count":90,"total-failure-session-count":10},
         "failure-details":[
           {"result-type":"certificate-expired","receiving-mx-hostname":"mx1.example.com","failed-session-count":6},
           {"result-type":"starttls-not-supported","failed-session-count":1}]},
        {"policy":{"policy-type":"tlsa","policy-domain":"example.com"},
         "summary":{"total-successful-session-count":5,"total-failure-session-count":0}},
        {"policy":{"policy-type":"sts","policy-domain":"elsewhere.example"},
         "summary":{"total-successful-session-count":1,"total-failure-session-count":0}}]}"#;

    #[test]
    fn a_report_adds_its_sessions_by_result() {
        let Ok(report) = parse_report(REPORT.as_bytes()) else {
            panic!("fixture")
        };
        let mut tally = Tally::default();
        assert!(tally.add(&report, |domain| domain == "example.com"));
        assert_eq!(tally.domains.len(), 1, "only the included domain");
        let Some(counts) = tally.domains["example.com"].get("Org") else {
            panic!("counted")
        };
        assert_eq!(counts.reports, 1, "two policies, one report");
        assert_eq!(counts.last_report_end, 1_796_083_199);
        let sessions: Vec<(&str, &str, u64)> = counts
            .sessions
            .iter()
            .map(|((t, r), n)| (t.as_str(), r.as_str(), *n))
            .collect();
        assert_eq!(
            sessions,
            [
                ("sts", "success", 90),
                ("sts", "starttls-not-supported", 1),
                ("sts", "certificate-expired", 6),
                ("sts", "other", 3),
                ("tlsa", "success", 5),
            ]
        );
        assert_eq!(
            counts.mx_failed_sessions,
            LiteMap::from_iter([(
                (
                    "mx1.example.com".to_string(),
                    ReportResultType::CertificateExpired
                ),
                6
            )])
        );
        assert!(!tally.add(&report, |_| false));
    }

    #[test]
    fn a_domains_stamp_changes_with_its_counts_and_between_tallies() {
        let Ok(report) = parse_report(REPORT.as_bytes()) else {
            panic!("fixture")
        };
        let mut tally = Tally::default();
        assert_eq!(tally.stamp("example.com"), 0);
        tally.add(&report, |domain| domain == "example.com");
        let first = tally.stamp("example.com");
        assert_ne!(first, 0);
        assert_eq!(tally.stamp("elsewhere.example"), 0, "not counted");
        tally.add(&report, |domain| domain == "elsewhere.example");
        assert_eq!(
            tally.stamp("example.com"),
            first,
            "its counts did not change"
        );
        tally.add(&report, |domain| domain == "example.com");
        assert!(tally.stamp("example.com") > first);
        let mut again = Tally::default();
        again.add(&report, |domain| domain == "example.com");
        again.add(&report, |domain| domain == "elsewhere.example");
        again.add(&report, |domain| domain == "example.com");
        assert_eq!(again, tally, "the same counts");
        assert_ne!(again.stamp("example.com"), tally.stamp("example.com"));
    }
}
