//! Bounded summaries of the TLSRPT reports received lately, per policy
//! domain (RFC 8460 §4.4): what the status page, a domain's page and the
//! `reports` subcommand show people. Plain data, built report by report
//! ([`RecentReports::add`]) at ingest and from the spool.
//!
//! Bounded whatever is fed: per domain the [`Limits::reports_per_domain`]
//! latest reports (by `end-datetime`) and the latest report of at most
//! [`Limits::senders_per_domain`] senders; per report at most
//! [`Limits::details_per_report`] failure details; every string from a
//! report cut at [`crate::echo::MAX_ECHO_CHARS`] characters
//! ([`crate::echo::capped`]); at most [`Limits::max_domains`] domains.
//! Memory is therefore bounded by the number of domains `include` admits
//! (the configured ones), not by how many reports arrive.

use crate::echo::capped;
use crate::rfc::rfc8460::report::{FailureDetail, PolicyType, Report, ReportResultType};
use litemap::LiteMap;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

/// Reports kept per domain by default: with daily reports from five
/// senders, four days' worth.
pub const REPORTS_PER_DOMAIN: usize = 20;
/// Senders whose latest report is kept per domain by default.
pub const SENDERS_PER_DOMAIN: usize = 50;
/// Failure details kept per report summary by default (the rest counted).
pub const DETAILS_PER_REPORT: usize = 20;
/// Domains kept by default (a domain beyond it is not summarised).
pub const MAX_DOMAINS: usize = 1_000_000;

/// How much [`RecentReports`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The latest reports kept per domain.
    pub reports_per_domain: usize,
    /// Senders (organizations) whose latest report is kept per domain; a
    /// new sender beyond it takes the place of the one whose latest report
    /// is the oldest.
    pub senders_per_domain: usize,
    /// Failure details kept per report summary.
    pub details_per_report: usize,
    /// Domains kept; reports about further domains are not summarised.
    pub max_domains: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            reports_per_domain: REPORTS_PER_DOMAIN,
            senders_per_domain: SENDERS_PER_DOMAIN,
            details_per_report: DETAILS_PER_REPORT,
            max_domains: MAX_DOMAINS,
        }
    }
}

/// One failure detail of a report (RFC 8460 §4.4 `failure-details`), its
/// strings capped. Addresses and reason codes are free data from the
/// network: shown to people, never labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetailSummary {
    /// `result-type` (§4.3).
    pub result_type: ReportResultType,
    /// The `result-type` as written, when it is `other`.
    pub result_type_text: Option<String>,
    /// `sending-mta-ip`.
    pub sending_mta_ip: Option<IpAddr>,
    /// `receiving-ip`.
    pub receiving_ip: Option<IpAddr>,
    /// `receiving-mx-hostname`.
    pub receiving_mx_hostname: Option<String>,
    /// `failed-session-count`.
    pub failed_sessions: u64,
    /// `failure-reason-code`.
    pub failure_reason_code: Option<String>,
}

impl DetailSummary {
    /// The detail with its strings cut at [`crate::echo::MAX_ECHO_CHARS`].
    pub fn of(detail: &FailureDetail) -> DetailSummary {
        let cap = |text: &Option<String>| text.as_deref().map(|t| capped(t).into_owned());
        DetailSummary {
            result_type: detail.result_type,
            result_type_text: cap(&detail.result_type_text),
            sending_mta_ip: detail.sending_mta_ip,
            receiving_ip: detail.receiving_ip,
            receiving_mx_hostname: cap(&detail.receiving_mx_hostname),
            failed_sessions: detail.failed_session_count,
            failure_reason_code: cap(&detail.failure_reason_code),
        }
    }
}

/// What one report says about one domain: its policies for the domain
/// (`sts`, `tlsa`, ...) added up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSummary {
    /// `organization-name`, capped.
    pub organization: String,
    /// `report-id`, capped.
    pub report_id: String,
    /// `contact-info`, capped.
    pub contact: Option<String>,
    /// `date-range` `start-datetime`, Unix seconds (§4.1).
    pub start: i64,
    /// `date-range` `end-datetime`, Unix seconds.
    pub end: i64,
    /// The policy types of the domain's policies in the report, in order.
    pub policy_types: Vec<PolicyType>,
    /// `total-successful-session-count`, added up (§4.2.1).
    pub successful_sessions: u64,
    /// `total-failure-session-count`, added up (§4.2.2).
    pub failed_sessions: u64,
    /// Failed sessions by result type, from the failure details; failures
    /// the details do not account for count as `other`, as in the
    /// counters ([`crate::tlsrpt::tally`]).
    pub failures_by_result: LiteMap<ReportResultType, u64>,
    /// The first failure details kept.
    pub details: Vec<DetailSummary>,
    /// Failure details not kept (beyond the cap here or the parser's).
    pub details_dropped: u64,
}

