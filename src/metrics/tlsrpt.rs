//! The `mtasts_tlsrpt_*` families: what the received TLSRPT aggregate
//! reports (RFC 8460 §4) add up to, rendered at each scrape from the
//! [`Ingestor`]'s tally, so that a restart (which rebuilds the tally from
//! the spool) shows the same counts.
//!
//! Labels stay bounded whatever senders write: `domain` is a configured
//! domain (the ingestor counts no other); `organization` is the reporting
//! organization's name normalised ([`organization_label`]) and, per
//! domain, only the [`MAX_ORGANIZATIONS`] busiest (by sessions reported)
//! have their own, the rest are `other`; `mx` is one of the domain's MX
//! hosts as its latest probe saw them (at most `max_mx_hosts` of them),
//! never a name only a report gives; `result` is `success` or an RFC 8460
//! §4.3 result type (`other` for the rest). IP addresses and free-text
//! reason codes of reports never become labels.

use crate::rfc::rfc8460::report::ReportResultType;
use crate::scheduler::LatestReports;
use crate::tlsrpt::https::HTTPS_CAUSES;
use crate::tlsrpt::ingest::{Channel, Ingestor};
use crate::tlsrpt::maildir::MAILDIR_CAUSES;
use crate::tlsrpt::tally::Tally;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;

/// Organizations per domain with a label of their own; the rest are
/// `other`.
pub const MAX_ORGANIZATIONS: usize = 20;
/// Characters of a normalised organization name kept.
pub const MAX_ORGANIZATION_CHARS: usize = 64;
/// The label of the organizations beyond [`MAX_ORGANIZATIONS`].
pub const OTHER_ORGANIZATION: &str = "other";

/// Ingest-error causes exported at 0 before they happen, per channel
/// (RFC 8460 §5.3: `https` and `mailto`, here `maildir`).
const DECODE_CAUSES: [&str; 6] = [
    "gzip",
    "json",
    "out-of-range",
    "storage",
    "too-large",
    "unknown-domain",
];

/// What the families are read from.
#[derive(Clone)]
pub struct TlsrptSource {
    /// The ingest state: tally, duplicates, errors.
    pub ingestor: Arc<Ingestor>,
    /// The latest probe of each domain, for its MX hosts.
    pub latest: Arc<LatestReports>,
}

/// A reporting organization's name as a label value: lower case, letters,
/// digits, `.` and `-` kept, every other run of characters one `-`, no
/// `-` or `.` at either end, at most [`MAX_ORGANIZATION_CHARS`]
/// characters; `unknown` when nothing is left.
pub fn organization_label(name: &str) -> String {
    let mut label = String::with_capacity(name.len().min(MAX_ORGANIZATION_CHARS));
    let mut gap = false;
    for c in name.chars().flat_map(char::to_lowercase) {
        if label.len() >= MAX_ORGANIZATION_CHARS {
            break;
        }
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' {
            if gap && !label.is_empty() {
                label.push('-');
            }
            gap = false;
            label.push(c);
        } else {
            gap = true;
        }
    }
    let label = label.trim_matches(['-', '.']);
    if label.is_empty() {
        "unknown".to_string()
    } else {
        label.to_string()
    }
}

/// An MX host name in the form compared: lower case, no trailing dot;
/// `None` when it holds anything but letters, digits, `.`, `-` and `_`
/// (it could not be one of the domain's MX hosts, nor a safe label).
fn host_key(name: &str) -> Option<String> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let safe = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b));
    safe.then_some(name)
}

/// One organization label's counts about one domain.
#[derive(Default)]
struct OrganizationSeries {
    reports: u64,
    last_report_end: i64,
    sessions: BTreeMap<(&'static str, &'static str), u64>,
    weight: u64,
}

