//! The `reports` subcommand: what the stored TLSRPT reports (RFC 8460)
//! say, per domain and sender, read from the spool without writing to it,
//! for people (text) and scripts (JSON, a stable contract: README
//! "reports JSON").
//!
//! Session counts are added up by the same rules as the
//! `mtasts_tlsrpt_sessions_total` counters ([`super::tally`]), so the two
//! agree. Bounded: at most [`MAX_SENDERS`] senders per domain (the rest
//! count as `other`) and [`MAX_DETAILS`] distinct failure details per
//! sender (the rest counted), every string capped
//! ([`crate::echo::capped`]).

use super::recent::{ratio, DetailSummary};
use super::spool::{SpoolError, SpoolReader, UnusableFile};
use super::tally::{SenderCounts, SessionResult, Tally};
use crate::echo::capped;
use crate::remedy;
use crate::rfc::rfc8460::report::{PolicyType, Report, ReportResultType};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;

/// Senders kept apart per domain; reports of further senders are added up
/// under the organization `other`, as the metrics do.
pub const MAX_SENDERS: usize = 1000;
/// Distinct failure details kept per domain and sender; the failed
/// sessions of the rest are counted in `failure_details_dropped`.
pub const MAX_DETAILS: usize = 100;
/// Failure details the text shows per sender (the JSON has all kept).
pub const TEXT_DETAILS: usize = 10;
/// The most unusable files named.
pub const MAX_UNUSABLE_NAMED: usize = 20;
/// The organization that senders beyond [`MAX_SENDERS`] are counted as.
pub const OTHER_SENDERS: &str = "other";

/// A failure detail as it is grouped: the same failure from the same
/// place in several reports is one line with the sessions added up.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct DetailKey {
    /// `result-type` (RFC 8460 §4.3).
    pub result_type: &'static str,
    /// The `result-type` as written, when it is `other`.
    pub result_type_text: Option<String>,
    /// `sending-mta-ip`.
    pub sending_mta_ip: Option<IpAddr>,
    /// `receiving-mx-hostname`.
    pub receiving_mx_hostname: Option<String>,
    /// `receiving-ip`.
    pub receiving_ip: Option<IpAddr>,
    /// `failure-reason-code`.
    pub failure_reason_code: Option<String>,
}

impl DetailKey {
    fn of(detail: &DetailSummary) -> DetailKey {
        DetailKey {
            result_type: detail.result_type.as_str(),
            result_type_text: detail.result_type_text.clone(),
            sending_mta_ip: detail.sending_mta_ip,
            receiving_mx_hostname: detail.receiving_mx_hostname.clone(),
            receiving_ip: detail.receiving_ip,
            failure_reason_code: detail.failure_reason_code.clone(),
        }
    }
}

/// What one sender's reports about one domain hold besides the counts.
#[derive(Debug, Clone, Default)]
pub struct SenderDetails {
    /// `contact-info` of its latest report (capped).
    pub contact: Option<String>,
    /// The `end-datetime` of that report.
    contact_end: i64,
    /// Failed sessions per distinct failure detail.
    pub details: BTreeMap<DetailKey, u64>,
    /// Failed sessions of details beyond [`MAX_DETAILS`] (and beyond the
    /// parser's cap).
    pub details_dropped_sessions: u64,
    /// Failure details not kept.
    pub details_dropped: u64,
}

/// The stored reports read, added up.
#[derive(Debug, Default)]
pub struct Listing {
    /// Reports of the period counted (about a selected domain).
    pub reports: u64,
    /// Reports read that ended before the period or are about no selected
    /// domain.
    pub skipped: u64,
    /// Session counts per domain and sender, as the metrics count them.
    pub tally: Tally,
    /// Contact and failure details per domain and sender.
    pub details: BTreeMap<String, BTreeMap<String, SenderDetails>>,
    /// Stored files that did not read back.
    pub unusable_count: u64,
    /// The first [`MAX_UNUSABLE_NAMED`] of them.
    pub unusable: Vec<UnusableFile>,
    /// The configured domains, when known ([`read_spool_knowing`]).
    pub configured: BTreeSet<String>,
    /// Of each configured or selected domain, its stored reports whatever
    /// their period ([`read_spool_knowing`]): what to say of a domain
    /// without reports in the period.
    pub stored: BTreeMap<String, StoredSpan>,
}