impl ReportSummary {
    /// The summary of `report`'s policies about `domain`, keeping at most
    /// `max_details` failure details; `None` when none is about it.
    pub fn of(report: &Report, domain: &str, max_details: usize) -> Option<ReportSummary> {
        let mut summary = ReportSummary {
            organization: capped(&report.organization_name).into_owned(),
            report_id: capped(&report.report_id).into_owned(),
            contact: report
                .contact_info
                .as_deref()
                .map(|c| capped(c).into_owned()),
            start: report.date_range.start,
            end: report.date_range.end,
            policy_types: Vec::new(),
            successful_sessions: 0,
            failed_sessions: 0,
            failures_by_result: LiteMap::new(),
            details: Vec::new(),
            details_dropped: 0,
        };
        for policy in report.policies.iter().filter(|p| p.policy_domain == domain) {
            if !summary.policy_types.contains(&policy.policy_type) {
                summary.policy_types.push(policy.policy_type);
            }
            summary.successful_sessions = summary
                .successful_sessions
                .saturating_add(policy.successful_sessions);
            summary.failed_sessions = summary
                .failed_sessions
                .saturating_add(policy.failed_sessions);
            let mut detailed: u64 = 0;
            for detail in &policy.failure_details {
                add(
                    &mut summary.failures_by_result,
                    detail.result_type,
                    detail.failed_session_count,
                );
                detailed = detailed.saturating_add(detail.failed_session_count);
                if summary.details.len() < max_details {
                    summary.details.push(DetailSummary::of(detail));
                } else {
                    summary.details_dropped += 1;
                }
            }
            summary.details_dropped = summary
                .details_dropped
                .saturating_add(policy.failure_details_dropped);
            let unexplained = policy
                .failed_sessions
                .saturating_sub(detailed)
                .max(policy.failed_sessions_dropped);
            add(
                &mut summary.failures_by_result,
                ReportResultType::Other,
                unexplained,
            );
        }
        (!summary.policy_types.is_empty()).then_some(summary)
    }

    /// All sessions the report counts, successful and failed.
    pub fn sessions(&self) -> u64 {
        self.successful_sessions
            .saturating_add(self.failed_sessions)
    }

    /// Failed sessions over all sessions; 0 without sessions.
    pub fn failure_ratio(&self) -> f64 {
        ratio(self.failed_sessions, self.sessions())
    }

    /// The order of "latest": by end, then start, organization, report id.
    fn recency(&self) -> (i64, i64, &str, &str) {
        (self.end, self.start, &self.organization, &self.report_id)
    }

    /// Whether `other` is the same report: same organization and report id
    /// (RFC 8460 §4.4, the pair that names a report).
    pub fn same_report(&self, other: &ReportSummary) -> bool {
        self.organization == other.organization && self.report_id == other.report_id
    }
}

/// `part / whole`, 0 when `whole` is 0.
pub fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn add(map: &mut LiteMap<ReportResultType, u64>, result: ReportResultType, sessions: u64) {
    if sessions > 0 {
        let slot = map.entry(result).or_default();
        *slot = slot.saturating_add(sessions);
    }
}

/// The recent reports about one domain.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DomainReports {
    /// The latest reports, latest first (by `end-datetime`).
    pub latest: Vec<Arc<ReportSummary>>,
    /// Each sender's latest report, by organization (capped name).
    pub by_sender: LiteMap<String, Arc<ReportSummary>>,
}

impl DomainReports {
    /// Sessions and failed sessions over the reports kept in
    /// [`DomainReports::latest`].
    pub fn sessions(&self) -> (u64, u64) {
        self.latest.iter().fold((0u64, 0u64), |(all, failed), r| {
            (
                all.saturating_add(r.sessions()),
                failed.saturating_add(r.failed_sessions),
            )
        })
    }

    /// The latest `end-datetime` of the reports kept, if any.
    pub fn last_report_end(&self) -> Option<i64> {
        self.latest.first().map(|r| r.end)
    }