/// One domain's series, labels decided.
#[derive(Default)]
struct DomainSeries {
    organizations: BTreeMap<String, OrganizationSeries>,
    /// Failed sessions by reported MX host (normalised) and result type.
    mx_failed: BTreeMap<(String, &'static str), u64>,
}

/// Groups a domain's senders under bounded organization labels.
fn domain_series(senders: &BTreeMap<String, crate::tlsrpt::tally::SenderCounts>) -> DomainSeries {
    let mut by_label: BTreeMap<String, OrganizationSeries> = BTreeMap::new();
    let mut mx_failed: BTreeMap<(String, &'static str), u64> = BTreeMap::new();
    for (organization, counts) in senders {
        let series = by_label
            .entry(organization_label(organization))
            .or_default();
        series.reports = series.reports.saturating_add(counts.reports);
        series.last_report_end = series.last_report_end.max(counts.last_report_end);
        for ((policy_type, result), sessions) in &counts.sessions {
            let slot = series
                .sessions
                .entry((policy_type.as_str(), result.as_str()))
                .or_default();
            *slot = slot.saturating_add(*sessions);
            series.weight = series.weight.saturating_add(*sessions);
        }
        for ((host, result), sessions) in &counts.mx_failed_sessions {
            if let Some(host) = host_key(host) {
                let slot = mx_failed.entry((host, result_str(*result))).or_default();
                *slot = slot.saturating_add(*sessions);
            }
        }
    }
    if by_label.len() > MAX_ORGANIZATIONS {
        let mut ranked: Vec<(String, u64)> = by_label
            .iter()
            .map(|(label, series)| (label.clone(), series.weight))
            .collect();
        // Busiest first; by name among equals, so the cut is stable.
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut other = OrganizationSeries::default();
        for (label, _) in ranked.into_iter().skip(MAX_ORGANIZATIONS) {
            if let Some(series) = by_label.remove(&label) {
                other.reports = other.reports.saturating_add(series.reports);
                other.last_report_end = other.last_report_end.max(series.last_report_end);
                for (key, sessions) in series.sessions {
                    let slot = other.sessions.entry(key).or_default();
                    *slot = slot.saturating_add(sessions);
                }
            }
        }
        let slot = by_label.entry(OTHER_ORGANIZATION.to_string()).or_default();
        slot.reports = slot.reports.saturating_add(other.reports);
        slot.last_report_end = slot.last_report_end.max(other.last_report_end);
        for (key, sessions) in other.sessions {
            let entry = slot.sessions.entry(key).or_default();
            *entry = entry.saturating_add(sessions);
        }
    }
    DomainSeries {
        organizations: by_label,
        mx_failed,
    }
}

fn result_str(result: ReportResultType) -> &'static str {
    crate::tlsrpt::tally::SessionResult::Failure(result).as_str()
}

/// The series of the whole tally, by domain.
fn series_of(tally: &Tally) -> BTreeMap<String, DomainSeries> {
    tally
        .domains
        .iter()
        .map(|(domain, senders)| (domain.clone(), domain_series(senders)))
        .collect()
}

/// The MX hosts of each domain as its latest probe saw them.
fn mx_hosts(
    latest: &LatestReports,
    domains: &BTreeMap<String, DomainSeries>,
) -> HashMap<String, BTreeSet<String>> {
    let latest = latest.lock().unwrap_or_else(|p| p.into_inner());
    domains
        .iter()
        .filter(|(_, series)| !series.mx_failed.is_empty())
        .filter_map(|(domain, _)| {
            let hosts = &latest.get(domain)?.mx_host_names;
            let keys = hosts.iter().filter_map(|host| host_key(host)).collect();
            Some((domain.clone(), keys))
        })
        .collect()
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Appends the `mtasts_tlsrpt_*` families, in the text format, to `out`.
pub fn render(source: &TlsrptSource, out: &mut Vec<u8>) {
    let domains = source.ingestor.with_tally(series_of);
    let mx = mx_hosts(&source.latest, &domains);
    let mut text = String::with_capacity(4096 + domains.len() * 512);

    header(
        &mut text,
        "mtasts_tlsrpt_sessions_total",
        "counter",
        "TLS sessions senders reported in TLSRPT aggregate reports (RFC 8460 §4.2), by policy type and result (success or an RFC 8460 §4.3 result type, other for the rest).",
    );
    for (domain, series) in &domains {
        for (organization, counts) in &series.organizations {
            for ((policy_type, result), sessions) in &counts.sessions {
                let _ = writeln!(
                    text,
                    "mtasts_tlsrpt_sessions_total{{domain=\"{domain}\",organization=\"{organization}\",policy_type=\"{policy_type}\",result=\"{result}\"}} {sessions}"
                );
            }
        }
    }
    header(
        &mut text,
        "mtasts_tlsrpt_reports_total",
        "counter",
        "TLSRPT aggregate reports received and stored, each once (RFC 8460 §5.6), by domain and reporting organization.",
    );
    for (domain, series) in &domains {
        for (organization, counts) in &series.organizations {
            let _ = writeln!(
                text,
                "mtasts_tlsrpt_reports_total{{domain=\"{domain}\",organization=\"{organization}\"}} {}",
                counts.reports
            );
        }
    }
    header(
        &mut text,
        "mtasts_tlsrpt_last_report_end_timestamp_seconds",
        "gauge",
        "End of the time frame of the latest report (RFC 8460 §4.4 date-range), by domain and reporting organization: a sender that stops reporting shows here.",
    );
    for (domain, series) in &domains {
        for (organization, counts) in &series.organizations {
            let _ = writeln!(
                text,
                "mtasts_tlsrpt_last_report_end_timestamp_seconds{{domain=\"{domain}\",organization=\"{organization}\"}} {}",
                counts.last_report_end
            );
        }
    }
    header(
        &mut text,
        "mtasts_tlsrpt_mx_failed_sessions_total",
        "counter",
        "Failed sessions reported against one of the domain's MX hosts (receiving-mx-hostname among the MX hosts its latest probe saw), by result type.",
    );
    for (domain, series) in &domains {
        let Some(hosts) = mx.get(domain) else {
            continue;
        };
        for ((host, result), sessions) in &series.mx_failed {
            if hosts.contains(host) {
                let _ = writeln!(
                    text,
                    "mtasts_tlsrpt_mx_failed_sessions_total{{domain=\"{domain}\",mx=\"{host}\",result=\"{result}\"}} {sessions}"
                );
            }
        }
    }
    header(
        &mut text,
        "mtasts_tlsrpt_report_duplicates_total",
        "counter",
        "Reports received again after they were stored (same organization and report id, RFC 8460 §5.6): counted once.",
    );
    let _ = writeln!(
        text,
        "mtasts_tlsrpt_report_duplicates_total {}",
        source.ingestor.duplicates()
    );
    header(
        &mut text,
        "mtasts_tlsrpt_ingest_errors_total",
        "counter",
        "Reports refused, by channel (https, maildir) and cause.",
    );
    let mut errors: BTreeMap<(&'static str, &'static str), u64> = BTreeMap::new();
    for channel in Channel::ALL {
        for cause in DECODE_CAUSES {
            errors.insert((cause, channel.as_str()), 0);
        }
    }
    for cause in HTTPS_CAUSES {
        errors.insert((cause, Channel::Https.as_str()), 0);
    }
    for cause in MAILDIR_CAUSES {
        errors.insert((cause, Channel::Maildir.as_str()), 0);
    }
    for ((channel, cause), count) in source.ingestor.errors() {
        errors.insert((cause, channel.as_str()), count);
    }
    for ((cause, channel), count) in errors {
        let _ = writeln!(
            text,
            "mtasts_tlsrpt_ingest_errors_total{{cause=\"{cause}\",channel=\"{channel}\"}} {count}"
        );
    }
    out.extend_from_slice(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organization_names_become_safe_bounded_labels() {
        assert_eq!(organization_label("Google Inc."), "google-inc");
        assert_eq!(
            organization_label("Microsoft Corporation"),
            "microsoft-corporation"
        );
        assert_eq!(organization_label("  mail.ru  "), "mail.ru");
        assert_eq!(organization_label("a\"b\\c\nd{e}"), "a-b-c-d-e");
        assert_eq!(organization_label("Ünïcode ☃ Org"), "n-code-org");
        assert_eq!(organization_label("☃☃"), "unknown");
        assert_eq!(organization_label(""), "unknown");
        assert!(organization_label(&"x".repeat(10_000)).len() <= MAX_ORGANIZATION_CHARS);
    }

    #[test]
    fn mx_host_keys_are_plain_host_names() {
        assert_eq!(host_key("MX1.Example.COM."), Some("mx1.example.com".into()));
        assert_eq!(host_key("mx\"1"), None);
        assert_eq!(host_key(""), None);
    }

    #[test]
    fn beyond_the_busiest_organizations_the_rest_are_other() {
        use crate::rfc::rfc8460::report::PolicyType;
        use crate::tlsrpt::tally::{SenderCounts, SessionResult};
        let mut senders = BTreeMap::new();
        for i in 0..30u64 {
            let mut counts = SenderCounts {
                reports: 1,
                last_report_end: 1000 + i as i64,
                ..SenderCounts::default()
            };
            counts
                .sessions
                .insert((PolicyType::Sts, SessionResult::Success), 100 + i);
            senders.insert(format!("Org {i:02}"), counts);
        }
        let series = domain_series(&senders);
        assert_eq!(series.organizations.len(), MAX_ORGANIZATIONS + 1);
        let other = &series.organizations[OTHER_ORGANIZATION];
        assert_eq!(other.reports, 10, "the ten least busy");
        assert_eq!(other.last_report_end, 1009);
        assert_eq!(other.sessions[&("sts", "success")], (100..110).sum::<u64>());
        assert!(series.organizations.contains_key("org-29"));
        assert!(!series.organizations.contains_key("org-00"));
    }
}