/// The stored reports about one domain, whatever their period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoredSpan {
    /// Stored reports about it.
    pub reports: u64,
    /// Of them, those of the period.
    pub in_period: u64,
    /// The latest `end-datetime` among them.
    pub last_end: i64,
}

/// Configured domains with reports in the period named at most when a
/// domain shown has none.
pub const NAMED_WITH_REPORTS: usize = 10;

impl Listing {
    /// Adds `report` when it ended at or after `since` (Unix seconds),
    /// for the policy domains `include` accepts.
    pub fn add(&mut self, report: &Report, since: i64, include: impl Fn(&str) -> bool) {
        if report.date_range.end < since {
            self.skipped += 1;
            return;
        }
        let domains: BTreeSet<&str> = report
            .policies
            .iter()
            .map(|p| p.policy_domain.as_str())
            .filter(|d| include(d))
            .collect();
        if domains.is_empty() {
            self.skipped += 1;
            return;
        }
        // A new sender beyond the cap of any of its domains counts as `other`.
        let organization = capped(&report.organization_name).into_owned();
        let crowded = domains.iter().any(|d| {
            self.tally.domains.get(*d).is_some_and(|senders| {
                senders.len() >= MAX_SENDERS && !senders.contains_key(&organization)
            })
        });
        let organization = if crowded {
            OTHER_SENDERS.to_string()
        } else {
            organization
        };
        if organization == report.organization_name {
            self.tally.add(report, |d| domains.contains(d));
        } else {
            let mut renamed = report.clone();
            renamed.organization_name.clone_from(&organization);
            self.tally.add(&renamed, |d| domains.contains(d));
        }
        self.reports += 1;
        for domain in domains {
            let Some(summary) = super::recent::ReportSummary::of(report, domain, usize::MAX) else {
                continue;
            };
            let sender = self
                .details
                .entry(domain.to_string())
                .or_default()
                .entry(organization.clone())
                .or_default();
            if sender.contact.is_none() || report.date_range.end >= sender.contact_end {
                if summary.contact.is_some() {
                    sender.contact.clone_from(&summary.contact);
                }
                sender.contact_end = report.date_range.end;
            }
            for detail in &summary.details {
                let key = DetailKey::of(detail);
                if let Some(sessions) = sender.details.get_mut(&key) {
                    *sessions = sessions.saturating_add(detail.failed_sessions);
                } else if sender.details.len() < MAX_DETAILS {
                    sender.details.insert(key, detail.failed_sessions);
                } else {
                    sender.details_dropped += 1;
                    sender.details_dropped_sessions = sender
                        .details_dropped_sessions
                        .saturating_add(detail.failed_sessions);
                }
            }
            let parser_dropped: u64 = report
                .policies
                .iter()
                .filter(|p| p.policy_domain == domain)
                .map(|p| p.failure_details_dropped)
                .sum();
            sender.details_dropped = sender.details_dropped.saturating_add(parser_dropped);
        }
    }

    /// Notes a file that did not read back.
    pub fn add_unusable(&mut self, file: UnusableFile) {
        self.unusable_count += 1;
        if self.unusable.len() < MAX_UNUSABLE_NAMED {
            self.unusable.push(file);
        }
    }
}

/// Reads every stored report of `spool` into a [`Listing`]: those that
/// ended at or after `since` (Unix seconds) about the domains `include`
/// accepts. Only an unreadable spool directory is an error; a file that
/// does not read back is counted in the listing.
pub fn read_spool(
    spool: &SpoolReader,
    since: i64,
    include: impl Fn(&str) -> bool,
) -> Result<Listing, SpoolError> {
    let mut listing = Listing::default();
    for stored in spool.reports()? {
        match stored {
            Ok(stored) => listing.add(&stored.report, since, &include),
            Err(unusable) => listing.add_unusable(unusable),
        }
    }
    Ok(listing)
}

