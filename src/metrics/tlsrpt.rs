//! The `mtasts_tlsrpt_*` families: what the received TLSRPT aggregate
//! reports (RFC 8460 §4) add up to, rendered from the [`Ingestor`]'s
//! tally, so that a restart (which rebuilds the tally from the spool)
//! shows the same counts. The per-domain families ([`TlsrptFamily`]) are
//! rendered ahead per domain and streamed as a section of the exposition;
//! a domain's lines are rendered again only when its counts or its MX
//! hosts change ([`domain_lines`]).
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

use super::exposition::{Exposition, FamilyLines, FamilySet, Format, Kind};
use crate::rfc::rfc8460::report::ReportResultType;
use crate::scheduler::LatestReports;
use crate::tlsrpt::https::HTTPS_CAUSES;
use crate::tlsrpt::ingest::{Channel, Ingestor};
use crate::tlsrpt::maildir::MAILDIR_CAUSES;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

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
    /// The per-domain lines rendered so far.
    rendered: Arc<Mutex<RenderedTlsrpt>>,
}

impl TlsrptSource {
    /// The families of `ingestor`'s tally, with MX hosts from `latest`.
    pub fn new(ingestor: Arc<Ingestor>, latest: Arc<LatestReports>) -> TlsrptSource {
        TlsrptSource {
            ingestor,
            latest,
            rendered: Arc::default(),
        }
    }
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
fn domain_series(
    senders: &litemap::LiteMap<String, crate::tlsrpt::tally::SenderCounts>,
) -> DomainSeries {
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

/// The families rendered per domain, in exposition order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsrptFamily {
    /// `mtasts_tlsrpt_sessions_total`.
    Sessions,
    /// `mtasts_tlsrpt_reports_total`.
    Reports,
    /// `mtasts_tlsrpt_last_report_end_timestamp_seconds`.
    LastReportEnd,
    /// `mtasts_tlsrpt_mx_failed_sessions_total`.
    MxFailedSessions,
}

impl FamilySet for TlsrptFamily {
    const ALL: &'static [TlsrptFamily] = &[
        TlsrptFamily::Sessions,
        TlsrptFamily::Reports,
        TlsrptFamily::LastReportEnd,
        TlsrptFamily::MxFailedSessions,
    ];

    fn index(self) -> usize {
        self as usize
    }

    fn name(self) -> &'static str {
        match self {
            TlsrptFamily::Sessions => "mtasts_tlsrpt_sessions_total",
            TlsrptFamily::Reports => "mtasts_tlsrpt_reports_total",
            TlsrptFamily::LastReportEnd => "mtasts_tlsrpt_last_report_end_timestamp_seconds",
            TlsrptFamily::MxFailedSessions => "mtasts_tlsrpt_mx_failed_sessions_total",
        }
    }

    fn kind(self) -> Kind {
        match self {
            TlsrptFamily::LastReportEnd => Kind::Gauge,
            _ => Kind::Counter,
        }
    }

    fn help(self) -> &'static str {
        match self {
            TlsrptFamily::Sessions => "TLS sessions senders reported in TLSRPT aggregate reports (RFC 8460 §4.2), by policy type and result (success or an RFC 8460 §4.3 result type, other for the rest).",
            TlsrptFamily::Reports => "TLSRPT aggregate reports received and stored, each once (RFC 8460 §5.6), by domain and reporting organization.",
            TlsrptFamily::LastReportEnd => "End of the time frame of the latest report (RFC 8460 §4.4 date-range), by domain and reporting organization: a sender that stops reporting shows here.",
            TlsrptFamily::MxFailedSessions => "Failed sessions reported against one of the domain's MX hosts (receiving-mx-hostname among the MX hosts its latest probe saw), by result type.",
        }
    }
}