    fn add(&mut self, summary: ReportSummary, limits: &Limits) {
        if self.latest.iter().any(|r| r.same_report(&summary)) {
            return;
        }
        let summary = Arc::new(summary);
        // The latest reports, latest first.
        let at = self
            .latest
            .iter()
            .position(|r| r.recency() < summary.recency())
            .unwrap_or(self.latest.len());
        if at < limits.reports_per_domain {
            self.latest.insert(at, summary.clone());
            self.latest.truncate(limits.reports_per_domain);
        }
        // Each sender's latest.
        let senders = self.by_sender.len();
        match self.by_sender.get_mut(&summary.organization) {
            Some(kept) => {
                if kept.recency() < summary.recency() {
                    *kept = summary;
                }
            }
            None if limits.senders_per_domain == 0 => {}
            None if senders < limits.senders_per_domain => {
                self.by_sender.insert(summary.organization.clone(), summary);
            }
            None => {
                let oldest = self
                    .by_sender
                    .iter()
                    .min_by(|a, b| a.1.recency().cmp(&b.1.recency()))
                    .map(|(name, kept)| (name.clone(), kept.recency() < summary.recency()));
                if let Some((name, true)) = oldest {
                    self.by_sender.remove(&name);
                    self.by_sender.insert(summary.organization.clone(), summary);
                }
            }
        }
    }
}

/// Recent reports per policy domain, bounded (see the module).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecentReports {
    limits: Limits,
    domains: BTreeMap<String, DomainReports>,
}

impl RecentReports {
    /// Empty, keeping at most `limits`.
    pub fn new(limits: Limits) -> RecentReports {
        RecentReports {
            limits,
            domains: BTreeMap::new(),
        }
    }

    /// What is kept at most.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Adds the summary of `report` to each domain of its policies that
    /// `include` accepts (RFC 8460 §4.4 `policy-domain`, e.g. the
    /// configured domains). The same report (organization and report id)
    /// added twice is kept once. Returns whether a domain took it.
    pub fn add(&mut self, report: &Report, include: impl Fn(&str) -> bool) -> bool {
        let mut domains: Vec<&str> = report
            .policies
            .iter()
            .map(|p| p.policy_domain.as_str())
            .filter(|d| include(d))
            .collect();
        domains.sort_unstable();
        domains.dedup();
        let mut taken = false;
        for domain in domains {
            let Some(summary) = ReportSummary::of(report, domain, self.limits.details_per_report)
            else {
                continue;
            };
            if !self.domains.contains_key(domain) && self.domains.len() >= self.limits.max_domains {
                continue;
            }
            let limits = self.limits;
            self.domains
                .entry(domain.to_string())
                .or_default()
                .add(summary, &limits);
            taken = true;
        }
        taken
    }

    /// The recent reports about `domain` (as in the reports: lower case,
    /// ASCII for IDNs), if any.
    pub fn domain(&self, domain: &str) -> Option<&DomainReports> {
        self.domains.get(domain)
    }

    /// Every domain with reports, by name.
    pub fn domains(&self) -> impl Iterator<Item = (&str, &DomainReports)> {
        self.domains.iter().map(|(name, d)| (name.as_str(), d))
    }