/// [`read_spool`], also noting of each domain `configured` holds or
/// `include` accepts by name (`selected`) its stored reports whatever
/// their period, and which domains are configured: so that a domain shown
/// without reports in the period says whether it is configured and when
/// its latest stored report ended. Bounded by the configured and selected
/// domains.
pub fn read_spool_knowing(
    spool: &SpoolReader,
    since: i64,
    include: impl Fn(&str) -> bool,
    configured: BTreeSet<String>,
    selected: &[String],
) -> Result<Listing, SpoolError> {
    let mut listing = Listing {
        configured,
        ..Listing::default()
    };
    for stored in spool.reports()? {
        match stored {
            Ok(stored) => {
                listing.note_stored(&stored.report, since, selected);
                listing.add(&stored.report, since, &include);
            }
            Err(unusable) => listing.add_unusable(unusable),
        }
    }
    Ok(listing)
}

impl Listing {
    /// Notes `report` in [`Listing::stored`] for each of its domains that
    /// is configured or in `selected`.
    fn note_stored(&mut self, report: &Report, since: i64, selected: &[String]) {
        let domains: BTreeSet<&str> = report
            .policies
            .iter()
            .map(|p| p.policy_domain.as_str())
            .filter(|d| self.configured.contains(*d) || selected.iter().any(|s| s == d))
            .collect();
        let end = report.date_range.end;
        for domain in domains {
            let span = self.stored.entry(domain.to_string()).or_default();
            if span.reports == 0 || end > span.last_end {
                span.last_end = end;
            }
            span.reports += 1;
            if end >= since {
                span.in_period += 1;
            }
        }
    }

    /// What to say of `domain` when it has no report in the period: whether
    /// one is stored from before (and the `--since` that shows it), whether
    /// it is configured.
    fn without_reports(&self, domain: &str, now: i64) -> String {
        let configured = self.configured.contains(domain);
        match self.stored.get(domain) {
            Some(span) if span.reports > 0 => {
                let days = now.saturating_sub(span.last_end).max(0) / 86_400 + 1;
                format!(
                    "{} stored before it, the latest ending {} (`--since {days}d` shows it){}",
                    count(span.reports, "report"),
                    utc(span.last_end),
                    if configured {
                        ""
                    } else {
                        "; not a configured domain (any more): no new report about it is taken"
                    }
                )
            }
            _ if configured || self.configured.is_empty() => "none stored about it".to_string(),
            _ => "not a configured domain: the exporter takes reports only about the domains it \
                  is configured for, and none about it is stored"
                .to_string(),
        }
    }

    /// The configured domains with reports in the period that are not in
    /// `shown`, by name.
    fn others_with_reports(&self, shown: &[&str]) -> Vec<&str> {
        self.stored
            .iter()
            .filter(|(name, span)| {
                span.in_period > 0
                    && self.configured.contains(*name)
                    && !shown.contains(&name.as_str())
            })
            .map(|(name, _)| name.as_str())
            .collect()
    }
}

/// The JSON of `reports` (README "reports JSON"): stable field names,
/// times in Unix seconds.
#[derive(Debug, Serialize)]
pub struct ReportsJson<'a> {
    /// The start of the period: reports that ended before are left out.
    pub since: i64,
    /// When the spool was read.
    pub now: i64,
    /// Reports counted.
    pub reports: u64,
    /// One entry per domain shown, by name.
    pub domains: Vec<DomainJson<'a>>,
    /// Stored files that did not read back.
    pub unusable_files: u64,
    /// The first of them, with the problem.
    pub unusable: Vec<UnusableJson>,
}