/// One domain's lines as last rendered, and what they were rendered from.
#[derive(Debug)]
struct RenderedDomain {
    /// The tally's [`Tally::stamp`] of the domain then.
    stamp: u64,
    lines: FamilyLines<TlsrptFamily>,
    /// Failed sessions by reported MX host and result type (usually
    /// empty), kept to render the MX family again when the domain's MX
    /// hosts change without a report. In key order.
    mx_failed: Box<[((String, &'static str), u64)]>,
    /// The domain's MX hosts the MX family was rendered with (empty when
    /// `mx_failed` is).
    mx_hosts: Vec<String>,
    /// The scrape that last saw the domain in the tally.
    seen: u64,
}

/// The per-domain families rendered ahead: a domain's lines are rendered
/// again only when its counts change (a report about it, a rebuild of the
/// tally) or, for the MX family, when its MX hosts do; a scrape otherwise
/// takes a reference to each domain's lines, as for the probe's families.
/// At 100,000 domains with five senders each, rendering everything from
/// the tally took seconds per scrape and held the whole text at once.
#[derive(Debug, Default)]
pub struct RenderedTlsrpt {
    /// By domain name: the tally's order, so the scrape's order too.
    domains: BTreeMap<String, RenderedDomain>,
    scrapes: u64,
}

/// The MX hosts of `domain` as its latest probe saw them, in the form
/// compared, sorted.
fn probed_mx_hosts(latest: &crate::latest::Latest, domain: &str) -> Vec<String> {
    let mut hosts: Vec<String> = latest
        .get(domain)
        .map(|report| {
            report
                .mx_host_names
                .iter()
                .filter_map(|h| host_key(h))
                .collect()
        })
        .unwrap_or_default();
    hosts.sort();
    hosts.dedup();
    hosts
}

impl RenderedDomain {
    /// Renders `series` of `domain`, the MX family against `mx_hosts`.
    fn render(
        domain: &str,
        stamp: u64,
        series: DomainSeries,
        mx_hosts: Vec<String>,
        seen: u64,
    ) -> RenderedDomain {
        let mut lines = FamilyLines::default();
        for (organization, counts) in &series.organizations {
            let labels = [("domain", domain), ("organization", organization.as_str())];
            for ((policy_type, result), sessions) in &counts.sessions {
                lines.sample(
                    TlsrptFamily::Sessions,
                    &[
                        labels[0],
                        labels[1],
                        ("policy_type", policy_type),
                        ("result", result),
                    ],
                    *sessions as f64,
                );
            }
            lines.sample(TlsrptFamily::Reports, &labels, counts.reports as f64);
            lines.sample(
                TlsrptFamily::LastReportEnd,
                &labels,
                counts.last_report_end as f64,
            );
        }
        let mut rendered = RenderedDomain {
            stamp,
            lines,
            mx_failed: series.mx_failed.into_iter().collect(),
            mx_hosts: Vec::new(),
            seen,
        };
        rendered.render_mx(domain, mx_hosts);
        rendered
    }

    /// Renders the MX family anew against `mx_hosts` (sorted).
    fn render_mx(&mut self, domain: &str, mx_hosts: Vec<String>) {
        self.lines.clear(TlsrptFamily::MxFailedSessions);
        if self.mx_failed.is_empty() {
            self.mx_hosts = Vec::new();
        } else {
            for ((host, result), sessions) in self.mx_failed.iter() {
                if mx_hosts.binary_search(host).is_ok() {
                    self.lines.sample(
                        TlsrptFamily::MxFailedSessions,
                        &[("domain", domain), ("mx", host), ("result", result)],
                        *sessions as f64,
                    );
                }
            }
            self.mx_hosts = mx_hosts;
        }
        self.lines.shrink_to_fit();
    }
}

impl RenderedTlsrpt {
    /// Brings every domain's lines up to date with the tally and the
    /// latest probes, and returns them in domain order.
    fn refresh(&mut self, source: &TlsrptSource) -> Vec<FamilyLines<TlsrptFamily>> {
        self.scrapes += 1;
        let scrape = self.scrapes;
        // Under the tally's lock: which domains changed, and their series.
        let mut changed: Vec<(String, u64, DomainSeries)> = Vec::new();
        let mut check_mx: Vec<String> = Vec::new();
        source.ingestor.with_tally(|tally| {
            for (domain, senders) in &tally.domains {
                let stamp = tally.stamp(domain);
                match self.domains.get_mut(domain.as_str()) {
                    Some(rendered) if rendered.stamp == stamp => {
                        rendered.seen = scrape;
                        if !rendered.mx_failed.is_empty() {
                            check_mx.push(domain.clone());
                        }
                    }
                    _ => changed.push((domain.clone(), stamp, domain_series(senders))),
                }
            }
        });
        // Under the latest probes' lock: the MX hosts needed.
        let (changed_mx, checked_mx): (Vec<Vec<String>>, Vec<Vec<String>>) = {
            let latest = source.latest.lock().unwrap_or_else(|p| p.into_inner());
            (
                changed
                    .iter()
                    .map(|(domain, _, series)| {
                        if !series.mx_failed.is_empty() {
                            probed_mx_hosts(&latest, domain)
                        } else {
                            Vec::new()
                        }
                    })
                    .collect(),
                check_mx
                    .iter()
                    .map(|domain| probed_mx_hosts(&latest, domain))
                    .collect(),
            )
        };
        for ((domain, stamp, series), mx_hosts) in changed.into_iter().zip(changed_mx) {
            let rendered = RenderedDomain::render(&domain, stamp, series, mx_hosts, scrape);
            self.domains.insert(domain, rendered);
        }
        for (domain, mx_hosts) in check_mx.iter().zip(checked_mx) {
            if let Some(rendered) = self.domains.get_mut(domain.as_str()) {
                if rendered.mx_hosts != mx_hosts {
                    rendered.render_mx(domain, mx_hosts);
                }
            }
        }
        // Domains no longer counted (removed from the configuration).
        self.domains.retain(|_, rendered| rendered.seen == scrape);
        self.domains
            .values()
            .map(|rendered| rendered.lines.clone())
            .collect()
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// The families that are not per domain, `mtasts_tlsrpt_report_duplicates_total`
/// and `mtasts_tlsrpt_ingest_errors_total`, in the text format, appended to
/// `out` (the head of a scrape).
pub fn render_head(source: &TlsrptSource, out: &mut Vec<u8>) {
    let mut text = String::with_capacity(4096);
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

/// Every domain's lines of the per-domain families, in domain order, for
/// a scrape's section ([`crate::metrics::exposition::Exposition::with_section`]),
/// rendering only what changed since the last scrape.
pub fn domain_lines(source: &TlsrptSource) -> Vec<FamilyLines<TlsrptFamily>> {
    source
        .rendered
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .refresh(source)
}

/// Appends every `mtasts_tlsrpt_*` family, in the text format, to `out`
/// (tests and callers that want the text whole; scrapes stream it).
pub fn render(source: &TlsrptSource, out: &mut Vec<u8>) {
    let mut head = Vec::new();
    render_head(source, &mut head);
    out.extend(
        Exposition::new(head)
            .with_section(domain_lines(source))
            .into_bytes(Format::Text),
    );
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

    fn ingestor(dir: &std::path::Path, domains: &[&str]) -> Arc<Ingestor> {
        let names = domains.iter().map(|d| d.to_string()).collect();
        match Ingestor::open(dir, 1 << 20, 400, names, NOW) {
            Ok((ingestor, _)) => Arc::new(ingestor),
            Err(error) => panic!("open: {error}"),
        }
    }

    const NOW: i64 = 1_796_169_600; // 2026-12-01T00:00:00Z

    fn report(organization: &str, id: &str, domain: &str, ok: u64) -> Vec<u8> {
        format!(
            r#"{{"organization-name":"{organization}","report-id":"{id}",
              "date-range":{{"start-datetime":"2026-11-30T00:00:00Z","end-datetime":"2026-11-30T23:59:59Z"}},
              "policies":[{{"policy":{{"policy-type":"sts","policy-domain":"{domain}"}},
                "summary":{{"total-successful-session-count":{ok},"total-failure-session-count":2}},
                "failure-details":[{{"result-type":"certificate-expired","receiving-mx-hostname":"mx1.{domain}","failed-session-count":2}}]}}]}}"#
        )
        .into_bytes()
    }

    fn text(source: &TlsrptSource) -> String {
        let mut out = Vec::new();
        render(source, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    fn probed(latest: &LatestReports, domain: &str, hosts: &[&str]) {
        let mut report = crate::report::ProbeReport::blank(domain, 1.0);
        report.mx_hosts = Some(
            hosts
                .iter()
                .map(|h| crate::probe::judge::fixtures::mx_host(h))
                .collect(),
        );
        latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keep(report);
    }

    /// A domain's lines are rendered again when its counts change, its MX
    /// family when its MX hosts do; a snapshot keeps what it took; a
    /// domain no longer configured goes.
    #[test]
    fn per_domain_lines_follow_the_tally_and_the_probed_mx_hosts() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let ingestor = ingestor(dir.path(), &["a.example", "b.example"]);
        let latest: Arc<LatestReports> = Arc::default();
        let source = TlsrptSource::new(ingestor.clone(), latest.clone());
        let ingest = |raw: Vec<u8>| {
            if let Err(error) = ingestor.ingest_at(&raw, Channel::Https, NOW) {
                panic!("ingest: {error}");
            }
        };
        ingest(report("Google Inc.", "1", "a.example", 10));
        ingest(report("Google Inc.", "2", "b.example", 20));
        let first = text(&source);
        assert!(first.contains(
            "mtasts_tlsrpt_sessions_total{domain=\"a.example\",organization=\"google-inc\",policy_type=\"sts\",result=\"success\"} 10\n"
        ), "{first}");
        assert!(first.contains(
            "mtasts_tlsrpt_reports_total{domain=\"b.example\",organization=\"google-inc\"} 1\n"
        ));
        assert_eq!(
            first
                .matches("# TYPE mtasts_tlsrpt_sessions_total counter")
                .count(),
            1
        );
        assert!(
            !first.contains("mtasts_tlsrpt_mx_failed_sessions_total"),
            "no probe yet"
        );

        let snapshot = domain_lines(&source);
        ingest(report("Google Inc.", "3", "a.example", 5));
        let second = text(&source);
        assert!(second
            .contains("organization=\"google-inc\",policy_type=\"sts\",result=\"success\"} 15\n"));
        assert!(second.contains(
            "mtasts_tlsrpt_reports_total{domain=\"a.example\",organization=\"google-inc\"} 2\n"
        ));
        let held = String::from_utf8(
            Exposition::new(Vec::new())
                .with_section(snapshot)
                .into_bytes(Format::Text),
        )
        .unwrap_or_default();
        assert!(
            held.contains("result=\"success\"} 10\n"),
            "the snapshot keeps its counts"
        );

        probed(&latest, "a.example", &["mx1.a.example", "mx2.a.example"]);
        let third = text(&source);
        assert!(third.contains(
            "mtasts_tlsrpt_mx_failed_sessions_total{domain=\"a.example\",mx=\"mx1.a.example\",result=\"certificate-expired\"} 4\n"
        ), "{third}");
        assert!(
            !third.contains("mx=\"mx1.b.example\""),
            "b's probe has not run"
        );
        probed(&latest, "a.example", &["mx9.a.example"]);
        assert!(!text(&source).contains("mtasts_tlsrpt_mx_failed_sessions_total{"));

        if let Err(error) = ingestor.set_domains(["b.example".to_string()].into(), NOW) {
            panic!("set_domains: {error}");
        }
        let fourth = text(&source);
        assert!(!fourth.contains("domain=\"a.example\""), "{fourth}");
        assert!(fourth.contains(
            "mtasts_tlsrpt_reports_total{domain=\"b.example\",organization=\"google-inc\"} 1\n"
        ));
        assert!(fourth
            .contains("mtasts_tlsrpt_ingest_errors_total{cause=\"gzip\",channel=\"https\"} 0\n"));
    }

    #[test]
    fn beyond_the_busiest_organizations_the_rest_are_other() {
        use crate::rfc::rfc8460::report::PolicyType;
        use crate::tlsrpt::tally::{SenderCounts, SessionResult};
        let mut senders = litemap::LiteMap::new();
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