    /// Forgets the domains `keep` rejects (e.g. after a reload removed
    /// them from the configuration).
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.domains.retain(|name, _| keep(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rfc::rfc8460::report::parse_report;

    fn report(org: &str, id: &str, day: u32, failed: u64) -> Report {
        let json = format!(
            r#"{{"organization-name":"{org}","report-id":"{id}","contact-info":"tls@{org}",
            "date-range":{{"start-datetime":"2026-11-{day:02}T00:00:00Z","end-datetime":"2026-11-{day:02}T23:59:59Z"}},
            "policies":[
              {{"policy":{{"policy-type":"sts","policy-domain":"example.com"}},
               "summary":{{"total-successful-session-count":100,"total-failure-session-count":{failed}}},
               "failure-details":[{{"result-type":"certificate-expired","sending-mta-ip":"192.0.2.7",
                 "receiving-ip":"198.51.100.25","receiving-mx-hostname":"mx1.example.com",
                 "failed-session-count":{failed},"failure-reason-code":"X509_V_ERR_CERT_HAS_EXPIRED"}}]}},
              {{"policy":{{"policy-type":"tlsa","policy-domain":"example.com"}},
               "summary":{{"total-successful-session-count":5,"total-failure-session-count":1}}}},
              {{"policy":{{"policy-type":"sts","policy-domain":"other.example"}},
               "summary":{{"total-successful-session-count":1,"total-failure-session-count":0}}}}]}}"#
        );
        parse_report(json.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn example_com(domain: &str) -> bool {
        domain == "example.com"
    }

    #[test]
    fn a_report_is_summarised_per_domain_with_its_details() {
        let mut recent = RecentReports::new(Limits::default());
        assert!(recent.add(&report("Org", "r1", 3, 4), example_com));
        assert!(recent.domain("other.example").is_none(), "not included");
        let Some(domain) = recent.domain("example.com") else {
            panic!("kept")
        };
        let summary = &domain.latest[0];
        assert_eq!(summary.organization, "Org");
        assert_eq!(summary.contact.as_deref(), Some("tls@Org"));
        assert_eq!(summary.policy_types, [PolicyType::Sts, PolicyType::Tlsa]);
        assert_eq!(
            (summary.successful_sessions, summary.failed_sessions),
            (105, 5)
        );
        assert_eq!(
            summary.failures_by_result,
            LiteMap::from_iter([
                (ReportResultType::CertificateExpired, 4),
                (ReportResultType::Other, 1)
            ])
        );
        let detail = &summary.details[0];
        assert_eq!(detail.sending_mta_ip, "192.0.2.7".parse().ok());
        assert_eq!(detail.receiving_ip, "198.51.100.25".parse().ok());
        assert_eq!(
            detail.receiving_mx_hostname.as_deref(),
            Some("mx1.example.com")
        );
        assert_eq!(
            detail.failure_reason_code.as_deref(),
            Some("X509_V_ERR_CERT_HAS_EXPIRED")
        );
        assert!((summary.failure_ratio() - 5.0 / 110.0).abs() < 1e-9);
        assert_eq!(domain.by_sender.len(), 1);
    }

    #[test]
    fn the_latest_reports_are_kept_whatever_the_order_fed() {
        let limits = Limits {
            reports_per_domain: 3,
            senders_per_domain: 2,
            ..Limits::default()
        };
        let mut recent = RecentReports::new(limits);
        for (org, day) in [("A", 5), ("B", 1), ("A", 9), ("C", 7), ("B", 3), ("A", 2)] {
            recent.add(&report(org, &format!("{org}{day}"), day, 1), example_com);
        }
        // The same report again is kept once.
        recent.add(&report("A", "A9", 9, 1), example_com);
        let Some(domain) = recent.domain("example.com") else {
            panic!("kept")
        };
        let ids: Vec<&str> = domain.latest.iter().map(|r| r.report_id.as_str()).collect();
        assert_eq!(ids, ["A9", "C7", "A5"]);
        // Two senders kept: B's latest (day 3) made way for C (day 7).
        let senders: Vec<(&str, &str)> = domain
            .by_sender
            .iter()
            .map(|(org, r)| (org.as_str(), r.report_id.as_str()))
            .collect();
        assert_eq!(senders, [("A", "A9"), ("C", "C7")]);
        assert_eq!(domain.last_report_end(), Some(domain.latest[0].end));
        assert_eq!(domain.sessions(), (3 * 107, 3 * 2));
    }

    #[test]
    fn long_strings_are_capped_and_details_counted_beyond_the_cap() {
        let long = "<script>".repeat(30);
        let mut report = report(&long, &long, 4, 3);
        let detail = report.policies[0].failure_details[0].clone();
        report.policies[0].failure_details = vec![detail; 30];
        let mut recent = RecentReports::new(Limits {
            details_per_report: 5,
            ..Limits::default()
        });
        recent.add(&report, example_com);
        let Some(domain) = recent.domain("example.com") else {
            panic!("kept")
        };
        let summary = &domain.latest[0];
        assert!(summary.organization.chars().count() < 130, "capped");
        assert!(summary.organization.ends_with("bytes)"));
        assert_eq!(summary.details.len(), 5);
        assert_eq!(summary.details_dropped, 25);
    }

    #[test]
    fn domains_beyond_the_cap_and_removed_domains_are_not_kept() {
        let mut recent = RecentReports::new(Limits {
            max_domains: 1,
            ..Limits::default()
        });
        assert!(recent.add(&report("A", "1", 1, 0), |d| d == "other.example"));
        assert!(!recent.add(&report("A", "2", 1, 0), example_com));
        assert_eq!(recent.domains().count(), 1);
        recent.retain(|_| false);
        assert_eq!(recent.domains().count(), 0);
    }
}