/// A domain in [`ReportsJson`].
#[derive(Debug, Serialize)]
pub struct DomainJson<'a> {
    /// The policy domain (ASCII, lower case).
    pub domain: &'a str,
    /// Reports counted, all senders.
    pub reports: u64,
    /// Sessions reported, successful and failed.
    pub sessions: u64,
    /// Failed sessions reported.
    pub failed_sessions: u64,
    /// `failed_sessions / sessions`, 0 without sessions.
    pub failure_ratio: f64,
    /// The latest `end-datetime` of the reports; null without reports.
    pub last_report_end: Option<i64>,
    /// One entry per sender, most failed sessions first.
    pub senders: Vec<SenderJson<'a>>,
    /// Whether the domain is configured.
    pub configured: bool,
    /// The latest `end-datetime` of its stored reports, also of those
    /// before the period; null without any.
    pub last_stored_report_end: Option<i64>,
}

/// A sender in [`DomainJson`].
#[derive(Debug, Serialize)]
pub struct SenderJson<'a> {
    /// `organization-name` (capped; `other` for senders beyond the cap).
    pub organization: &'a str,
    /// `contact-info` of its latest report.
    pub contact: Option<&'a str>,
    /// Its reports counted.
    pub reports: u64,
    /// Sessions reported, successful and failed.
    pub sessions: u64,
    /// Successful sessions.
    pub successful_sessions: u64,
    /// Failed sessions.
    pub failed_sessions: u64,
    /// `failed_sessions / sessions`.
    pub failure_ratio: f64,
    /// The latest `end-datetime` of its reports.
    pub last_report_end: i64,
    /// Sessions by policy type and result (`success`, an RFC 8460 result
    /// type or `other`), as `mtasts_tlsrpt_sessions_total` counts them.
    pub sessions_by_result: Vec<SessionsJson>,
    /// Distinct failure details, most failed sessions first.
    pub failure_details: Vec<DetailJson<'a>>,
    /// Failure details not kept (beyond the caps).
    pub failure_details_dropped: u64,
}

/// Sessions of one policy type and result.
#[derive(Debug, Serialize)]
pub struct SessionsJson {
    /// `sts`, `tlsa`, `no-policy-found` or `other`.
    pub policy_type: &'static str,
    /// `success`, an RFC 8460 result type or `other`.
    pub result: &'static str,
    /// Sessions.
    pub sessions: u64,
}

/// A grouped failure detail with its failed sessions and what to do.
#[derive(Debug, Serialize)]
pub struct DetailJson<'a> {
    /// The detail's fields.
    #[serde(flatten)]
    pub key: &'a DetailKey,
    /// Failed sessions, added up over the reports.
    pub failed_sessions: u64,
    /// The line of README "What senders' reports ask of you".
    pub what_to_do: &'static str,
}

/// An unusable stored file.
#[derive(Debug, Serialize)]
pub struct UnusableJson {
    /// Its path.
    pub file: String,
    /// The problem.
    pub problem: String,
}

/// The domains to show: `selected` (each, also without reports), or every
/// domain with reports when `selected` is empty.
fn shown_domains<'a>(listing: &'a Listing, selected: &'a [String]) -> Vec<&'a str> {
    if selected.is_empty() {
        listing.tally.domains.keys().map(String::as_str).collect()
    } else {
        let mut names: Vec<&str> = selected.iter().map(String::as_str).collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}

/// Successful and failed sessions of a sender's counts.
fn session_totals(counts: &SenderCounts) -> (u64, u64) {
    counts.sessions.iter().fold(
        (0u64, 0u64),
        |(ok, failed), ((_, result), n)| match result {
            SessionResult::Success => (ok.saturating_add(*n), failed),
            SessionResult::Failure(_) => (ok, failed.saturating_add(*n)),
        },
    )
}

/// The listing as [`ReportsJson`], for `domains` (see [`shown_domains`]).
pub fn to_json<'a>(
    listing: &'a Listing,
    selected: &'a [String],
    since: i64,
    now: i64,
) -> ReportsJson<'a> {
    static NO_DETAILS: BTreeMap<String, SenderDetails> = BTreeMap::new();
    let mut domains = Vec::new();
    for domain in shown_domains(listing, selected) {
        let details = listing.details.get(domain).unwrap_or(&NO_DETAILS);
        let mut senders: Vec<SenderJson<'a>> = listing
            .tally
            .domains
            .get(domain)
            .into_iter()
            .flatten()
            .map(|(organization, counts)| {
                let (successful, failed) = session_totals(counts);
                let extra = details.get(organization);
                let mut failure_details: Vec<DetailJson<'a>> = extra
                    .into_iter()
                    .flat_map(|e| &e.details)
                    .map(|(key, sessions)| DetailJson {
                        key,
                        failed_sessions: *sessions,
                        what_to_do: remedy::for_reported_result(ReportResultType::parse(
                            key.result_type,
                        )),
                    })
                    .collect();
                failure_details.sort_by_key(|d| std::cmp::Reverse(d.failed_sessions));
                SenderJson {
                    organization,
                    contact: extra.and_then(|e| e.contact.as_deref()),
                    reports: counts.reports,
                    sessions: successful.saturating_add(failed),
                    successful_sessions: successful,
                    failed_sessions: failed,
                    failure_ratio: ratio(failed, successful.saturating_add(failed)),
                    last_report_end: counts.last_report_end,
                    sessions_by_result: counts
                        .sessions
                        .iter()
                        .map(|((policy_type, result), sessions)| SessionsJson {
                            policy_type: policy_type.as_str(),
                            result: result.as_str(),
                            sessions: *sessions,
                        })
                        .collect(),
                    failure_details,
                    failure_details_dropped: extra.map_or(0, |e| e.details_dropped),
                }
            })
            .collect();
        senders.sort_by(|a, b| {
            b.failed_sessions
                .cmp(&a.failed_sessions)
                .then(a.organization.cmp(b.organization))
        });
        let sessions: u64 = senders.iter().map(|s| s.sessions).sum();
        let failed: u64 = senders.iter().map(|s| s.failed_sessions).sum();
        let last_report_end = senders.iter().map(|s| s.last_report_end).max();
        domains.push(DomainJson {
            domain,
            reports: senders.iter().map(|s| s.reports).sum(),
            sessions,
            failed_sessions: failed,
            failure_ratio: ratio(failed, sessions),
            last_report_end,
            senders,
            configured: listing.configured.contains(domain),
            last_stored_report_end: listing
                .stored
                .get(domain)
                .filter(|span| span.reports > 0)
                .map(|span| span.last_end)
                .or(last_report_end),
        });
    }
    ReportsJson {
        since,
        now,
        reports: listing.reports,
        domains,
        unusable_files: listing.unusable_count,
        unusable: listing
            .unusable
            .iter()
            .map(|u| UnusableJson {
                file: u.path.display().to_string(),
                problem: capped(&u.problem).into_owned(),
            })
            .collect(),
    }
}

/// The listing as JSON text.
pub fn render_json(listing: &Listing, selected: &[String], since: i64, now: i64) -> String {
    serde_json::to_string_pretty(&to_json(listing, selected, since, now))
        .unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"))
}

/// Unix seconds as `2026-12-01 14:51:22 UTC`.
fn utc(seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .map(|t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        })
        .unwrap_or_else(|_| seconds.to_string())
}

/// A ratio as a percentage with two decimals.
fn percent(ratio: f64) -> String {
    format!("{:.2} %", ratio * 100.0)
}

/// `n` and the noun, plural when `n` is not 1.
fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Where a detail's failure happened, in words: `from 192.0.2.1 to
/// mx1.example.com [198.51.100.25]`.
fn place(key: &DetailKey) -> String {
    let mut out = String::new();
    if let Some(ip) = key.sending_mta_ip {
        let _ = write!(out, "from {ip} ");
    }
    out.push_str("to ");
    match (&key.receiving_mx_hostname, key.receiving_ip) {
        (Some(host), Some(ip)) => {
            let _ = write!(out, "{host} [{ip}]");
        }
        (Some(host), None) => out.push_str(host),
        (None, Some(ip)) => {
            let _ = write!(out, "[{ip}]");
        }
        (None, None) => out.push_str("an MX host the sender did not name"),
    }
    out
}

/// Text with control characters replaced, for a terminal.
fn plain(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

/// The listing for people: per domain, per sender (most failed sessions
/// first), the sessions by result, the failure details with where they
/// happened and what to do, and a summary line.
pub fn render_text(listing: &Listing, selected: &[String], since: i64, now: i64) -> String {
    let json = to_json(listing, selected, since, now);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "TLSRPT reports that ended since {} ({} counted)",
        utc(since),
        count(json.reports, "report")
    );
    let mut failing_domains = 0;
    for domain in &json.domains {
        out.push('\n');
        let Some(last) = domain.last_report_end else {
            let _ = writeln!(
                out,
                "{}: no reports in this period; {}",
                domain.domain,
                listing.without_reports(domain.domain, now)
            );
            continue;
        };
        if domain.failed_sessions > 0 {
            failing_domains += 1;
        }
        let _ = writeln!(
            out,
            "{}: {} from {}, {}, {} failed ({}), last report ending {}",
            domain.domain,
            count(domain.reports, "report"),
            count(domain.senders.len() as u64, "sender"),
            count(domain.sessions, "session"),
            domain.failed_sessions,
            percent(domain.failure_ratio),
            utc(last)
        );
        for sender in &domain.senders {
            let contact = sender
                .contact
                .map(|c| format!(" <{}>", plain(c)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {}{contact}: {}, last ending {} ({} ago)",
                plain(sender.organization),
                count(sender.reports, "report"),
                utc(sender.last_report_end),
                span(now.saturating_sub(sender.last_report_end))
            );
            let by_result: Vec<String> = sender
                .sessions_by_result
                .iter()
                .map(|s| {
                    if s.policy_type == PolicyType::Sts.as_str() {
                        format!("{} {}", s.sessions, s.result)
                    } else {
                        format!("{} {} ({})", s.sessions, s.result, s.policy_type)
                    }
                })
                .collect();
            let _ = writeln!(
                out,
                "    sessions  {}: {}; {} failed",
                sender.sessions,
                by_result.join(", "),
                percent(sender.failure_ratio)
            );
            let mut remedies: Vec<&'static str> = Vec::new();
            for detail in sender.failure_details.iter().take(TEXT_DETAILS) {
                let written = detail
                    .key
                    .result_type_text
                    .as_deref()
                    .map(|t| format!(" ({})", plain(t)))
                    .unwrap_or_default();
                let reason = detail
                    .key
                    .failure_reason_code
                    .as_deref()
                    .map(|r| format!(", reason {:?}", plain(r)))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "    FAILED    {} {}{written} {}{reason}",
                    detail.failed_sessions,
                    detail.key.result_type,
                    plain(&place(detail.key)),
                );
                if !remedies.contains(&detail.what_to_do) {
                    remedies.push(detail.what_to_do);
                    let _ = writeln!(out, "              what to do: {}", detail.what_to_do);
                }
            }
            let hidden = sender.failure_details.len().saturating_sub(TEXT_DETAILS) as u64
                + sender.failure_details_dropped;
            if hidden > 0 {
                let _ = writeln!(
                    out,
                    "    ... and {} more (`--output json` lists up to {MAX_DETAILS})",
                    count(hidden, "failure detail")
                );
            }
        }
    }
    let shown: Vec<&str> = json.domains.iter().map(|d| d.domain).collect();
    // Only when configured domains are left out (`--domain`): which of them
    // do have reports.
    let left_out = listing
        .configured
        .iter()
        .any(|d| !shown.contains(&d.as_str()));
    if json.domains.iter().any(|d| d.last_report_end.is_none()) && left_out {
        let others = listing.others_with_reports(&shown);
        if others.is_empty() {
            let _ = writeln!(
                out,
                "\nno other configured domain has reports in this period"
            );
        } else {
            let more = others.len().saturating_sub(NAMED_WITH_REPORTS);
            let _ = writeln!(
                out,
                "\nconfigured domains with reports in this period: {}{}",
                others
                    .iter()
                    .take(NAMED_WITH_REPORTS)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            );
        }
    }
    let senders: BTreeSet<&str> = json
        .domains
        .iter()
        .flat_map(|d| d.senders.iter().map(|s| s.organization))
        .collect();
    let _ = writeln!(
        out,
        "\n{}: {} with failures reported; {} from {}",
        count(json.domains.len() as u64, "domain"),
        failing_domains,
        count(json.reports, "report"),
        count(senders.len() as u64, "sender")
    );
    if json.unusable_files > 0 {
        let _ = writeln!(
            out,
            "{} could not be read (see standard error)",
            count(json.unusable_files, "stored file")
        );
    }
    out
}

/// A length of time in its largest sensible unit.
fn span(seconds: i64) -> String {
    let seconds = seconds.max(0);
    if seconds < 3600 {
        format!("{} min", seconds / 60)
    } else if seconds < 2 * 86_400 {
        format!("{} h", seconds / 3600)
    } else {
        format!("{} days", seconds / 86_400)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rfc::rfc8460::report::parse_report;

    fn report(org: &str, id: &str, end: &str, failed: u64) -> Report {
        let json = format!(
            r#"{{"organization-name":"{org}","report-id":"{id}","contact-info":"tls@{org}",
            "date-range":{{"start-datetime":"2026-11-01T00:00:00Z","end-datetime":"{end}"}},
            "policies":[{{"policy":{{"policy-type":"sts","policy-domain":"example.com"}},
               "summary":{{"total-successful-session-count":90,"total-failure-session-count":{failed}}},
               "failure-details":[{{"result-type":"certificate-expired","sending-mta-ip":"192.0.2.7",
                 "receiving-ip":"198.51.100.25","receiving-mx-hostname":"mx1.example.com",
                 "failed-session-count":{failed},"failure-reason-code":"expired\u001b[31m"}}]}}]}}"#
        );
        parse_report(json.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn reports_are_added_up_per_sender_with_grouped_details() {
        let mut listing = Listing::default();
        let since = 1_796_000_000; // 2026-11-30
        listing.add(&report("A", "1", "2026-11-30T23:59:59Z", 10), since, |_| {
            true
        });
        listing.add(&report("A", "2", "2026-12-01T23:59:59Z", 5), since, |_| {
            true
        });
        listing.add(&report("B", "1", "2026-11-02T23:59:59Z", 5), since, |_| {
            true
        });
        assert_eq!((listing.reports, listing.skipped), (2, 1));
        let json = to_json(&listing, &[], since, since + 86_400 * 3);
        let domain = &json.domains[0];
        assert_eq!(domain.domain, "example.com");
        assert_eq!((domain.sessions, domain.failed_sessions), (195, 15));
        let sender = &domain.senders[0];
        assert_eq!(sender.organization, "A");
        assert_eq!(sender.failure_details.len(), 1, "grouped");
        assert_eq!(sender.failure_details[0].failed_sessions, 15);
        assert_eq!(
            sender.failure_details[0].what_to_do,
            remedy::for_reported_result(ReportResultType::CertificateExpired)
        );
        let text = render_text(&listing, &[], since, since + 86_400 * 3);
        assert!(
            text.contains("FAILED    15 certificate-expired from 192.0.2.7 to mx1.example.com [198.51.100.25]"),
            "{text}"
        );
        assert!(!text.contains('\u{1b}'), "no terminal escapes: {text}");
        let selected = ["example.com".to_string(), "quiet.example".to_string()];
        let text = render_text(&listing, &selected, since, since);
        assert!(
            text.contains("quiet.example: no reports in this period"),
            "{text}"
        );
    }

    #[test]
    fn senders_beyond_the_cap_count_as_other() {
        let mut listing = Listing::default();
        for i in 0..=MAX_SENDERS {
            listing.add(
                &report(&format!("org{i}"), "1", "2026-11-30T23:59:59Z", 0),
                0,
                |_| true,
            );
        }
        let senders = &listing.tally.domains["example.com"];
        assert_eq!(senders.len(), MAX_SENDERS + 1);
        assert!(senders.contains_key(OTHER_SENDERS));
    }
}
